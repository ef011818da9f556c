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
    spinning: z.boolean().default(false),
    /** Face detector model name. Env `CROWDLENS_DETECTOR`. */
    detector: z.string().min(1).default('blazeface'),
    /** Minimum detector score, 0..1. Env `CROWDLENS_MIN_SCORE`. */
    minScore: z.coerce.number().min(0).max(1).optional(),
    /** Tiling for small faces in wide frames: `off` or `NxM` (columns x rows). Env `CROWDLENS_TILES`. Default `off`. */
    tiles: z.string().regex(/^(off|\d+x\d+)$/, 'expected "off" or "NxM", e.g. "2x1"').default('off'),
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
    /** HTTP listen port; 0 picks a free one (printed at start). Env `CROWDLENS_PORT`. Default 8080. */
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /**
     * Bearer token for every change (POST/PATCH/DELETE), for reads unless `publicRead`, and for the Socket.IO
     * handshake. Never logged. Without one the API listens on loopback only. Env `CROWDLENS_API_TOKEN`.
     */
    token: z.string().min(16, 'must be at least 16 characters (e.g. `openssl rand -hex 32`)').max(4096).optional(),
    /** Reads (GET, /metrics, Socket.IO) without the token. Env `CROWDLENS_PUBLIC_READ`. Default false. */
    publicRead: z.boolean().default(false),
    /** Largest request body, bytes; larger ones get 413. Env `CROWDLENS_BODY_LIMIT_BYTES`. Default 65536. */
    bodyLimitBytes: z.coerce.number().int().min(1024).max(16 << 20).default(65_536),
  }).prefault({}),
  service: z.object({
    /** Where `crowdlens start` keeps its state (the camera registry `cameras.json`). Env `CROWDLENS_DATA_DIR`. Default `./data`. */
    dataDir: z.string().min(1).default('./data'),
    /** Video files a camera may read: `file:` URLs and paths must resolve (symlinks too) inside it. Env `CROWDLENS_MEDIA_DIR`. Default `./media`. */
    mediaDir: z.string().min(1).default('./media'),
    /** Register the built-in demo camera on first start (empty data dir). Env `CROWDLENS_DEMO`. Default true. */
    demo: z.boolean().default(true),
    /** Period of live `demographics` events per camera over Socket.IO, ms. Env `CROWDLENS_LIVE_INTERVAL_MS`. Default 1000. */
    liveIntervalMs: z.coerce.number().int().min(100).max(60_000).default(1000),
    /**
     * Frames analysed at once across all cameras (one shared analyzer); a camera waiting its turn drops frames
     * newest-wins (counted). Env `CROWDLENS_ANALYZER_CONCURRENCY`. Default 1 (2-core machines).
     */
    analyzerConcurrency: z.coerce.number().int().min(1).max(64).default(1),
    /** Cameras the registry accepts at most. Env `CROWDLENS_MAX_CAMERAS`. Default 64. */
    maxCameras: z.coerce.number().int().min(1).max(10_000).default(64),
  }).prefault({}),
  preview: z.object({
    /**
     * Serve the latest analysed frame of each camera with boxes and labels at `GET /api/cameras/:id/preview.jpg`
     * (auth like other reads). The frame is kept in memory only, never on disk or in Redis. Env `CROWDLENS_PREVIEW`.
     * Default false.
     */
    enabled: z.boolean().default(false),
    /** Blur the detected faces in the preview. Env `CROWDLENS_PREVIEW_BLUR`. Default true. */
    blur: z.boolean().default(true),
    /** Preview frames kept and rendered per camera per second at most. Env `CROWDLENS_PREVIEW_MAX_FPS`. Default 2. */
    maxFps: z.coerce.number().positive().max(30).default(2),
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
  CROWDLENS_FPS: ['ingest', 'fps'],
  CROWDLENS_MAX_WIDTH: ['ingest', 'maxWidth'],
  CROWDLENS_WATCHDOG_MS: ['ingest', 'watchdogMs'],
  FFMPEG_PATH: ['ingest', 'ffmpegPath'],
  CROWDLENS_CONNECT_TIMEOUT_MS: ['ingest', 'connectTimeoutMs'],
  CROWDLENS_QUEUE_SIZE: ['ingest', 'queueSize'],
  CROWDLENS_HOST: ['api', 'host'],
  CROWDLENS_PORT: ['api', 'port'],
  CROWDLENS_API_TOKEN: ['api', 'token'],
  CROWDLENS_PUBLIC_READ: ['api', 'publicRead'],
  CROWDLENS_BODY_LIMIT_BYTES: ['api', 'bodyLimitBytes'],
  CROWDLENS_DATA_DIR: ['service', 'dataDir'],
  CROWDLENS_MEDIA_DIR: ['service', 'mediaDir'],
  CROWDLENS_DEMO: ['service', 'demo'],
  CROWDLENS_LIVE_INTERVAL_MS: ['service', 'liveIntervalMs'],
  CROWDLENS_ANALYZER_CONCURRENCY: ['service', 'analyzerConcurrency'],
  CROWDLENS_MAX_CAMERAS: ['service', 'maxCameras'],
  CROWDLENS_PREVIEW: ['preview', 'enabled'],
  CROWDLENS_PREVIEW_BLUR: ['preview', 'blur'],
  CROWDLENS_PREVIEW_MAX_FPS: ['preview', 'maxFps'],
  CROWDLENS_REDIS_URL: ['redisUrl'],
};

/** Boolean settings: env values `1|true|yes|on` and `0|false|no|off` (case-insensitive); anything else is an error. */
const BOOLEAN_PATHS: ReadonlySet<string> = new Set(['infer.spinning', 'api.publicRead', 'service.demo', 'preview.enabled', 'preview.blur']);
/** Settings whose value never appears in an error message. */
const SECRET_PATHS: ReadonlySet<string> = new Set(['api.token']);

function parseBoolean(value: string): boolean | string {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  // Left as text so the schema rejects it, naming the variable's field and value.
  return value;
}

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
    if (value !== undefined && value !== '') setPath(tree, path, BOOLEAN_PATHS.has(path.join('.')) ? parseBoolean(value) : value);
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
      const shown = SECRET_PATHS.has(path) ? (typeof value === 'string' ? `a secret of ${value.length} characters` : typeof value) : JSON.stringify(value);
      return `${path || '(root)'}: ${i.message} (got ${shown})`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}
