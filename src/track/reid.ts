/**
 * Returning-person recognition from face descriptors, held in memory only.
 *
 * When a confirmed person leaves, their mean L2-normalised descriptor is remembered for `reidWindowMs`
 * of frame time; a newly confirmed track whose descriptor is close enough (cosine similarity) to a
 * departed person who was not in view at the same time takes over that person's id. Entries expire by
 * frame time and the store is bounded (oldest departure evicted first, counted). Nothing is persisted.
 */

/** Re-identification parameters. */
export interface ReidParams {
  /** How long a departed person can be recognised, ms of frame time after their last sighting. Default 600000 (10 min). */
  reidWindowMs: number;
  /**
   * Minimum cosine similarity (-1..1) between descriptors of the same person. Default 0.75, from
   * faceres on utkface-dev (300 people): different people median 0.39, p99.9 0.70, p99.99 0.75,
   * max 0.79 (44,850 pairs; 0.011% of pairs reach 0.75); the same photo re-cropped (shifted or
   * tighter box, mirrored, downscaled to a ~48 px face) min 0.86, median 0.94 to 0.99. Real returns
   * (new pose and light) score lower than re-crops and were not measured: raise it for a large
   * store (false merges grow with the number of remembered people), lower it to re-identify more.
   */
  reidMinSimilarity: number;
  /** Departed people remembered at most; the oldest departure is evicted first (counted). Default 1000. */
  maxEntries: number;
}

export const DEFAULT_REID_PARAMS: ReidParams = Object.freeze({
  reidWindowMs: 600_000,
  reidMinSimilarity: 0.75,
  maxEntries: 1000,
});

/** Throws on an invalid parameter, naming the field and the value. */
export function reidParams(partial: Partial<ReidParams> = {}): Readonly<ReidParams> {
  const p = { ...DEFAULT_REID_PARAMS, ...partial };
  if (!(Number.isFinite(p.reidWindowMs) && p.reidWindowMs >= 0)) throw new Error(`reid param reidWindowMs must be a finite number >= 0, got ${String(p.reidWindowMs)}`);
  if (!(p.reidMinSimilarity >= -1 && p.reidMinSimilarity <= 1)) throw new Error(`reid param reidMinSimilarity must be within -1..1, got ${String(p.reidMinSimilarity)}`);
  if (!(Number.isInteger(p.maxEntries) && p.maxEntries >= 1)) throw new Error(`reid param maxEntries must be an integer >= 1, got ${String(p.maxEntries)}`);
  return Object.freeze(p);
}

/** Counters of what the store dropped or matched. */
export interface ReidStats {
  /** Departed people remembered now. */
  entries: number;
  /** Entries dropped because the store was full (oldest departure first). */
  evicted: number;
  /** Entries dropped because `reidWindowMs` passed. */
  expired: number;
  /** Successful re-identifications. */
  matched: number;
}

/** A successful match. */
export interface ReidMatch<T> {
  readonly personId: number;
  /** Cosine similarity, -1..1. */
  readonly similarity: number;
  /** What the caller stored with the person at departure. */
  readonly payload: T;
}

interface Entry<T> {
  readonly descriptor: Float32Array;
  /** Last time the person was seen, ms. */
  readonly lastSeenMs: number;
  readonly payload: T;
}

/** Cosine similarity of two vectors (L2-normalises both, so callers need not). */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`descriptor lengths differ: ${a.length} vs ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** Returns a new L2-normalised copy (all zeros stays zeros). */
export function l2Normalize(v: ArrayLike<number>): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += (v[i] as number) ** 2;
  const out = new Float32Array(v.length);
  const s = n > 0 ? 1 / Math.sqrt(n) : 0;
  for (let i = 0; i < v.length; i++) out[i] = (v[i] as number) * s;
  return out;
}

/** In-memory store of departed people; `T` is whatever the caller wants back on a match. */
export class ReidMemory<T = undefined> {
  readonly params: Readonly<ReidParams>;
  /** Insertion order = departure order, so the first entry is the oldest departure. */
  private entries = new Map<number, Entry<T>>();
  private counters = { evicted: 0, expired: 0, matched: 0 };

  constructor(params: Partial<ReidParams> = {}) {
    this.params = reidParams(params);
  }

  /** Remembers a person who left; `descriptor` is L2-normalised here. A second departure replaces the first. */
  depart(personId: number, descriptor: Float32Array, lastSeenMs: number, payload: T): void {
    if (!Number.isFinite(lastSeenMs)) throw new Error(`reid depart: lastSeenMs must be finite, got ${lastSeenMs} (person ${personId})`);
    this.entries.delete(personId);
    while (this.entries.size >= this.params.maxEntries) {
      const oldest = this.entries.keys().next().value as number;
      this.entries.delete(oldest);
      this.counters.evicted++;
    }
    this.entries.set(personId, { descriptor: l2Normalize(descriptor), lastSeenMs, payload });
  }

  /** Drops entries whose last sighting is more than `reidWindowMs` before `atMs`; returns their ids. */
  expire(atMs: number): number[] {
    const dropped: number[] = [];
    for (const [id, e] of this.entries) {
      if (atMs - e.lastSeenMs > this.params.reidWindowMs) {
        this.entries.delete(id);
        dropped.push(id);
      }
    }
    this.counters.expired += dropped.length;
    return dropped;
  }

  /**
   * Finds the most similar departed person with similarity >= `reidMinSimilarity`, last seen before
   * `firstSeenMs` (someone in view while the new track already existed is someone else) and within
   * the window at `atMs`. A match is removed from the store: that person is in view again.
   */
  match(descriptor: Float32Array, firstSeenMs: number, atMs: number): ReidMatch<T> | null {
    let best: { id: number; similarity: number; entry: Entry<T> } | null = null;
    for (const [id, e] of this.entries) {
      if (e.lastSeenMs >= firstSeenMs || atMs - e.lastSeenMs > this.params.reidWindowMs) continue;
      const similarity = cosineSimilarity(descriptor, e.descriptor);
      if (similarity >= this.params.reidMinSimilarity && (best === null || similarity > best.similarity)) best = { id, similarity, entry: e };
    }
    if (best === null) return null;
    this.entries.delete(best.id);
    this.counters.matched++;
    return { personId: best.id, similarity: best.similarity, payload: best.entry.payload };
  }

  has(personId: number): boolean {
    return this.entries.has(personId);
  }

  stats(): ReidStats {
    return { entries: this.entries.size, ...this.counters };
  }
}
