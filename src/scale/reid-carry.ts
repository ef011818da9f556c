/**
 * Opt-in (`CROWDLENS_REID_CARRY=true`, default off) carry-over of re-identification evidence across
 * a change of camera owner. Without it a new owner starts with an empty re-identification memory,
 * so a person seen before the change and again after it is counted twice.
 *
 * With it, the owner appends each person src/track's CrowdTracker records for carrying (when
 * confirmed, and when they leave) to a Redis stream per camera, `<prefix>:reid:<camera>`: the mean
 * face descriptor (1024 float32), the age/gender evidence and the last estimate. Entries older than
 * the re-identification window are trimmed on every write (XADD MINID, Redis time) and the whole key
 * expires one window after the last write. Writes are fenced by the camera lease (a stale owner
 * cannot write). A new owner loads the stream when it acquires the camera.
 *
 * Privacy: this stores face descriptors (biometric templates, not images) in Redis for up to the
 * window (default 10 min) — which is why it is off unless the operator turns it on.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { CarriedPerson } from '../track/crowd.ts';
import type { ScaleKeys } from './keys.ts';
import type { LeaseRecord } from './lease.ts';
import { LuaScript } from './scripts.ts';
import { decodeDescriptor, encodeDescriptor } from './wire.ts';

/** Appends ARGV[3..] (field `p`) while KEYS[1] holds ARGV[1]; trims to the last ARGV[2] ms of Redis time. */
const FENCED_APPEND = new LuaScript(
  'reid_append',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
local minid = tostring(math.max(0, now - window))
for i = 3, #ARGV do
  redis.call('XADD', KEYS[2], 'MINID', '~', minid, '*', 'p', ARGV[i])
end
redis.call('XTRIM', KEYS[2], 'MINID', minid)
redis.call('PEXPIRE', KEYS[2], window)
return #ARGV - 2`,
  2,
);

const finite = z.number().finite();
const carriedSchema = z.strictObject({
  personId: z.number().int().min(1),
  lastSeenMs: finite,
  inView: z.boolean(),
  descriptor: z
    .string()
    .min(1)
    .max(1 << 20),
  descriptorCount: z.number().int().min(1),
  fusion: z.strictObject({
    samples: z.number().min(0),
    ignored: z.number().min(0),
    withoutAttributes: z.number().min(0),
    droppedAgeSamples: z.number().min(0),
    bestQuality: z.number().min(0),
    totalWeight: z.number().min(0),
    sumSquaredWeight: z.number().min(0),
    weightedLogOdds: finite,
    ages: z.array(z.tuple([z.number().min(0), z.number().min(0)])).max(10_000),
  }),
  lastReported: z
    .strictObject({
      ageYears: finite,
      gender: z.enum(['female', 'male', 'unknown']),
      genderScore: finite,
      maleProbability: z.number().min(0).max(1),
      ageRangeYears: z.tuple([finite, finite]).optional(),
      samples: z.number().int().min(0),
    })
    .nullable(),
});

/** Counters of a store. */
export interface ReidCarryStats {
  /** People written. */
  written: number;
  /** Writes refused because the lease was lost. */
  fencedOut: number;
  /** People loaded. */
  loaded: number;
  /** Entries that failed validation on load (dropped). */
  invalid: number;
}

/** Options of {@link ReidCarryStore}. */
export interface ReidCarryOptions {
  readonly redis: Redis;
  readonly keys: ScaleKeys;
  /** The re-identification window, ms (src/track's reidWindowMs, default 600000): entries live this long. */
  readonly windowMs: number;
}

export class ReidCarryStore {
  private readonly counters: ReidCarryStats = { written: 0, fencedOut: 0, loaded: 0, invalid: 0 };

  constructor(private readonly options: ReidCarryOptions) {
    if (!(Number.isInteger(options.windowMs) && options.windowMs >= 1))
      throw new RangeError(`reid carry windowMs must be an integer >= 1, got ${options.windowMs}`);
  }

  /** Appends `people` to the camera's stream if `lease` still holds the camera; false when fenced out. */
  async save(lease: LeaseRecord, people: readonly CarriedPerson[]): Promise<boolean> {
    if (people.length === 0) return true;
    const { redis, keys, windowMs } = this.options;
    const payloads = people.map((p) =>
      JSON.stringify({
        personId: p.personId,
        lastSeenMs: p.lastSeenMs,
        inView: p.inView,
        descriptor: encodeDescriptor(p.descriptor),
        descriptorCount: p.descriptorCount,
        fusion: { ...p.fusion, ages: p.fusion.ages.map((a) => [a.ageYears, a.weight]) },
        lastReported: p.lastReported,
      }),
    );
    const n = Number(
      await FENCED_APPEND.run(redis, [keys.lease(lease.cameraId), keys.reid(lease.cameraId)], [lease.value, windowMs, ...payloads]),
    );
    if (n < 0) {
      this.counters.fencedOut++;
      return false;
    }
    this.counters.written += n;
    return true;
  }

  /** The camera's carried people written within the window (the latest per person), oldest first. */
  async load(cameraId: string): Promise<CarriedPerson[]> {
    const { redis, keys, windowMs } = this.options;
    const [sec, micro] = await redis.time();
    const fromMs = Number(sec) * 1000 + Math.floor(Number(micro) / 1000) - windowMs;
    const entries = await redis.xrange(keys.reid(cameraId), String(Math.max(0, fromMs)), '+');
    const latest = new Map<number, CarriedPerson>();
    for (const [, fields] of entries) {
      const i = fields.indexOf('p');
      try {
        const r = carriedSchema.parse(JSON.parse(fields[i + 1] ?? ''));
        latest.set(r.personId, {
          personId: r.personId,
          lastSeenMs: r.lastSeenMs,
          inView: r.inView,
          descriptor: decodeDescriptor(r.descriptor),
          descriptorCount: r.descriptorCount,
          fusion: { ...r.fusion, ages: r.fusion.ages.map(([ageYears, weight]) => ({ ageYears, weight })) },
          lastReported: r.lastReported,
        });
      } catch {
        this.counters.invalid++;
      }
    }
    const out = [...latest.values()].sort((a, b) => a.lastSeenMs - b.lastSeenMs);
    this.counters.loaded += out.length;
    return out;
  }

  /** Deletes the camera's stream (the camera was removed). */
  async clear(cameraId: string): Promise<void> {
    await this.options.redis.unlink(this.options.keys.reid(cameraId));
  }

  stats(): ReidCarryStats {
    return { ...this.counters };
  }
}

