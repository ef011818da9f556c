/**
 * The producer side of the inference queue, run by the process that owns a camera (ingest).
 *
 * Per camera ({@link CameraLink}): a sampled frame goes into the {@link FrameStore} (bytes in Redis,
 * short TTL) and a BullMQ job carrying only its {@link FrameRef}, the owner's inbox key and the
 * tracker's hints as data (descriptor and attribute plans, detect plan). At most `maxInFlightPerCamera` frames per camera are between
 * submission and release to the tracker; past it frames are skipped and counted (`in_flight`),
 * so the queue holds at most cameras x that many jobs whatever the workers' speed.
 *
 * Return path: workers RPUSH each result to the owner's inbox list (`<prefix>:inbox:<ownerId>`);
 * one blocking connection per owner process BLPOPs it (then LPOPs up to 100 more) and routes each
 * message to its camera's {@link ReorderWindow}, which releases results to the tracker in seq
 * order, once each, skipping a frame whose result misses the deadline. Reading pops the message,
 * so descriptors sit in Redis only between the worker's push and the owner's pop (about a
 * millisecond when the owner keeps up; the inbox's PX bounds it when the owner is gone).
 * Given-up frames have their bytes deleted and their job removed if no worker holds it yet.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.ts';
import type { Frame, FrameDetections, FrameLostReason, FrameRef, InferJob } from '../shared/messages.ts';
import type { FrameStore } from './frame-store.ts';
import { INFER_QUEUE, type ScaleKeys } from './keys.ts';
import { ReorderWindow, type Released, type ReorderStats } from './reorder.ts';
import { fromWireFace, parseInboxMessage, type InboxMessage, type InboxResult, type WorkerTiming } from './wire.ts';

/** A unique id for this process as a camera owner: host, pid and a random part. */
export function newOwnerId(): string {
  return `${hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .slice(0, 40)}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** What the camera's tracker tells the worker about one frame: InferJob's hints (see {@link CameraLink.submit}). */
export type FrameHints = Pick<InferJob, 'descriptors' | 'detect' | 'attributes'>;

/** Why a frame was not submitted. */
export type SkipReason = 'in_flight' | 'redis_error' | 'closed';

export type SubmitOutcome =
  { readonly submitted: true; readonly ref: FrameRef } | { readonly submitted: false; readonly reason: SkipReason };

/** About a released result. */
export interface ResultInfo {
  readonly timing: WorkerTiming;
  readonly worker: string;
  /** BullMQ attempt that produced it, 1-based. */
  readonly attempt: number;
  /** From submission to the result's arrival in this process, ms (this process's monotonic clock). */
  readonly roundTripMs: number;
  /** Time the result then waited in the reorder window for earlier frames, ms. */
  readonly reorderWaitMs: number;
}

/** Where a camera's results go, in seq order. */
export interface CameraHandlers {
  /** Called once per released frame, in seq order; typically feeds the camera's tracker. */
  onResult(detections: FrameDetections, info: ResultInfo): void;
  /** Called for a frame given up (in seq order among results). */
  onLost?(seq: number, reason: FrameLostReason): void;
}

/** Counters of one camera link. */
export interface CameraLinkStats {
  readonly sourceId: string;
  readonly epoch: number;
  /** Frames submitted (stored and queued). */
  submitted: number;
  /** Frames not submitted, by reason. */
  skipped: Record<SkipReason, number>;
  /** Bytes stored for submitted frames. */
  bytesSubmitted: number;
  /** Frames pending when the link closed (dropped). */
  droppedOnClose: number;
  /** Frames now between submission and release. */
  inFlight: number;
  readonly window: ReorderStats;
}

/** Options of {@link InferenceClient.open}. */
export interface InferenceClientOptions {
  /** Command connection (also BullMQ's); duplicated for the inbox's blocking reads. */
  readonly redis: Redis;
  readonly keys: ScaleKeys;
  readonly frames: FrameStore;
  /** This process's owner id (see {@link newOwnerId}); names its inbox. */
  readonly ownerId: string;
  /** Config `scale.maxInFlightPerCamera`. */
  readonly maxInFlightPerCamera: number;
  /** Config `scale.resultDeadlineMs`. */
  readonly resultDeadlineMs: number;
  /** Config `scale.jobAttempts`. */
  readonly jobAttempts: number;
  /** Config `scale.keepCompletedJobs` (BullMQ removeOnComplete count). */
  readonly keepCompletedJobs: number;
  /** Config `scale.keepFailedJobs` (BullMQ removeOnFail count). */
  readonly keepFailedJobs: number;
  /** BullMQ events stream length cap (approximate). Default 1000. */
  readonly eventsMaxLen?: number;
  readonly logger?: Logger;
  /** Monotonic clock, ms. Default performance.now. */
  readonly now?: () => number;
}

/** Client-wide counters. */
export interface InferenceClientStats {
  /** Inbox messages read. */
  messages: number;
  /** Messages for no open camera link (a closed camera, or an older epoch): dropped. */
  orphans: number;
  /** Messages that failed validation: dropped. */
  invalid: number;
  /** Errors of the inbox reader (it retries). */
  inboxErrors: number;
}

function jobOptions(o: Pick<InferenceClientOptions, 'jobAttempts' | 'keepCompletedJobs' | 'keepFailedJobs'>): JobsOptions {
  return {
    attempts: o.jobAttempts,
    backoff: { type: 'exponential', delay: 100 },
    removeOnComplete: { count: o.keepCompletedJobs },
    removeOnFail: { count: o.keepFailedJobs },
  };
}

/** One inference client per owner process; one {@link CameraLink} per owned camera and lease epoch. */
export class InferenceClient {
  readonly queue: Queue;
  readonly inboxKey: string;
  readonly ownerId: string;
  private readonly links = new Map<string, CameraLink>();
  private readonly blocking: Redis;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly loop: Promise<void>;
  private readonly counters: InferenceClientStats = { messages: 0, orphans: 0, invalid: 0, inboxErrors: 0 };
  readonly now: () => number;

  private constructor(readonly options: InferenceClientOptions) {
    this.ownerId = options.ownerId;
    this.inboxKey = options.keys.inbox(options.ownerId);
    this.now = options.now ?? (() => performance.now());
    this.queue = new Queue(INFER_QUEUE, {
      connection: options.redis,
      prefix: options.keys.bullPrefix,
      defaultJobOptions: jobOptions(options),
      streams: { events: { maxLen: options.eventsMaxLen ?? 1000 } },
    });
    this.queue.on('error', (err) => options.logger?.warn({ err }, 'inference queue error'));
    this.blocking = options.redis.duplicate();
    this.blocking.on('error', (err: Error) => options.logger?.debug({ err }, 'inbox connection error'));
    const pollMs = Math.max(10, Math.min(100, Math.floor(options.resultDeadlineMs / 4)));
    this.timer = setInterval(() => this.pollAll(), pollMs);
    this.timer.unref();
    this.loop = this.readInbox();
  }

  /** Creates the client and waits until the queue is ready. */
  static async open(options: InferenceClientOptions): Promise<InferenceClient> {
    if (!(Number.isInteger(options.maxInFlightPerCamera) && options.maxInFlightPerCamera >= 1))
      throw new RangeError(`maxInFlightPerCamera must be an integer >= 1, got ${options.maxInFlightPerCamera}`);
    if (!(options.resultDeadlineMs > 0)) throw new RangeError(`resultDeadlineMs must be > 0, got ${options.resultDeadlineMs}`);
    const client = new InferenceClient(options);
    await client.queue.waitUntilReady();
    return client;
  }

  /** Opens the link for a camera under a lease epoch (the lease's fencing token). One link per (camera, epoch). */
  camera(sourceId: string, epoch: number, handlers: CameraHandlers): CameraLink {
    if (this.closed) throw new Error('InferenceClient is closed');
    const id = linkId(sourceId, epoch);
    if (this.links.has(id)) throw new Error(`camera ${JSON.stringify(sourceId)} epoch ${epoch} already has a link`);
    const link = new CameraLink(this, sourceId, epoch, handlers, () => this.links.delete(id));
    this.links.set(id, link);
    return link;
  }

  stats(): InferenceClientStats {
    return { ...this.counters };
  }

  /** Closes every link (pending frames dropped, their bytes deleted), stops reading and deletes the inbox. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const link of [...this.links.values()]) await link.close();
    this.closed = true;
    clearInterval(this.timer);
    this.blocking.disconnect();
    await this.loop;
    await this.options.redis
      .unlink(this.inboxKey)
      .catch((err: unknown) => this.options.logger?.warn({ err }, 'deleting the inbox failed; it expires'));
    await this.queue.close();
  }

  /** @internal */
  jobData(ref: FrameRef, hints: FrameHints): InferJob {
    const { descriptors, detect, attributes } = hints;
    return {
      frame: ref,
      replyTo: this.inboxKey,
      descriptors,
      ...(detect ? { detect } : {}),
      ...(attributes !== undefined ? { attributes } : {}),
    };
  }

  private pollAll(): void {
    const now = this.now();
    for (const link of this.links.values()) link.poll(now);
  }

  private async readInbox(): Promise<void> {
    while (!this.closed) {
      try {
        const first = await this.blocking.blpop(this.inboxKey, 5);
        if (first === null) continue;
        this.handle(first[1]);
        const more = await this.blocking.lpop(this.inboxKey, 100);
        if (more) for (const m of more) this.handle(m);
      } catch (err) {
        if (this.closed) return;
        this.counters.inboxErrors++;
        this.options.logger?.warn({ err }, 'reading the result inbox failed; retrying');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private handle(text: string): void {
    this.counters.messages++;
    let msg: InboxMessage;
    try {
      msg = parseInboxMessage(text);
    } catch (err) {
      this.counters.invalid++;
      this.options.logger?.warn({ err: (err as Error).message }, 'dropped an invalid inbox message');
      return;
    }
    const link = this.links.get(linkId(msg.sourceId, msg.epoch));
    if (link === undefined) {
      this.counters.orphans++;
      return;
    }
    link.receive(msg, this.now());
  }
}

function linkId(sourceId: string, epoch: number): string {
  return `${epoch}\u0000${sourceId}`;
}

interface PendingJob {
  readonly submittedAtMs: number;
  readonly key: string;
  jobId: string | null;
}

interface Arrived {
  readonly msg: InboxResult;
  readonly arrivedAtMs: number;
}

/** One camera's frames in flight: submission, bounded in-flight count, in-order release. */
export class CameraLink {
  private readonly window: ReorderWindow<Arrived>;
  private readonly jobs = new Map<number, PendingJob>();
  private closed = false;
  private readonly counters: Omit<CameraLinkStats, 'window' | 'inFlight'>;

  /** @internal created by {@link InferenceClient.camera} */
  constructor(
    private readonly client: InferenceClient,
    readonly sourceId: string,
    readonly epoch: number,
    private readonly handlers: CameraHandlers,
    private readonly onClose: () => void,
  ) {
    this.window = new ReorderWindow({ deadlineMs: client.options.resultDeadlineMs, maxPending: client.options.maxInFlightPerCamera });
    this.counters = {
      sourceId,
      epoch,
      submitted: 0,
      skipped: { in_flight: 0, redis_error: 0, closed: 0 },
      bytesSubmitted: 0,
      droppedOnClose: 0,
    };
  }

  /** Frames between submission and release. */
  get inFlight(): number {
    return this.window.inFlight;
  }

  /**
   * Stores `frame` and queues its job, or skips it (counted) when the camera has
   * `maxInFlightPerCamera` frames in flight or Redis fails. `frame.seq` must increase.
   * @param hints the tracker's hints as data: which faces need a descriptor (e.g. `tracker.descriptorPlan(atMs)`),
   *   which need age/gender (`tracker.attributePlan(atMs)`; absent: every face) and where the worker detects (the
   *   camera's detect schedule plan; absent: a full scan).
   */
  async submit(frame: Frame, hints: FrameHints): Promise<SubmitOutcome> {
    if (frame.sourceId !== this.sourceId)
      throw new Error(
        `submit: frame.sourceId ${JSON.stringify(frame.sourceId)} is not this link's camera ${JSON.stringify(this.sourceId)}`,
      );
    if (this.closed) return this.skip('closed');
    if (this.window.full) return this.skip('in_flight');
    const { frames, keys, logger } = this.client.options;
    const now = this.client.now();
    this.window.expect(frame.seq, now);
    const pending: PendingJob = { submittedAtMs: now, key: keys.frame(this.sourceId, this.epoch, frame.seq), jobId: null };
    this.jobs.set(frame.seq, pending);
    try {
      const ref = await frames.put(frame, this.epoch);
      const job = await this.client.queue.add('frame', this.client.jobData(ref, hints));
      pending.jobId = job.id ?? null;
      this.counters.submitted++;
      this.counters.bytesSubmitted += ref.byteLength;
      return { submitted: true, ref };
    } catch (err) {
      logger?.warn({ err, camera: this.sourceId, seq: frame.seq }, 'submitting a frame failed; skipped');
      this.jobs.delete(frame.seq);
      frames
        .delete({ key: pending.key })
        .catch((e: unknown) => logger?.debug({ err: e, seq: frame.seq }, 'deleting the bytes of a failed submission failed; they expire'));
      this.emit(this.window.cancel(frame.seq, this.client.now()));
      return this.skip('redis_error');
    }
  }

  stats(): CameraLinkStats {
    return { ...this.counters, skipped: { ...this.counters.skipped }, inFlight: this.window.inFlight, window: this.window.stats() };
  }

  /** Stops submitting; frames in flight are dropped (counted), their bytes deleted and queued jobs removed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    const seqs = this.window.clear();
    this.counters.droppedOnClose += seqs.length;
    for (const seq of seqs) {
      const pending = this.jobs.get(seq);
      if (pending) this.cleanup(seq, pending);
    }
    this.jobs.clear();
  }

  /** @internal */
  receive(msg: InboxMessage, nowMs: number): void {
    if (this.closed) return;
    if (msg.type === 'result') this.emit(this.window.deliver(msg.seq, { msg, arrivedAtMs: nowMs }, nowMs));
    else this.emit(this.window.lose(msg.seq, msg.reason, nowMs));
  }

  /** @internal */
  poll(nowMs: number): void {
    if (!this.closed) this.emit(this.window.poll(nowMs));
  }

  private skip(reason: SkipReason): SubmitOutcome {
    this.counters.skipped[reason]++;
    return { submitted: false, reason };
  }

  private emit(released: readonly Released<Arrived>[]): void {
    const now = this.client.now();
    for (const r of released) {
      const pending = this.jobs.get(r.seq);
      this.jobs.delete(r.seq);
      if (r.kind === 'lost') {
        // The worker already deleted the bytes for expired/failed; a deadline needs the cleanup here.
        if (r.reason === 'deadline' && pending) this.cleanup(r.seq, pending);
        this.safely(() => this.handlers.onLost?.(r.seq, r.reason));
        continue;
      }
      const { msg, arrivedAtMs } = r.value;
      const detections: FrameDetections = {
        sourceId: msg.sourceId,
        seq: msg.seq,
        capturedAtMs: msg.capturedAtMs,
        width: msg.width,
        height: msg.height,
        faces: msg.faces.map(fromWireFace),
      };
      const info: ResultInfo = {
        timing: msg.timing,
        worker: msg.worker,
        attempt: msg.attempt,
        roundTripMs: pending ? arrivedAtMs - pending.submittedAtMs : Number.NaN,
        reorderWaitMs: now - arrivedAtMs,
      };
      this.safely(() => this.handlers.onResult(detections, info));
    }
  }

  /** A handler that throws must not wedge the window: log and go on. */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.client.options.logger?.error({ err, camera: this.sourceId }, 'camera result handler threw');
    }
  }

  private cleanup(seq: number, pending: PendingJob): void {
    const { frames, logger } = this.client.options;
    frames
      .delete({ key: pending.key })
      .catch((err: unknown) => logger?.debug({ err, seq }, 'deleting a given-up frame failed; it expires'));
    if (pending.jobId !== null)
      this.client.queue.remove(pending.jobId).catch((err: unknown) => logger?.debug({ err, seq }, 'removing a given-up job failed'));
  }
}
