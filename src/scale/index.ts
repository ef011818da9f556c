/**
 * src/scale: the building blocks of scale-out over Redis (issue 7), wired from the one configuration.
 * The roles (`crowdlens ingest | worker | api`) use {@link openScale} and the classes below; nothing
 * here starts ffmpeg, loads models or serves HTTP.
 *
 *   ingest (camera owner)                         worker
 *   LeaseManager ── acquired(camera, token) ─┐
 *   FrameSource ── Frame ──► CameraLink.submit ──► FrameStore (bytes, PX) + BullMQ job {FrameRef, replyTo, plan}
 *                                              ──► createInferWorker: fetch, decode, analyze, RPUSH inbox + DEL bytes
 *   CrowdTracker ◄── onResult (seq order) ◄── ReorderWindow ◄── inbox (BLPOP) ◄─┘
 *   LeaseManager.publish (fenced) ──► <prefix>:events:<camera>  (api nodes subscribe)
 */
import type { Redis } from 'ioredis';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import { FrameStore } from './frame-store.ts';
import { ScaleKeys } from './keys.ts';
import { LeaseManager, type LeaseManagerOptions } from './lease.ts';
import { InferenceClient, newOwnerId } from './queue.ts';
import { connectRedis } from './redis.ts';
import { ReidCarryStore } from './reid-carry.ts';
import { createInferWorker, type InferWorker, type WorkerAnalyzer } from './worker.ts';
import type { WorkerTiming } from './wire.ts';

export {
  DEFAULT_JPEG_QUALITY,
  FrameDecodeError,
  FrameStore,
  decodeFrame,
  encodeFrame,
  type EncodeOptions,
  type FrameStoreOptions,
  type JpegChroma,
} from './frame-store.ts';
export { INFER_QUEUE, ScaleKeys } from './keys.ts';
export {
  LeaseManager,
  fencedPublish,
  releaseLease,
  renewLease,
  tryAcquireLease,
  type HeldLease,
  type LeaseLostReason,
  type LeaseManagerOptions,
  type LeaseRecord,
  type LeaseStats,
} from './lease.ts';
export {
  CameraLink,
  InferenceClient,
  newOwnerId,
  type CameraHandlers,
  type CameraLinkStats,
  type InferenceClientOptions,
  type InferenceClientStats,
  type ResultInfo,
  type SkipReason,
  type FrameHints,
  type SubmitOutcome,
} from './queue.ts';
export { connectRedis, deleteKeys, scanKeys, type ConnectOptions } from './redis.ts';
export { ReidCarryStore, type ReidCarryOptions, type ReidCarryStats } from './reid-carry.ts';
export { ReorderWindow, type Released, type ReorderStats, type ReorderWindowOptions } from './reorder.ts';
export {
  createInferProcessor,
  createInferWorker,
  hintsFor,
  newWorkerStats,
  type InferJobOutcome,
  type InferWorker,
  type InferWorkerOptions,
  type InferWorkerStats,
  type WorkerAnalyzer,
} from './worker.ts';
export { parseInboxMessage, parseInferJob, type InboxMessage, type WorkerTiming } from './wire.ts';
export {
  CameraReporter,
  CameraStateStore,
  RedisCameraReads,
  type FlushResult,
  type LiveRecord,
  type OpenPerson,
  type PreviousOwner,
} from './camera-state.ts';
export { RedisCameraRegistry, type RedisRegistryOptions, type RedisRegistryStats } from './registry-redis.ts';
export { RemoteAnalyzer, type RemoteAnalyzerOptions } from './remote-analyzer.ts';

/** Everything a role needs, built from the configuration; one Redis connection per process (BullMQ duplicates it for blocking reads). */
export interface Scale {
  readonly keys: ScaleKeys;
  readonly redis: Redis;
  readonly frames: FrameStore;
  /** Redis connection errors seen (for a metric). */
  readonly redisErrors: () => number;
  /** The camera-owner side of the inference queue (one per ingest process). */
  inference(ownerId: string): Promise<InferenceClient>;
  /** A BullMQ inference worker around `analyzer` (models loaded once per process by the caller). */
  worker(analyzer: WorkerAnalyzer, name?: string, onJob?: (timing: WorkerTiming) => void): InferWorker;
  /** Camera leases for an ingest process. */
  leases(
    ownerId: string,
    cameras: readonly string[],
    options?: Pick<LeaseManagerOptions, 'onRelease' | 'maxCameras' | 'rebalance'>,
  ): LeaseManager;
  /** The opt-in re-identification carry store; null unless `scale.reidCarry` is on. */
  reidCarry(windowMs: number): ReidCarryStore | null;
  /** Disconnects (close clients, workers and managers first). */
  close(): void;
}

/** Connects to `config.redisUrl` (required) and returns the scale-out parts configured from `config.scale`. */
export function openScale(config: Config, deps: { logger?: Logger; name?: string } = {}): Scale {
  if (config.redisUrl === undefined) throw new Error('redisUrl: scale-out needs CROWDLENS_REDIS_URL or REDIS_URL');
  const s = config.scale;
  let errors = 0;
  const redis = connectRedis(config.redisUrl, {
    name: deps.name ?? 'crowdlens',
    onError: () => void errors++,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  const keys = new ScaleKeys(s.prefix);
  const frames = new FrameStore({ redis, keys, ttlMs: s.frameTtlMs, encoding: s.frameEncoding, jpegQuality: s.jpegQuality });
  const logger = deps.logger ? { logger: deps.logger } : {};
  return {
    keys,
    redis,
    frames,
    redisErrors: () => errors,
    inference: (ownerId) =>
      InferenceClient.open({
        redis,
        keys,
        frames,
        ownerId,
        maxInFlightPerCamera: s.maxInFlightPerCamera,
        resultDeadlineMs: s.resultDeadlineMs,
        jobAttempts: s.jobAttempts,
        keepCompletedJobs: s.keepCompletedJobs,
        keepFailedJobs: s.keepFailedJobs,
        ...logger,
      }),
    worker: (analyzer, name, onJob) =>
      createInferWorker({
        ...(onJob ? { onJob } : {}),
        redis,
        keys,
        analyzer,
        inboxTtlMs: 2 * s.resultDeadlineMs,
        concurrency: s.workerConcurrency,
        lockMs: s.jobLockMs,
        workerName: name ?? newOwnerId(),
        ...logger,
      }),
    leases: (ownerId, cameras, options = {}) =>
      new LeaseManager({ redis, keys, ownerId, leaseMs: s.leaseMs, cameras, ...logger, ...options }),
    reidCarry: (windowMs) => (s.reidCarry ? new ReidCarryStore({ redis, keys, windowMs }) : null),
    close: () => redis.disconnect(),
  };
}
