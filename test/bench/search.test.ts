import { describe, expect, it } from 'vitest';
import { coordinateSearch, memoize, stableKey } from '../../bench/lib/search.ts';

interface P {
  a: number;
  b: number;
  c: 'x' | 'y';
}

describe('coordinateSearch', () => {
  const space = { a: [0, 1, 2, 3, 4], b: [0, 1, 2, 3, 4], c: ['x', 'y'] as const };

  it('finds the optimum of a separable objective from any start, one parameter at a time', () => {
    const f = (p: P): number => -((p.a - 3) ** 2) - (p.b - 1) ** 2 + (p.c === 'y' ? 1 : 0);
    for (const start of [{ a: 0, b: 0, c: 'x' }, { a: 4, b: 4, c: 'y' }] as P[]) {
      const r = coordinateSearch<P>(space, start, f);
      expect(r.point).toEqual({ a: 3, b: 1, c: 'y' });
      expect(r.objective).toBe(1);
    }
  });

  it('keeps the current value on ties, takes the first listed better value, and stops after a sweep without change', () => {
    const steps: string[] = [];
    // Flat in b: b never moves; a's values 3 and 4 tie and the first listed (3) wins.
    const r = coordinateSearch<P>(space, { a: 0, b: 2, c: 'x' }, (p) => Math.min(p.a, 3), { onStep: (s) => steps.push(`${s.sweep}:${s.param}`) });
    expect(r.point).toEqual({ a: 3, b: 2, c: 'x' });
    expect(r.sweeps).toBe(2);
    expect(steps).toEqual(['1:a', '1:b', '1:c', '2:a', '2:b', '2:c']);
  });

  it('ends at a point no single change improves, even where that is not the global optimum', () => {
    // A diagonal ridge: (4, 4) is best, but from (0, 0) each single step down the ridge is worse.
    const f = (p: P): number => (p.a === p.b ? p.a : -10);
    const r = coordinateSearch<P>(space, { a: 0, b: 0, c: 'x' }, f);
    expect(r.point).toEqual({ a: 0, b: 0, c: 'x' });
  });

  it('rejects an empty value list and a bad maxSweeps', () => {
    expect(() => coordinateSearch<P>({ a: [] }, { a: 0, b: 0, c: 'x' }, () => 0)).toThrow(/a has no values/);
    expect(() => coordinateSearch<P>(space, { a: 0, b: 0, c: 'x' }, () => 0, { maxSweeps: 0 })).toThrow(/maxSweeps/);
  });
});

describe('memoize and stableKey', () => {
  it('computes each key once and counts hits and misses', () => {
    let calls = 0;
    const g = memoize((p: { x: number; y?: number | undefined }) => {
      calls++;
      return p.x * 2;
    }, stableKey);
    expect(g({ x: 1 })).toBe(2);
    expect(g({ x: 1, y: undefined })).toBe(2);
    expect(g({ x: 2 })).toBe(4);
    expect(calls).toBe(2);
    expect([g.size, g.hits, g.misses]).toEqual([2, 1, 2]);
  });

  it('is independent of key order and drops undefined fields, recursively', () => {
    expect(stableKey({ b: 1, a: { d: [1, { f: 2, e: 1 }], c: undefined } })).toBe(stableKey({ a: { d: [1, { e: 1, f: 2 }] }, b: 1 }));
    expect(stableKey({ a: 1 })).not.toBe(stableKey({ a: 2 }));
  });
});
