/**
 * The standalone pipeline: ingest -> infer -> track -> sinks in one process, no Redis.
 * One frame is in flight at a time: while inference runs, the ingest queue keeps only the newest
 * frames and counts the ones it drops, so a slow model never grows a buffer here.
 */
import { performance } from 'node:perf_hooks';
import type { FrameSource, SourceStatus } from '../ingest/index.ts';
import type { Logger } from '../shared/logger.ts';
import type { AnalyzeOptions } from '../infer/analyzer.ts';
import type { AttributeRequest, BoxXyxy, DemographicsSnapshot, DescriptorPlan, DescriptorRequest, Face, FaceDetection, Frame, FrameDetections, GenderLabel, TrackEvent } from '../shared/messages.ts';
import type { FrameTracks, PipelineSink, TrackRow } from './sinks.ts';
import { StatsRecorder, type PipelineStats } from './stats.ts';

/** What the pipeline needs from a frame source: src/ingest's FrameSource. */
export type PipelineSource = Pick<FrameSource, 'frames' | 'status' | 'close'>;

/** Per-frame split of analyzer time, ms; the CPU figures (this process's CPU time) where the analyzer measures them. */
export interface AnalyzeTiming {
  detectMs: number;
  ageGenderMs: number;
  /** Face descriptors for re-identification. */
  descriptorMs: number;
  detectCpuMs?: number;
  ageGenderCpuMs?: number;
  descriptorCpuMs?: number;
}

/** CPU time of this process so far (user + system, all threads), ms. */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** What the pipeline needs from the face analyzer (src/infer's FaceAnalyzer, wrapped by {@link defaultStages}). */
export interface PipelineAnalyzer {
  /**
   * Finds faces with age and gender; fills `timing` with the detect / age-gender split when it can.
   * `hints` come from the camera's tracker (see {@link analyzeHints}): e.g. with descriptors on and
   * `wantDescriptor` given, only the faces it returns true for get one.
   */
  analyze(frame: Frame, timing: AnalyzeTiming, hints?: AnalyzeHints): Promise<readonly Face[]>;
  close(): void | Promise<void>;
}

/**
 * An analyzer with several frames in flight that answers in submission order: a remote one (src/scale's
 * RemoteAnalyzer over a camera's CameraLink: frames by reference in Redis, a BullMQ job each, results back in seq
 * order). {@link runPipeline} submits frames as they come and tracks the results as they are released, so reading
 * the source never waits for inference; a frame it cannot take (its in-flight bound, a Redis error) is skipped and
 * counted, and a frame whose result never comes is released as lost (counted), never waited for for ever.
 */
export interface PipelinedAnalyzer {
  /**
   * Takes `frame` (its pixels are consumed before the promise resolves: the caller may reuse the buffer after)
   * or refuses it with a reason. Accepted frames' results resolve in submission order.
   */
  submit(frame: Frame, request: RemoteAnalyzeRequest): Promise<SubmitResult>;
  /** Frames refused and lost so far, by reason (for status and metrics). */
  counters?(): PipelinedCounters;
  /** Stops: frames still in flight resolve as lost (`closed`). */
  close(): void | Promise<void>;
}

/** What a remote analyzer needs to know about a frame, as data (callbacks cannot cross processes). */
export interface RemoteAnalyzeRequest {
  /** Where to detect (the detect schedule's plan; never `skip`: such frames are not submitted). Absent: a full scan. */
  readonly detect?: Exclude<DetectPlan, { readonly mode: 'skip' }>;
  /** Which faces get a descriptor: the tracker's {@link PipelineTracker.descriptorPlan}, or `all` without one. */
  readonly descriptors: DescriptorRequest;
  /** Which faces get age/gender: the tracker's {@link PipelineTracker.attributePlan}; absent: every face. */
  readonly attributes?: AttributeRequest;
}

/** Answer of {@link PipelinedAnalyzer.submit}. */
export type SubmitResult = { readonly accepted: true; readonly result: Promise<RemoteOutcome> } | { readonly accepted: false; readonly reason: string };

/** A submitted frame's outcome: its faces and the model time split, or why it has none. */
export type RemoteOutcome = { readonly ok: true; readonly faces: readonly Face[]; readonly timing: AnalyzeTiming } | { readonly ok: false; readonly reason: string };

/** Counters of a {@link PipelinedAnalyzer}. */
export interface PipelinedCounters {
  /** Frames refused at submission, by reason (e.g. `in_flight`, `redis_error`). */
  readonly refused: Readonly<Record<string, number>>;
  /** Frames accepted whose result never came, by reason (e.g. `deadline`, `expired`, `failed`). */
  readonly lost: Readonly<Record<string, number>>;
  /** Second results for a frame already released (dropped). */
  readonly duplicates: number;
}

/** True when `a` is a {@link PipelinedAnalyzer} rather than a one-frame-at-a-time {@link PipelineAnalyzer}. */
export function isPipelined(a: PipelineAnalyzer | PipelinedAnalyzer): a is PipelinedAnalyzer {
  return typeof (a as Partial<PipelinedAnalyzer>).submit === 'function';
}

/** What the tracker tells the analyzer about the next frame: src/infer's per-call options, less the photo-only ones. */
export type AnalyzeHints = Omit<AnalyzeOptions, 'assumeFace'>;

/** Where to detect in one frame (src/infer's DetectRequest; src/track's DetectScheduler makes them). */
export type DetectPlan = NonNullable<AnalyzeOptions['detect']>;

/**
 * The hints the tracker gives the analyzer for `frame`: computed before the frame is analysed.
 * `motion` is the camera's motion gate result for this frame, when one runs.
 */
export function analyzeHints(tracker: PipelineTracker, frame: Pick<Frame, 'capturedAtMs'>, motion?: MotionSummary): AnalyzeHints {
  const hints: { -readonly [K in keyof AnalyzeHints]: AnalyzeHints[K] } = {};
  if (tracker.wantsDescriptor) {
    const wants = tracker.wantsDescriptor.bind(tracker);
    hints.wantDescriptor = (face) => wants(face, frame.capturedAtMs);
  }
  if (tracker.planDetection) hints.detect = tracker.planDetection(frame.capturedAtMs, motion);
  if (tracker.wantsAttributes) {
    const wants = tracker.wantsAttributes.bind(tracker);
    hints.wantAttributes = (face) => wants(face, frame.capturedAtMs);
  }
  return hints;
}

/** What the motion gate reports for one frame (src/infer's MotionResult). */
export interface MotionSummary {
  /** Moving areas, source pixels. */
  readonly boxes: readonly BoxXyxy[];
  /** The background restarted (first frame, scene change): motion unknown, detect everywhere. */
  readonly global: boolean;
}

/** The camera's motion gate (src/infer's MotionDetector): one per source, it keeps that source's background. */
export interface PipelineMotion {
  update(frame: Frame): MotionSummary;
}

/** A person as reported in the run summary. */
export interface PersonSummary {
  readonly id: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Fused age, years; null when the person never got an estimate. */
  readonly ageYears: number | null;
  /** Gender label, `unknown` when the fused confidence is below the reporting threshold; null without an estimate. */
  readonly gender: GenderLabel | null;
  /** Fused, calibrated P(male), 0..1; null without an estimate. */
  readonly maleProbability: number | null;
  /** Observations fused into the estimate. */
  readonly samples: number;
}

/** What the pipeline needs from the tracker (src/track's CrowdTracker, wrapped by {@link defaultStages}). */
export interface PipelineTracker {
  /** Feeds one frame; returns the events it caused and the confirmed tracks in that frame. */
  update(frame: FrameDetections): { events: TrackEvent[]; tracks: TrackRow[] };
  /** Ends every open appearance (person.left) at `atMs`; may end with a final demographics snapshot. */
  finish(atMs: number): TrackEvent[];
  snapshot(atMs: number): DemographicsSnapshot;
  persons(): PersonSummary[];
  /**
   * Whether the next `update` would use a descriptor of this face from the frame captured at `atMs`
   * (src/track's CrowdTracker.wantsDescriptor). The pipeline hands it to the analyzer so descriptors
   * are computed only where they count. Absent: every face gets one.
   */
  wantsDescriptor?(face: FaceDetection, atMs: number): boolean;
  /**
   * Where the analyzer should detect in the frame captured at `atMs`, given the motion gate's result
   * (src/track's DetectScheduler over the tracker's expected boxes). Called once per frame, in order.
   * Absent: the whole frame every frame.
   */
  planDetection?(atMs: number, motion: MotionSummary | undefined): DetectPlan;
  /**
   * Whether the next `update` would use age/gender of this face (src/track's CrowdTracker.wantsAttributes):
   * settled tracks need them only for a periodic re-check. Handed to the analyzer like
   * {@link wantsDescriptor}. Absent: every face gets age/gender.
   */
  wantsAttributes?(face: FaceDetection, atMs: number): boolean;
  /**
   * {@link wantsDescriptor}'s inputs as data for the frame captured at `atMs` (src/track's CrowdTracker.descriptorPlan),
   * for a {@link PipelinedAnalyzer} in another process; `framesAhead` frames submitted before it are not tracked yet
   * (the plan is that stale). Absent: every face gets a descriptor.
   */
  descriptorPlan?(atMs: number, framesAhead: number): DescriptorPlan;
  /**
   * {@link wantsAttributes}'s inputs as data for the frame captured at `atMs` (src/track's CrowdTracker.attributePlan),
   * for a {@link PipelinedAnalyzer} in another process. Absent: every face gets age/gender.
   */
  attributePlan?(atMs: number): AttributeRequest;
}

/** The stages, created per run. */
export interface PipelineStages {
  readonly source: PipelineSource;
  /** One frame at a time in this process, or several in flight elsewhere ({@link PipelinedAnalyzer}). */
  readonly analyzer: PipelineAnalyzer | PipelinedAnalyzer;
  readonly tracker: PipelineTracker;
  /** Motion gate run on every frame before the analyzer; absent: none (detection is never skipped). */
  readonly motion?: PipelineMotion;
}

/** Options of {@link runPipeline}. */
export interface PipelineOptions {
  /** Stops the run cleanly: the source is closed, open tracks are finished, sinks are closed. */
  readonly signal?: AbortSignal;
  /** Output sinks (events JSONL, MOT tracks, ...). Default none. */
  readonly sinks?: readonly PipelineSink[];
  /** Stop after this many processed frames. Default unlimited. */
  readonly maxFrames?: number;
  /**
   * Fail when the first frame has not arrived after this long, ms: a live source that cannot connect
   * would otherwise retry for ever. 0 waits for ever. Default 0.
   */
  readonly firstFrameTimeoutMs?: number;
  /** Called after every processed frame (progress display); must be cheap. */
  readonly onFrame?: (progress: PipelineProgress) => void;
}

/** Progress after one frame. */
export interface PipelineProgress {
  readonly frames: number;
  readonly capturedAtMs: number;
  /** Confirmed tracks in the last frame. */
  readonly peopleNow: number;
  /** Faces detected in the last frame. */
  readonly faces: number;
  readonly droppedFrames: number;
  /** The analyzer's time split for the last frame, ms. */
  readonly timing: Readonly<AnalyzeTiming>;
}

/** Services the pipeline uses. */
export interface PipelineDeps {
  /** Creates the stages; see {@link defaultStages} in ./stages.ts for the real ones. */
  readonly stages: () => PipelineStages | Promise<PipelineStages>;
  readonly logger?: Logger;
  /** Monotonic clock, ms. Default `performance.now`. */
  readonly now?: () => number;
  /** This process's CPU time, ms, for the stages' `cpuMs`. Default {@link processCpuMs}. */
  readonly cpuNow?: () => number;
}

/** Why the run stopped. */
export type StopReason = 'end' | 'aborted' | 'maxFrames';

/** Result of {@link runPipeline}. */
export interface PipelineResult {
  readonly reason: StopReason;
  readonly stats: PipelineStats;
  /** Demographics at the end (after finishing open tracks). */
  readonly snapshot: DemographicsSnapshot;
  readonly persons: readonly PersonSummary[];
  /** Capture time of the last processed frame, ms (0 when none). */
  readonly lastCapturedAtMs: number;
}

/** Thrown when no frame arrived within `firstFrameTimeoutMs`. */
export class NoFramesError extends Error {
  override readonly name = 'NoFramesError';
}

/**
 * Thrown by {@link runPipeline} when a stage failed after the stages were created (e.g. the source
 * failed mid-run): `cause` is that failure (its message is this error's), `result` what was processed
 * up to it, with open tracks finished, or null when even finishing them failed.
 */
export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  constructor(
    override readonly cause: unknown,
    readonly result: PipelineResult | null,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

const ABORTED = Symbol('aborted');
const TIMEOUT = Symbol('timeout');

/**
 * Runs ingest -> analyzer -> tracker -> sinks until the source ends, `maxFrames` is reached or
 * `signal` aborts. Always closes the source, the analyzer and the sinks, and finishes open tracks
 * (their person.left events reach the sinks), also when a stage throws; it then throws a
 * {@link PipelineError} that carries what was processed.
 */
export async function runPipeline(options: PipelineOptions, deps: PipelineDeps): Promise<PipelineResult> {
  const now = deps.now ?? (() => performance.now());
  const cpuNow = deps.cpuNow ?? processCpuMs;
  const log = deps.logger;
  const sinks = options.sinks ?? [];
  const { signal } = options;
  if (options.maxFrames !== undefined && !(Number.isInteger(options.maxFrames) && options.maxFrames > 0)) {
    throw new Error(`maxFrames must be a positive integer, got ${options.maxFrames}`);
  }
  const firstFrameTimeoutMs = options.firstFrameTimeoutMs ?? 0;
  if (!(firstFrameTimeoutMs >= 0)) throw new Error(`firstFrameTimeoutMs must be >= 0, got ${firstFrameTimeoutMs}`);

  const stages = await deps.stages();
  // Started after the stages exist: model loading is start-up, not per-frame throughput.
  const stats = new StatsRecorder(now());
  const { source, analyzer, tracker } = stages;
  let reason: StopReason = 'end';
  let lastCapturedAtMs = 0;
  let failure: unknown = null;

  const abortPromise = new Promise<typeof ABORTED>((resolve) => {
    if (signal?.aborted) resolve(ABORTED);
    else signal?.addEventListener('abort', () => resolve(ABORTED), { once: true });
  });
  // Closing the source on abort also ends an ffmpeg that is blocked connecting.
  const onAbort = (): void => {
    Promise.resolve(source.close()).catch((err: unknown) => log?.warn({ err }, 'closing the source on abort failed'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  const emit = async (events: readonly TrackEvent[], tracks: FrameTracks | null, detections: FrameDetections | null): Promise<void> => {
    const t0 = now();
    for (const sink of sinks) {
      if (detections && sink.onDetections) await sink.onDetections(detections);
      if (events.length > 0 && sink.onEvents) await sink.onEvents(events);
      if (tracks && sink.onFrameTracks) await sink.onFrameTracks(tracks);
    }
    stats.add('sink', now() - t0);
  };

  // Frames between submission and tracking are processed strictly in order by one promise chain. A local analyzer
  // has one frame in flight (the loop awaits it before reading the next: ingest then drops newest-wins while it
  // runs); a pipelined one has several, and the loop goes on reading while earlier frames are analysed elsewhere.
  const pipelined = isPipelined(analyzer) ? analyzer : null;
  const local = isPipelined(analyzer) ? null : analyzer;
  let chain: Promise<void> = Promise.resolve();
  let chainFailure: unknown = null;
  let inFlight = 0;
  /** Set on abort or failure: outcomes still to come are dropped rather than tracked. */
  let dropping = false;
  let analyzerClosed = false;

  const track = async (frame: Omit<Frame, 'rgb' | 'ptsMs'>, mode: DetectPlan['mode'] | undefined, pending: Promise<RemoteOutcome>): Promise<void> => {
    let outcome: RemoteOutcome;
    try {
      outcome = await pending;
    } finally {
      inFlight--;
    }
    if (dropping) {
      stats.droppedInFlight += 1;
      return;
    }
    if (!outcome.ok) {
      stats.lost[outcome.reason] = (stats.lost[outcome.reason] ?? 0) + 1;
      return;
    }
    const { faces, timing } = outcome;
    if (mode === 'skip') stats.skippedFrames += 1;
    else if (mode === 'regions') stats.regionFrames += 1;
    stats.add('detect', timing.detectMs, timing.detectCpuMs);
    stats.add('ageGender', timing.ageGenderMs, timing.ageGenderCpuMs);
    stats.add('descriptor', timing.descriptorMs, timing.descriptorCpuMs);

    const t1 = now();
    const c1 = cpuNow();
    const detections: FrameDetections = { sourceId: frame.sourceId, seq: frame.seq, capturedAtMs: frame.capturedAtMs, width: frame.width, height: frame.height, faces };
    const { events, tracks } = tracker.update(detections);
    stats.add('track', now() - t1, cpuNow() - c1);

    stats.frames += 1;
    stats.faces += faces.length;
    for (const f of faces) if (f.ageYears !== undefined) stats.attributes += 1;
    for (const f of faces) if (f.descriptor !== undefined) stats.descriptors += 1;
    stats.droppedFrames = source.status().counters.framesDropped;
    lastCapturedAtMs = frame.capturedAtMs;
    await emit(events, { sourceId: frame.sourceId, seq: frame.seq, capturedAtMs: frame.capturedAtMs, tracks }, detections);
    options.onFrame?.({ frames: stats.frames, capturedAtMs: frame.capturedAtMs, peopleNow: tracks.length, faces: faces.length, droppedFrames: stats.droppedFrames, timing });
  };

  const iterator = source.frames()[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (chainFailure !== null) throw chainFailure;
      if (signal?.aborted) {
        reason = 'aborted';
        break;
      }
      if (options.maxFrames !== undefined && stats.frames + inFlight >= options.maxFrames) {
        reason = 'maxFrames';
        break;
      }
      const t0 = now();
      const waits: Promise<IteratorResult<Frame> | typeof ABORTED | typeof TIMEOUT>[] = [iterator.next(), abortPromise];
      let timer: NodeJS.Timeout | undefined;
      if (stats.frames === 0 && inFlight === 0 && firstFrameTimeoutMs > 0) {
        waits.push(new Promise((resolve) => (timer = setTimeout(() => resolve(TIMEOUT), firstFrameTimeoutMs))));
      }
      const next = await Promise.race(waits);
      if (timer) clearTimeout(timer);
      if (next === ABORTED) {
        reason = 'aborted';
        break;
      }
      if (next === TIMEOUT) {
        throw new NoFramesError(`no frame from the source within ${firstFrameTimeoutMs} ms${describeStatus(source.status())}`);
      }
      if (next.done) break;
      const frame = next.value;
      stats.add('decode', now() - t0);

      let motion: MotionSummary | undefined;
      if (stages.motion) {
        const tm = now();
        const cm = cpuNow();
        motion = stages.motion.update(frame);
        stats.add('motion', now() - tm, cpuNow() - cm);
      }
      const hints = analyzeHints(tracker, frame, motion);
      const plan = hints.detect;
      const meta = { sourceId: frame.sourceId, seq: frame.seq, capturedAtMs: frame.capturedAtMs, width: frame.width, height: frame.height };
      let pending: Promise<RemoteOutcome>;
      if (plan?.mode === 'skip') {
        // Nothing moves and nothing is tracked: no model runs on this frame at all, here or in a worker; it still
        // reaches the tracker (empty), in its place among the frames in flight.
        pending = Promise.resolve({ ok: true, faces: [], timing: { detectMs: 0, ageGenderMs: 0, descriptorMs: 0 } });
      } else if (pipelined) {
        // The hints as data, taken now: the worker evaluates them per face as analyzeHints' callbacks would here.
        const request: RemoteAnalyzeRequest = {
          descriptors: tracker.descriptorPlan ? tracker.descriptorPlan(frame.capturedAtMs, inFlight) : 'all',
          ...(tracker.attributePlan ? { attributes: tracker.attributePlan(frame.capturedAtMs) } : {}),
          ...(plan ? { detect: plan } : {}),
        };
        const submitted = await pipelined.submit(frame, request);
        if (!submitted.accepted) {
          stats.refused[submitted.reason] = (stats.refused[submitted.reason] ?? 0) + 1;
          continue;
        }
        pending = submitted.result;
      } else {
        const timing: AnalyzeTiming = { detectMs: 0, ageGenderMs: 0, descriptorMs: 0 };
        pending = (local as PipelineAnalyzer).analyze(frame, timing, hints).then((faces): RemoteOutcome => ({ ok: true, faces, timing }));
      }
      inFlight++;
      const mode = plan?.mode;
      chain = chain.then(() => track(meta, mode, pending));
      if (pipelined) {
        chain.catch((err: unknown) => {
          chainFailure ??= err;
        });
      } else await chain;
    }
  } catch (err) {
    failure = err;
  }

  signal?.removeEventListener('abort', onAbort);
  // Stop ffmpeg first: nothing more will be read.
  failure = await closePart('source', () => source.close(), log, failure);
  failure = await closePart('frame iterator', async () => void (await iterator.return?.()), log, failure);
  if (pipelined) {
    if (reason !== 'aborted' && failure === null) {
      // The source ended: the frames in flight are still tracked (each resolves, at the latest at its deadline).
      try {
        await chain;
      } catch (err) {
        failure = err;
      }
    } else {
      // Aborted (e.g. the camera lease was lost) or failed: the results still to come are not tracked.
      dropping = true;
      failure = await closePart('analyzer', () => analyzer.close(), log, failure);
      analyzerClosed = true;
      await chain.catch(() => undefined);
    }
    failure ??= chainFailure;
  }
  stats.droppedFrames = source.status().counters.framesDropped;

  let snapshot: DemographicsSnapshot | null = null;
  try {
    const finishEvents = tracker.finish(lastCapturedAtMs);
    snapshot = tracker.snapshot(lastCapturedAtMs);
    // The final snapshot goes out once: CrowdTracker.finish already ends with one.
    const finalEvents = finishEvents.some((e) => e.type === 'demographics') ? finishEvents : [...finishEvents, snapshot];
    // Also after a source failure: the people in view did leave, and the sinks should say so.
    await emit(finalEvents, null, null);
  } catch (err) {
    if (failure !== null) log?.warn({ err }, 'finishing tracks failed after an earlier error');
    failure ??= err;
  }
  if (!analyzerClosed) failure = await closePart('analyzer', () => analyzer.close(), log, failure);
  for (const sink of sinks) failure = await closePart('sink', () => sink.close?.(), log, failure);
  if (failure !== null) {
    // What was processed before the failure, for the caller's summary.
    throw new PipelineError(failure, snapshot ? { reason, stats: stats.snapshot(now()), snapshot, persons: tracker.persons(), lastCapturedAtMs } : null);
  }

  const result: PipelineResult = { reason, stats: stats.snapshot(now()), snapshot: snapshot as DemographicsSnapshot, persons: tracker.persons(), lastCapturedAtMs };
  log?.info({ reason, frames: result.stats.frames, fps: result.stats.fps, droppedFrames: result.stats.droppedFrames, skippedFrames: result.stats.skippedFrames, regionFrames: result.stats.regionFrames, ...(pipelined ? { refused: result.stats.refused, lost: result.stats.lost, droppedInFlight: result.stats.droppedInFlight } : {}), uniquePersons: result.persons.length }, 'pipeline stopped');
  return result;
}

/**
 * Closes one part and returns the run's error: a close failure becomes it when nothing failed before,
 * else it is logged, so every part still gets closed.
 */
async function closePart(what: string, close: () => unknown, log: Logger | undefined, earlier: unknown): Promise<unknown> {
  try {
    await close();
  } catch (err) {
    if (earlier === null) return err;
    log?.warn({ err }, `closing the ${what} failed after an earlier error`);
  }
  return earlier;
}

function describeStatus(status: SourceStatus): string {
  const parts = [`state ${status.state}`];
  if (status.lastError) parts.push(`last error: ${status.lastError.message}`);
  return ` (${parts.join('; ')})`;
}
