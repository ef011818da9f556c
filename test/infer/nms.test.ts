import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { iou } from '../../src/shared/geometry.ts';
import type { BoxXyxy } from '../../src/shared/messages.ts';
import { nonMaxSuppression, type ScoredBox } from '../../src/infer/nms.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Clustered random boxes (like detector output: several candidates per face), float32-exact. */
function randomBoxes(n: number, seed: number): Array<ScoredBox & { index: number }> {
  const r = rng(seed);
  const centres = Array.from({ length: 6 }, () => [r() * 600, r() * 400] as const);
  return Array.from({ length: n }, (_, index) => {
    const [cx, cy] = centres[index % centres.length] as readonly [number, number];
    const w = 20 + r() * 60;
    const h = 20 + r() * 60;
    const x = Math.fround(cx + (r() - 0.5) * 40);
    const y = Math.fround(cy + (r() - 0.5) * 40);
    const box: BoxXyxy = [x, y, Math.fround(x + w), Math.fround(y + h)];
    return { box, score: Math.fround(r()), index };
  });
}

describe('nonMaxSuppression', () => {
  it('keeps the same boxes as tf.image.nonMaxSuppression', () => {
    for (const [seed, n, threshold, maxOut] of [[1, 60, 0.3, 100], [2, 200, 0.5, 100], [3, 120, 0.45, 5], [4, 40, 0.1, 40]] as const) {
      const items = randomBoxes(n, seed);
      const ref = tf.tidy(() => {
        // TF takes [y1, x1, y2, x2].
        const boxes = tf.tensor2d(items.map((i) => [i.box[1], i.box[0], i.box[3], i.box[2]]), [n, 4]);
        return Array.from(tf.image.nonMaxSuppression(boxes, items.map((i) => i.score), maxOut, threshold).dataSync());
      });
      const ours = nonMaxSuppression(items, threshold, maxOut).map((i) => i.index);
      expect(ours.length).toBeGreaterThan(1);
      expect(ours).toEqual(ref);
    }
  });

  it('returns kept boxes by descending score, none overlapping another above the threshold', () => {
    const kept = nonMaxSuppression(randomBoxes(150, 9), 0.3);
    for (let i = 1; i < kept.length; i++) expect((kept[i - 1] as ScoredBox).score).toBeGreaterThanOrEqual((kept[i] as ScoredBox).score);
    for (const a of kept) for (const b of kept) if (a !== b) expect(iou(a.box, b.box)).toBeLessThanOrEqual(0.3);
  });

  it('handles no boxes, and keeps disjoint boxes', () => {
    expect(nonMaxSuppression([], 0.5)).toEqual([]);
    const a = { box: [0, 0, 10, 10] as BoxXyxy, score: 0.4 };
    const b = { box: [20, 20, 30, 30] as BoxXyxy, score: 0.9 };
    expect(nonMaxSuppression([a, b], 0.5)).toEqual([b, a]);
  });
});
