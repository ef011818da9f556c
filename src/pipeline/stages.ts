/**
 * The real stages behind {@link runPipeline}: src/ingest's FrameSource, src/infer's FaceAnalyzer and
 * src/track's CrowdTracker, adapted to the narrow interfaces the pipeline loop needs.
 */
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { InferenceSession } from 'onnxruntime-node';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { Frame } from '../shared/messages.ts';
import { IngestError, openSource, probeFfmpeg, parseSourceUrl, type SourceOptions } from '../ingest/index.ts';
import { createFaceAnalyzer, parseTiles, type DetectorName, type FaceAnalyzerOptions } from '../infer/analyzer.ts';
import { loadModel } from '../infer/models.ts';
import { loadTrustModel, type TrustModel } from '../infer/trust.ts';
import type { SessionOptions } from '../infer/session.ts';
import { CrowdTracker, type CrowdTrackerOptions } from '../track/crowd.ts';
import type { AnalyzeHints, AnalyzeTiming, PipelineAnalyzer, PipelineStages, PipelineTracker, PersonSummary } from './standalone.ts';
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

/**
 * Time spent in one model's onnxruntime `run` calls. The analyzer reports faces, not timings, so the
 * pipeline measures the age/gender and descriptor sessions it shares with the analyzer (sessions are
 * cached per process by loadModel) and attributes the rest of `analyze` to detection.
 */
class SessionTimer {
  totalMs = 0;
  private static readonly wrapped = new WeakMap<InferenceSession, SessionTimer>();

  static attach(session: InferenceSession): SessionTimer {
    const existing = SessionTimer.wrapped.get(session);
    if (existing) return existing;
    const timer = new SessionTimer();
    const run = session.run.bind(session) as (...args: unknown[]) => Promise<InferenceSession.OnnxValueMapType>;
    (session as { run: unknown }).run = async (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return await run(...args);
      } finally {
        timer.totalMs += performance.now() - t0;
      }
    };
    SessionTimer.wrapped.set(session, timer);
    return timer;
  }
}

function sessionOptions(config: Config, logger: Logger | undefined): SessionOptions {
  return { provider: config.infer.provider, intraOpThreads: config.infer.intraOpThreads, spinning: config.infer.spinning, ...(logger ? { logger } : {}) };
}

/** Creates the real ingest, analyzer and tracker stages, logging which ffmpeg and execution provider run. */
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

  const trust = options.trust ?? loadTrustModel();
  const analyzerOptions: FaceAnalyzerOptions = {
    detector: config.infer.detector as DetectorName,
    genderCalibration: trust.gender,
    tiles: parseTiles(config.infer.tiles),
    session: sessionOptions(config, logger),
    descriptors: options.reid ?? true,
    ...(config.infer.minScore !== undefined ? { minScore: config.infer.minScore } : {}),
    ...(logger ? { logger } : {}),
    ...options.analyzer,
  };
  const faceAnalyzer = await createFaceAnalyzer(analyzerOptions);
  const ageModel = await loadModel(faceAnalyzer.options.ageGender, analyzerOptions.session ?? {});
  const ageTimer = SessionTimer.attach(ageModel.session);
  // With faceres as the age/gender model both share one session; its time then counts as age/gender.
  const descriptorTimer = faceAnalyzer.options.descriptors && faceAnalyzer.options.ageGender !== 'faceres' ? SessionTimer.attach((await loadModel('faceres', analyzerOptions.session ?? {})).session) : null;
  const ffmpeg = await probeFfmpeg(config.ingest.ffmpegPath !== undefined ? { ffmpegPath: config.ingest.ffmpegPath } : {});
  logger?.info(
    { source: parsed.masked, ffmpeg: { path: ffmpeg.path, version: ffmpeg.version, origin: ffmpeg.origin }, provider: ageModel.provider, detector: faceAnalyzer.options.detector, ageGender: faceAnalyzer.options.ageGender, fps: config.ingest.fps, maxWidth: config.ingest.maxWidth },
    `crowdlens run: ffmpeg ${ffmpeg.version} (${ffmpeg.path}), onnxruntime ${ageModel.provider} execution provider`,
  );

  const sourceOptions: SourceOptions = {
    url: options.source,
    sourceId,
    fps: config.ingest.fps,
    maxWidth: config.ingest.maxWidth,
    watchdogMs: config.ingest.watchdogMs,
    ...(parsed.live ? {} : { realtime: options.realtime ?? true, loop: options.loop ?? false }),
    ...(config.ingest.ffmpegPath !== undefined ? { ffmpegPath: config.ingest.ffmpegPath } : {}),
    ...(options.queueSize !== undefined ? { queueSize: options.queueSize } : {}),
  };
  const source = openSource(sourceOptions, logger ? { logger } : {});

  const analyzer: PipelineAnalyzer = {
    async analyze(frame: Frame, timing: AnalyzeTiming, hints: AnalyzeHints = {}) {
      const t0 = performance.now();
      const ageBefore = ageTimer.totalMs;
      const descBefore = descriptorTimer?.totalMs ?? 0;
      const faces = await faceAnalyzer.analyze({ data: frame.rgb, width: frame.width, height: frame.height, channels: 3 }, hints);
      const total = performance.now() - t0;
      timing.ageGenderMs = ageTimer.totalMs - ageBefore;
      timing.descriptorMs = (descriptorTimer?.totalMs ?? 0) - descBefore;
      timing.detectMs = Math.max(0, total - timing.ageGenderMs - timing.descriptorMs);
      return faces;
    },
    close: () => faceAnalyzer.close(),
  };

  // The fusion takes its measured floor, reporting threshold and age error model from the trust model.
  const fusion = { qualityFloor: trust.thresholds.qualityFloor, minGenderConfidence: trust.thresholds.personMinGenderConfidence, ageError: trust.ageError, ...options.tracker?.fusion };
  const crowd = new CrowdTracker({ sourceId, ...options.tracker, fusion });
  const tracker: PipelineTracker = {
    update(frame) {
      const events = crowd.update(frame);
      const tracks: TrackRow[] = crowd.confirmedTracks().map((t) => ({ trackId: t.personId, box: t.box, score: t.score }));
      return { events, tracks };
    },
    finish: (atMs) => crowd.finish(atMs),
    snapshot: (atMs) => crowd.snapshot(atMs),
    wantsDescriptor: (face, atMs) => crowd.wantsDescriptor(face, atMs),
    wantsAttributes: (face, atMs) => crowd.wantsAttributes(face, atMs),
    persons: (): PersonSummary[] =>
      crowd.persons().map((p) => ({ id: p.id, firstSeenMs: p.firstSeenMs, lastSeenMs: p.lastSeenMs, ageYears: p.ageYears, gender: p.gender, maleProbability: p.maleProbability, samples: p.samples })),
  };
  return { source, analyzer, tracker };
}
