/**
 * A camera's demographics history: per-minute buckets for the last hour and per-hour buckets for the last day,
 * aggregated from what the tracker reports (people seen per frame, entries, departures, people in view).
 * Only aggregates leave it: counts per bucket, never person ids. Pure: time comes from the caller (frame
 * capture times, ms since the Unix epoch), no I/O. Memory is bounded: at most `minuteBuckets + hourBuckets`
 * buckets, each remembering at most `maxPeoplePerBucket` person keys (beyond that, new people are still counted
 * but no longer de-duplicated, and the overflow is counted).
 */
import type { HistoryBucket } from '../shared/api.ts';
import type { DemographicsLabelKey } from '../shared/messages.ts';

/** History parameters. */
export interface HistoryParams {
  /** Per-minute buckets kept (the last hour). Default 60. */
  readonly minuteBuckets: number;
  /** Per-hour buckets kept (the last day). Default 24. */
  readonly hourBuckets: number;
  /** Distinct people remembered per bucket. Default 50000. */
  readonly maxPeoplePerBucket: number;
}

export const DEFAULT_HISTORY_PARAMS: HistoryParams = Object.freeze({ minuteBuckets: 60, hourBuckets: 24, maxPeoplePerBucket: 50_000 });

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** A person in view in one frame: a key unique within the camera (over restarts), and their cell once estimated. */
export interface SeenPerson {
  readonly key: string;
  readonly cell: DemographicsLabelKey | null;
}

interface Bucket {
  readonly startMs: number;
  frames: number;
  peopleMax: number;
  peopleSum: number;
  peopleSamples: number;
  /** Person key -> latest cell. */
  readonly people: Map<string, DemographicsLabelKey | null>;
  overflow: number;
  entered: number;
  returning: number;
  left: number;
  dwellSumMs: number;
}

/** Buckets of one width; the newest `count` kept. */
class BucketRing {
  private readonly buckets = new Map<number, Bucket>();
  private newestStartMs = -Infinity;

  constructor(
    private readonly widthMs: number,
    private readonly count: number,
    private readonly maxPeople: number,
  ) {}

  /** Overflowed person keys, over all buckets ever. */
  overflow = 0;

  /** The bucket holding `atMs`; null when it is older than the ring keeps. */
  at(atMs: number): Bucket | null {
    const startMs = Math.floor(atMs / this.widthMs) * this.widthMs;
    if (startMs <= this.newestStartMs - this.count * this.widthMs) return null;
    let b = this.buckets.get(startMs);
    if (b === undefined) {
      b = { startMs, frames: 0, peopleMax: 0, peopleSum: 0, peopleSamples: 0, people: new Map(), overflow: 0, entered: 0, returning: 0, left: 0, dwellSumMs: 0 };
      this.buckets.set(startMs, b);
      if (startMs > this.newestStartMs) {
        this.newestStartMs = startMs;
        for (const key of this.buckets.keys()) if (key <= startMs - this.count * this.widthMs) this.buckets.delete(key);
      }
    }
    return b;
  }

  see(b: Bucket, person: SeenPerson): void {
    if (b.people.has(person.key) || b.people.size < this.maxPeople) b.people.set(person.key, person.cell);
    else {
      b.overflow++;
      this.overflow++;
    }
  }

  /** The `count` buckets ending with the one holding `nowMs`, oldest first; missing ones are empty. */
  read(nowMs: number): HistoryBucket[] {
    const lastStart = Math.floor(nowMs / this.widthMs) * this.widthMs;
    const out: HistoryBucket[] = [];
    for (let i = this.count - 1; i >= 0; i--) {
      const startMs = lastStart - i * this.widthMs;
      out.push(summarise(this.buckets.get(startMs), startMs, this.widthMs));
    }
    return out;
  }
}

function summarise(b: Bucket | undefined, startMs: number, widthMs: number): HistoryBucket {
  if (b === undefined) return { startMs, endMs: startMs + widthMs, frames: 0, peopleNowMax: 0, peopleNowMean: 0, unique: 0, entered: 0, returning: 0, left: 0, averageDwellMs: null, byAgeGender: {} };
  const byAgeGender: Partial<Record<DemographicsLabelKey, number>> = {};
  for (const cell of b.people.values()) if (cell !== null) byAgeGender[cell] = (byAgeGender[cell] ?? 0) + 1;
  return {
    startMs,
    endMs: startMs + widthMs,
    frames: b.frames,
    peopleNowMax: b.peopleMax,
    peopleNowMean: b.peopleSamples > 0 ? Math.round((b.peopleSum / b.peopleSamples) * 100) / 100 : 0,
    unique: b.people.size + b.overflow,
    entered: b.entered,
    returning: b.returning,
    left: b.left,
    averageDwellMs: b.left > 0 ? Math.round(b.dwellSumMs / b.left) : null,
    byAgeGender,
  };
}

/** Per-minute and per-hour demographics of one camera. */
export class DemographicsHistory {
  readonly params: Readonly<HistoryParams>;
  private readonly minutes: BucketRing;
  private readonly hours: BucketRing;

  constructor(params: Partial<HistoryParams> = {}) {
    const p = { ...DEFAULT_HISTORY_PARAMS, ...params };
    for (const k of ['minuteBuckets', 'hourBuckets', 'maxPeoplePerBucket'] as const) {
      if (!(Number.isInteger(p[k]) && p[k] >= 1)) throw new Error(`history param ${k} must be an integer >= 1, got ${String(p[k])}`);
    }
    this.params = Object.freeze(p);
    this.minutes = new BucketRing(MINUTE_MS, p.minuteBuckets, p.maxPeoplePerBucket);
    this.hours = new BucketRing(HOUR_MS, p.hourBuckets, p.maxPeoplePerBucket);
  }

  /** One analysed frame at `atMs` and the people matched in it (their latest cell wins within a bucket). */
  frame(atMs: number, people: readonly SeenPerson[]): void {
    for (const ring of [this.minutes, this.hours]) {
      const b = ring.at(atMs);
      if (b === null) continue;
      b.frames++;
      for (const person of people) ring.see(b, person);
    }
  }

  /** People in view at `atMs` (sampled, e.g. once a second). */
  peopleNow(atMs: number, count: number): void {
    for (const ring of [this.minutes, this.hours]) {
      const b = ring.at(atMs);
      if (b === null) continue;
      b.peopleMax = Math.max(b.peopleMax, count);
      b.peopleSum += count;
      b.peopleSamples++;
    }
  }

  /** A person came into view. */
  entered(atMs: number, returning: boolean): void {
    for (const ring of [this.minutes, this.hours]) {
      const b = ring.at(atMs);
      if (b === null) continue;
      b.entered++;
      if (returning) b.returning++;
    }
  }

  /** A person left after `dwellMs` in view. */
  left(atMs: number, dwellMs: number): void {
    for (const ring of [this.minutes, this.hours]) {
      const b = ring.at(atMs);
      if (b === null) continue;
      b.left++;
      b.dwellSumMs += dwellMs;
    }
  }

  /** The last hour by minute and the last day by hour, ending with the buckets holding `nowMs`; oldest first. */
  read(nowMs: number): { minutes: HistoryBucket[]; hours: HistoryBucket[] } {
    return { minutes: this.minutes.read(nowMs), hours: this.hours.read(nowMs) };
  }

  /** Person keys that could not be de-duplicated because a bucket was full (minute and hour buckets). */
  get overflow(): number {
    return this.minutes.overflow + this.hours.overflow;
  }
}
