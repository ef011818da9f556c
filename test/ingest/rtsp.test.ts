import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource, type FrameSource, type SourceState } from '../../src/ingest/index.ts';
import { freePort, startRtspServer, type RtspServer } from '../support/rtsp.ts';
import { captureLogger, drain, waitFor } from './helpers.ts';

const SECRET = 's3cr3t-Pa55';
const creds = { user: 'viewer', password: SECRET };
let server: RtspServer; // live videotestsrc 320x240@15, basic auth

beforeAll(async () => {
  server = await startRtspServer({ user: creds.user, password: SECRET });
});
afterAll(async () => {
  await server.stop();
});

/** Fast reconnects so the suite stays short; defaults are 500 ms .. 30 s. */
const quick = { initialBackoffMs: 100, maxBackoffMs: 800, killGraceMs: 500 } as const;

function track(src: FrameSource): SourceState[] {
  const states: SourceState[] = [];
  src.on('state', (s: { state: SourceState }) => states.push(s.state));
  return states;
}

function expectNoSecret(src: FrameSource, logText: string): void {
  expect(JSON.stringify(src.status())).not.toContain(SECRET);
  expect(logText).not.toContain(SECRET);
  expect(logText.length).toBeGreaterThan(0);
}

describe('RTSP (real gst-rtsp-server on loopback)', () => {
  it('streams frames at the configured size, with wall-clock capture times and no credential leaks', async () => {
    const log = captureLogger();
    const t0 = Date.now();
    const src = openSource({ url: server.url(undefined, creds), sourceId: 'cam1', fps: 5, maxWidth: 160, ...quick }, { logger: log.logger });
    const states = track(src);
    const out = drain(src);
    await waitFor('6 frames', () => out.frames.length >= 6);
    await src.close();
    await out.done;
    const f = out.frames;
    expect(f[0]).toMatchObject({ sourceId: 'cam1', width: 160, height: 120, seq: 0, ptsMs: 0 });
    for (let i = 1; i < f.length; i++) {
      expect(f[i]?.seq).toBe(i);
      expect(f[i]?.ptsMs).toBeCloseTo(i * 200, 6);
      expect(f[i]?.capturedAtMs).toBeGreaterThanOrEqual(f[i - 1]?.capturedAtMs ?? Infinity);
    }
    expect(f[0]?.capturedAtMs).toBeGreaterThanOrEqual(t0);
    expect(f.at(-1)?.capturedAtMs).toBeLessThanOrEqual(Date.now());
    expect(states).toEqual(['running', 'stopped']);
    const st = src.status();
    expect(st.url).toBe(`rtsp://***:***@127.0.0.1:${server.port}/live`);
    expect(st.counters.restarts).toBe(0);
    expect(log.text()).toContain('"msg":"ffmpeg"'); // ffmpeg's stderr was logged (scrubbed), at debug
    expectNoSecret(src, log.text());
  });

  it('reconnects after the server is killed and restarted mid-stream', async () => {
    const log = captureLogger();
    const src = openSource({ url: server.url(undefined, creds), sourceId: 'cam2', fps: 5, maxWidth: 160, watchdogMs: 5000, connectTimeoutMs: 2000, ...quick }, { logger: log.logger });
    const states = track(src);
    const out = drain(src);
    try {
      await waitFor('first frames', () => out.frames.length >= 3);
      await server.kill();
      await waitFor('reconnecting', () => src.status().state === 'reconnecting');
      const before = out.frames.length;
      await new Promise((r) => setTimeout(r, 500)); // a few refused connects while the server is down
      expect(src.status().lastError?.code).toMatch(/STREAM_ENDED|CONNECTION_REFUSED/);
      await server.start();
      await waitFor('frames resume', () => out.frames.length >= before + 3 && src.status().state === 'running');
      const seqs = out.frames.map((f) => f.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i)); // seq keeps counting across sessions
      expect(out.frames.slice(1).some((f) => f.ptsMs === 0)).toBe(true); // a new ffmpeg session restarted pts
      expect(src.status().counters.restarts).toBeGreaterThanOrEqual(1);
      expect(states).toContain('reconnecting');
      expect(states.at(-1)).toBe('running');
    } finally {
      await server.start(); // no-op unless an assertion above failed while it was down
      await src.close();
      await out.done;
    }
    expectNoSecret(src, log.text());
  });

  it('watchdog restarts ffmpeg when the server hangs (SIGSTOP) and frames resume after SIGCONT', async () => {
    const log = captureLogger();
    // Socket timeout longer than the watchdog, so it is the watchdog that notices the hang.
    const src = openSource({ url: server.url(undefined, creds), sourceId: 'cam3', fps: 5, maxWidth: 160, watchdogMs: 1200, firstFrameTimeoutMs: 8000, connectTimeoutMs: 20_000, ...quick }, { logger: log.logger });
    const out = drain(src);
    try {
      await waitFor('first frames', () => out.frames.length >= 3);
      const fired = src.status().counters.watchdogRestarts; // 0 unless a loaded CI machine stalled ffmpeg
      server.pause();
      await waitFor('watchdog fired', () => src.status().counters.watchdogRestarts > fired, 10_000);
      expect(src.status().lastError?.code).toBe('WATCHDOG');
      expect(src.status().state).toBe('reconnecting');
      const before = out.frames.length;
      server.resume();
      await waitFor('frames resume', () => out.frames.length >= before + 3, 20_000);
      expect(src.status().state).toBe('running');
    } finally {
      server.resume();
      await src.close();
      await out.done;
    }
    expect(log.text()).toContain('watchdog');
    expectNoSecret(src, log.text());
  });

  it('works with the bundled @ffmpeg-installer binary too (legacy -stimeout dialect)', async () => {
    const { createRequire } = await import('node:module');
    const bundled = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    const log = captureLogger();
    const src = openSource({ url: server.url(undefined, creds), sourceId: 'cam-legacy', fps: 5, maxWidth: 160, ffmpegPath: bundled, ...quick }, { logger: log.logger });
    const out = drain(src);
    await waitFor('frames', () => out.frames.length >= 3);
    await src.close();
    expect(await out.done).toBeUndefined();
    expect(out.frames[0]).toMatchObject({ width: 160, height: 120 });
    expect(log.text()).toContain('"flavour":"legacy"');
    expectNoSecret(src, log.text());
  });

  it('wrong password fails fast (401 is permanent) without leaking it', async () => {
    const log = captureLogger();
    const src = openSource({ url: server.url(undefined, { user: 'viewer', password: 'wrong-secret' }), sourceId: 'cam4', fps: 5, maxWidth: 160, ...quick }, { logger: log.logger });
    const out = drain(src);
    const err = (await out.done) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('UNAUTHORIZED');
    expect(src.status().state).toBe('failed');
    expect(src.status().counters.restarts).toBe(0);
    expect(err.message + JSON.stringify(src.status()) + log.text()).not.toContain('wrong-secret');
  });

  it('unknown path fails fast (404 is permanent)', async () => {
    const src = openSource({ url: server.url('/nope', creds), sourceId: 'cam5', fps: 5, maxWidth: 160, ...quick }, { logger: captureLogger().logger });
    const err = (await drain(src).done) as Error & { code?: string };
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(/404/);
    expect(err.message).not.toContain(SECRET);
  });

  it('a closed port is transient: reconnecting with backoff, connection refused, no leak', async () => {
    const port = await freePort();
    const log = captureLogger();
    const src = openSource({ url: `rtsp://admin:${SECRET}@127.0.0.1:${port}/x`, sourceId: 'cam6', fps: 5, maxWidth: 160, ...quick }, { logger: log.logger });
    const states = track(src);
    const out = drain(src);
    await waitFor('two restarts', () => src.status().counters.restarts >= 2);
    await src.close();
    expect(await out.done).toBeUndefined(); // closing a reconnecting source ends frames() quietly
    expect(states.slice(0, 1)).toEqual(['reconnecting']);
    expect(states.at(-1)).toBe('stopped');
    expect(src.status().lastError?.code).toBe('CONNECTION_REFUSED');
    expect(src.status().lastError?.message).toMatch(/Connection refused/);
    expectNoSecret(src, log.text());
  });

  it('an unresolvable host reports a DNS error and keeps retrying without leaking credentials', async () => {
    const log = captureLogger();
    const src = openSource({ url: 'rtsp://user:secret@nonexistent.invalid/x', sourceId: 'cam7', fps: 5, maxWidth: 160, ...quick }, { logger: log.logger });
    const out = drain(src);
    await waitFor('reconnecting', () => src.status().state === 'reconnecting');
    await src.close();
    await out.done;
    const st = src.status();
    expect(st.lastError?.code).toBe('DNS');
    expect(st.lastError?.message).toMatch(/nonexistent\.invalid/);
    expect(st.lastError?.permanent).toBe(false);
    expect(JSON.stringify(st) + log.text()).not.toContain('secret');
  });
});
