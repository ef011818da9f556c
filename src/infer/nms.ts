import { iou } from '../shared/geometry.ts';
import type { BoxXyxy } from '../shared/messages.ts';

/** A scored box for {@link nonMaxSuppression}. */
export interface ScoredBox {
  readonly box: BoxXyxy;
  readonly score: number;
}

/**
 * Greedy non-maximum suppression, as `tf.image.nonMaxSuppression`: keeps the highest-scoring box,
 * drops every remaining box overlapping it by more than `iouThreshold`, repeats.
 * Returns kept items sorted by score, at most `maxOutput`.
 */
export function nonMaxSuppression<T extends ScoredBox>(items: readonly T[], iouThreshold: number, maxOutput = Infinity): T[] {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const cand of sorted) {
    if (kept.length >= maxOutput) break;
    if (kept.every((k) => iou(k.box, cand.box) <= iouThreshold)) kept.push(cand);
  }
  return kept;
}
