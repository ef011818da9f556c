import type { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.ts';
import { createLogger } from '../../src/shared/logger.ts';
import {
  hasAttributes,
  type AttributePlan,
  type Face,
  type Frame,
  type FrameDetections,
  type FrameLostReason,
} from '../../src/shared/messages.ts';
import type { PipelineAnalyzer } from '../../src/pipeline/standalone.ts';
import { createAnalyzer } from '../../src/pipeline/stages.ts';
import { CrowdTracker, planWantsAttributes, planWantsDescriptor } from '../../src/track/crowd.ts';
import { FrameStore, decodeFrame, encodeFrame } from '../../src/scale/frame-store.ts';
import { INFER_QUEUE } from '../../src/scale/keys.ts';
import { InferenceClient, newOwnerId, type CameraLink, type InferenceClientOptions } from '../../src/scale/queue.ts';
import { createInferProcessor, createInferWorker, type InferWorker, type WorkerAnalyzer } from '../../src/scale/worker.ts';
import { clipFrames } from '../support/frames.ts';
import { testRedis, waitUntil } from '../support/redis.ts';

const logger = createLogger({ level: 'error' });
let analyzer: PipelineAnalyzer;
let frames: Frame[];

beforeAll(async () => {
  analyzer = await createAnalyzer({ config: loadConfig({ env: {} }), reid: true }, { logger });
  // A real clip: two people walking towards the camera.
  frames = await clipFrames('face-demographics-walking.mp4', 6, { sourceId: 'cam-1' });
});
afterAll(() => analyzer.close());

/** A Redis prefix, frame store, client and worker for one test; `done` closes them and deletes the keys. */
async function rig(
  opts: {
    analyzer?: WorkerAnalyzer;
    client?: Partial<InferenceClientOptions>;
    frameTtlMs?: number;
    worker?: boolean;
    concurrency?: number;
  } = {},
) {
  const r = testRedis('crowdlens-test-queue');
  const frameStore = new FrameStore({ redis: r.redis, keys: r.keys, ttlMs: opts.frameTtlMs ?? 20_000 });
  const client = await InferenceClient.open({
    redis: r.redis,
    keys: r.keys,
    frames: frameStore,
    ownerId: newOwnerId(),
    maxInFlightPerCamera: 8,
    resultDeadlineMs: 30_000,
    jobAttempts: 3,
    keepCompletedJobs: 100,
    keepFailedJobs: 100,
    logger,
    ...opts.client,
  });
  let worker: InferWorker | null = null;
  const startWorker = (): InferWorker =>
    (worker = createInferWorker({
      redis: r.redis,
      keys: r.keys,
      analyzer: opts.analyzer ?? analyzer,
      inboxTtlMs: 60_000,
      concurrency: opts.concurrency ?? 2,
      lockMs: 4000,
      workerName: 'w-test',
      logger,
    }));
  if (opts.worker ?? true) startWorker();
  return {
    r,
    frameStore,
    client,
    startWorker,
    get worker() {
      return worker;
    },
    async done() {
      await worker?.close();
      await client.close();
      await r.cleanup();
    },
  };
}

/** Collects what a camera link releases, in order. */
function collector() {
  const released: { seq: number; detections?: FrameDetections; lost?: FrameLostReason; attempt?: number }[] = [];
  return {
    released,
    handlers: {
      onResult: (detections: FrameDetections, info: { attempt: number }) =>
        void released.push({ seq: detections.seq, detections, attempt: info.attempt }),
      onLost: (seq: number, lost: FrameLostReason) => void released.push({ seq, lost }),
    },
  };
}

async function jobsIn(queue: Queue, state: 'completed' | 'failed'): Promise<Job[]> {
  return queue.getJobs([state], 0, 1000);
}

describe('inference queue on real Redis with the real models', () => {
  it('runs frames by reference through a worker and back to the owner in order, descriptors only where the tracker asked', async () => {
    const t = await rig();
    try {
      // Every frame is submitted before the first result, so every plan sees no track yet: with the attribute
      // schedule on, a new track's first face gets no descriptor and none would be computed at all.
      const tracker = new CrowdTracker({ sourceId: 'cam-1', attributes: false });
      const c = collector();
      const link: CameraLink = t.client.camera('cam-1', 1, {
        onResult: (d, info) => {
          tracker.update(d);
          c.handlers.onResult(d, info);
        },
        onLost: c.handlers.onLost,
      });
      const plans = new Map<number, ReturnType<CrowdTracker['descriptorPlan']>>();
      for (const f of frames) {
        // The tracker's plan as of submission (frames in flight are not in it yet).
        const plan = tracker.descriptorPlan(f.capturedAtMs);
        plans.set(f.seq, plan);
        expect((await link.submit(f, { descriptors: plan })).submitted).toBe(true);
      }
      await waitUntil('every frame released', () => c.released.length === frames.length);
      expect(c.released.map((x) => x.seq)).toEqual(frames.map((f) => f.seq));
      expect(c.released.every((x) => x.detections !== undefined)).toBe(true);

      // The worker saw exactly the JPEG-decoded frame: same faces as analysing that frame here.
      let withDescriptor = 0;
      for (const [i, f] of frames.entries()) {
        const got = c.released[i]?.detections as FrameDetections;
        expect(got).toMatchObject({ sourceId: 'cam-1', seq: f.seq, capturedAtMs: f.capturedAtMs, width: f.width, height: f.height });
        const jpeg = await encodeFrame(f, { encoding: 'jpeg' });
        const local = await analyzer.analyze(
          { ...f, rgb: await decodeFrame(jpeg, { width: f.width, height: f.height, encoding: 'jpeg', key: 'k' }) },
          { detectMs: 0, ageGenderMs: 0, descriptorMs: 0 },
          {},
        );
        expect(got.faces.map((x) => x.box)).toEqual(local.map((x) => x.box));
        expect(got.faces.map((x) => x.ageYears)).toEqual(local.map((x) => x.ageYears));
        const plan = plans.get(f.seq) as ReturnType<CrowdTracker['descriptorPlan']>;
        for (const [k, face] of got.faces.entries()) {
          expect(face.descriptor !== undefined).toBe(planWantsDescriptor(plan, face));
          if (face.descriptor) {
            withDescriptor++;
            const l = (local[k] as Face).descriptor as Float32Array;
            expect(Array.from(face.descriptor)).toEqual(Array.from(l));
          }
        }
      }
      expect(withDescriptor).toBeGreaterThan(0);
      expect(tracker.stats().frames).toBe(frames.length);

      // Nothing lingers: no frame bytes, no inbox entries; jobs hold a reference, counts, no pixels, no descriptors.
      const keys = await t.r.keyList();
      expect(keys.filter((k) => k.includes(':frame:'))).toEqual([]);
      expect(await t.r.redis.llen(t.client.inboxKey)).toBe(0);
      expect(keys.every((k) => k.startsWith(`${t.r.keys.prefix}:`))).toBe(true);
      const done = await jobsIn(t.client.queue, 'completed');
      expect(done).toHaveLength(frames.length);
      for (const job of done) {
        const raw = await t.r.redis.hgetall(`${t.r.keys.bullPrefix}:${INFER_QUEUE}:${job.id}`);
        expect(Object.keys(JSON.parse(raw['data'] as string) as object).sort()).toEqual(['descriptors', 'frame', 'replyTo']);
        expect((raw['data'] as string).length).toBeLessThan(2000);
        expect(raw['returnvalue']).toMatch(/^\{"outcome":"ok","faces":\d+,"descriptors":\d+\}$/);
      }
      const events = await t.r.redis.xrange(`${t.r.keys.bullPrefix}:${INFER_QUEUE}:events`, '-', '+');
      expect(events.length).toBeGreaterThan(0);
      expect(JSON.stringify(events)).not.toMatch(/descriptor"?:"/);
      expect(link.stats()).toMatchObject({ submitted: frames.length, inFlight: 0, window: { released: frames.length, duplicates: 0 } });
      expect(t.worker?.stats).toMatchObject({ ok: frames.length, expired: 0, badData: 0 });

      // A retry of a job that already delivered (as after a stall) finds the bytes gone: the owner drops it as a duplicate.
      const again = createInferProcessor({ redis: t.r.redis, keys: t.r.keys, analyzer, inboxTtlMs: 60_000 });
      expect(await again(done[0] as Job)).toEqual({ outcome: 'expired', faces: 0, descriptors: 0 });
      await waitUntil('the duplicate counted', () => link.stats().window.duplicates === 1);
      expect(c.released).toHaveLength(frames.length);
    } finally {
      await t.done();
    }
  });

  it("applies the tracker's attribute plan on the worker: faces of settled tracks come back without age/gender", async () => {
    const t = await rig();
    try {
      const f = frames[0] as Frame;
      const c = collector();
      const link = t.client.camera('cam-1', 1, c.handlers);
      // What the worker sees: the JPEG-decoded frame.
      const jpeg = await encodeFrame(f, { encoding: 'jpeg' });
      const rgb = await decodeFrame(jpeg, { width: f.width, height: f.height, encoding: 'jpeg', key: 'k' });
      const local = await analyzer.analyze({ ...f, rgb }, { detectMs: 0, ageGenderMs: 0, descriptorMs: 0 }, {});
      expect(local.length).toBeGreaterThan(0);
      // First as the face of a settled track (no re-check due, no face good enough to count as much better), then as
      // that of a track due for its re-check.
      const first = local[0] as Face;
      const plan = (needs: boolean): AttributePlan => ({
        iouThreshold: 0.3,
        minScore: 0.5,
        minScoreToStart: 0.5,
        qualityFloor: 0,
        tracks: [{ box: first.box, needs, improvedQuality: 2 }],
      });
      const sent = [plan(false), plan(true)].map((p) => JSON.parse(JSON.stringify(p)) as AttributePlan);
      for (const [i, attributes] of sent.entries())
        expect((await link.submit({ ...f, seq: f.seq + i }, { descriptors: 'all', attributes })).submitted).toBe(true);
      await waitUntil('the frames released', () => c.released.length === 2);
      for (const [i, p] of sent.entries()) {
        const got = (c.released[i]?.detections as FrameDetections).faces;
        expect(got.map((x) => x.box)).toEqual(local.map((x) => x.box));
        for (const face of got) {
          expect(face.quality).toBeDefined();
          expect(hasAttributes(face)).toBe(planWantsAttributes(p, face));
        }
        const face = got[0] as Face;
        expect(hasAttributes(face)).toBe(i === 1);
        // With age/gender, calibrated as in one process (descriptors on both sides: the calibration uses faceres' pass).
        if (i === 1) expect([face.ageYears, face.maleProbability]).toEqual([first.ageYears, first.maleProbability]);
      }
    } finally {
      await t.done();
    }
  });

  it('fails bad job data with UnrecoverableError, without retrying, and tells the owner', async () => {
    const t = await rig();
    try {
      const c = collector();
      const link = t.client.camera('cam-1', 1, c.handlers);
      const ref = await t.frameStore.put(frames[0] as Frame, 1);
      const good = { frame: ref, replyTo: t.client.inboxKey, descriptors: 'none' };
      const opts = { attempts: 3 };
      const bad = [
        await t.client.queue.add('frame', { ...good, frame: { ...ref, width: 'wide' } }, opts),
        await t.client.queue.add('frame', { ...good, frame: { ...ref, key: 'elsewhere:frame:x' } }, opts),
        await t.client.queue.add('frame', { ...good, replyTo: 'someone-else:inbox' }, opts),
        await t.client.queue.add('frame', { ...good, pixels: [1, 2, 3] }, opts),
        await t.client.queue.add(
          'frame',
          {
            ...good,
            attributes: {
              iouThreshold: 0.3,
              minScore: 0.5,
              minScoreToStart: 0.5,
              qualityFloor: 0.1,
              tracks: [{ box: [0, 0, 1, 1], needs: 'yes', improvedQuality: 1 }],
            },
          },
          opts,
        ),
      ];
      // Bytes that are not the frame the reference describes: bad data too.
      await link.submit({ ...(frames[1] as Frame), rgb: new Uint8Array((frames[1] as Frame).rgb.length) }, { descriptors: 'none' });
      await t.r.redis.set(t.r.keys.frame('cam-1', 1, (frames[1] as Frame).seq), 'garbage', 'PX', 20_000);
      await waitUntil('6 jobs failed', async () => (await t.client.queue.getFailedCount()) === 6);
      const failed = await jobsIn(t.client.queue, 'failed');
      for (const job of failed) expect(job.attemptsMade).toBe(1);
      const reasons = failed.map((j) => j.failedReason).join('\n');
      expect(reasons).toMatch(/frame\.width: .*got "wide"/);
      expect(reasons).toMatch(/frame\.key "elsewhere:frame:x" is not a frame key/);
      expect(reasons).toMatch(/replyTo "someone-else:inbox" is not an inbox key/);
      expect(reasons).toMatch(/pixels/);
      expect(reasons).toMatch(/attributes\.tracks\.0\.needs: .*got "yes"|attributes: .*got/);
      expect(reasons).toMatch(/jpeg does not decode/);
      expect(bad.every((j) => failed.some((f) => f.id === j.id))).toBe(true);
      // The camera owner hears about its frame at once (no waiting for the deadline); its bytes are gone.
      await waitUntil('the owner told', () => c.released.length === 1);
      expect(c.released[0]).toEqual({ seq: (frames[1] as Frame).seq, lost: 'failed' });
      expect(await t.r.redis.exists(t.r.keys.frame('cam-1', 1, (frames[1] as Frame).seq))).toBe(0);
      expect(t.worker?.stats.badData).toBe(6);
      await t.frameStore.delete(ref);
    } finally {
      await t.done();
    }
  });

  it('retries a transient fault and delivers the frame once', async () => {
    let calls = 0;
    const flaky: WorkerAnalyzer = {
      analyze: (frame, timing, hints) => {
        calls++;
        if (calls === 1) return Promise.reject(new Error('onnxruntime: transient failure (first call only)'));
        return analyzer.analyze(frame, timing, hints);
      },
    };
    const t = await rig({ analyzer: flaky });
    try {
      const c = collector();
      const link = t.client.camera('cam-1', 1, c.handlers);
      await link.submit(frames[0] as Frame, { descriptors: 'all' });
      await waitUntil('released', () => c.released.length === 1);
      expect(c.released[0]?.detections?.faces.length).toBeGreaterThan(0);
      expect(c.released[0]?.attempt).toBe(2);
      expect(t.worker?.stats).toMatchObject({ transientErrors: 1, ok: 1, failedFinal: 0 });
      const [job] = await jobsIn(t.client.queue, 'completed');
      // BullMQ counts both attempts, the failed one and the one that completed.
      expect(job?.attemptsMade).toBe(2);
      await new Promise((r) => setTimeout(r, 300));
      expect(c.released).toHaveLength(1);
    } finally {
      await t.done();
    }
  });

  it('reports frames whose bytes expired before a worker got to them, and skips past the in-flight bound', async () => {
    const t = await rig({ worker: false, frameTtlMs: 200, client: { maxInFlightPerCamera: 2 } });
    try {
      const c = collector();
      const link = t.client.camera('cam-1', 3, c.handlers);
      expect((await link.submit(frames[0] as Frame, { descriptors: 'none' })).submitted).toBe(true);
      expect((await link.submit(frames[1] as Frame, { descriptors: 'none' })).submitted).toBe(true);
      expect(await link.submit(frames[2] as Frame, { descriptors: 'none' })).toEqual({ submitted: false, reason: 'in_flight' });
      await waitUntil(
        'the bytes expired',
        async () => (await t.r.redis.exists(t.r.keys.frame('cam-1', 3, (frames[1] as Frame).seq))) === 0,
        10_000,
      );
      t.startWorker();
      await waitUntil('both released', () => c.released.length === 2);
      expect(c.released).toEqual([
        { seq: (frames[0] as Frame).seq, lost: 'expired' },
        { seq: (frames[1] as Frame).seq, lost: 'expired' },
      ]);
      expect(link.stats()).toMatchObject({ submitted: 2, skipped: { in_flight: 1 }, window: { lost: { expired: 2 } } });
      expect(t.worker?.stats.expired).toBe(2);
      // The slots are free again.
      expect((await link.submit(frames[3] as Frame, { descriptors: 'none' })).submitted).toBe(true);
    } finally {
      await t.done();
    }
  });

  it('keeps Redis bounded when the workers are slower than the cameras', async () => {
    // 3 cameras at ~20 frames/s offered against one worker that takes >= 150 ms a frame (real models + a wait).
    const slow: WorkerAnalyzer = {
      analyze: async (frame, timing, hints) => {
        await new Promise((r) => setTimeout(r, 150));
        return analyzer.analyze(frame, timing, hints);
      },
    };
    const maxInFlight = 2;
    const keep = 10;
    const t = await rig({
      analyzer: slow,
      concurrency: 1,
      frameTtlMs: 3000,
      client: { maxInFlightPerCamera: maxInFlight, resultDeadlineMs: 1000, keepCompletedJobs: keep, keepFailedJobs: keep },
    });
    try {
      const cams = ['a', 'b', 'c'];
      const got = new Map(cams.map((c) => [c, [] as number[]]));
      const links = cams.map((cam) =>
        t.client.camera(cam, 1, {
          onResult: (d) => void got.get(cam)?.push(d.seq),
          onLost: (seq) => void got.get(cam)?.push(seq),
        }),
      );
      const samples: { keys: number; frames: number; bytes: number; waiting: number }[] = [];
      let producing = true;
      const producers = links.map(async (link, ci) => {
        for (let seq = 0; producing; seq++) {
          const f = frames[seq % frames.length] as Frame;
          await link.submit({ ...f, sourceId: cams[ci] as string, seq }, { descriptors: 'all' });
          await new Promise((r) => setTimeout(r, 50));
        }
      });
      const t0 = Date.now();
      while (Date.now() - t0 < 9000) {
        await new Promise((r) => setTimeout(r, 500));
        const keys = await t.r.keyList();
        let bytes = 0;
        for (const k of keys) bytes += Number((await t.r.redis.memory('USAGE', k)) ?? 0);
        samples.push({
          keys: keys.length,
          frames: keys.filter((k) => k.includes(':frame:')).length,
          bytes,
          waiting: await t.client.queue.getWaitingCount(),
        });
      }
      producing = false;
      await Promise.all(producers);

      const stats = links.map((l) => l.stats());
      const offered = stats.reduce((a, s) => a + s.submitted + s.skipped.in_flight, 0);
      const analysed = t.worker?.stats.ok ?? 0;
      // The workers really were the bottleneck: most frames were skipped at the source, counted.
      expect(offered).toBeGreaterThan(3 * analysed);
      expect(stats.every((s) => s.skipped.in_flight > 0)).toBe(true);
      for (const s of samples) {
        // At most cameras x in-flight frames and as many queued jobs (plus given-up ones whose deletion is on its way).
        expect(s.frames).toBeLessThanOrEqual(cams.length * maxInFlight + cams.length);
        expect(s.waiting).toBeLessThanOrEqual(cams.length * maxInFlight + cams.length);
        // Job hashes: those in flight plus the kept completed/failed ones, plus BullMQ's fixed keys and the inbox.
        expect(s.keys).toBeLessThanOrEqual(2 * cams.length * maxInFlight + 2 * keep + 15);
      }
      // Flat: memory late in the run is no larger than early on (allowing for noise).
      const early = Math.max(...samples.slice(2, 6).map((s) => s.bytes));
      const late = Math.max(...samples.slice(-6).map((s) => s.bytes));
      expect(late).toBeLessThan(early * 1.5 + 200_000);
      // Each camera's releases are increasing seqs, each once.
      for (const seqs of got.values())
        for (let i = 1; i < seqs.length; i++) expect(seqs[i] as number).toBeGreaterThan(seqs[i - 1] as number);
    } finally {
      await t.done();
    }
  });
});
