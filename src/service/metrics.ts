/**
 * The Prometheus metrics of crowdlens (prom-client), defined once for every role: the one-process service
 * serves them at `/metrics` on the API port; the scale-out's ingest and worker roles serve the same registry
 * on their own port. Naming follows Prometheus: `crowdlens_` prefix, base units (`_seconds`), counters end in
 * `_total`. The only per-camera label is `camera` (the camera id; never a URL), so cardinality stays bounded
 * by the registry's size; `reason`, `model`, `state` and `window` take a few fixed values.
 * Node's default process metrics (`process_*`, `nodejs_*`) are collected into the same registry.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CAMERA_STATES, type CameraState } from '../shared/api.ts';

/** Why a frame was dropped (`reason` label of crowdlens_frames_dropped_total). */
export const DROP_REASONS = ['queue_full', 'partial', 'in_flight', 'redis_error', 'deadline', 'expired', 'failed'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Trailing windows of crowdlens_people_unique (`window` label). */
export const UNIQUE_WINDOWS = ['1m', '1h', '1d'] as const;

/** Every metric, typed; create one set per process (or per test) with {@link createMetrics}. */
export interface CrowdlensMetrics {
  readonly registry: Registry;
  /** Frames read from ffmpeg, at the camera's sampling rate. */
  readonly framesRead: Counter<'camera'>;
  /** Frames taken for analysis. */
  readonly framesSampled: Counter<'camera'>;
  readonly framesDropped: Counter<'camera' | 'reason'>;
  /** Model time per analysed frame, by model (detector, age/gender, descriptor). */
  readonly inferenceSeconds: Histogram<'model'>;
  /** From a frame's capture to the end of its tracking. */
  readonly frameLatencySeconds: Histogram<never>;
  /** Time a camera's frame waited for the shared analyzer. */
  readonly analyzerWaitSeconds: Histogram<never>;
  readonly analyzerInFlight: Gauge<never>;
  readonly facesPerFrame: Histogram<'camera'>;
  /** Confirmed tracks matched in the camera's last frame. */
  readonly tracksActive: Gauge<'camera'>;
  readonly peopleNow: Gauge<'camera'>;
  readonly peopleUnique: Gauge<'camera' | 'window'>;
  /** New (not returning) people since the process started. */
  readonly peopleUniqueTotal: Counter<'camera'>;
  /** Entries into view, returning people included. */
  readonly peopleEnteredTotal: Counter<'camera'>;
  readonly dwellSeconds: Histogram<'camera'>;
  /** ffmpeg restarts after a fault (watchdog restarts included). */
  readonly reconnects: Counter<'camera'>;
  readonly watchdogRestarts: Counter<'camera'>;
  /** Camera pipelines opened again after a failure. */
  readonly cameraRetries: Counter<'camera'>;
  /** 1 for the camera's current state, 0 for the others. */
  readonly cameraState: Gauge<'camera' | 'state'>;
  /** 1 once the models are loaded. */
  readonly modelsReady: Gauge<never>;
  // ---- scale-out (ingest and worker roles) ----
  /** Inference jobs waiting in the queue (sampled at scrape). */
  readonly jobsWaiting: Gauge<never>;
  /** Inference jobs being processed (sampled at scrape). */
  readonly jobsActive: Gauge<never>;
  /** From a job's creation to a worker taking it. */
  readonly queueWaitSeconds: Histogram<never>;
  /** Share of wall time this worker process's analyzer was busy since the previous scrape, 0..1. */
  readonly workerBusyRatio: Gauge<never>;
  /** Time this worker process's analyzer was busy. */
  readonly workerBusySeconds: Counter<never>;
  /** Jobs this worker finished, by outcome. */
  readonly workerJobs: Counter<'outcome'>;
  /** Redis connection errors seen by this process. */
  readonly redisErrors: Counter<never>;
  /** Owner: from a frame's submission to its result arriving from a worker. */
  readonly resultRoundTripSeconds: Histogram<never>;
  /** Owner: second results for a frame already released (dropped; the tracker sees each frame once). */
  readonly resultsDuplicate: Counter<'camera'>;
  /** Owner: cameras whose lease this process holds. */
  readonly camerasOwned: Gauge<never>;
  /** Owner: camera leases that ended, by reason. */
  readonly leasesLost: Counter<'reason'>;
  /** Owner: publishes refused because the lease had passed to another process. */
  readonly publishesFenced: Counter<never>;
  /** Drops every series of a camera (when it is deleted). */
  removeCamera(cameraId: string): void;
  /** Sets the one-hot crowdlens_camera_state series of a camera. */
  setCameraState(cameraId: string, state: CameraState): void;
}

/**
 * Which role's metrics a registry exposes: `embedded` (crowdlens start without Redis), `ingest`, `worker`, or `all`
 * (crowdlens start with Redis: every role in one process). Every metric object exists in every role (code may
 * update it), but only those that apply are registered, so a worker's /metrics has no camera series.
 */
export type MetricsRole = 'embedded' | 'api' | 'ingest' | 'worker' | 'all';

type Part = 'embedded' | 'api' | 'ingest' | 'worker';
const CAMERA: readonly Part[] = ['embedded', 'ingest'];

/** Creates the metrics in a fresh registry (with Node's default metrics unless `defaultMetrics` is false). */
export function createMetrics(options: { defaultMetrics?: boolean; role?: MetricsRole } = {}): CrowdlensMetrics {
  const role = options.role ?? 'embedded';
  const registry = new Registry();
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // prom-client's gauges with a `_total` suffix break Prometheus naming (promtool flags them); the same
    // figures stay available without the suffix (nodejs_active_handles, nodejs_active_requests, nodejs_active_resources).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  }
  const on = (parts: readonly Part[]): Registry[] => (role === 'all' || parts.includes(role as Part) ? [registry] : []);
  // prom-client removes a series by its exact label set: list every value of the other labels per metric.
  const otherLabels: Readonly<Record<string, readonly string[]>> = { reason: DROP_REASONS, window: UNIQUE_WINDOWS, state: CAMERA_STATES };
  const perCamera: ((cameraId: string) => void)[] = [];
  const track = <L extends string>(m: { remove(labels: Partial<Record<L, string>>): void }, labelNames: readonly L[]): void => {
    if (!labelNames.includes('camera' as L)) return;
    const other = labelNames.find((l) => l !== 'camera');
    perCamera.push((camera) => {
      if (other === undefined) m.remove({ camera } as Partial<Record<L, string>>);
      else for (const v of otherLabels[other] ?? []) m.remove({ camera, [other]: v } as Partial<Record<L, string>>);
    });
  };
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], parts: readonly Part[] = CAMERA): Counter<L> => {
    const m = new Counter<L>({ name, help, labelNames, registers: on(parts) });
    track(m, labelNames);
    return m;
  };
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], parts: readonly Part[] = CAMERA): Gauge<L> => {
    const m = new Gauge<L>({ name, help, labelNames, registers: on(parts) });
    track(m, labelNames);
    return m;
  };
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[], parts: readonly Part[] = CAMERA): Histogram<L> => {
    const m = new Histogram<L>({ name, help, labelNames, buckets, registers: on(parts) });
    track(m, labelNames);
    return m;
  };
  const seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

  const cameraState = gauge('crowdlens_camera_state', 'Camera state: 1 for the current state, 0 for the others', ['camera', 'state']);
  const metrics: CrowdlensMetrics = {
    registry,
    framesRead: counter('crowdlens_frames_read_total', 'Frames read from ffmpeg at the camera sampling rate', ['camera']),
    framesSampled: counter('crowdlens_frames_sampled_total', 'Frames taken for analysis', ['camera']),
    framesDropped: counter('crowdlens_frames_dropped_total', 'Frames dropped, by reason: queue_full (inference busy, newest frame wins), partial (ffmpeg stopped mid-frame); scale-out: in_flight (max frames at the workers), redis_error (not stored), deadline/expired/failed (sent, no result)', ['camera', 'reason']),
    inferenceSeconds: histogram('crowdlens_inference_seconds', 'Model time per analysed frame, by model', ['model'], seconds, ['embedded', 'ingest', 'worker']),
    frameLatencySeconds: histogram('crowdlens_frame_latency_seconds', 'From frame capture to the end of its tracking', [], [0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5]),
    analyzerWaitSeconds: histogram('crowdlens_analyzer_wait_seconds', 'Time a frame waited for the shared analyzer', [], [0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], ['embedded']),
    analyzerInFlight: gauge('crowdlens_analyzer_in_flight', 'Frames being analysed now', [], ['embedded']),
    facesPerFrame: histogram('crowdlens_faces_per_frame', 'Faces detected per analysed frame', ['camera'], [0, 1, 2, 3, 5, 8, 13, 21, 34]),
    tracksActive: gauge('crowdlens_tracks_active', 'Confirmed tracks matched in the last analysed frame', ['camera']),
    peopleNow: gauge('crowdlens_people_now', 'People in view now', ['camera']),
    peopleUnique: gauge('crowdlens_people_unique', 'Unique people seen in the trailing window', ['camera', 'window']),
    peopleUniqueTotal: counter('crowdlens_people_unique_total', 'New people (not recognised as returning) since the process started', ['camera']),
    peopleEnteredTotal: counter('crowdlens_people_entered_total', 'Entries into view, returning people included', ['camera']),
    dwellSeconds: histogram('crowdlens_dwell_seconds', 'Time in view of people who left', ['camera'], [1, 2, 5, 10, 30, 60, 120, 300, 900, 3600]),
    reconnects: counter('crowdlens_source_reconnects_total', 'ffmpeg restarts after a fault, watchdog restarts included', ['camera']),
    watchdogRestarts: counter('crowdlens_source_watchdog_restarts_total', 'ffmpeg restarts because no frame arrived for the watchdog time', ['camera']),
    cameraRetries: counter('crowdlens_camera_retries_total', 'Camera pipelines opened again after a failure', ['camera']),
    cameraState,
    modelsReady: gauge('crowdlens_models_ready', '1 once the face models are loaded', [], ['embedded', 'worker']),
    jobsWaiting: gauge('crowdlens_jobs_waiting', 'Inference jobs waiting in the queue', [], ['ingest', 'worker']),
    jobsActive: gauge('crowdlens_jobs_active', 'Inference jobs being processed by workers', [], ['ingest', 'worker']),
    queueWaitSeconds: histogram('crowdlens_queue_wait_seconds', 'From an inference job being queued to a worker taking it', [], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], ['ingest', 'worker']),
    workerBusyRatio: gauge('crowdlens_worker_busy_ratio', 'Share of wall time the analyzer of this worker process was busy since the previous scrape (0..1)', [], ['worker']),
    workerBusySeconds: counter('crowdlens_worker_busy_seconds_total', 'Time the analyzer of this worker process was busy', [], ['worker']),
    workerJobs: counter('crowdlens_worker_jobs_total', 'Inference jobs finished by this worker, by outcome: ok, expired (bytes gone), bad_data (no retry), retried (transient fault), failed (last attempt)', ['outcome'], ['worker']),
    redisErrors: counter('crowdlens_redis_errors_total', 'Redis connection errors seen by this process', [], ['api', 'ingest', 'worker']),
    resultRoundTripSeconds: histogram('crowdlens_result_round_trip_seconds', 'From submitting a frame to its result arriving from a worker', [], [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 15], ['ingest']),
    resultsDuplicate: counter('crowdlens_results_duplicate_total', 'Second results for a frame already released (dropped: the tracker sees each frame once)', ['camera'], ['ingest']),
    camerasOwned: gauge('crowdlens_cameras_owned', 'Cameras whose lease this ingest process holds', [], ['ingest']),
    leasesLost: counter('crowdlens_leases_lost_total', 'Camera leases that ended, by reason: taken, expired, rebalanced, removed, stopped', ['reason'], ['ingest']),
    publishesFenced: counter('crowdlens_publishes_fenced_total', 'Publishes and writes refused because the camera lease had passed to another process', [], ['ingest']),
    removeCamera(cameraId) {
      for (const remove of perCamera) remove(cameraId);
    },
    setCameraState(cameraId, state) {
      for (const s of CAMERA_STATES) cameraState.set({ camera: cameraId, state: s }, s === state ? 1 : 0);
    },
  };
  return metrics;
}
