/**
 * The cameras of one process: one pipeline per enabled camera (src/pipeline's runPipeline over its own source
 * and CrowdTracker, sharing the one analyzer), kept in line with the registry: a created, changed or deleted
 * camera starts, restarts or stops within a second or two. It keeps each camera's status, live snapshot and
 * history, publishes live events at a steady rate (also for a camera that is down: its last snapshot and its
 * state), updates the metrics, and retries a failed camera with backoff. It answers the API's reads
 * ({@link CameraReads}) from memory.
 */
import { ageBucketOf, type DemographicsLabelKey, type DemographicsSnapshot, type Frame, type FrameDetections, type PersonEstimate, type TrackEvent } from '../shared/messages.ts';
import type { CameraDemographics, CameraState, CameraStatus } from '../shared/api.ts';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import { maskUrl, redactText } from '../shared/redact.ts';
import { toPublicCamera, type CameraReads, type CameraRecord, type CameraRegistry, type LivePublisher, type RegistryChange } from '../shared/service.ts';
import { parseSourceUrl } from '../ingest/index.ts';
import type { SourceCounters } from '../ingest/index.ts';
import { DemographicsHistory } from '../track/history.ts';
import { isPipelined, runPipeline, type PipelineAnalyzer, type PipelineProgress, type PipelineSource, type PipelineStages } from '../pipeline/standalone.ts';
import type { FrameTracks, PipelineSink } from '../pipeline/sinks.ts';
import { createCameraStages } from '../pipeline/stages.ts';
import { DROP_REASONS, type CrowdlensMetrics } from './metrics.ts';
import type { PreviewStore } from './preview.ts';
import type { MediaUrlPolicy } from './url-policy.ts';

/** Options of {@link CameraManager}. */
export interface CameraManagerOptions {
  readonly registry: CameraRegistry;
  readonly urlPolicy: MediaUrlPolicy;
  readonly config: Config;
  readonly publisher: LivePublisher;
  readonly metrics: CrowdlensMetrics;
  readonly logger: Logger;
  /** Wall clock, ms since the Unix epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** First retry delay after a camera failed, ms; doubles per failure up to `maxRetryDelayMs`. Default 2000. */
  readonly retryDelayMs?: number;
  /** Default 60000. */
  readonly maxRetryDelayMs?: number;
  /** The annotated preview's frame keeper, when the preview is on (`CROWDLENS_PREVIEW`). */
  readonly preview?: PreviewStore;
  /**
   * Whether this process runs the camera now (scale-out: it holds the camera's lease). Default: every camera. When
   * it changes, call {@link CameraManager.ownershipChanged}.
   */
  readonly owns?: (cameraId: string) => boolean;
  /**
   * Builds a run's stages (scale-out: a remote analyzer over the camera's lease, a tracker continuing the previous
   * owner's ids). Default: createCameraStages on the analyzer given to {@link CameraManager.start}.
   */
  readonly stages?: (run: CameraRunContext) => PipelineStages | Promise<PipelineStages>;
  /** Sees every run's events and frames (scale-out: the camera's aggregates in Redis). */
  readonly observer?: CameraObserver;
  /** Publish `camera.changed` for registry changes. Default true (scale-out ingest: false, the API nodes do). */
  readonly publishChanges?: boolean;
}

/** What a custom stage factory gets for one run of a camera. */
export interface CameraRunContext {
  readonly record: CameraRecord;
  /** Run number of the camera in this process (1, 2, ...). */
  readonly run: number;
  /** The source as ingest should open it (media-relative paths resolved). */
  readonly source: string;
  readonly config: Config;
  readonly logger: Logger;
}

/** Observer of the cameras' runs. */
export interface CameraObserver {
  /** A run's track events, in order, before they are published. */
  events?(cameraId: string, run: number, events: readonly TrackEvent[]): void;
  /** The people matched in each analysed frame of a run. */
  frame?(cameraId: string, run: number, tracks: FrameTracks): void;
}

/** Person -> cell entries kept per camera for the history (people who left included, for their return). */
const MAX_CELLS = 20_000;

/** Window of the fps figures, ms. */
const FPS_WINDOW_MS = 5000;

interface Totals {
  read: number;
  sampled: number;
  queueFull: number;
  partial: number;
  /** Scale-out: refused by the remote analyzer (in-flight bound; Redis error). */
  inFlight: number;
  redisError: number;
  /** Scale-out: submitted, no result (by reason). */
  deadline: number;
  expired: number;
  failed: number;
  restarts: number;
  watchdogRestarts: number;
}

const TOTAL_KEYS = ['read', 'sampled', 'queueFull', 'partial', 'inFlight', 'redisError', 'deadline', 'expired', 'failed', 'restarts', 'watchdogRestarts'] as const;
const ZERO: Totals = Object.freeze({ read: 0, sampled: 0, queueFull: 0, partial: 0, inFlight: 0, redisError: 0, deadline: 0, expired: 0, failed: 0, restarts: 0, watchdogRestarts: 0 });

function totalsOf(c: Readonly<SourceCounters>, stages: PipelineStages): Totals {
  const t: Totals = { ...ZERO, read: c.framesIn, sampled: c.framesOut, queueFull: c.framesDropped, partial: c.partialFramesDiscarded, restarts: c.restarts, watchdogRestarts: c.watchdogRestarts };
  const a = stages.analyzer;
  if (isPipelined(a) && a.counters) {
    const { refused, lost } = a.counters();
    t.inFlight = refused['in_flight'] ?? 0;
    t.redisError = refused['redis_error'] ?? 0;
    t.deadline = lost['deadline'] ?? 0;
    t.expired = lost['expired'] ?? 0;
    t.failed = lost['failed'] ?? 0;
  }
  return t;
}

function add(a: Totals, b: Totals): Totals {
  const out = { ...ZERO };
  for (const k of TOTAL_KEYS) out[k] = a[k] + b[k];
  return out;
}

interface CameraRun {
  readonly id: number;
  readonly controller: AbortController;
  stages: PipelineStages | null;
  done: Promise<void>;
}

interface LastError {
  readonly code: string;
  readonly message: string;
  readonly atMs: number;
}

/** Everything the manager knows about one registered camera. */
interface Slot {
  record: CameraRecord;
  state: CameraState;
  sinceMs: number;
  lastError: LastError | null;
  readonly history: DemographicsHistory;
  snapshot: DemographicsSnapshot | null;
  /** Counters of finished runs. */
  base: Totals;
  /** What the metrics were last told. */
  reported: Totals;
  retries: number;
  failuresInARow: number;
  retryTimer: NodeJS.Timeout | null;
  runs: number;
  run: CameraRun | null;
  /** Person id -> demographics cell, for the current run. */
  readonly cells: Map<number, DemographicsLabelKey>;
  lastFrameAtMs: number | null;
  sampledAtMs: number | null;
  width: number | null;
  height: number | null;
  fpsSamples: { atMs: number; read: number; sampled: number }[];
  /** State and error last published as `camera.status`. */
  published: { state: CameraState; errorAtMs: number | null } | null;
  /** Serialises this camera's start/stop operations. */
  ops: Promise<void>;
}

function cellOf(estimate: PersonEstimate): DemographicsLabelKey {
  return `${ageBucketOf(estimate.ageYears)}/${estimate.gender}`;
}

/** The literal credentials of a URL, to scrub from any text (ingest does the same for ffmpeg's output). */
function secretsOf(url: string): string[] {
  try {
    return [...parseSourceUrl(url, 'url').secrets];
  } catch {
    return [];
  }
}

/** The source with a hook on every frame it yields (the frame's buffer is valid until the next one is read). */
function tapFrames(source: PipelineSource, onFrame: (frame: Frame) => void): PipelineSource {
  return {
    status: () => source.status(),
    close: () => source.close(),
    async *frames() {
      for await (const frame of source.frames()) {
        onFrame(frame);
        yield frame;
      }
    },
  };
}

function scrub(text: string, url: string): string {
  let out = redactText(text);
  for (const s of secretsOf(url)) out = out.split(s).join('***');
  return out;
}

export class CameraManager implements CameraReads {
  private readonly slots = new Map<string, Slot>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private analyzer: PipelineAnalyzer | null = null;
  private tick: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopping = false;
  private started = false;
  private loaded: Promise<void> | null = null;

  constructor(private readonly options: CameraManagerOptions) {
    this.log = options.logger.child({ component: 'cameras' });
    this.now = options.now ?? Date.now;
    this.retryDelayMs = options.retryDelayMs ?? 2000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
  }

  /**
   * Loads the registry and follows its changes; cameras show as `pending` (or `disabled`) until {@link start}
   * hands over the analyzer. Idempotent.
   */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      // Subscribe first, so that no change between the list and the subscription is missed (a change to a camera already in the list is applied once more, harmlessly).
      this.unsubscribe = this.options.registry.subscribe((change) => this.onChange(change));
      for (const record of await this.options.registry.list()) if (!this.slots.has(record.id)) this.slots.set(record.id, this.newSlot(record));
      this.tick = setInterval(() => this.onTick(), this.options.config.service.liveIntervalMs);
      this.tick.unref();
    })();
    return this.loaded;
  }

  /**
   * Starts every enabled camera on `analyzer` (shared by all of them; none needed with a custom `stages` factory);
   * later changes start and stop cameras.
   */
  async start(analyzer?: PipelineAnalyzer): Promise<void> {
    await this.load();
    this.started = true;
    this.analyzer = analyzer ?? null;
    for (const slot of this.slots.values()) this.schedule(slot, async () => this.reconcile(slot));
  }

  /** Stops every camera (ffmpeg killed, open tracks finished) and stops following the registry. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    if (this.tick) clearInterval(this.tick);
    await Promise.all([...this.slots.values()].map((slot) => this.schedule(slot, () => this.halt(slot, 'stopped'))));
  }

  /**
   * The camera's ownership changed (see the `owns` option): starts or stops it. Resolves once done (a stopped
   * camera's open tracks are finished and their events published).
   */
  ownershipChanged(id: string): Promise<void> {
    const slot = this.slots.get(id);
    if (!slot) return Promise.resolve();
    return this.schedule(slot, () => this.reconcile(slot));
  }

  async status(id: string): Promise<CameraStatus | null> {
    const slot = this.slots.get(id);
    return slot ? this.statusOf(slot) : null;
  }

  async demographics(id: string): Promise<CameraDemographics | null> {
    const slot = this.slots.get(id);
    if (!slot) return null;
    const atMs = this.now();
    this.sample(slot);
    return { cameraId: id, atMs, state: this.stateOf(slot), live: slot.snapshot, ...slot.history.read(atMs) };
  }

  /** Ids of the cameras the manager knows. */
  ids(): string[] {
    return [...this.slots.keys()];
  }

  /** Brings the counters of the metrics up to date (called before each scrape and every tick). */
  syncMetrics(): void {
    const m = this.options.metrics;
    for (const [id, slot] of this.slots) {
      const t = this.totals(slot);
      const r = slot.reported;
      const inc = (c: { inc(labels: Record<string, string>, v: number): void }, labels: Record<string, string>, d: number): void => {
        if (d > 0) c.inc(labels, d);
      };
      inc(m.framesRead, { camera: id }, t.read - r.read);
      inc(m.framesSampled, { camera: id }, t.sampled - r.sampled);
      inc(m.framesDropped, { camera: id, reason: 'queue_full' }, t.queueFull - r.queueFull);
      inc(m.framesDropped, { camera: id, reason: 'partial' }, t.partial - r.partial);
      inc(m.framesDropped, { camera: id, reason: 'in_flight' }, t.inFlight - r.inFlight);
      inc(m.framesDropped, { camera: id, reason: 'redis_error' }, t.redisError - r.redisError);
      inc(m.framesDropped, { camera: id, reason: 'deadline' }, t.deadline - r.deadline);
      inc(m.framesDropped, { camera: id, reason: 'expired' }, t.expired - r.expired);
      inc(m.framesDropped, { camera: id, reason: 'failed' }, t.failed - r.failed);
      inc(m.reconnects, { camera: id }, t.restarts - r.restarts);
      inc(m.watchdogRestarts, { camera: id }, t.watchdogRestarts - r.watchdogRestarts);
      slot.reported = t;
      m.setCameraState(id, this.stateOf(slot));
    }
  }

  private newSlot(record: CameraRecord): Slot {
    const m = this.options.metrics;
    // Counters start at 0 so that a camera's series exist from its registration on.
    for (const c of [m.framesRead, m.framesSampled, m.reconnects, m.watchdogRestarts, m.cameraRetries, m.peopleUniqueTotal, m.peopleEnteredTotal]) c.inc({ camera: record.id }, 0);
    for (const reason of DROP_REASONS) m.framesDropped.inc({ camera: record.id, reason }, 0);
    return {
      record,
      state: record.enabled ? 'pending' : 'disabled',
      sinceMs: this.now(),
      lastError: null,
      history: new DemographicsHistory(),
      snapshot: null,
      base: { ...ZERO },
      reported: { ...ZERO },
      retries: 0,
      failuresInARow: 0,
      retryTimer: null,
      runs: 0,
      run: null,
      cells: new Map(),
      lastFrameAtMs: null,
      sampledAtMs: null,
      width: null,
      height: null,
      fpsSamples: [],
      published: null,
      ops: Promise.resolve(),
    };
  }

  private schedule(slot: Slot, op: () => Promise<void>): Promise<void> {
    const next = slot.ops.then(op).catch((err: unknown) => this.log.error({ err, cameraId: slot.record.id }, 'camera operation failed'));
    slot.ops = next;
    return next;
  }

  private onChange(change: RegistryChange): void {
    if (this.stopping) return;
    if (this.options.publishChanges ?? true) this.options.publisher.cameraChanged({ type: change.type, cameraId: change.id, camera: change.camera ? toPublicCamera(change.camera) : null });
    const existing = this.slots.get(change.id);
    if (change.camera === null) {
      if (!existing) return;
      this.slots.delete(change.id);
      void this.schedule(existing, async () => {
        await this.halt(existing, 'stopped');
        // Unless a camera of the same id was registered again meanwhile (its series are its own).
        if (!this.slots.has(change.id)) this.options.metrics.removeCamera(change.id);
        this.log.info({ cameraId: change.id }, 'camera deleted: stopped');
      });
      return;
    }
    const record = change.camera;
    if (!existing) {
      const slot = this.newSlot(record);
      this.slots.set(record.id, slot);
      void this.schedule(slot, () => this.reconcile(slot));
      return;
    }
    const before = existing.record;
    existing.record = record;
    const ingestChanged = before.url !== record.url || before.fps !== record.fps || before.maxWidth !== record.maxWidth || before.loop !== record.loop || before.enabled !== record.enabled;
    if (!ingestChanged) return;
    void this.schedule(existing, async () => {
      await this.halt(existing, record.enabled ? 'pending' : 'disabled');
      existing.failuresInARow = 0;
      await this.reconcile(existing);
    });
  }

  /** Starts the camera's pipeline when it should run and does not. */
  private async reconcile(slot: Slot): Promise<void> {
    if (this.stopping || !this.slots.has(slot.record.id)) return;
    if (!slot.record.enabled) {
      this.setState(slot, 'disabled');
      return;
    }
    if (this.options.owns && !this.options.owns(slot.record.id)) {
      // Another process runs it (or none yet): stop ours, if any.
      if (slot.run !== null || slot.retryTimer !== null) await this.halt(slot, 'pending');
      else this.setState(slot, 'pending');
      return;
    }
    if (!this.started || (this.analyzer === null && this.options.stages === undefined)) {
      this.setState(slot, 'pending');
      return;
    }
    if (slot.run === null && slot.retryTimer === null) this.launch(slot, this.analyzer);
  }

  /** Stops the camera's pipeline (and a pending retry) and waits until ffmpeg is gone. */
  private async halt(slot: Slot, next: CameraState): Promise<void> {
    if (slot.retryTimer) clearTimeout(slot.retryTimer);
    slot.retryTimer = null;
    const run = slot.run;
    if (run) {
      run.controller.abort();
      await run.done;
    }
    this.options.preview?.forget(slot.record.id);
    this.setState(slot, next);
  }

  private launch(slot: Slot, analyzer: PipelineAnalyzer | null): void {
    const record = slot.record;
    const id = record.id;
    const controller = new AbortController();
    const run: CameraRun = { id: ++slot.runs, controller, stages: null, done: Promise.resolve() };
    slot.run = run;
    slot.cells.clear();
    this.setState(slot, 'starting');
    const log = this.log.child({ cameraId: id });
    log.info({ url: maskUrl(record.url), fps: record.fps ?? this.options.config.ingest.fps, run: run.id }, 'camera starting');
    let analysedFrames = 0;
    const preview = this.options.preview;
    // With the preview on, the frame being analysed, so that the sink can hand it to the preview with its faces.
    let current: Frame | null = null;
    run.done = (async () => {
      try {
        await this.options.urlPolicy.check(record.url, 'url');
        const result = await runPipeline(
          {
            signal: controller.signal,
            sinks: [this.sink(slot, run), ...(preview ? [{ onDetections: (d: FrameDetections) => (current?.seq === d.seq ? preview.offer(id, current, d.faces) : undefined) }] : [])],
            onFrame: (p) => {
              analysedFrames++;
              this.onFrame(slot, p);
            },
          },
          {
            logger: log,
            stages: async () => {
              const custom = this.options.stages;
              const stages = custom
                ? await custom({ record, run: run.id, source: this.options.urlPolicy.resolve(record.url), config: this.options.config, logger: log })
                : createCameraStages(
                    {
                      source: this.options.urlPolicy.resolve(record.url),
                      sourceId: id,
                      loop: record.loop,
                      config: this.options.config,
                      tracker: { snapshotEveryMs: 0 },
                      ...(record.fps !== null ? { fps: record.fps } : {}),
                      ...(record.maxWidth !== null ? { maxWidth: record.maxWidth } : {}),
                    },
                    analyzer as PipelineAnalyzer,
                    { logger: log },
                  );
              run.stages = preview ? { ...stages, source: tapFrames(stages.source, (f) => (current = f)) } : stages;
              return run.stages;
            },
          },
        );
        this.endRun(slot, run);
        if (result.reason === 'end') this.setState(slot, 'ended');
        slot.failuresInARow = 0;
      } catch (err) {
        this.endRun(slot, run);
        const code = typeof (err as { code?: unknown }).code === 'string' ? String((err as { code: string }).code) : (err as Error).name || 'ERROR';
        slot.lastError = { code, message: scrub((err as Error).message ?? String(err), record.url), atMs: this.now() };
        if (analysedFrames > 0) slot.failuresInARow = 0;
        slot.failuresInARow++;
        this.setState(slot, 'failed');
        if (controller.signal.aborted || this.stopping) return;
        const delayMs = Math.min(this.maxRetryDelayMs, this.retryDelayMs * 2 ** (slot.failuresInARow - 1));
        log.warn({ code, err: slot.lastError.message, retryInMs: delayMs }, 'camera failed; retrying');
        slot.retryTimer = setTimeout(() => {
          slot.retryTimer = null;
          if (this.stopping || this.slots.get(id) !== slot || !slot.record.enabled) return;
          slot.retries++;
          this.options.metrics.cameraRetries.inc({ camera: id });
          void this.schedule(slot, () => this.reconcile(slot));
        }, delayMs);
        slot.retryTimer.unref();
      }
    })();
  }

  /** Folds a finished run's counters into the camera's totals. */
  private endRun(slot: Slot, run: CameraRun): void {
    const status = run.stages?.source.status();
    if (status && run.stages) {
      slot.base = add(slot.base, totalsOf(status.counters, run.stages));
      this.noteSourceError(slot, status.lastError);
    }
    run.stages = null;
    if (slot.run === run) slot.run = null;
    this.syncMetrics();
  }

  private noteSourceError(slot: Slot, err: { code: string; message: string; atMs: number } | undefined): void {
    if (err && (slot.lastError === null || err.atMs > slot.lastError.atMs)) slot.lastError = { code: err.code, message: scrub(err.message, slot.record.url), atMs: err.atMs };
  }

  private sink(slot: Slot, run: CameraRun): PipelineSink {
    const id = slot.record.id;
    const m = this.options.metrics;
    const pub = this.options.publisher;
    return {
      onEvents: (events: readonly TrackEvent[]) => {
        this.options.observer?.events?.(id, run.id, events);
        for (const e of events) {
          switch (e.type) {
            case 'person.entered':
              slot.history.entered(e.atMs, e.returning);
              m.peopleEnteredTotal.inc({ camera: id });
              if (!e.returning) m.peopleUniqueTotal.inc({ camera: id });
              pub.personEntered({ cameraId: id, personId: e.personId, atMs: e.atMs, returning: e.returning });
              break;
            case 'person.updated':
              slot.cells.delete(e.personId);
              slot.cells.set(e.personId, cellOf(e.estimate));
              // Kept after the person leaves (a returning person keeps their id and, with an unchanged estimate, gets no
              // new person.updated); bounded, the longest-unchanged entry goes first.
              if (slot.cells.size > MAX_CELLS) slot.cells.delete(slot.cells.keys().next().value as number);
              break;
            case 'person.left':
              slot.history.left(e.atMs, e.dwellMs);
              m.dwellSeconds.observe({ camera: id }, e.dwellMs / 1000);
              pub.personLeft({ cameraId: id, personId: e.personId, atMs: e.atMs, firstSeenMs: e.firstSeenMs, lastSeenMs: e.lastSeenMs, dwellMs: e.dwellMs, estimate: e.estimate });
              break;
            case 'demographics':
              // The tracker's own snapshots come only at the end of a run (snapshotEveryMs 0): the final one.
              slot.snapshot = e;
              break;
          }
        }
      },
      onFrameTracks: (f: FrameTracks) => {
        this.options.observer?.frame?.(id, run.id, f);
        slot.history.frame(
          f.capturedAtMs,
          f.tracks.map((t) => ({ key: `${run.id}:${t.trackId}`, cell: slot.cells.get(t.trackId) ?? null })),
        );
      },
    };
  }

  private onFrame(slot: Slot, p: PipelineProgress): void {
    const id = slot.record.id;
    const m = this.options.metrics;
    const info = this.options.config.infer;
    slot.lastFrameAtMs = p.capturedAtMs;
    m.inferenceSeconds.observe({ model: info.detector }, p.timing.detectMs / 1000);
    if (p.faces > 0) m.inferenceSeconds.observe({ model: 'age_gender' }, p.timing.ageGenderMs / 1000);
    if (p.timing.descriptorMs > 0) m.inferenceSeconds.observe({ model: 'faceres' }, p.timing.descriptorMs / 1000);
    m.facesPerFrame.observe({ camera: id }, p.faces);
    m.tracksActive.set({ camera: id }, p.peopleNow);
    m.frameLatencySeconds.observe(Math.max(0, this.now() - p.capturedAtMs) / 1000);
    if (slot.state === 'starting' || slot.state === 'reconnecting') this.refresh(slot);
  }

  /** Takes a snapshot from the running tracker when a new frame has been analysed since the last one. */
  private sample(slot: Slot): void {
    const stages = slot.run?.stages;
    if (!stages || slot.lastFrameAtMs === null || slot.lastFrameAtMs === slot.sampledAtMs) return;
    slot.snapshot = stages.tracker.snapshot(slot.lastFrameAtMs);
    slot.sampledAtMs = slot.lastFrameAtMs;
    slot.history.peopleNow(slot.lastFrameAtMs, slot.snapshot.peopleNow);
  }

  private onTick(): void {
    const nowMs = this.now();
    const m = this.options.metrics;
    for (const [id, slot] of this.slots) {
      this.sample(slot);
      const t = this.totals(slot);
      slot.fpsSamples.push({ atMs: nowMs, read: t.read, sampled: t.sampled });
      while (slot.fpsSamples.length > 2 && nowMs - (slot.fpsSamples[0] as { atMs: number }).atMs > FPS_WINDOW_MS) slot.fpsSamples.shift();
      this.refresh(slot);
      const snap = slot.snapshot;
      if (snap) {
        m.peopleNow.set({ camera: id }, snap.peopleNow);
        m.peopleUnique.set({ camera: id, window: '1m' }, snap.unique.lastMinute);
        m.peopleUnique.set({ camera: id, window: '1h' }, snap.unique.lastHour);
        m.peopleUnique.set({ camera: id, window: '1d' }, snap.unique.lastDay);
      }
      this.options.publisher.demographics({ cameraId: id, atMs: nowMs, state: slot.state, snapshot: snap });
    }
    this.options.preview?.sweep();
    this.syncMetrics();
  }

  /** Re-derives the state from the running source and publishes `camera.status` when it or the last error changed. */
  private refresh(slot: Slot): void {
    const status = slot.run?.stages?.source.status();
    if (status) {
      this.noteSourceError(slot, status.lastError);
      if (status.width !== undefined && status.height !== undefined) {
        slot.width = status.width;
        slot.height = status.height;
      }
      const mapped: CameraState | null = status.state === 'running' ? 'running' : status.state === 'reconnecting' ? 'reconnecting' : status.state === 'starting' ? 'starting' : null;
      if (mapped !== null) this.setState(slot, mapped);
    }
    const pub = slot.published;
    const errorAtMs = slot.lastError?.atMs ?? null;
    if (pub && pub.state === slot.state && pub.errorAtMs === errorAtMs) return;
    slot.published = { state: slot.state, errorAtMs };
    if (this.slots.get(slot.record.id) === slot) this.options.publisher.cameraStatus(this.statusOf(slot));
  }

  private setState(slot: Slot, state: CameraState): void {
    if (slot.state === state) return;
    const prev = slot.state;
    slot.state = state;
    slot.sinceMs = this.now();
    this.log.info({ cameraId: slot.record.id, state, previous: prev, ...(state === 'failed' && slot.lastError ? { err: slot.lastError.message } : {}) }, 'camera state');
    this.options.metrics.setCameraState(slot.record.id, state);
    this.refresh(slot);
  }

  private stateOf(slot: Slot): CameraState {
    return slot.state;
  }

  private totals(slot: Slot): Totals {
    const stages = slot.run?.stages;
    return stages ? add(slot.base, totalsOf(stages.source.status().counters, stages)) : slot.base;
  }

  private statusOf(slot: Slot): CameraStatus {
    const t = this.totals(slot);
    const s = slot.fpsSamples;
    const first = s[0];
    const last = s[s.length - 1];
    const dt = first && last ? (last.atMs - first.atMs) / 1000 : 0;
    const rate = (a: number, b: number): number => (dt > 0 ? Math.round(((b - a) / dt) * 100) / 100 : 0);
    return {
      cameraId: slot.record.id,
      state: slot.state,
      enabled: slot.record.enabled,
      sinceMs: slot.sinceMs,
      fpsIn: first && last ? rate(first.read, last.read) : 0,
      fpsOut: first && last ? rate(first.sampled, last.sampled) : 0,
      frames: { read: t.read, sampled: t.sampled },
      framesDropped: { queueFull: t.queueFull, partial: t.partial, inFlight: t.inFlight, redisError: t.redisError, lost: t.deadline + t.expired + t.failed },
      restarts: t.restarts,
      watchdogRestarts: t.watchdogRestarts,
      retries: slot.retries,
      lastError: slot.lastError,
      width: slot.width,
      height: slot.height,
      lastFrameAtMs: slot.lastFrameAtMs,
    };
  }
}
