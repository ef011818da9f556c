import { describe, expect, it } from 'vitest';
import { ReidMemory, cosineSimilarity, l2Normalize, reidParams } from '../../src/track/reid.ts';
import { unitVector } from '../support/vectors.ts';


/** `base` moved toward another random direction so that cosine(base, result) is about `similarity`. */
function near(base: Float32Array, seed: number, similarity: number): Float32Array {
  const other = unitVector(seed, base.length);
  const k = Math.sqrt(1 - similarity * similarity);
  return l2Normalize(base.map((x, i) => similarity * x + k * (other[i] as number)));
}

describe('cosineSimilarity / l2Normalize', () => {
  it('is 1 for the same direction, ~0 for random 1024-d vectors, and rejects mismatched lengths', () => {
    const a = unitVector(1);
    expect(cosineSimilarity(a, a.map((x) => 3 * x))).toBeCloseTo(1, 6);
    expect(Math.abs(cosineSimilarity(a, unitVector(2)))).toBeLessThan(0.15);
    expect(cosineSimilarity(a, near(a, 9, 0.7))).toBeCloseTo(0.7, 1);
    expect(() => cosineSimilarity(a, new Float32Array(3))).toThrow(/lengths differ/);
    expect([...l2Normalize([0, 0])]).toEqual([0, 0]);
  });
});

describe('ReidMemory', () => {
  it('matches a departed person by descriptor and removes them from memory', () => {
    const m = new ReidMemory<string>();
    const alice = unitVector(10);
    m.depart(1, alice, 1000, 'alice');
    m.depart(2, unitVector(20), 1000, 'bob');
    const hit = m.match(near(alice, 11, 0.9), 2000, 2100);
    expect(hit?.personId).toBe(1);
    expect(hit?.payload).toBe('alice');
    expect(hit?.similarity).toBeGreaterThan(0.85);
    expect(m.has(1)).toBe(false);
    // Alice is in view again: a second look-alike must not take her id.
    expect(m.match(near(alice, 12, 0.9), 3000, 3100)).toBeNull();
    expect(m.stats()).toEqual({ entries: 1, evicted: 0, expired: 0, matched: 1 });
  });

  it('does not match below the similarity threshold', () => {
    const m = new ReidMemory({ reidMinSimilarity: 0.6 });
    const a = unitVector(30);
    m.depart(1, a, 0, undefined);
    expect(m.match(near(a, 31, 0.4), 100, 100)).toBeNull();
    expect(m.match(near(a, 32, 0.75), 100, 100)?.personId).toBe(1);
  });

  it('picks the most similar of several candidates', () => {
    const m = new ReidMemory();
    const a = unitVector(40);
    m.depart(1, near(a, 41, 0.8), 0, undefined);
    m.depart(2, near(a, 42, 0.9), 0, undefined);
    m.depart(3, near(a, 43, 0.6), 0, undefined);
    expect(m.match(a, 100, 100)?.personId).toBe(2);
  });

  it('never matches someone who was still in view after the new track appeared', () => {
    const m = new ReidMemory();
    const a = unitVector(50);
    m.depart(1, a, 5000, undefined);
    // The new track was first seen at 4000, while person 1 was still in view until 5000: two people.
    expect(m.match(a, 4000, 6000)).toBeNull();
    expect(m.match(a, 5001, 6000)?.personId).toBe(1);
  });

  it('expires entries after reidWindowMs of frame time', () => {
    const m = new ReidMemory({ reidWindowMs: 10_000 });
    const a = unitVector(60);
    m.depart(1, a, 1000, undefined);
    m.depart(2, unitVector(61), 5000, undefined);
    // Not yet expired by expire(), but a match at a time past the window is refused anyway.
    expect(m.match(a, 11_500, 11_500)).toBeNull();
    expect(m.expire(11_000)).toEqual([]);
    expect(m.expire(11_001)).toEqual([1]);
    expect(m.has(1)).toBe(false);
    expect(m.has(2)).toBe(true);
    expect(m.expire(15_001)).toEqual([2]);
    expect(m.stats()).toMatchObject({ entries: 0, expired: 2 });
  });

  it('is bounded: the oldest departure is evicted first and counted', () => {
    const m = new ReidMemory({ maxEntries: 3 });
    for (let id = 1; id <= 5; id++) m.depart(id, unitVector(100 + id), id * 10, undefined);
    expect(m.stats()).toEqual({ entries: 3, evicted: 2, expired: 0, matched: 0 });
    expect(m.has(1) || m.has(2)).toBe(false);
    expect(m.has(3) && m.has(4) && m.has(5)).toBe(true);
    // Re-departing a remembered person replaces their entry without evicting anyone.
    m.depart(4, unitVector(104), 60, undefined);
    expect(m.stats().evicted).toBe(2);
  });

  it('rejects bad params naming the field', () => {
    expect(() => reidParams({ reidMinSimilarity: 2 })).toThrow(/reidMinSimilarity/);
    expect(() => reidParams({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => reidParams({ reidWindowMs: -1 })).toThrow(/reidWindowMs/);
  });
});
