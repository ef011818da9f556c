/**
 * Fitting the age calibration that src/infer/calibration.ts applies: equal-count bins of the raw
 * prediction, the median true age per bin (median, because MAE is the target), then pool-adjacent-
 * violators so the map is monotone. Knots are (median raw, fitted true) per pooled block.
 */

/** Fits monotone knots [raw, calibrated] from raw predictions and true ages. `bins` equal-count groups (default 16). */
export function fitAgeCalibration(raw: readonly number[], truth: readonly number[], bins = 16): [number, number][] {
  if (raw.length !== truth.length) throw new RangeError(`raw has ${raw.length} values, truth ${truth.length}`);
  if (raw.length < 2 * bins) throw new RangeError(`need at least ${2 * bins} samples for ${bins} bins, got ${raw.length}`);
  const order = raw.map((_, i) => i).sort((a, b) => (raw[a] as number) - (raw[b] as number));
  const blocks: { x: number; y: number; w: number }[] = [];
  for (let b = 0; b < bins; b++) {
    const idx = order.slice(Math.floor((b * order.length) / bins), Math.floor(((b + 1) * order.length) / bins));
    blocks.push({ x: medianOf(idx.map((i) => raw[i] as number)), y: medianOf(idx.map((i) => truth[i] as number)), w: idx.length });
  }
  // Pool adjacent violators: merge neighbours until y is non-decreasing (weighted means of x and y).
  const pooled: { x: number; y: number; w: number }[] = [];
  for (const blk of blocks) {
    let cur = { ...blk };
    while (pooled.length > 0 && (pooled[pooled.length - 1] as { y: number }).y > cur.y) {
      const prev = pooled.pop() as { x: number; y: number; w: number };
      const w = prev.w + cur.w;
      cur = { x: (prev.x * prev.w + cur.x * cur.w) / w, y: (prev.y * prev.w + cur.y * cur.w) / w, w };
    }
    pooled.push(cur);
  }
  // Ties in x (many equal raw ages) would make a vertical segment: keep the first of each x.
  const knots: [number, number][] = [];
  for (const p of pooled) {
    const last = knots[knots.length - 1];
    if (last && p.x <= last[0]) continue;
    knots.push([round(p.x), round(p.y)]);
  }
  if (knots.length < 2) {
    const only = knots[0] ?? [0, 0];
    knots.push([only[0] + 1, only[1] + 1]);
  }
  return knots;
}

function medianOf(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
