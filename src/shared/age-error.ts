/**
 * The age model's measured error distribution, and the soft age-bucket assignment built on it:
 * a person estimated at 24 years contributes to 18-24 and 25-34 in proportion to how often faces
 * estimated at 24 really are in each. Pure; the model is fitted by `npm run fit:trust`
 * (bench/fit-trust.ts, cross-validated on utkface-dev) and shipped in src/infer/heads/trust.json.
 */
import { AGE_BUCKETS, ageBucketOf, type AgeBucket } from './messages.ts';

/**
 * True age minus estimated age, by estimated age: at each knot (an estimated age, years) the
 * quantiles of the residual (years) at the probability levels `levels`. Between knots the quantiles
 * are interpolated linearly; beyond the first/last knot the nearest knot's quantiles apply.
 */
export interface AgeErrorModel {
  /** Estimated ages of the knots, years, strictly increasing (at least one). */
  readonly knotsYears: readonly number[];
  /** Probability levels of the quantiles, strictly increasing within 0..1, the first 0 and the last 1. */
  readonly levels: readonly number[];
  /** Per knot, the residual (true - estimated) quantiles at `levels`, years, non-decreasing. */
  readonly residualQuantilesYears: readonly (readonly number[])[];
}

/** Throws naming the field when the model is malformed. */
export function validateAgeErrorModel(m: AgeErrorModel, source = 'age error model'): AgeErrorModel {
  const k = m.knotsYears;
  if (!Array.isArray(k) || k.length < 1 || !k.every((v, i) => Number.isFinite(v) && (i === 0 || v > (k[i - 1] as number)))) throw new Error(`${source}: knotsYears must be strictly increasing finite numbers (got ${JSON.stringify(k)})`);
  const l = m.levels;
  if (!Array.isArray(l) || l.length < 2 || l[0] !== 0 || l[l.length - 1] !== 1 || !l.every((v, i) => i === 0 || v > (l[i - 1] as number))) throw new Error(`${source}: levels must increase strictly from 0 to 1 (got ${JSON.stringify(l)})`);
  const q = m.residualQuantilesYears;
  if (!Array.isArray(q) || q.length !== k.length) throw new Error(`${source}: residualQuantilesYears must have one row per knot (${k.length}), got ${Array.isArray(q) ? q.length : typeof q}`);
  q.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== l.length || !row.every((v, j) => Number.isFinite(v) && (j === 0 || v >= (row[j - 1] as number)))) throw new Error(`${source}: residualQuantilesYears[${i}] must be ${l.length} non-decreasing finite numbers`);
  });
  return m;
}

/** Residual quantiles at an estimated age (linear between knots, nearest knot outside). */
function quantilesAt(m: AgeErrorModel, ageYears: number): number[] {
  const k = m.knotsYears;
  const q = m.residualQuantilesYears;
  if (ageYears <= (k[0] as number)) return [...(q[0] as number[])];
  const last = k.length - 1;
  if (ageYears >= (k[last] as number)) return [...(q[last] as number[])];
  let i = 0;
  while ((k[i + 1] as number) < ageYears) i++;
  const t = (ageYears - (k[i] as number)) / ((k[i + 1] as number) - (k[i] as number));
  const a = q[i] as number[];
  const b = q[i + 1] as number[];
  return a.map((v, j) => v + t * ((b[j] as number) - v));
}

/** Lower bounds of the demographics buckets in years; true ages are whole years, so a bucket spans [lower - 0.5, next lower - 0.5). */
const BUCKET_LOWER: readonly number[] = [0, 13, 18, 25, 35, 45, 55, 65];

/**
 * How a person estimated at `ageYears` splits over the demographics age buckets (shares sum to 1).
 * Without a model the whole person goes to the estimate's own bucket (hard assignment).
 */
export function ageBucketShares(ageYears: number, model: AgeErrorModel | undefined): Record<AgeBucket, number> {
  const out = Object.fromEntries(AGE_BUCKETS.map((b) => [b, 0])) as Record<AgeBucket, number>;
  if (model === undefined || !Number.isFinite(ageYears)) {
    out[ageBucketOf(Number.isFinite(ageYears) ? ageYears : 0)] = 1;
    return out;
  }
  // The true-age CDF is piecewise linear through (ageYears + quantile, level).
  const xs = quantilesAt(model, ageYears).map((r) => ageYears + r);
  const levels = model.levels;
  const cdf = (a: number): number => {
    if (a <= (xs[0] as number)) return 0;
    if (a >= (xs[xs.length - 1] as number)) return 1;
    let j = 0;
    while ((xs[j + 1] as number) < a) j++;
    const span = (xs[j + 1] as number) - (xs[j] as number);
    const t = span > 0 ? (a - (xs[j] as number)) / span : 1;
    return (levels[j] as number) + t * ((levels[j + 1] as number) - (levels[j] as number));
  };
  let prev = 0;
  AGE_BUCKETS.forEach((b, i) => {
    const next = i + 1 < BUCKET_LOWER.length ? cdf((BUCKET_LOWER[i + 1] as number) - 0.5) : 1;
    out[b] = Math.max(0, next - prev);
    prev = next;
  });
  return out;
}

/** The `lo`..`hi` quantiles (probabilities) of the true age of a person estimated at `ageYears`, years, clamped at 0. */
export function ageInterval(ageYears: number, model: AgeErrorModel, lo = 0.1, hi = 0.9): [number, number] {
  const xs = quantilesAt(model, ageYears).map((r) => ageYears + r);
  const at = (p: number): number => {
    const l = model.levels;
    let j = 0;
    while (j + 1 < l.length - 1 && (l[j + 1] as number) < p) j++;
    const t = ((p - (l[j] as number)) / ((l[j + 1] as number) - (l[j] as number)));
    return (xs[j] as number) + Math.min(1, Math.max(0, t)) * ((xs[j + 1] as number) - (xs[j] as number));
  };
  return [Math.max(0, at(lo)), Math.max(0, at(hi))];
}
