/**
 * Per-camera demographics from person lifecycle calls: people in view, unique people in trailing
 * windows (by frame time), unique people by age bucket x gender, mean dwell of people who left.
 * Memory is bounded: per-person last-seen times older than the longest window are dropped, and the
 * table is capped at `maxPeople` (oldest sighting dropped first, counted). Pure: time comes from callers.
 */
import { AGE_BUCKETS, ageBucketOf } from '../shared/messages.ts';
import type { DemographicsKey, DemographicsSnapshot, Gender, PersonEstimate } from '../shared/messages.ts';

/** Demographics parameters. */
export interface DemographicsParams {
  /** Trailing windows, ms. Defaults 60000 / 3600000 / 86400000. */
  minuteMs: number;
  hourMs: number;
  dayMs: number;
  /** People remembered for the trailing windows at most; beyond it the oldest sighting is dropped (counted). Default 200000. */
  maxPeople: number;
}

export const DEFAULT_DEMOGRAPHICS_PARAMS: DemographicsParams = Object.freeze({
  minuteMs: 60_000,
  hourMs: 3_600_000,
  dayMs: 86_400_000,
  maxPeople: 200_000,
});

const GENDERS: readonly Gender[] = ['female', 'male'];

/** All age bucket x gender cells at 0. */
export function emptyAgeGender(): Record<DemographicsKey, number> {
  const out = {} as Record<DemographicsKey, number>;
  for (const b of AGE_BUCKETS) for (const g of GENDERS) out[`${b}/${g}`] = 0;
  return out;
}

interface PersonRow {
  lastSeenMs: number;
  /** Cell this person is counted in, once they have an estimate. */
  key: DemographicsKey | null;
}

/** Demographics of one source. */
export class Demographics {
  readonly params: Readonly<DemographicsParams>;
  private readonly inView = new Set<number>();
  private readonly people = new Map<number, PersonRow>();
  private readonly cells = emptyAgeGender();
  private sinceStart = 0;
  private dwellSumMs = 0;
  private departures = 0;
  /** People dropped from the window table because `maxPeople` was reached. */
  evicted = 0;

  constructor(readonly sourceId: string, params: Partial<DemographicsParams> = {}) {
    const p = { ...DEFAULT_DEMOGRAPHICS_PARAMS, ...params };
    for (const k of ['minuteMs', 'hourMs', 'dayMs'] as const) {
      if (!(Number.isFinite(p[k]) && p[k] > 0)) throw new Error(`demographics param ${k} must be a finite number > 0, got ${String(p[k])}`);
    }
    if (!(Number.isInteger(p.maxPeople) && p.maxPeople >= 1)) throw new Error(`demographics param maxPeople must be an integer >= 1, got ${String(p.maxPeople)}`);
    this.params = Object.freeze(p);
  }

  /** A confirmed person came into view; `returning` people were already counted since start. */
  enter(personId: number, atMs: number, returning: boolean): void {
    this.inView.add(personId);
    if (!returning || !this.people.has(personId)) {
      // A returning person dropped from the table (older than a day) was still counted since start.
      if (!returning) this.sinceStart++;
      this.people.delete(personId);
      this.people.set(personId, { lastSeenMs: atMs, key: null });
      this.evictIfFull();
    }
    this.seen(personId, atMs);
  }

  /** The person is still in view at `atMs`. */
  seen(personId: number, atMs: number): void {
    const row = this.people.get(personId);
    if (row !== undefined) row.lastSeenMs = Math.max(row.lastSeenMs, atMs);
  }

  /** The person's latest fused estimate; moves them between cells when it changes. */
  estimate(personId: number, estimate: PersonEstimate): void {
    const row = this.people.get(personId);
    if (row === undefined) return;
    const key: DemographicsKey = `${ageBucketOf(estimate.ageYears)}/${estimate.gender}`;
    if (row.key === key) return;
    if (row.key !== null) this.cells[row.key]--;
    this.cells[key]++;
    row.key = key;
  }

  /** The person left after `dwellMs` in view (one appearance). */
  leave(personId: number, atMs: number, dwellMs: number): void {
    this.inView.delete(personId);
    this.seen(personId, atMs);
    this.dwellSumMs += dwellMs;
    this.departures++;
  }

  /** Forgets people last seen more than a day before `atMs` (their cell counts stay). */
  prune(atMs: number): void {
    for (const [id, row] of this.people) {
      if (!this.inView.has(id) && atMs - row.lastSeenMs > this.params.dayMs) this.people.delete(id);
    }
  }

  snapshot(atMs: number): DemographicsSnapshot {
    this.prune(atMs);
    let lastMinute = 0;
    let lastHour = 0;
    let lastDay = 0;
    for (const [id, row] of this.people) {
      const age = this.inView.has(id) ? 0 : atMs - row.lastSeenMs;
      if (age <= this.params.minuteMs) lastMinute++;
      if (age <= this.params.hourMs) lastHour++;
      if (age <= this.params.dayMs) lastDay++;
    }
    return {
      type: 'demographics',
      sourceId: this.sourceId,
      atMs,
      peopleNow: this.inView.size,
      unique: { lastMinute, lastHour, lastDay, sinceStart: this.sinceStart },
      byAgeGender: { ...this.cells },
      averageDwellMs: this.departures > 0 ? this.dwellSumMs / this.departures : 0,
    };
  }

  private evictIfFull(): void {
    if (this.people.size <= this.params.maxPeople) return;
    let oldest: number | null = null;
    let oldestMs = Infinity;
    for (const [id, row] of this.people) {
      if (!this.inView.has(id) && row.lastSeenMs < oldestMs) {
        oldest = id;
        oldestMs = row.lastSeenMs;
      }
    }
    if (oldest !== null) {
      this.people.delete(oldest);
      this.evicted++;
    }
  }
}
