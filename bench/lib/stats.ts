/**
 * Benchmark math: seeded stratified k-fold, age/gender error tables, percentiles, and the
 * cross-validated fitting loop. Pure functions, no I/O (tested in test/bench/stats.test.ts).
 */

/** The 9 age bins of utkface-dev (inclusive lower bounds; the last bin is open). */
export const AGE_BINS = ['0-2', '3-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70+'] as const;
export type AgeBin = (typeof AGE_BINS)[number];
const BIN_LOWER = [0, 3, 10, 20, 30, 40, 50, 60, 70] as const;

/** Maps a true age in years to its utkface-dev bin. */
export function ageBinOf(ageYears: number): AgeBin {
  if (!Number.isFinite(ageYears) || ageYears < 0) throw new RangeError(`ageYears must be a finite number >= 0, got ${ageYears}`);
  let i = BIN_LOWER.length - 1;
  while (i > 0 && ageYears < (BIN_LOWER[i] as number)) i--;
  return AGE_BINS[i] as AgeBin;
}

/** mulberry32: a small seeded PRNG so folds are identical across runs and machines. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Stratified k-fold: returns the fold (0..k-1) of each sample. Within every stratum the samples are
 * shuffled with `seed` and dealt round-robin, so each fold gets floor or ceil of stratum/k of each stratum.
 */
export function stratifiedKFold(strata: readonly string[], k: number, seed: number): number[] {
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`k must be an integer >= 2, got ${k}`);
  const rand = seededRandom(seed);
  const groups = new Map<string, number[]>();
  strata.forEach((s, i) => {
    const g = groups.get(s);
    if (g) g.push(i);
    else groups.set(s, [i]);
  });
  const fold = new Array<number>(strata.length).fill(0);
  // Rotating the start per stratum keeps fold sizes balanced when strata are not multiples of k.
  let offset = 0;
  for (const key of [...groups.keys()].sort()) {
    const idx = groups.get(key) as number[];
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
    }
    idx.forEach((sample, n) => (fold[sample] = (n + offset) % k));
    offset = (offset + idx.length) % k;
  }
  return fold;
}

/** One scored face: truth and prediction. */
export interface Scored {
  readonly trueAge: number;
  readonly trueMale: boolean;
  /** Predicted age in years; NaN when the face was not found (excluded from age/gender, counted as missed). */
  readonly predAge: number;
  readonly predMale: boolean;
}

/** Error summary for one group of faces. */
export interface ErrorRow {
  readonly n: number;
  /** Mean absolute age error, years. */
  readonly maeYears: number;
  /** Mean signed error (predicted - true), years. */
  readonly biasYears: number;
  /** Fraction of correct genders, 0..1. */
  readonly genderAccuracy: number;
}

/** Per-bin and overall errors; faces with NaN predictions are skipped. */
export interface ErrorTable {
  readonly overall: ErrorRow;
  readonly bins: Readonly<Record<AgeBin, ErrorRow>>;
}

function row(items: readonly Scored[]): ErrorRow {
  let abs = 0;
  let signed = 0;
  let correct = 0;
  for (const s of items) {
    abs += Math.abs(s.predAge - s.trueAge);
    signed += s.predAge - s.trueAge;
    if (s.predMale === s.trueMale) correct++;
  }
  const n = items.length;
  return n === 0 ? { n, maeYears: NaN, biasYears: NaN, genderAccuracy: NaN } : { n, maeYears: abs / n, biasYears: signed / n, genderAccuracy: correct / n };
}

/** Builds the overall and per-age-bin error table. */
export function errorTable(items: readonly Scored[]): ErrorTable {
  const valid = items.filter((s) => Number.isFinite(s.predAge));
  const bins = Object.fromEntries(AGE_BINS.map((b) => [b, row(valid.filter((s) => ageBinOf(s.trueAge) === b))])) as Record<AgeBin, ErrorRow>;
  return { overall: row(valid), bins };
}

/** Linear-interpolated percentile (p in 0..100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * Out-of-fold predictions: for each fold f, fits on the samples outside f and predicts the samples in f.
 * No sample is ever predicted by a model that saw it.
 */
export function crossValidate<M, R>(n: number, folds: readonly number[], fit: (train: number[]) => M, predict: (model: M, i: number) => R): R[] {
  if (folds.length !== n) throw new RangeError(`folds has ${folds.length} entries, expected ${n}`);
  const k = Math.max(...folds) + 1;
  const out = new Array<R>(n);
  for (let f = 0; f < k; f++) {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < n; i++) (folds[i] === f ? test : train).push(i);
    const model = fit(train);
    for (const i of test) out[i] = predict(model, i);
  }
  return out;
}

/** Logistic regression by Newton's method with a small L2 penalty (not on the bias). Returns weights, bias last. */
export function fitLogistic(x: readonly (readonly number[])[], y: readonly boolean[], l2 = 1e-3, iterations = 50): number[] {
  const d = (x[0]?.length ?? 0) + 1;
  const w = new Array<number>(d).fill(0);
  for (let it = 0; it < iterations; it++) {
    const grad = new Array<number>(d).fill(0);
    const hess = Array.from({ length: d }, () => new Array<number>(d).fill(0));
    x.forEach((xi, i) => {
      const f = [...xi, 1];
      const p = sigmoid(f.reduce((s, v, j) => s + v * (w[j] as number), 0));
      const r = p - (y[i] ? 1 : 0);
      const wt = Math.max(p * (1 - p), 1e-9);
      for (let a = 0; a < d; a++) {
        grad[a] = (grad[a] as number) + r * (f[a] as number);
        const ha = hess[a] as number[];
        for (let b = 0; b < d; b++) ha[b] = (ha[b] as number) + wt * (f[a] as number) * (f[b] as number);
      }
    });
    for (let a = 0; a < d - 1; a++) {
      grad[a] = (grad[a] as number) + l2 * x.length * (w[a] as number);
      (hess[a] as number[])[a] = ((hess[a] as number[])[a] as number) + l2 * x.length;
    }
    const step = solve(hess, grad);
    let maxStep = 0;
    for (let a = 0; a < d; a++) {
      w[a] = (w[a] as number) - (step[a] as number);
      maxStep = Math.max(maxStep, Math.abs(step[a] as number));
    }
    if (maxStep < 1e-8) break;
  }
  return w;
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** logit clipped to +-10 so a saturated probability does not dominate a fusion. */
export function logit(p: number): number {
  const q = Math.min(1 - 1e-4, Math.max(1e-4, p));
  return Math.log(q / (1 - q));
}

/** Gaussian elimination with partial pivoting for the small Newton systems. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((r, i) => [...r, b[i] as number]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs((m[r] as number[])[c] as number) > Math.abs((m[p] as number[])[c] as number)) p = r;
    [m[c], m[p]] = [m[p] as number[], m[c] as number[]];
    const pivot = (m[c] as number[])[c] as number;
    if (Math.abs(pivot) < 1e-12) continue;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = ((m[r] as number[])[c] as number) / pivot;
      for (let k = c; k <= n; k++) (m[r] as number[])[k] = ((m[r] as number[])[k] as number) - f * ((m[c] as number[])[k] as number);
    }
  }
  return m.map((r, i) => {
    const pv = r[i] as number;
    return Math.abs(pv) < 1e-12 ? 0 : (r[n] as number) / pv;
  });
}
