/**
 * The worker side of the inference queue: a BullMQ Worker whose processor fetches a frame's bytes
 * by reference, decodes them, runs the injected analyzer (models loaded once per process), pushes
 * the detections to the camera owner's inbox and deletes the bytes, atomically (one MULTI).
 *
 * Failure handling:
 * - bad job data (schema, keys outside this deployment's prefix, bytes that do not decode to the
 *   frame described) throws BullMQ's UnrecoverableError: no retry; the owner is told `failed`;
 * - bytes already gone (TTL passed, or a retry after the result went out) is no fault to retry:
 *   counted, the owner is told `expired`, the job completes;
 * - anything else (Redis errors, an analyzer error) throws so BullMQ retries with backoff; the last
 *   attempt tells the owner `failed` and deletes the bytes;
 * - a worker killed mid-job loses its lock after `lockMs`; the stalled check (every `lockMs / 2`)
 *   puts the job back in the queue for another worker.
 *
 * Jobs run `concurrency` at a time, but the analyzer runs one frame at a time per process
 * (onnxruntime-node runs sessions on the main thread and the models reuse input buffers), so
 * concurrency overlaps Redis I/O and JPEG decoding (libuv threads) with inference.
 */
import { performance } from 'node:perf_hooks';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.ts';
import type { Face, FaceDetection, Frame, InferJob } from '../shared/messages.ts';
import type { AnalyzeHints, AnalyzeTiming, PipelineAnalyzer } from '../pipeline/standalone.ts';
import { planWantsAttributes, planWantsDescriptor } from '../track/crowd.ts';
import { FrameDecodeError, decodeFrame } from './frame-store.ts';
import { INFER_QUEUE, type ScaleKeys } from './keys.ts';
import { parseInferJob, toWireFace, type InboxMessage, type InboxLostReason, type WorkerTiming } from './wire.ts';

/** What the worker needs of an analyzer: src/pipeline's PipelineAnalyzer (the real one wraps src/infer's FaceAnalyzer). */
export type WorkerAnalyzer = Pick<PipelineAnalyzer, 'analyze'>;

/** What a processed job returns to BullMQ (stored in the job hash and its `completed` event): counts only, never faces. */
export interface InferJobOutcome {
  readonly outcome: 'ok' | 'expired';
  readonly faces: number;
  readonly descriptors: number;
}

/** Counters of one worker process. */
export interface InferWorkerStats {
  /** Jobs whose result reached the inbox. */
  ok: number;
  /** Jobs whose bytes were gone. */
  expired: number;
  /** Jobs failed with UnrecoverableError (bad data). */
  badData: number;
  /** Attempts that threw a transient fault (BullMQ retries them). */
  transientErrors: number;
  /** Jobs that failed on their last attempt. */
  failedFinal: number;
  /** Time spent in jobs, ms (for a busy ratio against wall time). */
  busyMs: number;
  /** Time spent in the analyzer, ms. */
  analyzeMs: number;
}

/** Dependencies of {@link createInferProcessor}. */
export interface InferProcessorDeps {
  /** Connection for frame bytes and inbox pushes. */
  readonly redis: Redis;
  readonly keys: ScaleKeys;
  readonly analyzer: WorkerAnalyzer;
  /** Inbox life after each push, ms: a dead owner's inbox expires. Use 2 x the result deadline. */
  readonly inboxTtlMs: number;
  /** Name in results (diagnostics). */
  readonly workerName?: string;
  readonly logger?: Logger;
  readonly stats?: InferWorkerStats;
  /** Called with each job's timings once its result went out (metrics). */
  readonly onJob?: (timing: WorkerTiming) => void;
}

/** Fresh zeroed counters. */
export function newWorkerStats(): InferWorkerStats {
  return { ok: 0, expired: 0, badData: 0, transientErrors: 0, failedFinal: 0, busyMs: 0, analyzeMs: 0 };
}

/**
 * The hints the analyzer gets from a job, all three from data the owner's tracker sent: which faces get a
 * descriptor, which get age/gender (evaluated per face exactly as the tracker's own wantsDescriptor and
 * wantsAttributes would, see src/track's planWantsDescriptor and planWantsAttributes), and where to detect.
 */
export function hintsFor(job: Pick<InferJob, 'descriptors' | 'detect' | 'attributes'>): AnalyzeHints {
  const req = job.descriptors;
  const attributes = job.attributes;
  const hints: { -readonly [K in keyof AnalyzeHints]: AnalyzeHints[K] } = {};
  if (job.detect) hints.detect = job.detect;
  if (req === 'none') hints.wantDescriptor = () => false;
  else if (req !== 'all') hints.wantDescriptor = (face: FaceDetection) => planWantsDescriptor(req, face);
  if (attributes !== undefined && attributes !== 'all')
    hints.wantAttributes = (face: FaceDetection) => planWantsAttributes(attributes, face);
  return hints;
}

/** A one-at-a-time lock: the analyzer's calls never overlap. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** The processor function (exposed for tests; {@link createInferWorker} wires it into a BullMQ Worker). */
export function createInferProcessor(deps: InferProcessorDeps): (job: Job) => Promise<InferJobOutcome> {
  const { redis, keys, analyzer } = deps;
  const stats = deps.stats ?? newWorkerStats();
  const serial = new Serial();
  const workerName = deps.workerName ?? `worker-${process.pid}`;

  const notifyLost = async (data: InferJob, reason: InboxLostReason, error?: string): Promise<void> => {
    const msg: InboxMessage = {
      type: 'lost',
      sourceId: data.frame.sourceId,
      epoch: data.frame.epoch,
      seq: data.frame.seq,
      reason,
      ...(error !== undefined ? { error: error.slice(0, 2000) } : {}),
    };
    await redis.multi().rpush(data.replyTo, JSON.stringify(msg)).pexpire(data.replyTo, deps.inboxTtlMs).unlink(data.frame.key).exec();
  };

  return async (job: Job): Promise<InferJobOutcome> => {
    const t0 = performance.now();
    let data: InferJob;
    try {
      data = parseInferJob(job.data);
      if (!keys.isFrameKey(data.frame.key))
        throw new Error(`frame.key ${JSON.stringify(data.frame.key)} is not a frame key of prefix ${JSON.stringify(keys.prefix)}`);
      if (!keys.isInboxKey(data.replyTo))
        throw new Error(`replyTo ${JSON.stringify(data.replyTo)} is not an inbox key of prefix ${JSON.stringify(keys.prefix)}`);
    } catch (err) {
      stats.badData++;
      throw new UnrecoverableError(`job ${job.id}: ${(err as Error).message}`);
    }
    const isLastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      const ref = data.frame;
      const bytes = await redis.getBuffer(ref.key);
      const t1 = performance.now();
      if (bytes === null) {
        stats.expired++;
        await notifyLost(data, 'expired');
        return { outcome: 'expired', faces: 0, descriptors: 0 };
      }
      const rgb = await decodeFrame(bytes, ref);
      const t2 = performance.now();
      const frame: Frame = {
        sourceId: ref.sourceId,
        seq: ref.seq,
        capturedAtMs: ref.capturedAtMs,
        ptsMs: 0,
        width: ref.width,
        height: ref.height,
        rgb,
      };
      const timing: AnalyzeTiming = { detectMs: 0, ageGenderMs: 0, descriptorMs: 0 };
      let t3 = t2;
      const faces: readonly Face[] = await serial.run(() => {
        t3 = performance.now();
        return analyzer.analyze(frame, timing, hintsFor(data));
      });
      const t4 = performance.now();
      stats.analyzeMs += t4 - t3;
      const workerTiming: WorkerTiming = {
        queueWaitMs: Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp),
        fetchMs: t1 - t0,
        decodeMs: t2 - t1,
        analyzerWaitMs: t3 - t2,
        detectMs: timing.detectMs,
        ageGenderMs: timing.ageGenderMs,
        descriptorMs: timing.descriptorMs,
      };
      const msg: InboxMessage = {
        type: 'result',
        sourceId: ref.sourceId,
        epoch: ref.epoch,
        seq: ref.seq,
        capturedAtMs: ref.capturedAtMs,
        width: ref.width,
        height: ref.height,
        faces: faces.map(toWireFace),
        timing: workerTiming,
        worker: workerName,
        attempt: job.attemptsMade + 1,
      };
      // Result out and bytes gone in one step: a retry after this finds no bytes and reports `expired`, which the owner drops as a duplicate.
      const res = await redis
        .multi()
        .rpush(data.replyTo, JSON.stringify(msg))
        .pexpire(data.replyTo, deps.inboxTtlMs)
        .unlink(ref.key)
        .exec();
      const failed = res?.find(([e]) => e !== null);
      if (res === null || failed)
        throw new Error(`pushing the result to ${data.replyTo} failed: ${failed?.[0]?.message ?? 'transaction aborted'}`);
      stats.ok++;
      deps.onJob?.(workerTiming);
      let descriptors = 0;
      for (const f of faces) if (f.descriptor !== undefined) descriptors++;
      return { outcome: 'ok', faces: faces.length, descriptors };
    } catch (err) {
      const unrecoverable = err instanceof FrameDecodeError;
      if (unrecoverable) stats.badData++;
      else stats.transientErrors++;
      if (unrecoverable || isLastAttempt) {
        if (!unrecoverable) stats.failedFinal++;
        await notifyLost(data, 'failed', (err as Error).message).catch((e: unknown) =>
          deps.logger?.warn({ err: e, job: job.id }, 'telling the camera owner about a failed frame failed; its deadline will skip it'),
        );
      }
      if (unrecoverable) throw new UnrecoverableError(`job ${job.id}: ${(err as Error).message}`);
      throw err;
    } finally {
      stats.busyMs += performance.now() - t0;
    }
  };
}

/** Options of {@link createInferWorker}. */
export interface InferWorkerOptions extends InferProcessorDeps {
  /** Jobs at once (config `scale.workerConcurrency`). */
  readonly concurrency: number;
  /** Job lock, ms (config `scale.jobLockMs`); the stalled check runs every half of it. */
  readonly lockMs: number;
  /** Start taking jobs at once. Default true. */
  readonly autorun?: boolean;
}

/** A running inference worker. */
export interface InferWorker {
  readonly worker: Worker;
  readonly stats: InferWorkerStats;
  /** Stops taking jobs and waits for the ones in flight to finish (SIGTERM). */
  close(): Promise<void>;
}

/**
 * Starts a BullMQ Worker on the inference queue. `redis` is used for commands and duplicated by
 * BullMQ for its blocking connection; it must have `maxRetriesPerRequest: null` (connectRedis's default).
 */
export function createInferWorker(options: InferWorkerOptions): InferWorker {
  const stats = options.stats ?? newWorkerStats();
  const processor = createInferProcessor({ ...options, stats });
  const worker = new Worker(INFER_QUEUE, processor, {
    connection: options.redis,
    prefix: options.keys.bullPrefix,
    concurrency: options.concurrency,
    lockDuration: options.lockMs,
    stalledInterval: Math.max(500, Math.floor(options.lockMs / 2)),
    // A job whose worker died twice is given up (the owner's deadline skips it).
    maxStalledCount: 2,
    autorun: options.autorun ?? true,
    ...(options.workerName !== undefined ? { name: options.workerName } : {}),
  });
  worker.on('error', (err) => options.logger?.warn({ err }, 'inference worker error'));
  worker.on('failed', (job, err) => {
    if (err instanceof UnrecoverableError || err.name === 'UnrecoverableError')
      options.logger?.warn({ job: job?.id, err: err.message }, 'inference job has bad data; failed without retry');
    else options.logger?.debug({ job: job?.id, attempt: job?.attemptsMade, err: err.message }, 'inference job attempt failed');
  });
  return {
    worker,
    stats,
    close: () => worker.close(),
  };
}
