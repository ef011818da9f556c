import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Scale-out over Redis (used only when a Redis URL is set): key prefix, camera leases, the
 * inference queue and the frame-by-reference store. Owned by src/scale; kept in its own block.
 */
/** Env booleans: 1/true/yes/on and 0/false/no/off; anything else fails validation naming the field. */
const envBoolean = z.preprocess((v) => (typeof v === 'string' ? (/^(1|true|yes|on)$/i.test(v) ? true : /^(0|false|no|off)$/i.test(v) ? false : v) : v), z.boolean());

export const scaleConfigSchema = z.object({
  /**
   * Prefix of every Redis key crowdlens writes, BullMQ's included (`<prefix>:bull:infer:*`, `<prefix>:frame:*`,
   * `<prefix>:lease:*`, ...), so several deployments and test runs share one Redis. Env `CROWDLENS_REDIS_PREFIX`. Default `crowdlens`.
   */
  prefix: z.string().regex(/^[A-Za-z0-9_.{}-][A-Za-z0-9_.{}:-]{0,63}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ . - { } : (not starting with ":")').default('crowdlens'),
  /**
   * Camera lease, ms: the longest a camera stays without an ingest owner after its owner dies. The lease key
   * lives half of this and is renewed every eighth. Env `CROWDLENS_LEASE_MS`. Default 10000.
   */
  leaseMs: z.coerce.number().int().min(1000).max(600_000).default(10_000),
  /**
   * Inference jobs one worker process runs at once. Model runs are serialised inside a process (onnxruntime-node
   * runs on the main thread); more than 1 overlaps fetching and decoding with inference. Run more worker
   * processes for more cores. Env `CROWDLENS_WORKER_CONCURRENCY`. Default 2.
   */
  workerConcurrency: z.coerce.number().int().min(1).max(64).default(2),
  /**
   * Frames of one camera submitted and not yet handed to its tracker; past it ingest skips frames (counted,
   * reason `in_flight`). Bounds the queue at cameras x this. Env `CROWDLENS_MAX_IN_FLIGHT`. Default 3.
   */
  maxInFlightPerCamera: z.coerce.number().int().min(1).max(64).default(3),
  /**
   * Life of a frame's bytes in Redis, ms (a safety net: workers delete them once analysed, the owner when it
   * gives up). Must exceed `resultDeadlineMs`. Env `CROWDLENS_FRAME_TTL_MS`. Default 30000.
   */
  frameTtlMs: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  /**
   * How long the camera owner waits for a frame's result before skipping it (counted, reason `deadline`);
   * later frames wait behind it in the reorder window until then. Must cover a killed worker's job being
   * recovered (about 2 x `jobLockMs`). Env `CROWDLENS_RESULT_DEADLINE_MS`. Default 15000.
   */
  resultDeadlineMs: z.coerce.number().int().min(100).max(300_000).default(15_000),
  /**
   * BullMQ job lock, ms: a worker that dies mid-job loses its lock after this; the stalled-job check runs every
   * half of it, so the job is back in the queue within about 2 x this. Env `CROWDLENS_JOB_LOCK_MS`. Default 4000.
   */
  jobLockMs: z.coerce.number().int().min(1000).max(300_000).default(4000),
  /**
   * How frame bytes are held in Redis: `jpeg` (sharp, `jpegQuality`, ~13x smaller than raw at 720p) or `rgb` (raw RGB24;
   * cheaper CPU, 2.8 MB per 720p frame: only for Redis on the same host and few cameras). Chosen by `npm run bench:frames`.
   * Env `CROWDLENS_FRAME_ENCODING`. Default `jpeg`.
   */
  frameEncoding: z.enum(['jpeg', 'rgb']).default('jpeg'),
  /** JPEG quality 1-100 for `frameEncoding: jpeg`. Env `CROWDLENS_JPEG_QUALITY`. Default 95 (bench:frames: fused age MAE 3.89 vs 3.83 raw; q90 4.12). */
  jpegQuality: z.coerce.number().int().min(1).max(100).default(95),
  /** Attempts per inference job (transient faults retry with a 100 ms backoff, doubling). Env `CROWDLENS_JOB_ATTEMPTS`. Default 3. */
  jobAttempts: z.coerce.number().int().min(1).max(20).default(3),
  /** Finished jobs kept in Redis (`removeOnComplete` count; they hold no pixels and no descriptors). Env `CROWDLENS_KEEP_COMPLETED_JOBS`. Default 100. */
  keepCompletedJobs: z.coerce.number().int().min(0).max(100_000).default(100),
  /** Failed jobs kept in Redis for inspection (`removeOnFail` count). Env `CROWDLENS_KEEP_FAILED_JOBS`. Default 1000. */
  keepFailedJobs: z.coerce.number().int().min(0).max(100_000).default(1000),
  /**
   * Carry departed people's face descriptors in Redis across a change of camera owner (TTL = the
   * re-identification window), so a person seen again after a takeover is not counted twice. Off by default:
   * descriptors then never outlive their processing in Redis. Env `CROWDLENS_REID_CARRY`. Default false.
   */
  reidCarry: envBoolean.default(false),
  /**
   * Port of the `/metrics` (and `/healthz`, `/readyz`) endpoint of `crowdlens ingest` and `crowdlens worker`; 0
   * picks a free one (printed). `crowdlens api` and `crowdlens start` serve /metrics on the API port. Env
   * `CROWDLENS_METRICS_PORT`. Default 9464.
   */
  metricsPort: z.coerce.number().int().min(0).max(65535).default(9464),
  /** Listen address of that endpoint. Env `CROWDLENS_METRICS_HOST`. Default 127.0.0.1 (0.0.0.0 for a scraper on another host). */
  metricsHost: z.string().min(1).default('127.0.0.1'),
}).refine((s) => s.frameTtlMs > s.resultDeadlineMs, { message: 'frameTtlMs must exceed resultDeadlineMs', path: ['frameTtlMs'] });

/** Env variable -> config path for {@link scaleConfigSchema}. `REDIS_URL` comes first so `CROWDLENS_REDIS_URL` wins. */
const SCALE_ENV_MAP: Record<string, readonly string[]> = {
  REDIS_URL: ['redisUrl'],
  CROWDLENS_REDIS_PREFIX: ['scale', 'prefix'],
  CROWDLENS_LEASE_MS: ['scale', 'leaseMs'],
  CROWDLENS_WORKER_CONCURRENCY: ['scale', 'workerConcurrency'],
  CROWDLENS_MAX_IN_FLIGHT: ['scale', 'maxInFlightPerCamera'],
  CROWDLENS_FRAME_TTL_MS: ['scale', 'frameTtlMs'],
  CROWDLENS_RESULT_DEADLINE_MS: ['scale', 'resultDeadlineMs'],
  CROWDLENS_JOB_LOCK_MS: ['scale', 'jobLockMs'],
  CROWDLENS_JOB_ATTEMPTS: ['scale', 'jobAttempts'],
  CROWDLENS_FRAME_ENCODING: ['scale', 'frameEncoding'],
  CROWDLENS_JPEG_QUALITY: ['scale', 'jpegQuality'],
  CROWDLENS_KEEP_COMPLETED_JOBS: ['scale', 'keepCompletedJobs'],
  CROWDLENS_KEEP_FAILED_JOBS: ['scale', 'keepFailedJobs'],
  CROWDLENS_REID_CARRY: ['scale', 'reidCarry'],
  CROWDLENS_METRICS_PORT: ['scale', 'metricsPort'],
  CROWDLENS_METRICS_HOST: ['scale', 'metricsHost'],
};

/**
 * The one configuration schema. Sources, lowest precedence first: defaults, an optional JSON file
 * (`--config FILE` or `CROWDLENS_CONFIG`), environment (`CROWDLENS_*`), command-line flags.
 * Every stage reads its section from here; nothing else parses env or flags.
 */
export const configSchema = z.object({
  scale: scaleConfigSchema.prefault({}),
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
  /** Redis URL (`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS); when absent everything runs in one process. Env `CROWDLENS_REDIS_URL`, else `REDIS_URL`. */
  redisUrl: z.string().url().optional(),
});

export type Config = z.infer<typeof configSchema>;

/** Env variable -> config path. */
const ENV_MAP: Record<string, readonly string[]> = {
  ...SCALE_ENV_MAP,
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
