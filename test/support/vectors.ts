import { l2Normalize } from '../../src/track/reid.ts';

/** Deterministic pseudo-random unit vector (1024-d by default, like faceres descriptors). */
export function unitVector(seed: number, dim = 1024): Float32Array {
  let a = seed >>> 0;
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    v[i] = a / 4294967296 - 0.5;
  }
  return l2Normalize(v);
}
