import { describe, expect, it } from 'vitest';
import { faceQuality, poseFromLandmarks, qualityScore, sharpnessOf, validateQualityModel, type QualityModel } from '../../src/infer/quality.ts';
import { loadTrustModel } from '../../src/infer/trust.ts';
import type { FaceLandmarks } from '../../src/shared/messages.ts';

/** A frontal face's keypoints: eyes level, nose and mouth under their midpoint. */
const FRONTAL: FaceLandmarks = { rightEye: [120, 130], leftEye: [180, 130], nose: [150, 160], mouth: [150, 180], rightEar: [100, 140], leftEar: [200, 140] };

function rotate(lm: FaceLandmarks, deg: number, cx = 150, cy = 150): FaceLandmarks {
  const a = (deg * Math.PI) / 180;
  const r = (p: readonly [number, number]): [number, number] => [cx + (p[0] - cx) * Math.cos(a) - (p[1] - cy) * Math.sin(a), cy + (p[0] - cx) * Math.sin(a) + (p[1] - cy) * Math.cos(a)];
  return { rightEye: r(lm.rightEye), leftEye: r(lm.leftEye), nose: r(lm.nose), mouth: r(lm.mouth), rightEar: r(lm.rightEar), leftEar: r(lm.leftEar) };
}

describe('poseFromLandmarks', () => {
  it('reads roll from the eye line (clockwise positive) and yaw from the nose offset, whatever the roll', () => {
    expect(poseFromLandmarks(FRONTAL)).toEqual({ rollDeg: 0, yaw: 0 });
    const rolled = poseFromLandmarks(rotate(FRONTAL, 25));
    expect(rolled.rollDeg).toBeCloseTo(25, 9);
    expect(rolled.yaw).toBeCloseTo(0, 9);
    // Nose moved 15 px towards the left eye of a 60 px eye line: yaw 0.25, also when rolled.
    const turned = { ...FRONTAL, nose: [165, 160] as const };
    expect(poseFromLandmarks(turned).yaw).toBeCloseTo(0.25, 9);
    expect(poseFromLandmarks(rotate(turned, -20)).yaw).toBeCloseTo(0.25, 9);
  });
});

describe('faceQuality', () => {
  const model: QualityModel = loadTrustModel().quality;

  it('the shipped model ranks large over small, confident over doubtful, upright over rolled, frontal over turned', () => {
    const base = { sidePx: 96, score: 0.9, rollDeg: 0, yaw: 0, sharpness: 35 };
    const q = qualityScore(base, model);
    expect(q).toBeGreaterThan(0.5);
    expect(q).toBeLessThanOrEqual(1);
    expect(qualityScore({ ...base, sidePx: 30 }, model)).toBeLessThan(q);
    expect(qualityScore({ ...base, score: 0.55 }, model)).toBeLessThan(q);
    expect(qualityScore({ ...base, rollDeg: 40 }, model)).toBeLessThan(q);
    expect(qualityScore({ ...base, yaw: 0.5 }, model)).toBeLessThan(q / 2);
    expect(qualityScore({ ...base, sidePx: 0 }, model)).toBe(0);
  });

  it('does not weigh sharpness in the shipped model (it does not transfer to real video), but a model that weighs it ranks sharp over blurred', () => {
    const base = { sidePx: 96, score: 0.9, rollDeg: 0, yaw: 0, sharpness: 35 };
    expect(model.weights.sharpness).toBe(0);
    expect(qualityScore({ ...base, sharpness: 8 }, model)).toBe(qualityScore(base, model));
    const weighing: QualityModel = { ...model, weights: { ...model.weights, sharpness: 1 } };
    expect(qualityScore({ ...base, sharpness: 8 }, weighing)).toBeLessThan(qualityScore(base, weighing));
  });

  it('keeps a clear frontal face of real video (52 px, score 0.9, smooth skin) at or above the fusion floor', () => {
    // The left woman of face-demographics-walking-and-pause.mp4 as the analyzer measures her (bench:real).
    const face = { sidePx: 52, score: 0.9, rollDeg: 5, yaw: 0.01, sharpness: 8.7 };
    expect(qualityScore(face, model)).toBeGreaterThanOrEqual(loadTrustModel().thresholds.qualityFloor);
  });

  it('uses keypoints when present and the box aspect without them', () => {
    const box = [100, 100, 200, 211] as const;
    const withLm = faceQuality({ box, score: 0.9, landmarks: FRONTAL }, 30, model);
    expect(withLm).toMatchObject({ rollDeg: 0, yaw: 0, sharpness: 30 });
    expect(withLm.sidePx).toBeCloseTo(Math.sqrt(100 * 111), 9);
    const noLm = faceQuality({ box, score: 0.9 }, undefined, model);
    expect(noLm.score).toBeGreaterThan(0);
    expect(noLm.sharpness).toBeUndefined();
    // A box far from a face's aspect (a side view without keypoints) is trusted less.
    expect(faceQuality({ box: [100, 100, 160, 211], score: 0.9 }, undefined, model).score).toBeLessThan(noLm.score);
  });

  it('rejects malformed models naming the field', () => {
    expect(() => validateQualityModel({ ...model, yawSigma: 0 })).toThrow(/yawSigma/);
    expect(() => validateQualityModel({ ...model, weights: { ...model.weights, roll: Number.NaN } })).toThrow(/weights.roll/);
  });
});

describe('sharpnessOf', () => {
  it('is higher for a detailed patch than for the same patch blurred, and 0 for a flat one', () => {
    const w = 64;
    const h = 64;
    const sharp = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) sharp.fill(((x >> 1) + (y >> 1)) % 2 ? 220 : 30, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const blurred = new Uint8Array(sharp.length);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        let n = 0;
        for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) {
          const yy = Math.min(h - 1, Math.max(0, y + dy));
          const xx = Math.min(w - 1, Math.max(0, x + dx));
          s += sharp[(yy * w + xx) * 3] as number;
          n++;
        }
        blurred.fill(Math.round(s / n), (y * w + x) * 3, (y * w + x) * 3 + 3);
      }
    }
    const img = (data: Uint8Array) => ({ data, width: w, height: h, channels: 3 });
    const box = [0, 0, w, h] as const;
    expect(sharpnessOf(img(sharp), box)).toBeGreaterThan(3 * sharpnessOf(img(blurred), box));
    expect(sharpnessOf(img(new Uint8Array(w * h * 3).fill(100)), box)).toBe(0);
    expect(sharpnessOf(img(sharp), [10, 10, 11, 11])).toBe(0);
  });
});
