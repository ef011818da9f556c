import { describe, expect, it } from 'vitest';
import { rotatedSquareResize, squarePlacement, squareResize } from '../../src/infer/faceapi-image.ts';

function gradient(w: number, h: number): { data: Uint8Array; width: number; height: number; channels: number } {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x * 2, y * 2, (x + y) % 256], (y * w + x) * 3);
  return { data, width: w, height: h, channels: 3 };
}

describe('rotatedSquareResize', () => {
  const img = gradient(100, 100);
  const rect = { x: 20, y: 20, width: 56, height: 56 };

  it('at 0 degrees samples the same grid as squareResize (away from the last row and column)', () => {
    const a = squareResize(img, rect, squarePlacement(56, 56, true), 28, new Float32Array(28 * 28 * 3));
    const b = rotatedSquareResize(img, 48, 48, 56, 0, 28, new Float32Array(28 * 28 * 3));
    for (let y = 0; y < 27; y++) for (let x = 0; x < 27; x++) for (let k = 0; k < 3; k++) expect(b[(y * 28 + x) * 3 + k]).toBeCloseTo(a[(y * 28 + x) * 3 + k] as number, 3);
  });

  it('undoes a clockwise roll: sampling at +90 degrees turns rows into columns', () => {
    const out = rotatedSquareResize(img, 50, 50, 40, Math.PI / 2, 40, new Float32Array(40 * 40 * 3));
    // Output x runs along the image's +y, output y along the image's -x.
    const at = (x: number, y: number, k: number): number => out[(y * 40 + x) * 3 + k] as number;
    expect(at(10, 20, 1)).toBeGreaterThan(at(5, 20, 1));
    expect(at(10, 20, 0)).toBeCloseTo(at(5, 20, 0), 3);
    expect(at(20, 5, 0)).toBeGreaterThan(at(20, 10, 0));
    // Outside the image is zero, as squareResize's padding.
    const off = rotatedSquareResize(img, 2, 2, 40, 0.3, 8, new Float32Array(8 * 8 * 3));
    expect(off[0]).toBe(0);
  });
});
