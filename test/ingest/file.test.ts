import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestError, openSource, type SourceState } from '../../src/ingest/index.ts';
import { captureLogger, makeClip, pidAlive, tempDir, waitFor } from './helpers.ts';

const tmp = tempDir('ingest-file');
let clip: string; // 640x360, 25 fps, 3 s, moving test pattern
let red: string; // solid red 160x120, 2 s
let odd: string; // 321x241 at 10 fps, 1 s: odd size, smaller than maxWidth

beforeAll(async () => {
  [clip, red, odd] = await Promise.all([
    makeClip(join(tmp.dir, 'clip.mp4'), 'testsrc2=size=640x360:rate=25', 3),
    makeClip(join(tmp.dir, 'red.mp4'), 'color=c=red:size=160x120:rate=25', 2),
    makeClip(join(tmp.dir, 'odd.mkv'), 'testsrc=size=321x241:rate=10', 1, ['-c:v', 'ffv1']), // x264 refuses odd sizes
  ]);
});
afterAll(() => tmp.cleanup());

describe('file sources', () => {
  it('yields ~duration*fps frames, scaled to maxWidth, with monotonic seq/pts and exact buffer sizes', async () => {
    const { logger } = captureLogger();
    const states: SourceState[] = [];
    const src = openSource({ url: clip, sourceId: 'cam-file', fps: 5, maxWidth: 320, realtime: false, onState: (s) => states.push(s.state) }, { logger });
    const seen: { seq: number; ptsMs: number; capturedAtMs: number; w: number; h: number; bytes: number; distinct: number }[] = [];
    for await (const f of src.frames()) {
      expect(f.sourceId).toBe('cam-file');
      seen.push({ seq: f.seq, ptsMs: f.ptsMs, capturedAtMs: f.capturedAtMs, w: f.width, h: f.height, bytes: f.rgb.length, distinct: new Set(f.rgb.subarray(0, 3000)).size });
    }
    expect(seen.length).toBeGreaterThanOrEqual(14);
    expect(seen.length).toBeLessThanOrEqual(16);
    for (const [i, f] of seen.entries()) {
      expect(f.w).toBe(320);
      expect(f.h).toBe(180);
      expect(f.bytes).toBe(320 * 180 * 3);
      expect(f.seq).toBe(i);
      expect(f.ptsMs).toBeCloseTo(i * 200, 6);
      expect(f.capturedAtMs).toBe(f.ptsMs); // files: ms from file start
      expect(f.distinct).toBeGreaterThan(5); // a test pattern, not a blank buffer
    }
    const st = src.status();
    expect(st.state).toBe('stopped');
    expect(states).toEqual(['running', 'stopped']);
    expect(st.counters).toMatchObject({ framesIn: seen.length, framesOut: seen.length, framesDropped: 0, restarts: 0, bytesIn: seen.length * 320 * 180 * 3 });
  });

  it('delivers the right colour for a solid red clip', async () => {
    const src = openSource({ url: `file://${red}`, sourceId: 'red', fps: 2, maxWidth: 1280, realtime: false }, { logger: captureLogger().logger });
    let n = 0;
    for await (const f of src.frames()) {
      n++;
      expect([f.width, f.height]).toEqual([160, 120]);
      let r = 0;
      let g = 0;
      let b = 0;
      for (let i = 0; i < f.rgb.length; i += 3) {
        r += f.rgb[i] ?? 0;
        g += f.rgb[i + 1] ?? 0;
        b += f.rgb[i + 2] ?? 0;
      }
      const px = f.rgb.length / 3;
      expect(r / px).toBeGreaterThan(235);
      expect(g / px).toBeLessThan(20);
      expect(b / px).toBeLessThan(20);
    }
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(5);
  });

  it('never upscales and keeps dimensions even', async () => {
    const src = openSource({ url: odd, sourceId: 'odd', fps: 5, maxWidth: 1280, realtime: false }, { logger: captureLogger().logger });
    const sizes = new Set<string>();
    for await (const f of src.frames()) sizes.add(`${f.width}x${f.height}`);
    expect([...sizes]).toEqual(['320x240']);
  });

  it('loops a file with continuous pts when loop is set', async () => {
    const src = openSource({ url: odd, sourceId: 'loop', fps: 10, maxWidth: 64, realtime: false, loop: true }, { logger: captureLogger().logger });
    const pts: number[] = [];
    for await (const f of src.frames()) {
      pts.push(f.ptsMs);
      if (pts.length === 25) break; // the clip has 10 frames at 10 fps: 25 means it looped twice
    }
    expect(pts).toEqual(pts.map((_, i) => i * 100));
    expect(src.status().state).toBe('stopped');
  });

  it('a slow consumer gets the newest frame; stale ones are dropped and counted', async () => {
    // Fast decode + a consumer that stalls: the queue (size 1) keeps only the newest frame.
    const src = openSource({ url: clip, sourceId: 'slow', fps: 10, maxWidth: 160, realtime: false, onSlowConsumer: 'drop', queueSize: 1 }, { logger: captureLogger().logger });
    const it = src.frames();
    const first = await it.next();
    expect(first.done).toBe(false);
    await waitFor('file fully decoded', () => src.status().state === 'stopped');
    const { framesIn } = src.status().counters;
    const next = await it.next();
    expect(next.done).toBe(false);
    if (next.done) return;
    expect(next.value.seq).toBe(framesIn - 1); // the newest
    expect(next.value.ptsMs).toBeCloseTo((framesIn - 1) * 100, 6);
    expect((await it.next()).done).toBe(true);
    const c = src.status().counters;
    expect(c.framesOut).toBe(2);
    expect(c.framesDropped).toBe(framesIn - 2);
  });

  it('waits (back-pressure) instead of dropping when reading a file as fast as possible', async () => {
    const src = openSource({ url: clip, sourceId: 'wait', fps: 10, maxWidth: 160, realtime: false, queueSize: 1 }, { logger: captureLogger().logger });
    let n = 0;
    for await (const f of src.frames()) {
      expect(f.seq).toBe(n++);
      if (n % 10 === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(n).toBeGreaterThanOrEqual(29);
    expect(src.status().counters.framesDropped).toBe(0);
  });

  it('kills ffmpeg when the consumer breaks out of the loop', async () => {
    const src = openSource({ url: clip, sourceId: 'brk', fps: 5, maxWidth: 160, realtime: true, loop: true }, { logger: captureLogger().logger });
    let pid: number | undefined;
    for await (const _f of src.frames()) {
      pid = src.status().pid;
      break;
    }
    expect(pid).toBeTypeOf('number');
    expect(pidAlive(pid as number)).toBe(false);
    expect(src.status().state).toBe('stopped');
    expect(src.status().pid).toBeUndefined();
  });

  it('kills ffmpeg when the consumer throws inside the loop', async () => {
    const src = openSource({ url: clip, sourceId: 'thr', fps: 5, maxWidth: 160, realtime: true, loop: true }, { logger: captureLogger().logger });
    let pid: number | undefined;
    await expect(
      (async () => {
        for await (const _f of src.frames()) {
          pid = src.status().pid;
          throw new Error('consumer bug');
        }
      })(),
    ).rejects.toThrow('consumer bug');
    expect(pidAlive(pid as number)).toBe(false);
  });
});

describe('bad file sources fail fast with a clear error', () => {
  async function failure(url: string): Promise<{ err: IngestError; states: SourceState[] }> {
    const states: SourceState[] = [];
    const src = openSource({ url, sourceId: 'bad', fps: 5, maxWidth: 320, realtime: false }, { logger: captureLogger().logger });
    src.on('state', (s: { state: SourceState }) => states.push(s.state));
    let caught: unknown;
    try {
      for await (const _f of src.frames()) {
        // frames before the corruption are fine; the error comes after them
      }
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IngestError);
    expect(src.status().state).toBe('failed');
    expect(src.status().lastError?.message).toBe((caught as Error).message);
    expect(src.status().counters.restarts).toBe(0);
    return { err: caught as IngestError, states };
  }

  it('missing file', async () => {
    const { err } = await failure(join(tmp.dir, 'nope.mp4'));
    expect(err.code).toBe('FILE_NOT_FOUND');
    expect(err.permanent).toBe(true);
    expect(err.message).toContain('nope.mp4');
  });

  it('a text file is not video', async () => {
    const txt = join(tmp.dir, 'notes.txt');
    writeFileSync(txt, 'this is not a video\n'.repeat(100));
    const { err } = await failure(txt);
    expect(err.code).toBe('NOT_VIDEO');
    expect(err.message).toMatch(/not a supported video file format.*tty/);
  });

  it('a truncated mp4 (no moov atom)', async () => {
    const trunc = join(tmp.dir, 'trunc.mp4');
    writeFileSync(trunc, readFileSync(clip).subarray(0, 20_000));
    const { err } = await failure(trunc);
    expect(err.code).toBe('INVALID_DATA');
    expect(err.message).toMatch(/moov atom not found/);
  });

  it('an mp4 with garbage spliced into its video data', async () => {
    const data = Buffer.from(readFileSync(clip));
    let x = 12345;
    const start = Math.floor(data.length / 4);
    for (let i = start; i < start + 40_000; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      data[i] = x >>> 24;
    }
    const bad = join(tmp.dir, 'garbage.mp4');
    writeFileSync(bad, data);
    const { err, states } = await failure(bad);
    expect(err.code).toBe('INVALID_DATA');
    expect(err.permanent).toBe(true);
    expect(states.at(-1)).toBe('failed');
  });

  it('an audio-only file has no video stream', async () => {
    const mka = join(tmp.dir, 'tone.mka'); // an allowed container (matroska) holding audio only
    const { execFileSync } = await import('node:child_process');
    execFileSync('ffmpeg', ['-y', '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'pcm_s16le', mka]);
    const { err } = await failure(mka);
    expect(err.code).toBe('NOT_VIDEO');
    expect(err.message).toMatch(/no video stream/);
  });

  it('rejects a bad scheme or option at the edge, naming the field and masking the value', () => {
    expect(() => openSource({ url: 'ftp://bob:secret@cam.example/x', sourceId: 'x', fps: 5, maxWidth: 320 })).toThrow(/^url: unsupported scheme "ftp:".*ftp:\/\/\*\*\*:\*\*\*@cam\.example\/x/);
    expect(() => openSource({ url: 'ftp://bob:secret@cam.example/x', sourceId: 'x', fps: 5, maxWidth: 320 })).not.toThrow(/secret/);
    expect(() => openSource({ url: 'concat:/a.mp4|/b.mp4', sourceId: 'x', fps: 5, maxWidth: 320 })).toThrow(/url: unsupported scheme "concat:"/);
    expect(() => openSource({ url: clip, sourceId: 'x', fps: 0, maxWidth: 320 })).toThrow(/^fps: .*got 0/);
    expect(() => openSource({ url: clip, sourceId: 'x', fps: 5, maxWidth: 320, queueSize: -1 })).toThrow(/^queueSize: .*got -1/);
  });
});
