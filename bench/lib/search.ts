/**
 * Parameter search for the benchmarks: a deterministic coordinate search over named discrete values,
 * with a memo so that points are computed once however many searches (e.g. leave-one-out folds)
 * visit them. Pure functions, no I/O (tested in test/bench/search.test.ts).
 */

/** The values each named parameter may take; the search only ever sets a parameter to one of these. */
export type SearchSpace<P> = { readonly [K in keyof P]?: readonly P[K][] };

/** Options of {@link coordinateSearch}. */
export interface CoordinateSearchOptions<P> {
  /** Full sweeps over every parameter at most. Default 20. */
  readonly maxSweeps?: number;
  /** Called after each parameter step with the current best point and its objective. */
  readonly onStep?: (step: { sweep: number; param: keyof P & string; point: P; objective: number }) => void;
}

/** The result of {@link coordinateSearch}. */
export interface SearchResult<P> {
  readonly point: P;
  readonly objective: number;
  /** Sweeps run (the last one changed nothing unless maxSweeps was reached). */
  readonly sweeps: number;
}

/**
 * Maximises `objective` one parameter at a time: for each parameter of `space` in order, tries every
 * listed value with the others fixed and keeps the best; repeats full sweeps until one changes nothing.
 * A value replaces the current one only when strictly better (by more than 1e-12), and among equal
 * better values the first listed wins, so the result is deterministic. The objective only increases, so
 * the search ends (at a point no single-parameter change improves).
 */
export function coordinateSearch<P extends object>(space: SearchSpace<P>, start: P, objective: (p: P) => number, options: CoordinateSearchOptions<P> = {}): SearchResult<P> {
  const maxSweeps = options.maxSweeps ?? 20;
  if (!Number.isInteger(maxSweeps) || maxSweeps < 1) throw new RangeError(`maxSweeps must be an integer >= 1, got ${maxSweeps}`);
  const keys = Object.keys(space) as (keyof P & string)[];
  for (const k of keys) if (((space[k] ?? []) as readonly unknown[]).length === 0) throw new RangeError(`search space ${k} has no values`);
  let point = start;
  let best = objective(point);
  let sweeps = 0;
  while (sweeps < maxSweeps) {
    sweeps++;
    let changed = false;
    for (const k of keys) {
      for (const v of space[k] as readonly P[typeof k][]) {
        if (Object.is(v, point[k])) continue;
        const cand = { ...point, [k]: v };
        const j = objective(cand);
        if (j > best + 1e-12) {
          best = j;
          point = cand;
          changed = true;
        }
      }
      options.onStep?.({ sweep: sweeps, param: k, point, objective: best });
    }
    if (!changed) break;
  }
  return { point, objective: best, sweeps };
}

/**
 * Memoises `f` by `key(p)`: each distinct key is computed once. `hits`/`misses` count lookups, for
 * progress reports.
 */
export function memoize<P, R>(f: (p: P) => R, key: (p: P) => string): { (p: P): R; readonly size: number; readonly hits: number; readonly misses: number } {
  const cache = new Map<string, R>();
  let hits = 0;
  let misses = 0;
  const g = (p: P): R => {
    const k = key(p);
    const got = cache.get(k);
    if (got !== undefined || cache.has(k)) {
      hits++;
      return got as R;
    }
    misses++;
    const r = f(p);
    cache.set(k, r);
    return r;
  };
  Object.defineProperties(g, {
    size: { get: () => cache.size },
    hits: { get: () => hits },
    misses: { get: () => misses },
  });
  return g as ReturnType<typeof memoize<P, R>>;
}

/** JSON with object keys sorted (recursively) and undefined fields dropped: a stable memo key. */
export function stableKey(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(stableKey).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableKey(x)}`).join(',')}}`;
}
