import { describe, expect, it } from 'vitest';
import { linearSumAssignment } from '../../src/track/hungarian.ts';

/** Deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Best (pairs, cost) over all injective row -> column maps: most allowed pairs first, then least cost. */
function bruteForce(cost: number[][]): { pairs: number; total: number } {
  const rows = cost.length;
  const cols = cost[0]?.length ?? 0;
  let best = { pairs: 0, total: 0 };
  const used = new Array<boolean>(cols).fill(false);
  const visit = (r: number, pairs: number, total: number): void => {
    if (r === rows) {
      if (pairs > best.pairs || (pairs === best.pairs && total < best.total - 1e-12)) best = { pairs, total };
      return;
    }
    visit(r + 1, pairs, total); // row left unassigned
    for (let c = 0; c < cols; c++) {
      const v = (cost[r] as number[])[c] as number;
      if (used[c] || !Number.isFinite(v)) continue;
      used[c] = true;
      visit(r + 1, pairs + 1, total + v);
      used[c] = false;
    }
  };
  visit(0, 0, 0);
  return best;
}

describe('linearSumAssignment', () => {
  it('matches brute force on random small matrices, rectangular and with forbidden pairs', () => {
    const rand = rng(42);
    for (let trial = 0; trial < 400; trial++) {
      const rows = 1 + Math.floor(rand() * 5);
      const cols = 1 + Math.floor(rand() * 5);
      const forbidRate = trial % 3 === 0 ? 0 : 0.4;
      const cost = Array.from({ length: rows }, () => Array.from({ length: cols }, () => {
        if (rand() < forbidRate) return rand() < 0.5 ? NaN : Infinity;
        return trial % 2 === 0 ? Math.floor(rand() * 10) : rand() * 2 - 0.5;
      }));
      const got = linearSumAssignment(cost);
      const expected = bruteForce(cost);
      const total = got.reduce((s, p) => s + ((cost[p.row] as number[])[p.col] as number), 0);
      expect(got.length, JSON.stringify(cost)).toBe(expected.pairs);
      expect(total).toBeCloseTo(expected.total, 9);
      expect(new Set(got.map((p) => p.row)).size).toBe(got.length);
      expect(new Set(got.map((p) => p.col)).size).toBe(got.length);
    }
  });

  it('prefers the globally cheaper assignment over the greedy one', () => {
    // Greedy would take (0,0)=1 and then (1,1)=10; optimal is 2 + 2.
    expect(linearSumAssignment([[1, 2], [2, 10]])).toEqual([{ row: 0, col: 1 }, { row: 1, col: 0 }]);
  });

  it('returns nothing for empty or all-forbidden matrices', () => {
    expect(linearSumAssignment([])).toEqual([]);
    expect(linearSumAssignment([[], []])).toEqual([]);
    expect(linearSumAssignment([[NaN, Infinity]])).toEqual([]);
  });

  it('rejects ragged rows, naming the row', () => {
    expect(() => linearSumAssignment([[1, 2], [3]])).toThrow(/row 1/);
  });
});
