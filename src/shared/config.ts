import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * The one configuration schema. Sources, lowest precedence first: defaults, an optional JSON file
 * (`--config FILE` or `CROWDLENS_CONFIG`), environment (`CROWDLENS_*`), command-line flags.
 * Every stage reads its section from here; nothing else parses env or flags.
 */
export const configSchema = z.object({
  log: z.object({
    /** pino level. Env `CROWDLENS_LOG_LEVEL`. Default `info`. */
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  }).prefault({}),
  infer: z.object({
    /** onnxruntime execution provider. `cuda` falls back to `cpu` with one log line when unavailable. Env `CROWDLENS_PROVIDER`. Default `cpu`. */
    provider: z.enum(['cpu', 'cuda']).default('cpu'),
    /** Intra-op threads per session; 0 lets onnxruntime choose. Env `CROWDLENS_THREADS`. Default 1 (small machines). */
    intraOpThreads: z.coerce.number().int().min(0).max(256).default(1),
    /** Let onnxruntime threads spin while idle; off halves latency on 2 vCPUs. Env `CROWDLENS_SPINNING`. Default false. */
    spinning: z.coerce.boolean().default(false),
    /** Face detector model name. Env `CROWDLENS_DETECTOR`. */
    detector: z.string().min(1).default('blazeface'),
    /** Minimum detector score, 0..1. Env `CROWDLENS_MIN_SCORE`. */
    minScore: z.coerce.number().min(0).max(1).optional(),
    /** Tiling for small faces in wide frames: `off` or `NxM` (columns x rows). Env `CROWDLENS_TILES`. Default `off`. */
    tiles: z.string().regex(/^(off|\d+x\d+)$/, 'expected "off" or "NxM", e.g. "2x1"').default('off'),
    /**
     * Where the detector looks in each video frame. `every-frame`: the whole frame (and tiles) every frame.
     * `gated`: the same, but a frame where nothing moves and nothing is tracked is skipped (motion gate).
     * `adaptive`: also between full scans only zoomed cells around live tracks and moving areas.
     * Env `CROWDLENS_DETECT_SCHEDULE`. Default `adaptive` (README "Benchmarks": faster and finds more faces).
     */
    detectSchedule: z.enum(['every-frame', 'gated', 'adaptive']).default('adaptive'),
    /** `adaptive`: full scan at least this often while something moves or is tracked, ms. Env `CROWDLENS_SCAN_EVERY_MS`. Default 4000. */
    scanEveryMs: z.coerce.number().int().min(0).max(3_600_000).default(4000),
    /**
     * `gated`/`adaptive`: full scan at least this often while nothing moves and nothing is tracked (finds
     * someone who came into view without moving), ms. Env `CROWDLENS_IDLE_SCAN_EVERY_MS`. Default 10000.
     */
    idleScanEveryMs: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
    /** Motion gate: grey-level change (0..255) of a motion-grid cell (80 across the frame) that counts as motion. Env `CROWDLENS_MOTION_THRESHOLD`. Default 12. */
    motionThreshold: z.coerce.number().gt(0).lt(255).default(12),
  }).prefault({}),
  ingest: z.object({
    /** Frames per second sampled from each source. Env `CROWDLENS_FPS`. Default 5. */
    fps: z.coerce.number().positive().max(60).default(5),
    /** Maximum frame width in pixels (height keeps the aspect ratio). Env `CROWDLENS_MAX_WIDTH`. Default 1280. */
    maxWidth: z.coerce.number().int().min(64).max(7680).default(1280),
    /** Restart ffmpeg when no frame arrives for this long, ms. Env `CROWDLENS_WATCHDOG_MS`. Default 10000. */
    watchdogMs: z.coerce.number().int().min(500).default(10_000),
    /** ffmpeg binary; else `ffmpeg` on PATH, else @ffmpeg-installer's. Env `FFMPEG_PATH`. */
    ffmpegPath: z.string().min(1).optional(),
    /** Socket I/O timeout for network sources (ffmpeg `-timeout`), ms. Env `CROWDLENS_CONNECT_TIMEOUT_MS`. Default 5000. */
    connectTimeoutMs: z.coerce.number().int().min(100).default(5000),
    /** Frames buffered per source for a slow consumer; older ones are dropped (and counted). Env `CROWDLENS_QUEUE_SIZE`. Default 2. */
    queueSize: z.coerce.number().int().min(1).max(1000).default(2),
  }).prefault({}),
  api: z.object({
    /** HTTP listen host. Env `CROWDLENS_HOST`. Default 127.0.0.1. */
    host: z.string().default('127.0.0.1'),
    /** HTTP listen port. Env `CROWDLENS_PORT`. Default 8080. */
    port: z.coerce.number().int().min(0).max(65535).default(8080),
  }).prefault({}),
  /** Redis URL; when absent everything runs in one process. Env `CROWDLENS_REDIS_URL`. */
  redisUrl: z.string().url().optional(),
});

export type Config = z.infer<typeof configSchema>;

/** Env variable -> config path. */
const ENV_MAP: Record<string, readonly string[]> = {
  CROWDLENS_LOG_LEVEL: ['log', 'level'],
  CROWDLENS_PROVIDER: ['infer', 'provider'],
  CROWDLENS_THREADS: ['infer', 'intraOpThreads'],
  CROWDLENS_SPINNING: ['infer', 'spinning'],
  CROWDLENS_DETECTOR: ['infer', 'detector'],
  CROWDLENS_MIN_SCORE: ['infer', 'minScore'],
  CROWDLENS_TILES: ['infer', 'tiles'],
  CROWDLENS_DETECT_SCHEDULE: ['infer', 'detectSchedule'],
  CROWDLENS_SCAN_EVERY_MS: ['infer', 'scanEveryMs'],
  CROWDLENS_IDLE_SCAN_EVERY_MS: ['infer', 'idleScanEveryMs'],
  CROWDLENS_MOTION_THRESHOLD: ['infer', 'motionThreshold'],
  CROWDLENS_FPS: ['ingest', 'fps'],
  CROWDLENS_MAX_WIDTH: ['ingest', 'maxWidth'],
  CROWDLENS_WATCHDOG_MS: ['ingest', 'watchdogMs'],
  FFMPEG_PATH: ['ingest', 'ffmpegPath'],
  CROWDLENS_CONNECT_TIMEOUT_MS: ['ingest', 'connectTimeoutMs'],
  CROWDLENS_QUEUE_SIZE: ['ingest', 'queueSize'],
  CROWDLENS_HOST: ['api', 'host'],
  CROWDLENS_PORT: ['api', 'port'],
  CROWDLENS_REDIS_URL: ['redisUrl'],
};

/** Thrown when configuration is invalid; the message names each field and the offending value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next && typeof next === 'object') node = next as Tree;
    else node = node[key] = {};
  }
  node[path[path.length - 1] as string] = value;
}

function merge(into: Tree, from: Tree): Tree {
  for (const [k, v] of Object.entries(from)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && into[k] && typeof into[k] === 'object') merge(into[k] as Tree, v as Tree);
    else into[k] = v;
  }
  return into;
}

export interface LoadConfigOptions {
  /** Environment to read; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Flag overrides as dotted paths, e.g. `{ 'infer.provider': 'cuda' }`. */
  readonly flags?: Readonly<Record<string, unknown>>;
  /** JSON config file path; default `CROWDLENS_CONFIG` from env. */
  readonly file?: string;
}

/** Builds and validates the configuration. Throws {@link ConfigError} naming every bad field. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const tree: Tree = {};
  const file = options.file ?? env['CROWDLENS_CONFIG'];
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${JSON.stringify(file)}: ${(err as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${JSON.stringify(file)}: expected a JSON object`);
    merge(tree, parsed as Tree);
  }
  for (const [name, path] of Object.entries(ENV_MAP)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(tree, path, path.join('.') === 'infer.spinning' ? /^(1|true|yes|on)$/i.test(value) : value);
  }
  for (const [dotted, value] of Object.entries(options.flags ?? {})) {
    if (value !== undefined) setPath(tree, dotted.split('.'), value);
  }
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const path = i.path.join('.');
      let value: unknown = tree;
      for (const k of i.path) value = value && typeof value === 'object' ? (value as Tree)[String(k)] : undefined;
      return `${path || '(root)'}: ${i.message} (got ${JSON.stringify(value)})`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}
