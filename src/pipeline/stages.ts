/**
 * The real stages behind {@link runPipeline}: src/ingest's FrameSource, src/infer's FaceAnalyzer and
 * src/track's CrowdTracker, adapted to the narrow interfaces the pipeline loop needs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { InferenceSession } from 'onnxruntime-node';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { Frame } from '../shared/messages.ts';
import { IngestError, openSource, probeFfmpeg, parseSourceUrl, type FrameSource, type SourceOptions } from '../ingest/index.ts';
import { createFaceAnalyzer, parseTiles, type DetectorName, type FaceAnalyzerOptions } from '../infer/analyzer.ts';
import { loadModel } from '../infer/models.ts';
import { MotionDetector } from '../infer/motion.ts';
import { loadTrustModel, type TrustModel } from '../infer/trust.ts';
import type { SessionOptions } from '../infer/session.ts';
import { CrowdTracker, type CrowdTrackerOptions } from '../track/crowd.ts';
import { DetectScheduler } from '../track/detect-schedule.ts';
import { processCpuMs, type AnalyzeHints, type AnalyzeTiming, type MotionSummary, type PipelineAnalyzer, type PipelineMotion, type PipelineSource, type PipelineStages, type PipelineTracker, type PersonSummary } from './standalone.ts';
import type { TrackRow } from './sinks.ts';

/** True for camera/stream URLs (rtsp, rtsps, http(s), HLS); false for files. Throws on an unsupported URL. */
export function isLiveSource(source: string): boolean {
  return parseSourceUrl(source, 'source').live;
}

/** What {@link createStages} builds. */
export interface StageOptions {
  /** Camera URL or video file. */
  readonly source: string;
  /** Source id in messages and events; must not carry credentials. Default: the masked URL / file name. */
  readonly sourceId?: string;
  /** Files: pace like a camera (true) or read as fast as inference allows (false). Ignored for live sources. Default true. */
  readonly realtime?: boolean;
  /** Files: restart at the end. Default false. */
  readonly loop?: boolean;
  /** Validated configuration (fps, maxWidth, watchdog, ffmpeg path, detector, session options). */
  readonly config: Config;
  /**
   * Compute face descriptors so a person who leaves and comes back keeps their id (and counts once).
   * Costs one more model run per face. Default true.
   */
  readonly reid?: boolean;
  /** Analyzer overrides on top of the configuration. */
  readonly analyzer?: Partial<FaceAnalyzerOptions>;
  /** CrowdTracker options on top of the defaults (e.g. `descriptorsPerTrack`: re-id descriptors computed per person). */
  readonly tracker?: Partial<Omit<CrowdTrackerOptions, 'sourceId'>>;
  /**
   * The trust model (gender calibration, age error, thresholds, quality floor) for the analyzer and
   * the tracker's fusion. Default: src/infer/heads/trust.json (`npm run fit:trust`).
   */
  readonly trust?: TrustModel;
  /** Ingest queue length (frames kept while inference is busy; oldest dropped first). Default: ingest's. */
  readonly queueSize?: number;
}

/** Per-call accumulator of the model time spent inside one `analyze` (see {@link timeSession}). */
interface TimingScope {
  ageGenderMs: number;
  descriptorMs: number;
  /** This process's CPU time during those runs, ms (process-wide: exact with one camera, shared with others' work otherwise). */
  ageGenderCpuMs: number;
  descriptorCpuMs: number;
}

/**
 * The `analyze` call each onnxruntime `run` belongs to. The analyzer reports faces, not timings, so the
 * pipeline measures the age/gender and descriptor sessions it shares with the analyzer (sessions are cached
 * per process by loadModel) and attributes the rest of `analyze` to detection; async context keeps that exact
 * when several cameras' frames are analysed at once.
 */
const timingScope = new AsyncLocalStorage<TimingScope>();
const timedSessions = new WeakSet<InferenceSession>();

function timeSession(session: InferenceSession, kind: 'ageGenderMs' | 'descriptorMs'): void {
  const cpuKind = kind === 'ageGenderMs' ? 'ageGenderCpuMs' : 'descriptorCpuMs';
  if (timedSessions.has(session)) return;
  timedSessions.add(session);
  const run = session.run.bind(session) as (...args: unknown[]) => Promise<InferenceSession.OnnxValueMapType>;
  (session as { run: unknown }).run = async (...args: unknown[]) => {
    const scope = timingScope.getStore();
    const t0 = performance.now();
    const c0 = processCpuMs();
    try {
      return await run(...args);
    } finally {
      if (scope) {
        scope[kind] += performance.now() - t0;
        scope[cpuKind] += processCpuMs() - c0;
      }
    }
  };
}

function sessionOptions(config: Config, logger: Logger | undefined): SessionOptions {
  return { provider: config.infer.provider, intraOpThreads: config.infer.intraOpThreads, spinning: config.infer.spinning, ...(logger ? { logger } : {}) };
}

/** The face analyzer as the pipeline uses it, with what it runs on. */
export interface LoadedAnalyzer extends PipelineAnalyzer {
  readonly info: {
    /** Execution provider the sessions run on. */
    readonly provider: 'cpu' | 'cuda';
    readonly detector: DetectorName;
    /** Age/gender model name. */
    readonly ageGender: string;
    /** Descriptor model name, or null without re-identification. */
    readonly descriptor: 'faceres' | null;
  };
}

/** What {@link createAnalyzer} needs: StageOptions' analyzer part. */
export type AnalyzerStageOptions = Pick<StageOptions, 'config' | 'reid' | 'analyzer' | 'trust'>;

/**
 * Loads the face models once (sessions are cached per process) and wraps them as the pipeline's analyzer.
 * One analyzer serves any number of cameras: `analyze` keeps no per-source state.
 */
export async function createAnalyzer(options: AnalyzerStageOptions, deps: { logger?: Logger } = {}): Promise<LoadedAnalyzer> {
  const { config } = options;
  const logger = deps.logger;
  const analyzerOptions: FaceAnalyzerOptions = {
    detector: config.infer.detector as DetectorName,
    ...(options.trust ? { genderCalibration: options.trust.gender, quality: options.trust.quality } : {}),
    tiles: parseTiles(config.infer.tiles),
    session: sessionOptions(config, logger),
    descriptors: options.reid ?? true,
    ...(config.infer.minScore !== undefined ? { minScore: config.infer.minScore } : {}),
    ...(logger ? { logger } : {}),
    ...options.analyzer,
  };
  const faceAnalyzer = await createFaceAnalyzer(analyzerOptions);
  const ageModel = await loadModel(faceAnalyzer.options.ageGender, analyzerOptions.session ?? {});
  timeSession(ageModel.session, 'ageGenderMs');
  // With faceres as the age/gender model both share one session; its time then counts as age/gender.
  const timesDescriptors = faceAnalyzer.options.descriptors && faceAnalyzer.options.ageGender !== 'faceres';
  if (timesDescriptors) timeSession((await loadModel('faceres', analyzerOptions.session ?? {})).session, 'descriptorMs');
  return {
    info: { provider: ageModel.provider, detector: faceAnalyzer.options.detector, ageGender: faceAnalyzer.options.ageGender, descriptor: faceAnalyzer.options.descriptors ? 'faceres' : null },
    async analyze(frame: Frame, timing: AnalyzeTiming, hints: AnalyzeHints = {}) {
      const scope: TimingScope = { ageGenderMs: 0, descriptorMs: 0, ageGenderCpuMs: 0, descriptorCpuMs: 0 };
      const t0 = performance.now();
      const c0 = processCpuMs();
      const faces = await timingScope.run(scope, () => faceAnalyzer.analyze({ data: frame.rgb, width: frame.width, height: frame.height, channels: 3 }, hints));
      const total = performance.now() - t0;
      const totalCpu = processCpuMs() - c0;
      timing.ageGenderMs = scope.ageGenderMs;
      timing.descriptorMs = scope.descriptorMs;
      timing.detectMs = Math.max(0, total - timing.ageGenderMs - timing.descriptorMs);
      timing.ageGenderCpuMs = scope.ageGenderCpuMs;
      timing.descriptorCpuMs = scope.descriptorCpuMs;
      timing.detectCpuMs = Math.max(0, totalCpu - scope.ageGenderCpuMs - scope.descriptorCpuMs);
      return faces;
    },
    close: () => faceAnalyzer.close(),
  };
}

/** What {@link createSource} needs: StageOptions' ingest part, plus per-camera overrides of the configuration. */
export interface SourceStageOptions extends Pick<StageOptions, 'source' | 'sourceId' | 'realtime' | 'loop' | 'config' | 'queueSize'> {
  /** Frames per second; default `config.ingest.fps`. */
  readonly fps?: number;
  /** Max frame width, px; default `config.ingest.maxWidth`. */
  readonly maxWidth?: number;
  /**
   * Files: stamp frames with wall-clock capture times (the first frame's arrival plus its pts), as live sources
   * are, instead of pts from 0, so that a file played as a camera has history on the same clock. Default false.
   */
  readonly wallClock?: boolean;
}

/** Opens the ingest stage (ffmpeg starts when its frames are first read). */
export function createSource(options: SourceStageOptions, deps: { logger?: Logger } = {}): PipelineSource {
  const { config } = options;
  const parsed = parseSourceUrl(options.source, 'source');
  const sourceOptions: SourceOptions = {
    url: options.source,
    sourceId: options.sourceId ?? parsed.masked,
    fps: options.fps ?? config.ingest.fps,
    maxWidth: options.maxWidth ?? config.ingest.maxWidth,
    watchdogMs: config.ingest.watchdogMs,
    connectTimeoutMs: config.ingest.connectTimeoutMs,
    queueSize: options.queueSize ?? config.ingest.queueSize,
    ...(parsed.live ? {} : { realtime: options.realtime ?? true, loop: options.loop ?? false }),
    ...(config.ingest.ffmpegPath !== undefined ? { ffmpegPath: config.ingest.ffmpegPath } : {}),
  };
  const source = openSource(sourceOptions, deps.logger ? { logger: deps.logger } : {});
  return options.wallClock && !parsed.live ? wallClockSource(source) : source;
}

/**
 * A file source whose frames carry wall-clock capture times: anchored at the first frame, never ahead of now
 * and never decreasing (the rule ingest applies to live sources).
 */
export function wallClockSource(source: FrameSource, now: () => number = Date.now): PipelineSource {
  return {
    status: () => source.status(),
    close: () => source.close(),
    async *frames() {
      let anchorMs: number | undefined;
      let lastMs = -Infinity;
      for await (const frame of source.frames()) {
        const wall = now();
        anchorMs ??= wall - frame.capturedAtMs;
        if (anchorMs + frame.capturedAtMs > wall) anchorMs = wall - frame.capturedAtMs;
        lastMs = Math.max(anchorMs + frame.capturedAtMs, lastMs);
        yield { ...frame, capturedAtMs: lastMs };
      }
    },
  };
}

/** What decides, per source, which frames get a full detection: the configuration's `infer` part. */
export type DetectConfig = Pick<Config['infer'], 'detectSchedule' | 'scanEveryMs' | 'idleScanEveryMs' | 'motionThreshold'>;

/**
 * The detection gate of one source: its motion detector (src/infer) and its detection schedule (src/track). Both keep
 * per-source state, so every source gets its own even when the analyzer is shared. `every-frame` keeps the plain
 * path: no motion gate, no plan, a full detection on each frame.
 */
export function createDetectGate(detect: DetectConfig): { motion?: PipelineMotion; scheduler?: DetectScheduler } {
  if (detect.detectSchedule === 'every-frame') return {};
  const scheduler = new DetectScheduler({ mode: detect.detectSchedule, scanEveryMs: detect.scanEveryMs, idleScanEveryMs: detect.idleScanEveryMs });
  const gate = new MotionDetector({ threshold: detect.motionThreshold });
  return { scheduler, motion: { update: (frame) => gate.update({ data: frame.rgb, width: frame.width, height: frame.height, channels: 3 }) } };
}

let trustCache: TrustModel | null = null;

/** src/infer/heads/trust.json, read once per process: the default trust model of the analyzer and the tracker. */
export function defaultTrust(): TrustModel {
  trustCache ??= loadTrustModel();
  return trustCache;
}

/** The tracking stage of one source: src/track's CrowdTracker behind the pipeline's interface, with the source's detection schedule when given. */
export function createTracker(sourceId: string, options: Partial<Omit<CrowdTrackerOptions, 'sourceId'>> = {}, scheduler?: DetectScheduler, trust: TrustModel = defaultTrust()): PipelineTracker {
  return trackerStage(new CrowdTracker(trackerOptions(sourceId, options, trust)), scheduler);
}

/**
 * CrowdTracker options for a source: the fusion takes its measured floor, reporting threshold and age error model
 * from the trust model (src/infer/heads/trust.json by default), under any explicit fusion options.
 */
export function trackerOptions(sourceId: string, options: Partial<Omit<CrowdTrackerOptions, 'sourceId'>> = {}, trust: TrustModel = defaultTrust()): CrowdTrackerOptions {
  const fusion = { qualityFloor: trust.thresholds.qualityFloor, minGenderConfidence: trust.thresholds.personMinGenderConfidence, ageError: trust.ageError, ...options.fusion };
  return { sourceId, ...options, fusion };
}

/** Wraps an existing CrowdTracker (e.g. one that imported carried people) as the pipeline's tracking stage. */
export function trackerStage(crowd: CrowdTracker, scheduler?: DetectScheduler): PipelineTracker {
  return {
    update(frame) {
      const events = crowd.update(frame);
      const tracks: TrackRow[] = crowd.confirmedTracks().map((t) => ({ trackId: t.personId, box: t.box, score: t.score }));
      return { events, tracks };
    },
    finish: (atMs) => crowd.finish(atMs),
    snapshot: (atMs) => crowd.snapshot(atMs),
    wantsDescriptor: (face, atMs) => crowd.wantsDescriptor(face, atMs),
    wantsAttributes: (face, atMs) => crowd.wantsAttributes(face, atMs),
    descriptorPlan: (atMs, framesAhead) => crowd.descriptorPlan(atMs, framesAhead),
    attributePlan: (atMs) => crowd.attributePlan(atMs),
    ...(scheduler ? { planDetection: (atMs: number, m: MotionSummary | undefined) => scheduler.plan({ atMs, tracks: crowd.expectedBoxes(atMs), ...(m ? { motion: m } : {}) }) } : {}),
    persons: (): PersonSummary[] =>
      crowd.persons().map((p) => ({ id: p.id, firstSeenMs: p.firstSeenMs, lastSeenMs: p.lastSeenMs, ageYears: p.ageYears, gender: p.gender, maleProbability: p.maleProbability, samples: p.samples })),
  };
}

/** Creates the real ingest, analyzer and tracker stages of one run, logging which ffmpeg and execution provider run. */
export async function createStages(options: StageOptions, deps: { logger?: Logger } = {}): Promise<PipelineStages> {
  const { config } = options;
  const logger = deps.logger;
  const parsed = parseSourceUrl(options.source, 'source');
  const sourceId = options.sourceId ?? parsed.masked;
  // Fail a mistyped file name before spending seconds loading models (ingest would report it later too).
  if (parsed.filePath !== undefined) {
    const info = await stat(parsed.filePath).catch((err: NodeJS.ErrnoException) => {
      throw new IngestError(err.code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'BAD_URL', `source: file not found or unreadable: ${parsed.filePath} (${err.code ?? err.message})`);
    });
    if (!info.isFile()) throw new IngestError('BAD_URL', `source: not a regular file: ${parsed.filePath}`);
  }
  const analyzer = await createAnalyzer(options, deps);
  const ffmpeg = await probeFfmpeg(config.ingest.ffmpegPath !== undefined ? { ffmpegPath: config.ingest.ffmpegPath } : {});
  logger?.info(
    { source: parsed.masked, ffmpeg: { path: ffmpeg.path, version: ffmpeg.version, origin: ffmpeg.origin }, provider: analyzer.info.provider, detector: analyzer.info.detector, ageGender: analyzer.info.ageGender, fps: config.ingest.fps, maxWidth: config.ingest.maxWidth },
    `crowdlens run: ffmpeg ${ffmpeg.version} (${ffmpeg.path}), onnxruntime ${analyzer.info.provider} execution provider`,
  );
  const source = createSource({ ...options, sourceId }, deps);
  const { motion, scheduler } = createDetectGate(config.infer);
  return { source, analyzer, tracker: createTracker(sourceId, options.tracker, scheduler, options.trust), ...(motion ? { motion } : {}) };
}

/** What {@link createCameraStages} needs: one camera's source and tracker options. */
export interface CameraStageOptions extends Omit<SourceStageOptions, 'wallClock' | 'realtime'> {
  readonly sourceId: string;
  readonly tracker?: Partial<Omit<CrowdTrackerOptions, 'sourceId'>>;
}

/**
 * The stages of one camera of the service: its own source (files paced like a camera, on the wall clock) and
 * tracker, and a share of the one analyzer that every camera uses (its `close` leaves the models loaded).
 */
export function createCameraStages(options: CameraStageOptions, analyzer: PipelineAnalyzer, deps: { logger?: Logger } = {}): PipelineStages {
  const source = createSource({ ...options, realtime: true, wallClock: true }, deps);
  const shared: PipelineAnalyzer = { analyze: (frame, timing, hints) => analyzer.analyze(frame, timing, hints), close() {} };
  const { motion, scheduler } = createDetectGate(options.config.infer);
  return { source, analyzer: shared, tracker: createTracker(options.sourceId, options.tracker, scheduler), ...(motion ? { motion } : {}) };
}
