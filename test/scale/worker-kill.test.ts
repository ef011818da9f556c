import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.ts';
import type { Frame, FrameDetections, FrameLostReason } from '../../src/shared/messages.ts';
import { FrameStore } from '../../src/scale/frame-store.ts';
import { InferenceClient, newOwnerId } from '../../src/scale/queue.ts';
import { killChild, spawnTs, type Child } from '../support/child.ts';
import { clipFrames } from '../support/frames.ts';
import { TEST_REDIS_URL, testRedis, waitUntil } from '../support/redis.ts';

const logger = createLogger({ level: 'error' });
const r = testRedis('crowdlens-test-worker-kill');
const children: Child[] = [];
let frames: Frame[];

beforeAll(async () => {
  frames = await clipFrames('face-demographics-walking.mp4', 6, { sourceId: 'cam-k' });
});
afterAll(async () => {
  for (const c of children) await killChild(c);
  await r.cleanup();
});

function worker(mode: 'hang' | 'slow' | 'real'): Child {
  const c = spawnTs('test/support/scale-worker-child.ts', {
    CROWDLENS_REDIS_URL: TEST_REDIS_URL,
    CROWDLENS_REDIS_PREFIX: r.keys.prefix,
    CROWDLENS_JOB_LOCK_MS: '2000',
    CROWDLENS_WORKER_CONCURRENCY: '1',
    CROWDLENS_METRICS_PORT: '0',
    CROWDLENS_LOG_LEVEL: 'warn',
    MODE: mode,
  });
  children.push(c);
  return c;
}

describe('the worker role (crowdlens worker) in its own process', () => {
  it('killed with -9 mid-job loses no job: another worker completes it, and the owner gets every seq exactly once, in order', async () => {
    const client = await InferenceClient.open({
      redis: r.redis,
      keys: r.keys,
      frames: new FrameStore({ redis: r.redis, keys: r.keys, ttlMs: 60_000 }),
      ownerId: newOwnerId(),
      maxInFlightPerCamera: 8,
      resultDeadlineMs: 45_000,
      jobAttempts: 3,
      keepCompletedJobs: 100,
      keepFailedJobs: 100,
      logger,
    });
    try {
      const released: { seq: number; worker?: string; faces?: number; lost?: FrameLostReason }[] = [];
      const link = client.camera('cam-k', 1, {
        onResult: (d: FrameDetections, info) => void released.push({ seq: d.seq, worker: info.worker, faces: d.faces.length }),
        onLost: (seq, lost) => void released.push({ seq, lost }),
      });
      // Worker A takes the first job and is still analysing it when it dies.
      const a = worker('hang');
      await a.waitLine(/^READY$/);
      for (const f of frames) expect((await link.submit(f, { descriptors: 'all' })).submitted).toBe(true);
      const line = await a.waitLine(/^ANALYZING \d+$/);
      expect(line).toBe(`ANALYZING ${(frames[0] as Frame).seq}`);
      // Worker B (real models) does the rest meanwhile; A's job is locked until A's lock lapses.
      const b = worker('real');
      await b.waitLine(/^READY$/);
      a.proc.kill('SIGKILL');
      expect((await a.exited).signal).toBe('SIGKILL');

      await waitUntil('every frame released', () => released.length === frames.length, 60_000);
      expect(released.map((x) => x.seq)).toEqual(frames.map((f) => f.seq));
      expect(released.every((x) => x.lost === undefined && x.worker?.startsWith('child-real-'))).toBe(true);
      expect(released.some((x) => (x.faces ?? 0) > 0)).toBe(true);
      // The stalled job went back to the queue and completed; nothing failed, nothing was delivered twice.
      expect(await client.queue.getCompletedCount()).toBe(frames.length);
      expect(await client.queue.getFailedCount()).toBe(0);
      expect(link.stats().window).toMatchObject({ released: frames.length, duplicates: 0, late: 0 });

      // SIGTERM: B closes its worker (nothing in flight now) and exits 0.
      b.proc.kill('SIGTERM');
      expect(await b.exited).toEqual({ code: 0, signal: null });
      expect(b.lines.some((l) => /^CLOSED ok=6$/.test(l))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('on SIGTERM finishes its in-flight job before exiting', async () => {
    const client = await InferenceClient.open({
      redis: r.redis,
      keys: r.keys,
      frames: new FrameStore({ redis: r.redis, keys: r.keys, ttlMs: 60_000 }),
      ownerId: newOwnerId(),
      maxInFlightPerCamera: 8,
      resultDeadlineMs: 45_000,
      jobAttempts: 1,
      keepCompletedJobs: 100,
      keepFailedJobs: 100,
      logger,
    });
    try {
      const released: number[] = [];
      const link = client.camera('cam-t', 1, { onResult: (d) => void released.push(d.seq) });
      const w = worker('slow');
      await w.waitLine(/^READY$/);
      const completedBefore = await client.queue.getCompletedCount();
      await link.submit({ ...(frames[0] as Frame), sourceId: 'cam-t' }, { descriptors: 'all' });
      await w.waitLine(/^ANALYZING \d+$/);
      expect(released).toEqual([]);
      w.proc.kill('SIGTERM');
      expect(await w.exited).toEqual({ code: 0, signal: null });
      // It finished the job before exiting: released, completed, nothing stalled or failed, no other worker involved.
      await waitUntil('the in-flight frame released', () => released.length === 1);
      expect(await client.queue.getCompletedCount()).toBe(completedBefore + 1);
      expect(await client.queue.getActiveCount()).toBe(0);
      expect(w.lines).toContain('CLOSED ok=1');
    } finally {
      await client.close();
    }
  });
});
