/**
 * What the API reads about a camera in scale-out (its status, live snapshot and history), kept in Redis by the
 * camera's owner and aggregated across owners, so that a takeover does not reset the numbers.
 *
 * The owner ({@link CameraReporter}, one per camera per ingest process) turns its tracker's events and frames into
 * deltas and flushes them once a second (the live tick) in one Lua script, fenced by the camera lease (a stalled
 * former owner writes nothing):
 * - `<p>:cam:<id>:agg` (hash): unique people since the aggregates began (`unique`, +1 per new person; a person
 *   re-identified, also one carried over from the previous owner, is not new), the soft age x gender table as in
 *   one process (src/track's Demographics): per cell the sum of each person's share (`s:<cell>`, HINCRBYFLOAT of the
 *   change when a person's fused estimate changes) and of the shares' Bernoulli variances (`v:<cell>`, for the 90%
 *   intervals), people with an estimate (`estimated`) and by gender label (`l:female|male|unknown`), dwell sum and
 *   departures, the highest person id handed out (the next owner starts above it), and the frame counters of the
 *   status (`t:<counter>`).
 * - `<p>:cam:<id>:seen` (sorted set): person id -> last seen, ms, for the last day (capped): the trailing windows
 *   (people seen in the last minute / hour / day) are ZCOUNTs over it, exact across owners, as in one process.
 * - `<p>:cam:<id>:m:<start>` / `:h:<start>` (hashes): the per-minute and per-hour history buckets' counters (frames,
 *   entered, returning, left, dwell, people in view, distinct people and their `c:<age bucket>/<gender label>` cells,
 *   `unknown` included, as one process's history counts them), incremented by each owner,
 *   so a bucket spanning a takeover adds up both owners' shares. Distinct people are counted once per owner and
 *   bucket; a person seen by both owners in the takeover's minute is counted by both (the one double count left).
 * - `<p>:cam:<id>:status` (string, PX a few ticks): the status with the counters summed over owners; its absence
 *   means no ingest runs the camera (the API then says `pending`).
 * - `<p>:cam:<id>:live` (string, PX a day): the merged live snapshot, the owner's lease token and its people in view
 *   (id, first/last seen, the estimate the aggregates count them as), so that a new owner can end the open
 *   appearances of one that died and continue from their counted shares.
 * Aggregates only, apart from the per-camera person counters (ids with a last-seen time, nothing else): no box,
 * crop or descriptor. Every key has a TTL, refreshed on each flush; the registry deletes a removed
 * camera's fixed keys, buckets expire.
 */
import type { Redis } from 'ioredis';
import type { AgeErrorModel } from '../shared/age-error.ts';
import type { CameraDemographics, CameraState, CameraStatus, HistoryBucket } from '../shared/api.ts';
import {
  DEMOGRAPHICS_KEYS,
  DEMOGRAPHICS_LABEL_KEYS,
  GENDER_LABELS,
  cameraStatusSchema,
  demographicsSnapshotSchema,
  personEstimateSchema,
} from '../shared/api.ts';
import {
  ageBucketOf,
  type DemographicsLabelKey,
  type DemographicsSnapshot,
  type GenderLabel,
  type PersonEstimate,
  type TrackEvent,
} from '../shared/messages.ts';
import type { CameraRegistry, CameraReads } from '../shared/service.ts';
import { cellIntervals, cellShares, emptyAgeGender, roundedCells, shareVariance } from '../track/demographics.ts';
import { z } from 'zod';
import type { ScaleKeys } from './keys.ts';
import type { LeaseRecord } from './lease.ts';
import { LuaScript } from './scripts.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Per-minute buckets read (the last hour) and per-hour buckets (the last day), as in one process. */
const MINUTE_BUCKETS = 60;
const HOUR_BUCKETS = 24;
/** People kept in the trailing-window set (the most recently seen); in one process Demographics keeps 200000. */
const MAX_SEEN = 200_000;
/** People a reporter remembers (their counted estimate and history cell; least recently changed forgotten first). */
const MAX_PEOPLE = 100_000;
/** Share deltas below this are not sent (float noise). */
const MIN_FLOAT_DELTA = 1e-12;
/** Long-lived keys (live, agg, seen) expire this long after the last flush. */
const LONG_TTL_MS = DAY_MS + HOUR_MS;

/** Status counters summed over owners (`t:<name>` in the agg hash). */
const COUNTERS = [
  'read',
  'sampled',
  'queueFull',
  'partial',
  'inFlight',
  'redisError',
  'lost',
  'restarts',
  'watchdogRestarts',
  'retries',
] as const;
type CounterName = (typeof COUNTERS)[number];

function countersOf(s: CameraStatus): Record<CounterName, number> {
  return {
    read: s.frames.read,
    sampled: s.frames.sampled,
    queueFull: s.framesDropped.queueFull,
    partial: s.framesDropped.partial,
    inFlight: s.framesDropped.inFlight,
    redisError: s.framesDropped.redisError,
    lost: s.framesDropped.lost,
    restarts: s.restarts,
    watchdogRestarts: s.watchdogRestarts,
    retries: s.retries,
  };
}

function withCounters(s: CameraStatus, c: Readonly<Record<CounterName, number>>): CameraStatus {
  return {
    ...s,
    frames: { read: c.read, sampled: c.sampled },
    framesDropped: { queueFull: c.queueFull, partial: c.partial, inFlight: c.inFlight, redisError: c.redisError, lost: c.lost },
    restarts: c.restarts,
    watchdogRestarts: c.watchdogRestarts,
    retries: c.retries,
  };
}

/**
 * The flush, fenced: KEYS = lease, agg, seen, then the bucket keys; ARGV[1] = the lease value, ARGV[2] = the
 * payload (JSON). Returns {1, lastMinute, lastHour, lastDay, agg fields...} or {0}.
 */
const FLUSH = new LuaScript(
  'camera_state_flush',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
local p = cjson.decode(ARGV[2])
for f, d in pairs(p.agg) do redis.call('HINCRBY', KEYS[2], f, d) end
for f, d in pairs(p.aggFloat) do redis.call('HINCRBYFLOAT', KEYS[2], f, d) end
for f, v in pairs(p.aggMax) do
  local cur = tonumber(redis.call('HGET', KEYS[2], f) or '0')
  if v > cur then redis.call('HSET', KEYS[2], f, v) end
end
redis.call('PEXPIRE', KEYS[2], p.ttl)
local seen = p.seen
for i = 1, #seen, 500 do
  local args = {}
  for j = i, math.min(i + 499, #seen) do args[#args + 1] = seen[j] end
  redis.call('ZADD', KEYS[3], 'GT', unpack(args))
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. p.seenFrom)
if redis.call('ZCARD', KEYS[3]) > p.seenCap then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(p.seenCap + 1)) end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], p.ttl) end
for i, b in ipairs(p.buckets) do
  local k = KEYS[3 + i]
  for f, d in pairs(b.incr) do redis.call('HINCRBY', k, f, d) end
  for f, v in pairs(b.max) do
    local cur = tonumber(redis.call('HGET', k, f) or '0')
    if v > cur then redis.call('HSET', k, f, v) end
  end
  redis.call('PEXPIRE', k, b.ttl)
end
local out = {1}
for _, from in ipairs(p.windows) do out[#out + 1] = redis.call('ZCOUNT', KEYS[3], from, '+inf') end
local agg = redis.call('HGETALL', KEYS[2])
for _, v in ipairs(agg) do out[#out + 1] = v end
return out`,
  -1,
);

/** SETs the status and live keys, fenced: KEYS = lease, status, live; ARGV = value, status, status PX, live, live PX. */
const STORE = new LuaScript(
  'camera_state_store',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
return 1`,
  3,
);

/** Notes a person id handed out, fenced (before its person.entered is published): KEYS = lease, agg; ARGV = value, id. */
const NOTE_ID = new LuaScript(
  'camera_state_note_id',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[2], 'maxPersonId') or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[2], 'maxPersonId', ARGV[2]) end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`,
  2,
);

/** A person in view of an owner, as kept in the live key. */
export interface OpenPerson {
  readonly personId: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly estimate: PersonEstimate | null;
}

const openPersonSchema = z.object({
  personId: z.number().int(),
  firstSeenMs: z.number(),
  lastSeenMs: z.number(),
  estimate: personEstimateSchema.nullable(),
});
const liveSchema = z.object({
  token: z.number().int(),
  snapshot: demographicsSnapshotSchema.nullable(),
  open: z.array(openPersonSchema).max(10_000),
});

/** The live key: the merged snapshot and the owner's open people. */
export type LiveRecord = z.infer<typeof liveSchema>;

/** What a new owner learns of the camera's past at acquisition. */
export interface PreviousOwner {
  /** The lease token of the owner that last wrote the live key; null when none did (within a day). */
  readonly token: number | null;
  /** People in view when it last flushed (a dead owner never ended their appearances). */
  readonly open: readonly OpenPerson[];
  /** Highest person id handed out so far (0 when none). */
  readonly maxPersonId: number;
}

/** Options of {@link CameraStateStore}. */
export interface CameraStateOptions {
  readonly redis: Redis;
  readonly keys: ScaleKeys;
  /** Life of the status key, ms: a few live ticks (its absence means no owner). */
  readonly statusTtlMs: number;
  /**
   * The age model's measured error that the cameras' trackers split people over age buckets with (the trust
   * model's, as src/pipeline's trackerOptions gives the fusion): reporters count each person's shares with it.
   * Default none (each person in their estimate's bucket).
   */
  readonly ageError?: AgeErrorModel | undefined;
}

interface BucketDelta {
  incr: Record<string, number>;
  max: Record<string, number>;
}

/** People counted in a bucket by this reporter, with the cell they are counted in. */
interface BucketPeople {
  readonly startMs: number;
  readonly people: Map<number, DemographicsLabelKey | null>;
}

/** What a reporter knows of one person: the estimate the aggregates count them as, and their history cell. */
interface PersonCount {
  /** The estimate whose shares are in the agg hash (this process's or a previous owner's), or null when none is. */
  counted: PersonEstimate | null;
  /** The history cell, from the person's last `person.updated` (as one process's history keeps it). */
  cell: DemographicsLabelKey | null;
}

/** A person's history cell: age bucket x gender label, as src/service's CameraManager counts history buckets. */
function cellOf(e: PersonEstimate): DemographicsLabelKey {
  return `${ageBucketOf(e.ageYears)}/${e.gender}`;
}

/** The deltas collected between flushes. */
interface Deltas {
  /** Integer counters of the agg hash (HINCRBY). */
  agg: Record<string, number>;
  /** Soft-count fields of the agg hash (HINCRBYFLOAT). */
  aggFloat: Record<string, number>;
  seen: Map<number, number>;
  buckets: Map<string, BucketDelta>;
}

function emptyDeltas(): Deltas {
  return { agg: {}, aggFloat: {}, seen: new Map(), buckets: new Map() };
}

function addInto(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function maxInto(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = Math.max(into[k] ?? -Infinity, v);
}

/** Result of {@link CameraReporter.flush}. */
export interface FlushResult {
  /** False when the lease was no longer this owner's: nothing was written. */
  readonly ok: boolean;
  /** The status with counters summed over owners. */
  readonly status: CameraStatus;
  /** The live snapshot merged over owners (null before the first frame). */
  readonly snapshot: DemographicsSnapshot | null;
}

/**
 * One camera's reporter in one ingest process: collects deltas from the runs' events and frames and flushes them
 * under the lease held at the time. Deltas not flushed (fenced out, or a Redis error) are kept for the next flush
 * this process makes as owner: they happened.
 *
 * The soft table counts each person by their latest fused estimate, as the tracker's own Demographics does: from
 * `person.updated` and `person.left` events and, once a flush, from the estimates of the people in view
 * ({@link CameraReporter.estimates}; the tracker reports an estimate's small moves without an event).
 */
export class CameraReporter {
  private deltas: Deltas = emptyDeltas();
  private maxPersonId = 0;
  /** Current minute and hour buckets: people already counted there (distinct people per bucket). */
  private minutePeople: BucketPeople | null = null;
  private hourPeople: BucketPeople | null = null;
  /** Person -> their counted estimate and history cell, in order of last change. */
  private readonly people = new Map<number, PersonCount>();
  private readonly open = new Map<number, { firstSeenMs: number; lastSeenMs: number }>();
  /** Counters of the statuses already added to Redis. */
  private reported: Record<CounterName, number> | null = null;
  /** Redis totals minus this process's, at the last flush (to correct `camera.status` events between flushes). */
  private offset: Record<CounterName, number> | null = null;
  private flushing = false;

  constructor(
    private readonly store: CameraStateStore,
    readonly cameraId: string,
  ) {}

  /**
   * People whose estimate a previous owner already counted (carried over by re-id, or in view when it died): later
   * changes of their estimate move their shares from there rather than count them again.
   */
  seed(people: readonly { personId: number; estimate: PersonEstimate | null }[]): void {
    for (const p of people) {
      if (!p.estimate) continue;
      const row = this.person(p.personId);
      row.counted = p.estimate;
      row.cell = cellOf(p.estimate);
    }
  }

  /** A run's track events. */
  events(events: readonly TrackEvent[]): void {
    const { agg } = this.deltas;
    for (const e of events) {
      switch (e.type) {
        case 'person.entered':
          if (!e.returning) this.inc(agg, 'unique', 1);
          this.maxPersonId = Math.max(this.maxPersonId, e.personId);
          this.open.set(e.personId, { firstSeenMs: e.atMs, lastSeenMs: e.atMs });
          this.see(e.personId, e.atMs);
          this.bucketIncr(e.atMs, 'entered', 1);
          if (e.returning) this.bucketIncr(e.atMs, 'returning', 1);
          break;
        case 'person.updated':
          this.count(e.personId, e.estimate);
          this.moveCell(e.personId, cellOf(e.estimate));
          break;
        case 'person.left':
          this.open.delete(e.personId);
          // The final estimate (the tracker's Demographics counts the person by it too).
          if (e.estimate) this.count(e.personId, e.estimate);
          this.inc(agg, 'dwellSumMs', Math.round(e.dwellMs));
          this.inc(agg, 'departures', 1);
          this.see(e.personId, e.lastSeenMs);
          this.bucketIncr(e.atMs, 'left', 1);
          this.bucketIncr(e.atMs, 'dwellSumMs', Math.round(e.dwellMs));
          break;
        case 'demographics':
          break;
      }
    }
  }

  /** The latest fused estimates of the people in view (src/track's CrowdTracker.estimatesInView), e.g. before a flush. */
  estimates(people: readonly { personId: number; estimate: PersonEstimate }[]): void {
    for (const p of people) if (this.open.has(p.personId)) this.count(p.personId, p.estimate);
  }

  /** The people (person ids) matched in one analysed frame captured at `atMs`. */
  frame(atMs: number, personIds: readonly number[]): void {
    this.bucketIncr(atMs, 'frames', 1);
    const minute = this.bucketPeople('m', atMs);
    const hour = this.bucketPeople('h', atMs);
    for (const id of personIds) {
      this.see(id, atMs);
      const o = this.open.get(id);
      if (o) o.lastSeenMs = Math.max(o.lastSeenMs, atMs);
      const cell = this.people.get(id)?.cell ?? null;
      for (const [width, b] of [
        ['m', minute],
        ['h', hour],
      ] as const) {
        if (b === null || b.people.has(id)) continue;
        b.people.set(id, cell);
        const d = this.bucket(width, b.startMs);
        this.inc(d.incr, 'unique', 1);
        if (cell !== null) this.inc(d.incr, `c:${cell}`, 1);
      }
    }
  }

  /** The open people (in view) as this owner knows them, with the estimate the aggregates count them as. */
  openPeople(): OpenPerson[] {
    return [...this.open].map(([personId, o]) => ({ personId, ...o, estimate: this.people.get(personId)?.counted ?? null }));
  }

  /** A process-local status corrected to the counters summed over owners (as of the last flush). */
  adjust(status: CameraStatus): CameraStatus {
    if (this.offset === null) return status;
    const local = countersOf(status);
    const c = { ...local };
    for (const k of COUNTERS) c[k] = local[k] + (this.offset[k] ?? 0);
    return withCounters(status, c);
  }

  /**
   * Writes the deltas, the status and the merged snapshot under `lease`; returns what was stored. A flush while
   * the previous one runs is skipped (returns null).
   */
  async flush(lease: LeaseRecord, status: CameraStatus, snapshot: DemographicsSnapshot | null): Promise<FlushResult | null> {
    if (this.flushing) return null;
    this.flushing = true;
    try {
      return await this.doFlush(lease, status, snapshot);
    } finally {
      this.flushing = false;
    }
  }

  /** Notes a person id before its entry is published, so that the next owner starts above it. False when fenced out. */
  async notePersonId(lease: LeaseRecord, personId: number): Promise<boolean> {
    const { redis, keys } = this.store.options;
    return (
      Number(await NOTE_ID.run(redis, [keys.lease(this.cameraId), keys.cameraAgg(this.cameraId)], [lease.value, personId, LONG_TTL_MS])) ===
      1
    );
  }

  private async doFlush(lease: LeaseRecord, status: CameraStatus, snapshot: DemographicsSnapshot | null): Promise<FlushResult> {
    const { redis, keys, statusTtlMs } = this.store.options;
    const id = this.cameraId;
    const counters = countersOf(status);
    const prev = this.reported ?? Object.fromEntries(COUNTERS.map((k) => [k, 0]));
    if (snapshot) this.bucketPeopleNow(snapshot.atMs, snapshot.peopleNow);
    // Taken now, in one synchronous step: events that arrive while the flush is in flight go into fresh deltas
    // (and the live key's open people are those whose counted estimates these deltas carry).
    const taken = this.deltas;
    this.deltas = emptyDeltas();
    const open = this.openPeople();
    const agg = { ...taken.agg };
    for (const k of COUNTERS) if (counters[k] - (prev[k] ?? 0) !== 0) agg[`t:${k}`] = counters[k] - (prev[k] ?? 0);
    const aggFloat: Record<string, number> = {};
    for (const [f, d] of Object.entries(taken.aggFloat)) if (Math.abs(d) >= MIN_FLOAT_DELTA) aggFloat[f] = d;
    const atMs = snapshot?.atMs ?? status.lastFrameAtMs ?? Date.now();
    const bucketKeys: string[] = [];
    const buckets: { incr: Record<string, number>; max: Record<string, number>; ttl: number }[] = [];
    for (const [key, d] of taken.buckets) {
      const [width, start] = key.split(':') as ['m' | 'h', string];
      bucketKeys.push(keys.cameraBucket(id, width, Number(start)));
      buckets.push({ incr: d.incr, max: d.max, ttl: width === 'm' ? (MINUTE_BUCKETS + 5) * MINUTE_MS : (HOUR_BUCKETS + 1) * HOUR_MS });
    }
    const seen: (number | string)[] = [];
    for (const [pid, ms] of taken.seen) seen.push(Math.round(ms), String(pid));
    const payload = {
      agg,
      aggFloat,
      aggMax: this.maxPersonId > 0 ? { maxPersonId: this.maxPersonId } : {},
      ttl: LONG_TTL_MS,
      seen,
      seenFrom: Math.round(atMs - DAY_MS),
      seenCap: MAX_SEEN,
      buckets,
      windows: [Math.round(atMs - MINUTE_MS), Math.round(atMs - HOUR_MS), Math.round(atMs - DAY_MS)],
    };
    let res: (number | string)[];
    try {
      res = (await FLUSH.run(
        redis,
        [keys.lease(id), keys.cameraAgg(id), keys.cameraSeen(id), ...bucketKeys],
        [lease.value, JSON.stringify(payload)],
      )) as (number | string)[];
    } catch (err) {
      this.restore(taken);
      throw err;
    }
    if (Number(res[0]) !== 1) {
      this.restore(taken);
      return { ok: false, status, snapshot };
    }
    this.reported = counters;
    const fields = new Map<string, number>();
    for (let i = 4; i + 1 < res.length; i += 2) fields.set(String(res[i]), Number(res[i + 1]));
    const total = Object.fromEntries(COUNTERS.map((k) => [k, fields.get(`t:${k}`) ?? 0])) as Record<CounterName, number>;
    this.offset = Object.fromEntries(COUNTERS.map((k) => [k, total[k] - counters[k]])) as Record<CounterName, number>;
    const stored = withCounters(status, total);
    const merged = snapshot ? mergedSnapshot(snapshot, fields, [Number(res[1]), Number(res[2]), Number(res[3])]) : null;
    const live: LiveRecord = { token: lease.token, snapshot: merged, open };
    const ok =
      Number(
        await STORE.run(
          redis,
          [keys.lease(id), keys.cameraStatus(id), keys.cameraLive(id)],
          [lease.value, JSON.stringify(stored), statusTtlMs, JSON.stringify(live), LONG_TTL_MS],
        ),
      ) === 1;
    return { ok, status: stored, snapshot: merged };
  }

  /** Puts deltas that were not applied back in front of those collected since. */
  private restore(taken: Deltas): void {
    const now = this.deltas;
    addInto(taken.agg, now.agg);
    addInto(taken.aggFloat, now.aggFloat);
    for (const [pid, ms] of now.seen) taken.seen.set(pid, Math.max(taken.seen.get(pid) ?? 0, ms));
    for (const [key, d] of now.buckets) {
      const t = taken.buckets.get(key);
      if (!t) taken.buckets.set(key, d);
      else {
        addInto(t.incr, d.incr);
        maxInto(t.max, d.max);
      }
    }
    this.deltas = taken;
  }

  private inc(into: Record<string, number>, field: string, d: number): void {
    into[field] = (into[field] ?? 0) + d;
  }

  private see(personId: number, atMs: number): void {
    const seen = this.deltas.seen;
    seen.set(personId, Math.max(seen.get(personId) ?? 0, atMs));
  }

  /** The person's row, created when new, moved to the end (most recently changed); the oldest is forgotten past the bound. */
  private person(personId: number): PersonCount {
    const row = this.people.get(personId) ?? { counted: null, cell: null };
    this.people.delete(personId);
    this.people.set(personId, row);
    if (this.people.size > MAX_PEOPLE) this.people.delete(this.people.keys().next().value as number);
    return row;
  }

  /** Counts the person by `estimate` in the soft table and the labels: moves their shares from the counted estimate. */
  private count(personId: number, estimate: PersonEstimate): void {
    const before = this.people.get(personId)?.counted ?? null;
    if (
      before !== null &&
      before.ageYears === estimate.ageYears &&
      before.maleProbability === estimate.maleProbability &&
      before.gender === estimate.gender
    )
      return;
    const ageError = this.store.options.ageError;
    const after = cellShares(estimate, ageError);
    const was = before ? cellShares(before, ageError) : null;
    const { agg, aggFloat } = this.deltas;
    for (const k of DEMOGRAPHICS_KEYS) {
      const a = after[k];
      const b = was?.[k] ?? 0;
      if (a === b) continue;
      this.inc(aggFloat, `s:${k}`, a - b);
      this.inc(aggFloat, `v:${k}`, shareVariance(a) - shareVariance(b));
    }
    if (before === null) this.inc(agg, 'estimated', 1);
    if (before?.gender !== estimate.gender) {
      if (before) this.inc(agg, `l:${before.gender}`, -1);
      this.inc(agg, `l:${estimate.gender}`, 1);
    }
    this.person(personId).counted = estimate;
  }

  private bucket(width: 'm' | 'h', startMs: number): BucketDelta {
    const key = `${width}:${startMs}`;
    let d = this.deltas.buckets.get(key);
    if (!d) {
      d = { incr: {}, max: {} };
      this.deltas.buckets.set(key, d);
    }
    return d;
  }

  private bucketIncr(atMs: number, field: string, d: number): void {
    this.inc(this.bucket('m', Math.floor(atMs / MINUTE_MS) * MINUTE_MS).incr, field, d);
    this.inc(this.bucket('h', Math.floor(atMs / HOUR_MS) * HOUR_MS).incr, field, d);
  }

  private bucketPeopleNow(atMs: number, n: number): void {
    for (const [width, ms] of [
      ['m', MINUTE_MS],
      ['h', HOUR_MS],
    ] as const) {
      const d = this.bucket(width, Math.floor(atMs / ms) * ms);
      this.inc(d.incr, 'peopleSum', n);
      this.inc(d.incr, 'peopleSamples', 1);
      d.max['peopleMax'] = Math.max(d.max['peopleMax'] ?? 0, n);
    }
  }

  /** The current bucket's people of `width` at `atMs` (a new bucket forgets the previous one's); null for a past bucket. */
  private bucketPeople(width: 'm' | 'h', atMs: number): BucketPeople | null {
    const ms = width === 'm' ? MINUTE_MS : HOUR_MS;
    const startMs = Math.floor(atMs / ms) * ms;
    const cur = width === 'm' ? this.minutePeople : this.hourPeople;
    if (cur && cur.startMs === startMs) return cur;
    if (cur && cur.startMs > startMs) return null;
    const next: BucketPeople = { startMs, people: new Map() };
    if (width === 'm') this.minutePeople = next;
    else this.hourPeople = next;
    return next;
  }

  /** The person's history cell changed (a `person.updated`): moves them in the current buckets they are counted in. */
  private moveCell(personId: number, cell: DemographicsLabelKey): void {
    const row = this.person(personId);
    if (row.cell === cell) return;
    row.cell = cell;
    for (const [width, b] of [
      ['m', this.minutePeople],
      ['h', this.hourPeople],
    ] as const) {
      if (!b || !b.people.has(personId)) continue;
      const old = b.people.get(personId) ?? null;
      if (old === cell) continue;
      b.people.set(personId, cell);
      const d = this.bucket(width, b.startMs);
      if (old !== null) this.inc(d.incr, `c:${old}`, -1);
      this.inc(d.incr, `c:${cell}`, 1);
    }
  }
}

/**
 * The owner's snapshot with what the aggregates hold over all owners: unique people (trailing windows from the seen
 * set), the soft table with its intervals, people with and without an estimate, gender labels, mean dwell.
 * `peopleNow` stays the owner's (one owner at a time).
 */
function mergedSnapshot(
  snapshot: DemographicsSnapshot,
  fields: ReadonlyMap<string, number>,
  windows: readonly [number, number, number],
): DemographicsSnapshot {
  const cells = emptyAgeGender();
  const variance = emptyAgeGender();
  for (const k of DEMOGRAPHICS_KEYS) {
    cells[k] = fields.get(`s:${k}`) ?? 0;
    variance[k] = fields.get(`v:${k}`) ?? 0;
  }
  const unique = fields.get('unique') ?? 0;
  const estimated = fields.get('estimated') ?? 0;
  const labels = Object.fromEntries(GENDER_LABELS.map((g) => [g, Math.max(0, fields.get(`l:${g}`) ?? 0)])) as Record<GenderLabel, number>;
  const departures = fields.get('departures') ?? 0;
  return {
    ...snapshot,
    unique: { lastMinute: windows[0], lastHour: windows[1], lastDay: windows[2], sinceStart: unique },
    byAgeGender: roundedCells(cells),
    byAgeGenderInterval: cellIntervals(cells, variance, estimated),
    estimated,
    withoutEstimate: Math.max(0, unique - estimated),
    byGenderLabel: { female: labels.female, male: labels.male, unknown: labels.unknown },
    averageDwellMs: departures > 0 ? (fields.get('dwellSumMs') ?? 0) / departures : 0,
  };
}

/** The camera state in Redis: reporters for the owner, reads for the API. */
export class CameraStateStore {
  constructor(readonly options: CameraStateOptions) {}

  /** A reporter for one camera (one per camera per ingest process). */
  reporter(cameraId: string): CameraReporter {
    return new CameraReporter(this, cameraId);
  }

  /** What the previous owner left: its token, its open people and the highest person id handed out. */
  async previousOwner(cameraId: string): Promise<PreviousOwner> {
    const { redis, keys } = this.options;
    const [live, maxId] = await Promise.all([redis.get(keys.cameraLive(cameraId)), redis.hget(keys.cameraAgg(cameraId), 'maxPersonId')]);
    const rec = parseLive(live);
    return { token: rec?.token ?? null, open: rec?.open ?? [], maxPersonId: Number(maxId ?? 0) };
  }

  /** The status the owner last stored (counters summed over owners), or null when no owner writes it. */
  async storedStatus(cameraId: string): Promise<CameraStatus | null> {
    const text = await this.options.redis.get(this.options.keys.cameraStatus(cameraId));
    if (text === null) return null;
    const r = cameraStatusSchema.safeParse(safeJson(text));
    return r.success ? r.data : null;
  }

  /** The live record (merged snapshot, token, open people), or null. */
  async live(cameraId: string): Promise<LiveRecord | null> {
    return parseLive(await this.options.redis.get(this.options.keys.cameraLive(cameraId)));
  }

  /** Counters summed over owners (for a camera no one runs now). */
  async counters(cameraId: string): Promise<Record<CounterName, number>> {
    const vals = await this.options.redis.hmget(this.options.keys.cameraAgg(cameraId), ...COUNTERS.map((k) => `t:${k}`));
    return Object.fromEntries(COUNTERS.map((k, i) => [k, Number(vals[i] ?? 0)])) as Record<CounterName, number>;
  }

  /** The per-minute buckets of the last hour and per-hour buckets of the last day ending at `nowMs`. */
  async history(cameraId: string, nowMs: number): Promise<{ minutes: HistoryBucket[]; hours: HistoryBucket[] }> {
    const { redis, keys } = this.options;
    const spans: { width: 'm' | 'h'; startMs: number; endMs: number }[] = [];
    const lastMinute = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    const lastHour = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
    for (let i = MINUTE_BUCKETS - 1; i >= 0; i--)
      spans.push({ width: 'm', startMs: lastMinute - i * MINUTE_MS, endMs: lastMinute - i * MINUTE_MS + MINUTE_MS });
    for (let i = HOUR_BUCKETS - 1; i >= 0; i--)
      spans.push({ width: 'h', startMs: lastHour - i * HOUR_MS, endMs: lastHour - i * HOUR_MS + HOUR_MS });
    const p = redis.pipeline();
    for (const s of spans) p.hgetall(keys.cameraBucket(cameraId, s.width, s.startMs));
    const res = (await p.exec()) ?? [];
    const out = spans.map((s, i) => toBucket(s.startMs, s.endMs, (res[i]?.[1] ?? {}) as Record<string, string>));
    return { minutes: out.slice(0, MINUTE_BUCKETS), hours: out.slice(MINUTE_BUCKETS) };
  }
}

function toBucket(startMs: number, endMs: number, h: Record<string, string>): HistoryBucket {
  const n = (f: string): number => Number(h[f] ?? 0);
  const byAgeGender: Partial<Record<DemographicsLabelKey, number>> = {};
  for (const k of DEMOGRAPHICS_LABEL_KEYS) if (n(`c:${k}`) > 0) byAgeGender[k] = n(`c:${k}`);
  const samples = n('peopleSamples');
  const left = n('left');
  return {
    startMs,
    endMs,
    frames: n('frames'),
    peopleNowMax: n('peopleMax'),
    peopleNowMean: samples > 0 ? Math.round((n('peopleSum') / samples) * 100) / 100 : 0,
    unique: n('unique'),
    entered: n('entered'),
    returning: n('returning'),
    left,
    averageDwellMs: left > 0 ? Math.round(n('dwellSumMs') / left) : null,
    byAgeGender,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseLive(text: string | null): LiveRecord | null {
  if (text === null) return null;
  const r = liveSchema.safeParse(safeJson(text));
  return r.success ? r.data : null;
}

/**
 * The API's reads in scale-out: the status the camera's owner stored (summed over owners; `pending` with the
 * counters so far when no ingest runs it, `disabled` for a disabled camera), the merged live snapshot and the
 * history buckets.
 */
export class RedisCameraReads implements CameraReads {
  constructor(
    private readonly store: CameraStateStore,
    private readonly registry: CameraRegistry,
    private readonly now: () => number = Date.now,
  ) {}

  async status(id: string): Promise<CameraStatus | null> {
    const record = await this.registry.get(id);
    if (!record) return null;
    const stored = await this.store.storedStatus(id);
    if (stored) return stored;
    const c = await this.store.counters(id);
    const state: CameraState = record.enabled ? 'pending' : 'disabled';
    return withCounters(
      {
        cameraId: id,
        state,
        enabled: record.enabled,
        sinceMs: this.now(),
        fpsIn: 0,
        fpsOut: 0,
        frames: { read: 0, sampled: 0 },
        framesDropped: { queueFull: 0, partial: 0, inFlight: 0, redisError: 0, lost: 0 },
        restarts: 0,
        watchdogRestarts: 0,
        retries: 0,
        lastError: null,
        width: null,
        height: null,
        lastFrameAtMs: null,
      },
      c,
    );
  }

  async demographics(id: string): Promise<CameraDemographics | null> {
    const status = await this.status(id);
    if (!status) return null;
    const atMs = this.now();
    const [live, history] = await Promise.all([this.store.live(id), this.store.history(id, atMs)]);
    return { cameraId: id, atMs, state: status.state, live: live?.snapshot ?? null, ...history };
  }
}
