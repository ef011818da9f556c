/**
 * Per-camera demographics from person lifecycle calls: people in view, unique people in trailing
 * windows (by frame time), unique people by age bucket x gender, mean dwell of people who left.
 * The age x gender table counts each person by their fused distribution (soft counts): their
 * calibrated P(male) splits them between the genders and the age model's measured error
 * (`ageError`) splits them over age buckets; each cell carries a 90% interval. Per-person gender
 * labels (with `unknown`) are counted separately.
 * Memory is bounded: per-person last-seen times older than the longest window are dropped, and the
 * table is capped at `maxPeople` (oldest sighting dropped first, counted). Pure: time comes from callers.
 */
import { ageBucketShares, validateAgeErrorModel, type AgeErrorModel } from '../shared/age-error.ts';
import { AGE_BUCKETS } from '../shared/messages.ts';
import type { CountInterval, DemographicsKey, DemographicsSnapshot, Gender, GenderLabel, PersonEstimate } from '../shared/messages.ts';

/** Demographics parameters. */
export interface DemographicsParams {
  /** Trailing windows, ms. Defaults 60000 / 3600000 / 86400000. */
  minuteMs: number;
  hourMs: number;
  dayMs: number;
  /** People remembered for the trailing windows at most; beyond it the oldest sighting is dropped (counted). Default 200000. */
  maxPeople: number;
  /** The age model's measured error, for the soft age-bucket split; without it each person counts in their estimate's bucket. Default none. */
  ageError: AgeErrorModel | undefined;
}

export const DEFAULT_DEMOGRAPHICS_PARAMS: DemographicsParams = Object.freeze({
  minuteMs: 60_000,
  hourMs: 3_600_000,
  dayMs: 86_400_000,
  maxPeople: 200_000,
  ageError: undefined,
});

/** z of a two-sided 90% normal interval. */
const Z90 = 1.6448536269514722;

const GENDERS: readonly Gender[] = ['female', 'male'];

/** All age bucket x gender cells at 0. */
export function emptyAgeGender(): Record<DemographicsKey, number> {
  const out = {} as Record<DemographicsKey, number>;
  for (const b of AGE_BUCKETS) for (const g of GENDERS) out[`${b}/${g}`] = 0;
  return out;
}

interface PersonRow {
  lastSeenMs: number;
  /** This person's share of each cell (sums to 1) once they have an estimate. */
  shares: Record<DemographicsKey, number> | null;
  label: GenderLabel | null;
}

/** A person's share of each age bucket x gender cell, from their estimate. */
export function cellShares(estimate: Pick<PersonEstimate, 'ageYears' | 'maleProbability'>, ageError: AgeErrorModel | undefined): Record<DemographicsKey, number> {
  const ages = ageBucketShares(estimate.ageYears, ageError);
  const pm = Math.min(1, Math.max(0, estimate.maleProbability));
  const out = emptyAgeGender();
  for (const b of AGE_BUCKETS) {
    out[`${b}/male`] = ages[b] * pm;
    out[`${b}/female`] = ages[b] * (1 - pm);
  }
  return out;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** A person's share of each cell as a Bernoulli variance, share x (1 - share): summed over people, the variance of a cell count. */
export function shareVariance(share: number): number {
  return share * (1 - share);
}

/** The soft counts as reported: rounded to 0.001, never below 0 (sums of float deltas may drift a hair under). */
export function roundedCells(cells: Readonly<Record<DemographicsKey, number>>): Record<DemographicsKey, number> {
  return Object.fromEntries(Object.entries(cells).map(([k, v]) => [k, round3(Math.max(0, v))])) as Record<DemographicsKey, number>;
}

/**
 * The 90% interval of each cell from its soft count and summed Bernoulli variance (normal approximation,
 * clamped to [0, estimated]), rounded to 0.001 people.
 */
export function cellIntervals(cells: Readonly<Record<DemographicsKey, number>>, variance: Readonly<Record<DemographicsKey, number>>, estimated: number): Record<DemographicsKey, CountInterval> {
  const out = {} as Record<DemographicsKey, CountInterval>;
  for (const k of Object.keys(cells) as DemographicsKey[]) {
    const mean = Math.max(0, cells[k]);
    const sd = Math.sqrt(Math.max(0, variance[k]));
    out[k] = [round3(Math.max(0, mean - Z90 * sd)), round3(Math.min(estimated, mean + Z90 * sd))];
  }
  return out;
}

/** Demographics of one source. */
export class Demographics {
  readonly params: Readonly<DemographicsParams>;
  private readonly ageError: AgeErrorModel | undefined;
  private readonly inView = new Set<number>();
  private readonly people = new Map<number, PersonRow>();
  private readonly cells = emptyAgeGender();
  /** Per cell, the sum of share x (1 - share) over people: the variance of the cell count. */
  private readonly cellVariance = emptyAgeGender();
  private readonly labels = { female: 0, male: 0, unknown: 0 };
  private estimated = 0;
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
    if (p.ageError !== undefined) validateAgeErrorModel(p.ageError, 'demographics param ageError');
    this.params = Object.freeze(p);
    this.ageError = p.ageError;
  }

  /** A confirmed person came into view; `returning` people were already counted since start. */
  enter(personId: number, atMs: number, returning: boolean): void {
    this.inView.add(personId);
    if (!returning || !this.people.has(personId)) {
      // A returning person dropped from the table (older than a day) was still counted since start.
      if (!returning) this.sinceStart++;
      this.people.delete(personId);
      this.people.set(personId, { lastSeenMs: atMs, shares: null, label: null });
      this.evictIfFull();
    }
    this.seen(personId, atMs);
  }

  /** The person is still in view at `atMs`. */
  seen(personId: number, atMs: number): void {
    const row = this.people.get(personId);
    if (row !== undefined) row.lastSeenMs = Math.max(row.lastSeenMs, atMs);
  }

  /** The person's latest fused estimate; moves their shares between cells and their label between counts when it changes. */
  estimate(personId: number, estimate: PersonEstimate): void {
    const row = this.people.get(personId);
    if (row === undefined) return;
    const shares = cellShares(estimate, this.ageError);
    if (row.shares === null) this.estimated++;
    for (const k of Object.keys(shares) as DemographicsKey[]) {
      const before = row.shares?.[k] ?? 0;
      const after = shares[k];
      this.cells[k] += after - before;
      this.cellVariance[k] += shareVariance(after) - shareVariance(before);
    }
    row.shares = shares;
    if (row.label !== null) this.labels[row.label]--;
    this.labels[estimate.gender]++;
    row.label = estimate.gender;
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
      byAgeGender: roundedCells(this.cells),
      byAgeGenderInterval: cellIntervals(this.cells, this.cellVariance, this.estimated),
      estimated: this.estimated,
      withoutEstimate: Math.max(0, this.sinceStart - this.estimated),
      byGenderLabel: { ...this.labels },
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
