/**
 * `crowdlens run`: the standalone pipeline on one camera URL or video file, until the source ends
 * or Ctrl-C / SIGTERM; writes events, MOT tracks and a summary, and still writes them when stopped.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { maskUrl, redactText } from '../shared/redact.ts';
import { jsonlEventSink, motTrackSink, type PipelineSink } from '../pipeline/sinks.ts';
import { PipelineError, runPipeline, type PipelineProgress } from '../pipeline/standalone.ts';
import { createStages, isLiveSource } from '../pipeline/stages.ts';
import { buildSummary, writeSummary } from '../pipeline/summary.ts';

const USAGE = `Usage: crowdlens run --source SRC [options]

Runs ingest -> face detection + age/gender -> tracking on one source until it ends or Ctrl-C.

  --source SRC            camera URL (rtsp://, rtsps://, http(s)://, HLS .m3u8) or video file   (required)
  --fps N                 frames per second sampled from the source (default 5, CROWDLENS_FPS)
  --max-width PX          downscale wider frames to this width (default 1280, CROWDLENS_MAX_WIDTH)
  --realtime              files: pace reading like a camera (default for files)
  --no-realtime           files: read as fast as inference allows (benchmarks, batch runs)
  --loop                  files: start again at the end (a test camera)
  --detector NAME         blazeface | ssd_mobilenetv1 | tiny_face_detector (CROWDLENS_DETECTOR)
  --min-score X           minimum detector score, 0..1 (CROWDLENS_MIN_SCORE)
  --tiles off|NxM         detect small faces in NxM overlapping tiles (CROWDLENS_TILES)
  --detect-schedule MODE  adaptive (default): zoomed regions around tracks and motion between full
                          scans, frames where nothing moves skipped; gated: full frame unless nothing
                          moves; every-frame: full frame on every frame (CROWDLENS_DETECT_SCHEDULE)
  --no-reid               skip face descriptors: faster, but a returning person counts again
  --events FILE           write TrackEvents as JSON lines
  --tracks FILE           write confirmed tracks as MOT lines: frame,id,x,y,w,h,score,-1,-1,-1
                          (frame is 1-based at the sampled rate; id is the person id)
  --summary FILE          write {frames, uniquePersons, demographics (soft counts), demographicsInterval,
                          withoutEstimate, byGenderLabel, persons} at the end
  --max-frames N          stop after N processed frames
  --first-frame-timeout S fail when no frame arrived after S seconds (default 30; 0 = wait for ever)
  --progress              print a progress line to stderr each second (default when stderr is a terminal)
  --config FILE           JSON config file (also CROWDLENS_CONFIG)
  -h, --help              this text

Exit status: 0 when the source ended or the run was stopped by Ctrl-C/SIGTERM (outputs written),
1 on a runtime failure (e.g. the source cannot be opened or fails mid-run; the summary of what was
processed is still written, with "stopped": "error" and the masked error), 2 on bad arguments or configuration.`;

/** Thrown for bad command-line arguments (exit status 2). */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

function numberFlag(name: string, text: string | undefined, check: (v: number) => boolean, expect: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !check(v)) throw new UsageError(`--${name}: expected ${expect}, got ${JSON.stringify(text)}`);
  return v;
}

/** Parsed `crowdlens run` arguments. */
interface RunArgs {
  readonly source: string;
  readonly realtime: boolean | undefined;
  readonly loop: boolean;
  readonly reid: boolean;
  readonly events: string | undefined;
  readonly tracks: string | undefined;
  readonly summary: string | undefined;
  readonly maxFrames: number | undefined;
  readonly firstFrameTimeoutMs: number;
  readonly progress: boolean;
  readonly config: string | undefined;
  readonly flags: Record<string, unknown>;
}

function parseRunArgs(argv: string[]): RunArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        source: { type: 'string' },
        fps: { type: 'string' },
        'max-width': { type: 'string' },
        realtime: { type: 'boolean' },
        'no-realtime': { type: 'boolean' },
        loop: { type: 'boolean' },
        'no-reid': { type: 'boolean' },
        detector: { type: 'string' },
        'min-score': { type: 'string' },
        tiles: { type: 'string' },
        'detect-schedule': { type: 'string' },
        events: { type: 'string' },
        tracks: { type: 'string' },
        summary: { type: 'string' },
        'max-frames': { type: 'string' },
        'first-frame-timeout': { type: 'string' },
        progress: { type: 'boolean' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(redactText((err as Error).message));
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (!v.source) throw new UsageError('--source is required (a camera URL or a video file)');
  if (v.realtime && v['no-realtime']) throw new UsageError('--realtime and --no-realtime exclude each other');
  const maxFrames = numberFlag('max-frames', v['max-frames'], (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  const firstFrameTimeoutS = numberFlag('first-frame-timeout', v['first-frame-timeout'], (n) => n >= 0, 'seconds >= 0') ?? 30;
  return {
    source: v.source,
    realtime: v.realtime ? true : v['no-realtime'] ? false : undefined,
    loop: v.loop ?? false,
    reid: !v['no-reid'],
    events: v.events,
    tracks: v.tracks,
    summary: v.summary,
    maxFrames,
    firstFrameTimeoutMs: Math.round(firstFrameTimeoutS * 1000),
    progress: v.progress ?? Boolean(process.stderr.isTTY),
    config: v.config,
    // Validation of these is the config schema's job, so its error names the field.
    flags: { 'ingest.fps': v.fps, 'ingest.maxWidth': v['max-width'], 'infer.detector': v.detector, 'infer.minScore': v['min-score'], 'infer.tiles': v.tiles, 'infer.detectSchedule': v['detect-schedule'] },
  };
}

/** Throttled progress line on stderr: `\r`-rewritten on a terminal, one line per second otherwise. */
function progressPrinter(enabled: boolean): { update(p: PipelineProgress): void; end(): void } {
  if (!enabled) return { update() {}, end() {} };
  const tty = Boolean(process.stderr.isTTY);
  const started = Date.now();
  let last = 0;
  let printed = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 1000) return;
      last = now;
      const fps = p.frames / Math.max(0.001, (now - started) / 1000);
      const line = `frames ${p.frames}  fps ${fps.toFixed(1)}  people now ${p.peopleNow}  dropped ${p.droppedFrames}`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
      printed = true;
    },
    end() {
      if (tty && printed) process.stderr.write('\n');
    },
  };
}

/** Entry point for `crowdlens run`; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let args: RunArgs | 'help';
  try {
    args = parseRunArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`crowdlens run: ${err.message}\n${'Try "crowdlens run --help".'}\n`);
      return 2;
    }
    throw err;
  }
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config;
  try {
    config = loadConfig({ flags: args.flags, ...(args.config ? { file: args.config } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`crowdlens run: ${redactText(err.message)}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger({ level: config.log.level });
  const live = isLiveSource(args.source);
  if (live && (args.realtime !== undefined || args.loop)) logger.warn({ source: maskUrl(args.source) }, '--realtime/--no-realtime/--loop apply to files only; ignored for a live source');

  const controller = new AbortController();
  let signalled: NodeJS.Signals | null = null;
  let signalledAt = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // A process manager and the terminal can both deliver the same Ctrl-C: a repeat within a second is
    // that echo, not a second Ctrl-C.
    if (signalled && Date.now() - signalledAt < 1000) return;
    if (signalled) {
      // A second Ctrl-C means "now": skip the clean shutdown.
      process.stderr.write(`crowdlens run: ${sig} again, exiting without cleanup\n`);
      process.exit(130);
    }
    signalled = sig;
    signalledAt = Date.now();
    logger.info({ signal: sig }, 'stopping: finishing tracks and writing outputs');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const sinks: PipelineSink[] = [];
  if (args.events) sinks.push(jsonlEventSink(args.events));
  if (args.tracks) sinks.push(motTrackSink(args.tracks));
  const progress = progressPrinter(args.progress);
  try {
    const result = await runPipeline(
      {
        signal: controller.signal,
        sinks,
        firstFrameTimeoutMs: args.firstFrameTimeoutMs,
        onFrame: (p) => progress.update(p),
        ...(args.maxFrames !== undefined ? { maxFrames: args.maxFrames } : {}),
      },
      {
        logger,
        stages: () =>
          createStages(
            {
              source: args.source,
              sourceId: live ? maskUrl(args.source) : path.basename(args.source),
              realtime: args.realtime ?? true,
              loop: args.loop,
              reid: args.reid,
              config,
            },
            { logger },
          ),
      },
    );
    progress.end();
    const summary = buildSummary(result);
    if (args.summary) await writeSummary(args.summary, summary);
    const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    logger.info({ frames: summary.frames, uniquePersons: summary.uniquePersons, demographics: summary.demographics, stats: result.stats, maxRssMb }, 'run finished');
    return 0;
  } catch (err) {
    progress.end();
    logger.debug({ err }, 'crowdlens run failed');
    process.stderr.write(`crowdlens run: ${redactText((err as Error).message)}\n`);
    // A failure after the run started (e.g. the source failed mid-stream): still report what was processed.
    if (err instanceof PipelineError && err.result) {
      const summary = buildSummary(err.result, err.cause);
      try {
        if (args.summary) await writeSummary(args.summary, summary);
        logger.info({ frames: summary.frames, uniquePersons: summary.uniquePersons, demographics: summary.demographics, stats: err.result.stats, error: summary.error }, 'run failed');
      } catch (writeErr) {
        process.stderr.write(`crowdlens run: could not write the summary: ${redactText((writeErr as Error).message)}\n`);
      }
    }
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// Also runnable directly (tsx src/cli/run.ts ...), e.g. when the dispatcher is not wanted.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`crowdlens run: ${redactText((err as Error).stack ?? String(err))}\n`);
      process.exitCode = 1;
    },
  );
}
