/**
 * runPipeline with several frames in flight: a RemoteAnalyzer over a real CameraLink (real Redis, real BullMQ,
 * a real worker with the real models in this process) on a real clip read by real ffmpeg.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { DescriptorPlan, InferJob } from '../../src/shared/messages.ts';
import { loadTrustModel } from '../../src/infer/trust.ts';
import { runPipeline } from '../../src/pipeline/standalone.ts';
import { createAnalyzer, createDetectGate, createSource, createTracker, type LoadedAnalyzer } from '../../src/pipeline/stages.ts';
import { FrameStore } from '../../src/scale/frame-store.ts';
import { InferenceClient, newOwnerId } from '../../src/scale/queue.ts';
import { RemoteAnalyzer } from '../../src/scale/remote-analyzer.ts';
import { createInferWorker, type InferWorker } from '../../src/scale/worker.ts';
import { VIDEOS } from '../support/frames.ts';
import { testRedis, waitUntil } from '../support/redis.ts';

const logger = createLogger({ level: 'error' });
const config = loadConfig({ env: {} });
const r = testRedis('crowdlens-test-pipelined');
let analyzer: LoadedAnalyzer;

beforeAll(async () => {
  analyzer = await createAnalyzer({ config, reid: true }, { logger });
});
afterAll(async () => {
  await analyzer.close();
  await r.cleanup();
});

describe('runPipeline with a pipelined (remote) analyzer', () => {
  it('submits frames with the detect plan as data, tracks results in frame order, and skips and counts a lost frame', async () => {
    const client = await InferenceClient.open({
      redis: r.redis,
      keys: r.keys,
      frames: new FrameStore({ redis: r.redis, keys: r.keys, ttlMs: 60_000 }),
      ownerId: newOwnerId(),
      maxInFlightPerCamera: 3,
      resultDeadlineMs: 30_000,
      jobAttempts: 1,
      keepCompletedJobs: 1000,
      keepFailedJobs: 100,
      logger,
    });
    let worker: InferWorker | null = null;
    const seqs: number[] = [];
    const jobs: InferJob[] = [];
    try {
      const remote = new RemoteAnalyzer({ open: (h) => client.camera('cam-p', 1, h) });
      const { motion, scheduler } = createDetectGate(config.infer);
      const source = createSource(
        { source: path.join(VIDEOS, 'face-demographics-walking-and-pause.mp4'), sourceId: 'cam-p', config, realtime: true, fps: 5 },
        { logger },
      );
      const run = runPipeline(
        { sinks: [{ onFrameTracks: (f) => void seqs.push(f.seq) }] },
        {
          logger,
          stages: () => ({
            source,
            analyzer: remote,
            tracker: createTracker('cam-p', { snapshotEveryMs: 0 }, scheduler),
            ...(motion ? { motion } : {}),
          }),
        },
      );
      // No worker yet: the camera's three frames in flight wait in the queue; later ones are refused (in_flight).
      await waitUntil('three jobs waiting', async () => (await client.queue.getWaitingCount()) === 3, 30_000);
      const waiting = await client.queue.getWaiting();
      for (const j of waiting) jobs.push(j.data as InferJob);
      jobs.sort((a, b) => a.frame.seq - b.frame.seq);
      // The second frame's bytes vanish before any worker gets to it (as when its TTL passes).
      await r.redis.del((jobs[1] as InferJob).frame.key);
      await waitUntil('a frame refused past the bound', () => (remote.counters().refused['in_flight'] ?? 0) > 0, 10_000);
      worker = createInferWorker({
        redis: r.redis,
        keys: r.keys,
        analyzer,
        inboxTtlMs: 60_000,
        concurrency: 2,
        lockMs: 4000,
        workerName: 'w-pipelined',
        logger,
      });
      const result = await run;

      // Jobs carry references and the tracker's hints as data, never pixels.
      expect(jobs[0]?.detect?.mode).toBe('scan');
      // The attribute schedule's plan (no track yet: every face may start one), with the trust model's quality floor.
      expect(jobs[0]?.attributes).toMatchObject({ tracks: [], qualityFloor: loadTrustModel().thresholds.qualityFloor });
      // The descriptor plans of frames submitted while earlier ones are in flight are stale: a new face there does not
      // wait for its second sighting (it may continue a track an earlier frame in flight starts).
      expect(jobs.map((j) => (j.descriptors as DescriptorPlan).newTracksWait)).toEqual([true, false, false]);
      for (const j of jobs) {
        expect(Object.keys(j).sort()).toEqual(['attributes', 'descriptors', 'detect', 'frame', 'replyTo']);
        expect(JSON.stringify(j).length).toBeLessThan(4000);
      }
      // In frame order, each frame once; the lost one skipped and counted.
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs).not.toContain(jobs[1]?.frame.seq);
      expect(seqs).toContain(jobs[2]?.frame.seq);
      expect(result.stats.lost).toEqual({ expired: 1 });
      expect(result.stats.refused['in_flight'] ?? 0).toBeGreaterThan(0);
      expect(result.stats.faces).toBeGreaterThan(0);
      expect(result.persons.length).toBeGreaterThan(0);
      // Every tracked frame that ran a model was a job; `skip` frames went to no worker.
      // (the worker's last job is marked completed just after its result went out)
      const jobsRun = result.stats.frames - result.stats.skippedFrames + 1;
      await waitUntil('the jobs completed', async () => (await client.queue.getCompletedCount()) >= jobsRun, 10_000);
      expect(await client.queue.getCompletedCount()).toBe(jobsRun);
      expect(await r.redis.exists((jobs[2] as InferJob).frame.key)).toBe(0);
    } finally {
      await worker?.close();
      await client.close();
    }
  });
});
