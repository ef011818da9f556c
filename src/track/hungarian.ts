/**
 * Optimal rectangular assignment (Hungarian / Kuhn-Munkres, shortest augmenting path, O(n^2 m)).
 *
 * Non-finite costs (NaN, +/-Infinity) mark forbidden pairs. Like py-motmetrics' `add_expensive_edges`,
 * forbidden pairs get a cost so large that the solution first maximises the number of allowed pairs and
 * then minimises their total cost; forbidden pairs are then dropped from the result.
 */

/** One assigned pair: `row` indexes the cost matrix rows, `col` its columns. */
export interface Assignment {
  readonly row: number;
  readonly col: number;
}

/**
 * Minimum-cost assignment on `cost` (rows x cols, rows may differ from cols). Returns allowed pairs
 * sorted by row. An empty matrix (or rows of length 0) gives no pairs.
 */
export function linearSumAssignment(cost: readonly (readonly number[])[]): Assignment[] {
  const rows = cost.length;
  const cols = rows > 0 ? (cost[0]?.length ?? 0) : 0;
  if (rows === 0 || cols === 0) return [];
  let maxAbs = 0;
  let anyValid = false;
  for (let r = 0; r < rows; r++) {
    const row = cost[r];
    if (row === undefined || row.length !== cols) throw new Error(`linearSumAssignment: cost row ${r} has ${row?.length ?? 0} columns, expected ${cols}`);
    for (const c of row) {
      if (Number.isFinite(c)) {
        anyValid = true;
        maxAbs = Math.max(maxAbs, Math.abs(c));
      }
    }
  }
  if (!anyValid) return [];
  // (2 r c + 1) with c = max|cost| + 1: taking one forbidden pair is always worse than any solution with one more allowed pair.
  const large = 2 * Math.min(rows, cols) * (maxAbs + 1) + 1;
  const transpose = rows > cols;
  const n = transpose ? cols : rows;
  const m = transpose ? rows : cols;
  const a = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const c = transpose ? (cost[j] as readonly number[])[i] as number : (cost[i] as readonly number[])[j] as number;
      a[i * m + j] = Number.isFinite(c) ? c : large;
    }
  }
  const match = solve(a, n, m);
  const out: Assignment[] = [];
  for (let i = 0; i < n; i++) {
    const j = match[i] as number;
    if (j < 0) continue;
    const row = transpose ? j : i;
    const col = transpose ? i : j;
    if (Number.isFinite((cost[row] as readonly number[])[col])) out.push({ row, col });
  }
  out.sort((p, q) => p.row - q.row);
  return out;
}

/** e-maxx formulation with potentials; requires n <= m. Returns the column of each row. */
function solve(a: Float64Array, n: number, m: number): Int32Array {
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: 1-based row matched to column j (0 = none)
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0] as number;
      let delta = Infinity;
      let j1 = 0;
      const base = (i0 - 1) * m;
      const ui0 = u[i0] as number;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = (a[base + j - 1] as number) - ui0 - (v[j] as number);
        if (cur < (minv[j] as number)) {
          minv[j] = cur;
          way[j] = j0;
        }
        if ((minv[j] as number) < delta) {
          delta = minv[j] as number;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          const pj = p[j] as number;
          u[pj] = (u[pj] as number) + delta;
          v[j] = (v[j] as number) - delta;
        } else {
          minv[j] = (minv[j] as number) - delta;
        }
      }
      j0 = j1;
    } while ((p[j0] as number) !== 0);
    do {
      const j1 = way[j0] as number;
      p[j0] = p[j1] as number;
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Int32Array(n).fill(-1);
  for (let j = 1; j <= m; j++) {
    const r = p[j] as number;
    if (r > 0) rowToCol[r - 1] = j - 1;
  }
  return rowToCol;
}
