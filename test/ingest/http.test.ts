import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource } from '../../src/ingest/index.ts';
import { captureLogger, drain, makeClip, tempDir, waitFor } from './helpers.ts';

const tmp = tempDir('ingest-http');
let server: Server;
let base: string;
const requests: string[] = [];

beforeAll(async () => {
  // faststart: moov first, so a plain server without Range support can stream it.
  const clip = await makeClip(join(tmp.dir, 'clip.mp4'), 'testsrc2=size=320x240:rate=25', 3, ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart']);
  await promisify(execFile)('ffmpeg', ['-y', '-hide_banner', '-loglevel', 'error', '-i', clip, '-c', 'copy', '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod', join(tmp.dir, 'index.m3u8')]);
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = normalize(join(tmp.dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!path.startsWith(tmp.dir) || !existsSync(path)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200);
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://cam:Hls-S3cret@127.0.0.1:${addr && typeof addr === 'object' ? addr.port : 0}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  tmp.cleanup();
});

describe('HTTP sources (real node http server on loopback)', () => {
  it('reads an HLS playlist and its segments', async () => {
    const log = captureLogger();
    const src = openSource({ url: `${base}/index.m3u8`, sourceId: 'hls', fps: 5, maxWidth: 160, initialBackoffMs: 100 }, { logger: log.logger });
    const out = drain(src);
    await waitFor('frames', () => out.frames.length >= 5);
    await src.close();
    await out.done;
    expect(src.status().kind).toBe('hls');
    expect(out.frames[0]).toMatchObject({ width: 160, height: 120, seq: 0 });
    expect(requests.some((r) => r.endsWith('.ts'))).toBe(true);
    expect(JSON.stringify(src.status()) + log.text()).not.toContain('Hls-S3cret');
  });

  it('reads progressive mp4 over HTTP; a live source that ends is reconnected', async () => {
    const src = openSource({ url: `${base}/clip.mp4`, sourceId: 'prog', fps: 5, maxWidth: 160, realtime: false, initialBackoffMs: 100, maxBackoffMs: 200 }, { logger: captureLogger().logger });
    const out = drain(src);
    await waitFor('one restart after the end of the stream', () => src.status().counters.restarts >= 1);
    await src.close();
    await out.done;
    expect(src.status().lastError?.code).toBe('STREAM_ENDED');
    expect(out.frames.length).toBeGreaterThanOrEqual(14);
  });

  it('404 fails fast', async () => {
    const src = openSource({ url: `${base}/missing.m3u8`, sourceId: 'h404', fps: 5, maxWidth: 160 }, { logger: captureLogger().logger });
    const err = (await drain(src).done) as Error & { code?: string };
    expect(err.code).toBe('NOT_FOUND');
    expect(src.status().state).toBe('failed');
    expect(err.message).not.toContain('Hls-S3cret');
  });
});
