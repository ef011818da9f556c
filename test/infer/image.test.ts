import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadImage } from '../../src/infer/decode.ts';
import { cropAndResize, resizeBilinear, type NormalizedBoxYxyx, type RawImage } from '../../src/infer/image.ts';

// Reference: real TensorFlow.js kernels (cpu backend), the ones the converted models were validated with.
beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

/** Deterministic pseudo-random bytes (mulberry32) so failures reproduce. */
function randomImage(width: number, height: number, channels: number, seed: number): RawImage<Uint8Array> {
  let s = seed >>> 0;
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) % 256;
  }
  return { data, width, height, channels };
}

function toTensor(img: RawImage): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(img.data), [1, img.height, img.width, img.channels], 'float32');
}

function maxAbsDiff(a: Float32Array, b: Float32Array | Int32Array | Uint8Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

const RESIZE_VARIANTS = [
  { alignCorners: false, halfPixelCenters: false },
  { alignCorners: true, halfPixelCenters: false },
  { alignCorners: false, halfPixelCenters: true },
] as const;

// Shrink, grow, anisotropic, and output sizes of 1 (the alignCorners special case).
const SIZES: Array<[inW: number, inH: number, outW: number, outH: number]> = [
  [37, 23, 16, 16],
  [31, 45, 64, 50],
  [128, 96, 160, 160],
  [20, 30, 1, 7],
  [9, 5, 1, 1],
];

describe('resizeBilinear matches tf.image.resizeBilinear', () => {
  for (const variant of RESIZE_VARIANTS) {
    it(`random images, ${JSON.stringify(variant)}`, () => {
      SIZES.forEach(([inW, inH, outW, outH], k) => {
        const img = randomImage(inW, inH, 3, 1000 + k);
        const ours = resizeBilinear(img, outW, outH, variant);
        const ref = tf.tidy(() => tf.image.resizeBilinear(toTensor(img), [outH, outW], variant.alignCorners, variant.halfPixelCenters).dataSync());
        expect(maxAbsDiff(ours, ref as Float32Array)).toBeLessThan(1e-4);
      });
    });
  }

  it('a real photo, to a detector input size, every variant', async () => {
    const photo = await loadImage('samples/sample1.jpg');
    for (const variant of RESIZE_VARIANTS) {
      const ours = resizeBilinear(photo, 128, 128, variant);
      const ref = tf.tidy(() => tf.image.resizeBilinear(toTensor(photo), [128, 128], variant.alignCorners, variant.halfPixelCenters).dataSync());
      expect(maxAbsDiff(ours, ref as Float32Array)).toBeLessThan(1e-4);
    }
  });

  it('writes into a preallocated buffer and rejects one of the wrong size', () => {
    const img = randomImage(10, 8, 3, 7);
    const out = new Float32Array(5 * 4 * 3);
    expect(resizeBilinear(img, 5, 4, {}, out)).toBe(out);
    const ref = tf.tidy(() => tf.image.resizeBilinear(toTensor(img), [4, 5]).dataSync());
    expect(maxAbsDiff(out, ref as Float32Array)).toBeLessThan(1e-4);
    expect(() => resizeBilinear(img, 5, 4, {}, new Float32Array(10))).toThrow(/expected 60/);
  });
});

describe('cropAndResize matches tf.image.cropAndResize', () => {
  const BOXES: NormalizedBoxYxyx[] = [
    [0.1, 0.2, 0.7, 0.9], // inside
    [0, 0, 1, 1], // whole image
    [-0.2, -0.1, 0.5, 0.6], // partly outside: extrapolation
    [0.8, 0.7, 1.3, 1.2],
    [0.6, 0.8, 0.2, 0.1], // flipped box: TF samples it mirrored
    [0.45, 0.45, 0.46, 0.47], // tiny
  ];
  const OUT: Array<[number, number]> = [[16, 16], [33, 20], [1, 1], [1, 9]];

  it('random image, many boxes and output sizes, extrapolation 0 and 7', () => {
    const img = randomImage(41, 29, 3, 99);
    for (const extrapolation of [0, 7]) {
      for (const [outW, outH] of OUT) {
        const ref = tf.tidy(() =>
          tf.image.cropAndResize(toTensor(img), tf.tensor2d(BOXES.map((b) => [...b]), [BOXES.length, 4]), tf.tensor1d(BOXES.map(() => 0), 'int32'), [outH, outW], 'bilinear', extrapolation).dataSync(),
        ) as Float32Array;
        const per = outW * outH * 3;
        BOXES.forEach((box, i) => {
          const ours = cropAndResize(img, box, outW, outH, extrapolation);
          expect(maxAbsDiff(ours, ref.subarray(i * per, (i + 1) * per))).toBeLessThan(1e-4);
        });
      }
    }
  });

  it('a real photo, face-sized crops at model input sizes', async () => {
    const photo = await loadImage('samples/sample3.jpg');
    const boxes: NormalizedBoxYxyx[] = [[0.1, 0.3, 0.45, 0.55], [0.05, 0.7, 0.4, 0.95], [-0.05, -0.05, 1.05, 1.05]];
    for (const size of [64, 112, 224]) {
      const ref = tf.tidy(() =>
        tf.image.cropAndResize(toTensor(photo), tf.tensor2d(boxes.map((b) => [...b]), [boxes.length, 4]), tf.tensor1d(boxes.map(() => 0), 'int32'), [size, size]).dataSync(),
      ) as Float32Array;
      const per = size * size * 3;
      boxes.forEach((box, i) => {
        expect(maxAbsDiff(cropAndResize(photo, box, size, size), ref.subarray(i * per, (i + 1) * per))).toBeLessThan(1e-4);
      });
    }
  });
});
