/**
 * The service's wire shapes, declared once: REST request and response bodies, errors, and the payloads of the
 * Socket.IO events (src/shared/socket-events.ts). The server validates and documents with these (Fastify +
 * fastify-type-provider-zod; OpenAPI at `GET /api/openapi.json` is generated from them), and the tests and the
 * dashboard parse with them. Only zod and src/shared: safe to bundle for a browser.
 */
import { z } from 'zod';
import { AGE_BUCKETS, type DemographicsKey, type DemographicsLabelKey, type DemographicsSnapshot, type Gender, type GenderLabel, type PersonEstimate } from './messages.ts';

/** Camera ids: lowercase slug, also the `camera` label of every metric. */
export const CAMERA_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

export const cameraIdSchema = z.string().regex(CAMERA_ID_PATTERN, 'expected a camera id (lowercase letters, digits and "-", 1-64 characters)').describe('Camera id');

const nameSchema = z.string().trim().min(1, 'must not be empty').max(100).describe('Display name');
/**
 * The camera's source. The schemes and the media-directory rule are checked by the service (src/ingest's
 * parser), which knows what ingest supports; here only the size.
 */
const urlSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(2048)
  .describe('rtsp://, rtsps://, http(s):// (HLS when the path ends in .m3u8), or a video file inside CROWDLENS_MEDIA_DIR: a path relative to it, an absolute path or a file: URL. Credentials (user:pass@) are stored but never returned.');
const fpsSchema = z.number().positive().max(60).describe('Frames per second sampled from the camera; default CROWDLENS_FPS');
const maxWidthSchema = z.number().int().min(64).max(7680).describe('Frames wider than this are downscaled, px; default CROWDLENS_MAX_WIDTH');
const enabledSchema = z.boolean().describe('Whether the camera is ingested and analysed');
const loopSchema = z.boolean().describe('Files only: start again at the end (default true: a file camera plays like a live one)');

/** `POST /api/cameras` body. Unknown fields are rejected. */
export const cameraCreateSchema = z
  .strictObject({
    name: nameSchema,
    url: urlSchema,
    fps: fpsSchema.optional(),
    maxWidth: maxWidthSchema.optional(),
    enabled: enabledSchema.optional().describe('Default true'),
    loop: loopSchema.optional(),
  })
  .meta({ id: 'CameraCreate' });
export type CameraCreate = z.infer<typeof cameraCreateSchema>;

/** `PATCH /api/cameras/:id` body: any subset; `fps`/`maxWidth` null goes back to the configured default. */
export const cameraPatchSchema = z
  .strictObject({
    name: nameSchema.optional(),
    url: urlSchema.optional().describe('New source; sending back the masked URL from a GET keeps the stored one'),
    fps: fpsSchema.nullable().optional(),
    maxWidth: maxWidthSchema.nullable().optional(),
    enabled: enabledSchema.optional(),
    loop: loopSchema.optional(),
  })
  .refine((p) => Object.keys(p).length > 0, { message: 'expected at least one field to change (name, url, fps, maxWidth, enabled, loop)' })
  .meta({ id: 'CameraPatch' });
export type CameraPatch = z.infer<typeof cameraPatchSchema>;

/** A registered camera as the API returns it: the URL with credentials masked. */
export const cameraSchema = z
  .object({
    id: cameraIdSchema,
    name: z.string(),
    url: z.string().describe('The source with user, password and secret query values replaced by ***'),
    fps: z.number().nullable().describe('null: CROWDLENS_FPS'),
    maxWidth: z.number().int().nullable().describe('null: CROWDLENS_MAX_WIDTH'),
    enabled: z.boolean(),
    loop: z.boolean(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'Camera' });
export type Camera = z.infer<typeof cameraSchema>;

/**
 * Lifecycle of a camera in the service. `disabled`: registered, not ingested. `pending`: enabled, waiting for the
 * models to load. `starting`: ffmpeg connecting. `running`: frames flowing. `reconnecting`: a live source faulted and
 * ingest retries with backoff. `failed`: the camera's pipeline stopped on an error and is retried later (see
 * `lastError`, `retries`). `ended`: a file camera without `loop` reached its end. `stopped`: the service is shutting down.
 */
export const CAMERA_STATES = ['disabled', 'pending', 'starting', 'running', 'reconnecting', 'failed', 'ended', 'stopped'] as const;
export const cameraStateSchema = z.enum(CAMERA_STATES);
export type CameraState = z.infer<typeof cameraStateSchema>;

/** `GET /api/cameras/:id/status`. Counters are cumulative since the service started (over restarts of the camera). */
export const cameraStatusSchema = z
  .object({
    cameraId: cameraIdSchema,
    state: cameraStateSchema,
    enabled: z.boolean(),
    /** When `state` last changed, ms since the Unix epoch. */
    sinceMs: z.number().describe('When state last changed, ms since the Unix epoch'),
    fpsIn: z.number().describe('Frames/s read from ffmpeg (at the sampling rate), over the last few seconds'),
    fpsOut: z.number().describe('Frames/s analysed, over the last few seconds'),
    frames: z.object({
      read: z.number().int().describe('Frames read from ffmpeg at the sampling rate'),
      sampled: z.number().int().describe('Frames taken for analysis'),
    }),
    framesDropped: z
      .object({
        queueFull: z.number().int().describe('Dropped because inference was busy (newest frame wins)'),
        partial: z.number().int().describe('Incomplete frames discarded when ffmpeg stopped mid-frame'),
        inFlight: z.number().int().describe('Scale-out: skipped because the camera had CROWDLENS_MAX_IN_FLIGHT frames at the workers (0 in one process)'),
        redisError: z.number().int().describe('Scale-out: skipped because storing the frame or its job in Redis failed'),
        lost: z.number().int().describe('Scale-out: sent to the workers but no result came (deadline, bytes expired, job failed): skipped, never waited for'),
      })
      .describe('Frames dropped, by reason'),
    restarts: z.number().int().describe('ffmpeg restarts after a fault (reconnects), watchdog restarts included'),
    watchdogRestarts: z.number().int().describe('Of restarts, those after no frame arrived for CROWDLENS_WATCHDOG_MS'),
    retries: z.number().int().describe("Times the camera's pipeline was opened again after it failed"),
    lastError: z
      .object({ code: z.string(), message: z.string().describe('Credentials masked'), atMs: z.number() })
      .nullable()
      .describe('The latest fault, also after recovery; null when none'),
    width: z.number().int().nullable().describe('Analysed frame size, px'),
    height: z.number().int().nullable(),
    lastFrameAtMs: z.number().nullable().describe('Capture time of the last analysed frame, ms since the Unix epoch'),
  })
  .meta({ id: 'CameraStatus' });
export type CameraStatus = z.infer<typeof cameraStatusSchema>;

/** Genders in demographics cells; must list every {@link Gender} (checked below at compile time). */
export const GENDERS = ['female', 'male'] as const satisfies readonly Gender[];

/** Every age bucket x gender cell key, e.g. `"25-34/female"`. */
export const DEMOGRAPHICS_KEYS = AGE_BUCKETS.flatMap((b) => GENDERS.map((g) => `${b}/${g}` as const)) as [DemographicsKey, ...DemographicsKey[]];
export const demographicsKeySchema = z.enum(DEMOGRAPHICS_KEYS);

/** Gender labels of persons: a gender, or the explicit abstention `unknown`. */
export const GENDER_LABELS = [...GENDERS, 'unknown'] as const satisfies readonly GenderLabel[];

/** Every age bucket x gender label key, e.g. `"25-34/unknown"` (history buckets count people by label). */
export const DEMOGRAPHICS_LABEL_KEYS = AGE_BUCKETS.flatMap((b) => GENDER_LABELS.map((g) => `${b}/${g}` as const)) as [DemographicsLabelKey, ...DemographicsLabelKey[]];
export const demographicsLabelKeySchema = z.enum(DEMOGRAPHICS_LABEL_KEYS);

const countIntervalSchema = z.tuple([z.number(), z.number()]).readonly();

/** src/shared/messages.ts's DemographicsSnapshot as a schema (mirrored: see the type check below). */
export const demographicsSnapshotSchema = z
  .object({
    type: z.literal('demographics'),
    sourceId: z.string(),
    atMs: z.number().describe('Capture time of the last analysed frame, ms since the Unix epoch'),
    peopleNow: z.number().describe('Confirmed people in view'),
    unique: z.object({ lastMinute: z.number(), lastHour: z.number(), lastDay: z.number(), sinceStart: z.number() }).describe("Unique people in trailing windows and since the camera's pipeline started"),
    byAgeGender: z
      .record(demographicsKeySchema, z.number())
      .describe('Unique people since start with an estimate by age bucket x gender, as soft counts from their fused distributions (P(male) and the age error); sums to `estimated`'),
    byAgeGenderInterval: z.record(demographicsKeySchema, countIntervalSchema).describe('90% interval [low, high] of each byAgeGender cell, people'),
    estimated: z.number().int().describe('Unique people since start with an estimate'),
    withoutEstimate: z.number().int().describe('Unique people since start without an estimate yet (in no cell)'),
    byGenderLabel: z
      .object({ female: z.number().int(), male: z.number().int(), unknown: z.number().int() })
      .describe('People with an estimate by their gender label; `unknown`: too uncertain to say'),
    averageDwellMs: z.number().describe('Mean time in view of people who left, ms'),
  })
  .meta({ id: 'DemographicsSnapshot' });

/** src/shared/messages.ts's PersonEstimate as a schema (mirrored: see the type check below). */
export const personEstimateSchema = z
  .object({
    ageYears: z.number().describe('Fused age, years'),
    gender: z.enum(GENDER_LABELS).describe('`unknown` while the fused confidence is below the measured reporting threshold'),
    genderScore: z.number().describe('Confidence of the more likely gender, 0.5..1'),
    maleProbability: z.number().describe('Fused, calibrated P(male), 0..1'),
    ageRangeYears: z.tuple([z.number(), z.number()]).readonly().optional().describe('80% interval of the true age, years'),
    samples: z.number().int().describe('Observations fused'),
  })
  .meta({ id: 'PersonEstimate' });

/** True when A and B are assignable both ways (readonly aside): the schema and the message type describe the same shape. */
type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// Drift between these schemas and src/shared/messages.ts is a compile error here: change both together.
const snapshotMirrorsMessage: SameShape<z.infer<typeof demographicsSnapshotSchema>, DemographicsSnapshot> = true;
const estimateMirrorsMessage: SameShape<z.infer<typeof personEstimateSchema>, PersonEstimate> = true;
void snapshotMirrorsMessage;
void estimateMirrorsMessage;

/**
 * One time bucket of a camera's demographics history: aggregates only, no person ids. A bucket with
 * `frames: 0` has no data (the camera was down, disabled or not yet registered).
 */
export const historyBucketSchema = z
  .object({
    startMs: z.number().describe('Bucket start, ms since the Unix epoch (aligned to the minute / hour)'),
    endMs: z.number().describe('Bucket end (exclusive)'),
    frames: z.number().int().describe('Frames analysed in the bucket'),
    peopleNowMax: z.number().describe('Most people in view at once'),
    peopleNowMean: z.number().describe('Mean people in view over the sampled moments'),
    unique: z.number().int().describe('Distinct people seen in the bucket'),
    entered: z.number().int().describe('People who came into view (returning people included)'),
    returning: z.number().int().describe('Of entered, people recognised as seen before'),
    left: z.number().int().describe('People who left the view'),
    averageDwellMs: z.number().nullable().describe('Mean time in view of the people who left in the bucket, ms; null when none left'),
    byAgeGender: z
      .partialRecord(demographicsLabelKeySchema, z.number().int())
      .describe('Distinct people seen in the bucket by age bucket x gender label (with an estimate; `unknown` when the gender was too uncertain; cells that are 0 are left out)'),
  })
  .meta({ id: 'HistoryBucket' });
export type HistoryBucket = z.infer<typeof historyBucketSchema>;

/** `GET /api/cameras/:id/demographics`. */
export const cameraDemographicsSchema = z
  .object({
    cameraId: cameraIdSchema,
    atMs: z.number().describe('When this answer was made, ms since the Unix epoch'),
    state: cameraStateSchema,
    live: demographicsSnapshotSchema.nullable().describe('The latest snapshot; null before the first frame'),
    minutes: z.array(historyBucketSchema).describe('Per-minute buckets of the last hour, oldest first (the last one is the current minute)'),
    hours: z.array(historyBucketSchema).describe('Per-hour buckets of the last day, oldest first (the last one is the current hour)'),
  })
  .meta({ id: 'CameraDemographics' });
export type CameraDemographics = z.infer<typeof cameraDemographicsSchema>;

/** Machine-readable error codes of {@link apiErrorSchema}. */
export const API_ERROR_CODES = ['BAD_REQUEST', 'VALIDATION', 'UNAUTHORIZED', 'NOT_FOUND', 'CONFLICT', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'FORBIDDEN', 'NOT_READY', 'INTERNAL'] as const;

/** Every 4xx/5xx body. `field` names the offending field (`url`, `fps`, `id`, ...), when there is one. */
export const apiErrorSchema = z
  .object({
    error: z.enum(API_ERROR_CODES),
    message: z.string(),
    field: z.string().optional().describe('Dotted path of the offending field, e.g. "fps"'),
    issues: z.array(z.object({ field: z.string(), message: z.string() })).optional().describe('Every problem found, when there are several'),
  })
  .meta({ id: 'Error' });
export type ApiError = z.infer<typeof apiErrorSchema>;

/** `GET /healthz`: the process is up and serving. */
export const healthSchema = z.object({ status: z.literal('ok'), uptimeS: z.number() }).meta({ id: 'Health' });
/** `GET /readyz`: 200 once the models are loaded (503 before). */
export const readySchema = z
  .object({
    ready: z.boolean(),
    models: z.enum(['loading', 'loaded', 'failed', 'remote']).describe('remote: an API node of the scale-out, whose models run in the worker processes'),
    cameras: z.number().int().describe('Registered cameras'),
    error: z.string().optional(),
  })
  .meta({ id: 'Ready' });
export type Ready = z.infer<typeof readySchema>;

// ---- Socket.IO payloads (event names and maps: src/shared/socket-events.ts) ----

/** `demographics`: sent for each subscribed camera every CROWDLENS_LIVE_INTERVAL_MS, also while it is down. */
export const liveDemographicsSchema = z.object({
  cameraId: cameraIdSchema,
  atMs: z.number().describe('When it was sent, ms since the Unix epoch'),
  state: cameraStateSchema,
  snapshot: demographicsSnapshotSchema.nullable().describe('The latest snapshot (null before the first frame); while the camera is down, the last one it had'),
});
export type LiveDemographics = z.infer<typeof liveDemographicsSchema>;

/** `person.entered`: a person came into view (no box, crop or descriptor). */
export const livePersonEnteredSchema = z.object({
  cameraId: cameraIdSchema,
  personId: z.number().int(),
  atMs: z.number().describe('Capture time of the frame, ms since the Unix epoch'),
  returning: z.boolean().describe('Recognised as a person who left within the re-identification window'),
});
export type LivePersonEntered = z.infer<typeof livePersonEnteredSchema>;

/** `person.left`: a person left the view, with their fused estimate (no box, crop or descriptor). */
export const livePersonLeftSchema = z.object({
  cameraId: cameraIdSchema,
  personId: z.number().int(),
  atMs: z.number(),
  firstSeenMs: z.number(),
  lastSeenMs: z.number(),
  dwellMs: z.number(),
  estimate: personEstimateSchema.nullable(),
});
export type LivePersonLeft = z.infer<typeof livePersonLeftSchema>;

/** `camera.changed`: the registry changed (masked camera; null when deleted). */
export const cameraChangeSchema = z.object({
  type: z.enum(['created', 'updated', 'deleted']),
  cameraId: cameraIdSchema,
  camera: cameraSchema.nullable(),
});
export type CameraChange = z.infer<typeof cameraChangeSchema>;

/** Target of `subscribe`/`unsubscribe`: a camera id, or {@link ALL_CAMERAS}. */
export const ALL_CAMERAS = '*';
export const subscribeTargetSchema = z.union([z.literal(ALL_CAMERAS), cameraIdSchema]);

/** Ack of `subscribe`: the subscribed cameras' registry entries and statuses, or why not. */
export const subscribeAckSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), cameras: z.array(cameraSchema), statuses: z.array(cameraStatusSchema) }),
  z.object({ ok: z.literal(false), error: apiErrorSchema }),
]);
export type SubscribeAck = z.infer<typeof subscribeAckSchema>;
export const unsubscribeAckSchema = z.discriminatedUnion('ok', [z.object({ ok: z.literal(true) }), z.object({ ok: z.literal(false), error: apiErrorSchema })]);
export type UnsubscribeAck = z.infer<typeof unsubscribeAckSchema>;
