/**
 * What crosses Redis between camera owners and workers, validated with zod at both edges: the
 * inference job's data ({@link InferJob}) and the owner's inbox messages. Face descriptors travel
 * only inside an inbox message, as base64 of little-endian float32, and are popped (removed from
 * Redis) by the owner as soon as it reads them; BullMQ's job data, return values and events never
 * hold them.
 */
import { z } from 'zod';
import { hasAttributes, type AttributeRequest, type DescriptorRequest, type DetectInstruction, type Face, type FrameLostReason, type InferJob } from '../shared/messages.ts';

const finite = z.number().finite();
const box = z.tuple([finite, finite, finite, finite]);
const count = z.number().int().min(0);

export const frameRefSchema = z.strictObject({
  sourceId: z.string().min(1).max(512),
  seq: z.number().int().min(0),
  capturedAtMs: finite,
  key: z.string().min(1).max(2048),
  width: z.number().int().min(1).max(16_384),
  height: z.number().int().min(1).max(16_384),
  encoding: z.enum(['jpeg', 'rgb']),
  byteLength: count,
  epoch: count,
});

export const descriptorRequestSchema: z.ZodType<DescriptorRequest> = z.union([
  z.literal('none'),
  z.literal('all'),
  z.strictObject({
    iouThreshold: z.number().min(0).max(1),
    minScore: z.number().min(0).max(1),
    minScoreToStart: z.number().min(0).max(1),
    wanting: z.array(box).max(10_000),
    satisfied: z.array(box).max(10_000),
    qualityFloor: z.number().min(0).max(1).optional(),
    newTracksWait: z.boolean().optional(),
  }),
]);

/** The attribute schedule's plan (src/track's CrowdTracker.attributePlan), or `all`. */
export const attributeRequestSchema: z.ZodType<AttributeRequest> = z.union([
  z.literal('all'),
  z.strictObject({
    iouThreshold: z.number().min(0).max(1),
    minScore: z.number().min(0).max(1),
    minScoreToStart: z.number().min(0).max(1),
    qualityFloor: z.number().min(0).max(1),
    tracks: z.array(z.strictObject({ box, needs: z.boolean(), improvedQuality: z.number().min(0).finite() })).max(10_000),
  }),
]);

const boxes = z.array(box).max(10_000);
export const detectInstructionSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('scan'), tracks: boxes.optional(), motion: boxes.optional() }),
  z.strictObject({ mode: z.literal('regions'), tracks: boxes, motion: boxes }),
]);

export const inferJobSchema = z.strictObject({
  frame: frameRefSchema,
  replyTo: z.string().min(1).max(2048),
  descriptors: descriptorRequestSchema,
  detect: detectInstructionSchema.optional(),
  attributes: attributeRequestSchema.optional(),
});

/** Parses job data; throws an Error naming each bad field and its value. */
export function parseInferJob(data: unknown): InferJob {
  const r = inferJobSchema.safeParse(data);
  // zod types optional fields as `T | undefined`; a parsed object only lacks them, so it is an InferJob.
  if (r.success) return r.data as InferJob & { detect?: DetectInstruction; attributes?: AttributeRequest };
  throw new Error(`invalid inference job data: ${describeIssues(r.error, data)}`);
}

/** A face as sent to the owner; the descriptor is base64 of float32 LE. */
const wireQualitySchema = z.strictObject({
  score: z.number().min(0).max(1),
  sidePx: z.number().min(0),
  rollDeg: finite,
  yaw: finite,
  sharpness: z.number().min(0).optional(),
});

/** A face on the wire: detection, quality, and age/gender only where the tracker asked for them (all three or none). */
const wireFaceSchema = z
  .strictObject({
    box,
    score: finite,
    quality: wireQualitySchema.optional(),
    ageYears: finite.optional(),
    gender: z.enum(['female', 'male']).optional(),
    genderScore: finite.optional(),
    maleProbability: z.number().min(0).max(1).optional(),
    descriptor: z
      .string()
      .max(1 << 20)
      .optional(),
  })
  .refine((f) => (f.ageYears === undefined) === (f.gender === undefined) && (f.gender === undefined) === (f.genderScore === undefined), { message: 'ageYears, gender and genderScore come together or not at all' });

/** Worker-side timings of one job, ms. */
const timingSchema = z.strictObject({
  /** From the job's creation (producer clock) to the worker starting it (worker clock). */
  queueWaitMs: finite,
  fetchMs: finite,
  decodeMs: finite,
  /** Waiting for this process's analyzer (jobs are analysed one at a time per process). */
  analyzerWaitMs: finite,
  detectMs: finite,
  ageGenderMs: finite,
  descriptorMs: finite,
});
export type WorkerTiming = z.infer<typeof timingSchema>;

const frameIdFields = { sourceId: z.string().min(1).max(512), epoch: count, seq: count };

export const inboxMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('result'),
    ...frameIdFields,
    capturedAtMs: finite,
    width: z.number().int().min(1),
    height: z.number().int().min(1),
    faces: z.array(wireFaceSchema).max(10_000),
    timing: timingSchema,
    /** Worker name (BullMQ worker name), for diagnostics. */
    worker: z.string().max(256),
    /** Attempt that produced it, 1-based. */
    attempt: z.number().int().min(1),
  }),
  z.strictObject({
    type: z.literal('lost'),
    ...frameIdFields,
    reason: z.enum(['expired', 'failed']),
    /** Why it failed (no credentials: job errors never carry URLs). */
    error: z.string().max(2000).optional(),
  }),
]);
export type InboxMessage = z.infer<typeof inboxMessageSchema>;
export type InboxResult = Extract<InboxMessage, { type: 'result' }>;
export type WireFace = z.infer<typeof wireFaceSchema>;
export type InboxLostReason = Exclude<FrameLostReason, 'deadline'>;

/** Parses an inbox message (a JSON string); throws naming each bad field. */
export function parseInboxMessage(text: string): InboxMessage {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`inbox message is not JSON: ${(err as Error).message}`);
  }
  const r = inboxMessageSchema.safeParse(data);
  if (r.success) return r.data;
  throw new Error(`invalid inbox message: ${describeIssues(r.error, data)}`);
}

/** Float32 descriptor -> base64 of its little-endian bytes. */
export function encodeDescriptor(d: Float32Array): string {
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
}

/** base64 -> Float32Array (a copy, aligned); throws when the length is not a whole number of floats. */
export function decodeDescriptor(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0 || bytes.length === 0)
    throw new Error(`descriptor: ${bytes.length} bytes is not a non-empty whole number of float32`);
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function toWireFace(f: Face): WireFace {
  const q = f.quality;
  const w: WireFace = {
    box: [f.box[0], f.box[1], f.box[2], f.box[3]],
    score: f.score,
    ...(q ? { quality: { score: q.score, sidePx: q.sidePx, rollDeg: q.rollDeg, yaw: q.yaw, ...(q.sharpness !== undefined ? { sharpness: q.sharpness } : {}) } } : {}),
    ...(hasAttributes(f) ? { ageYears: f.ageYears, gender: f.gender, genderScore: f.genderScore, ...(f.maleProbability !== undefined ? { maleProbability: f.maleProbability } : {}) } : {}),
  };
  return f.descriptor !== undefined ? { ...w, descriptor: encodeDescriptor(f.descriptor) } : w;
}

export function fromWireFace(w: WireFace): Face {
  const q = w.quality;
  const detection = { box: w.box, score: w.score, ...(q ? { quality: { score: q.score, sidePx: q.sidePx, rollDeg: q.rollDeg, yaw: q.yaw, ...(q.sharpness !== undefined ? { sharpness: q.sharpness } : {}) } } : {}) };
  const f: Face =
    w.ageYears !== undefined && w.gender !== undefined && w.genderScore !== undefined
      ? { ...detection, ageYears: w.ageYears, gender: w.gender, genderScore: w.genderScore, ...(w.maleProbability !== undefined ? { maleProbability: w.maleProbability } : {}) }
      : detection;
  return w.descriptor !== undefined ? { ...f, descriptor: decodeDescriptor(w.descriptor) } : f;
}

function describeIssues(error: z.ZodError, data: unknown): string {
  return error.issues
    .slice(0, 8)
    .map((i) => {
      let value: unknown = data;
      for (const k of i.path) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[String(k)] : undefined;
      const shown = JSON.stringify(value);
      return `${i.path.join('.') || '(root)'}: ${i.message} (got ${shown === undefined ? 'nothing' : shown.length > 80 ? `${shown.slice(0, 80)}...` : shown})`;
    })
    .join('; ');
}
