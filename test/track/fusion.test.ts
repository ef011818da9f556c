import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { resizeBilinear } from '../../src/infer/image.ts';
import { loadModel } from '../../src/infer/models.ts';
import type { BoxXyxy, FaceQuality, Gender } from '../../src/shared/messages.ts';
import { DEFAULT_FUSION_PARAMS, PersonFusion, fusionParams, observationWeight, weightedMedian } from '../../src/track/fusion.ts';
import type { FaceObservation } from '../../src/track/fusion.ts';
import { seededRandom as rng } from '../../bench/lib/stats.ts';

const LABELS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data', 'faces', 'utkface-dev', 'labels.csv');


function squareBox(side: number, aspect = 0.9): BoxXyxy {
  const h = side / Math.sqrt(aspect);
  const w = side * Math.sqrt(aspect);
  return [100, 100, 100 + w, 100 + h];
}

function obs(over: Partial<FaceObservation> = {}): FaceObservation {
  return { box: squareBox(100), score: 0.95, ageYears: 30, gender: 'female', genderScore: 0.9, ...over };
}

function readTruths(): { file: string; ageYears: number; gender: Gender }[] {
  const lines = readFileSync(LABELS, 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const [file, age, gender] = l.split(',');
    return { file: file ?? '', ageYears: Number(age), gender: gender === 'male' ? 'male' : 'female' };
  });
}

describe('observationWeight', () => {
  it('ranks large over small, frontal over side-on, high score over low score, and drops tiny faces', () => {
    const big = observationWeight({ box: squareBox(120), score: 0.95 });
    const small = observationWeight({ box: squareBox(30), score: 0.95 });
    const sideOn = observationWeight({ box: squareBox(120, 0.55), score: 0.95 });
    const lowScore = observationWeight({ box: squareBox(120), score: 0.5 });
    const tiny = observationWeight({ box: squareBox(DEFAULT_FUSION_PARAMS.minSidePx - 1), score: 0.95 });
    expect(big).toBeGreaterThan(0.9);
    expect(small).toBeLessThan(big / 2);
    expect(sideOn).toBeLessThan(big / 2);
    expect(lowScore).toBeLessThan(big / 2);
    expect(tiny).toBe(0);
    expect(observationWeight({ box: [10, 10, 10, 50], score: 0.9 })).toBe(0);
  });
});

describe('weightedMedian', () => {
  it('ignores a minority of wild values and follows the weights', () => {
    expect(weightedMedian([20, 21, 22, 90, 95].map((a) => ({ ageYears: a, weight: 1 })))).toBe(22);
    expect(weightedMedian([{ ageYears: 20, weight: 1 }, { ageYears: 60, weight: 3 }])).toBe(60);
    expect(weightedMedian([{ ageYears: 20, weight: 1 }, { ageYears: 40, weight: 1 }])).toBe(30);
    expect(weightedMedian([])).toBeNaN();
  });
});

function q(score: number): FaceQuality {
  return { score, sidePx: 100, rollDeg: 0, yaw: 0 };
}

describe('PersonFusion gates', () => {
  it('reports nothing before minSamples, then the fused estimate', () => {
    const f = new PersonFusion({ minSamples: 5 });
    for (let i = 0; i < 4; i++) f.add(obs({ ageYears: 30 + i }));
    expect(f.estimate()).toBeNull();
    f.add(obs({ ageYears: 34 }));
    const e = f.estimate();
    expect(e).not.toBeNull();
    expect(e?.ageYears).toBe(32);
    expect(e?.gender).toBe('female');
    expect(e?.maleProbability).toBeCloseTo(0.1, 6);
    expect(e?.samples).toBe(5);
  });

  it('says unknown while the gender evidence disagrees or is weak, and answers once it is confident', () => {
    const f = new PersonFusion({ minGenderConfidence: 0.8 });
    for (let i = 0; i < 10; i++) f.add(obs({ gender: i % 2 === 0 ? 'male' : 'female', genderScore: 0.85 }));
    expect(f.samples).toBe(10);
    expect(f.estimate()?.gender).toBe('unknown');
    expect(f.estimate()?.genderScore).toBeLessThan(0.6);
    for (let i = 0; i < 40; i++) f.add(obs({ gender: 'male', genderScore: 0.9 }));
    const e = f.estimate();
    expect(e?.gender).toBe('male');
    expect(e?.genderScore).toBeGreaterThanOrEqual(0.8);
    // Calibrated single frames of 0.7 stay 0.7 however many there are (evidenceExponent 0): below 0.8.
    const weak = new PersonFusion({ minGenderConfidence: 0.8 });
    for (let i = 0; i < 50; i++) weak.add(obs({ maleProbability: 0.7, gender: 'male', genderScore: 0.7 }));
    expect(weak.maleProbability()).toBeCloseTo(0.7, 6);
    expect(weak.estimate()?.gender).toBe('unknown');
    // With evidence growing with the (effective) frame count, the same frames become confident.
    const growing = new PersonFusion({ minGenderConfidence: 0.8, evidenceExponent: 0.5 });
    for (let i = 0; i < 50; i++) growing.add(obs({ maleProbability: 0.7, gender: 'male', genderScore: 0.7 }));
    expect(growing.estimate()?.gender).toBe('male');
  });

  it('prefers the calibrated maleProbability over the model score', () => {
    const f = new PersonFusion();
    for (let i = 0; i < 5; i++) f.add(obs({ gender: 'female', genderScore: 0.95, maleProbability: 0.6 }));
    expect(f.maleProbability()).toBeCloseTo(0.6, 6);
  });

  it('weights by the quality score and does not fuse observations below the quality floor', () => {
    const f = new PersonFusion({ qualityFloor: 0.3 });
    expect(f.add(obs({ quality: q(0.2), ageYears: 80 }))).toBe(0);
    expect(f.ignored).toBe(1);
    for (let i = 0; i < 3; i++) f.add(obs({ quality: q(0.9), ageYears: 30, maleProbability: 0.2 }));
    for (let i = 0; i < 4; i++) f.add(obs({ quality: q(0.3), ageYears: 60, maleProbability: 0.9 }));
    // 3 x 0.9 outweighs 4 x 0.3 on age; gender is the quality-weighted mean of the log-odds.
    expect(f.age()).toBe(30);
    const z = (3 * 0.9 * Math.log(0.2 / 0.8) + 4 * 0.3 * Math.log(0.9 / 0.1)) / (3 * 0.9 + 4 * 0.3);
    expect(f.maleProbability()).toBeCloseTo(1 / (1 + Math.exp(-z)), 9);
    expect(f.bestQuality).toBe(0.9);
  });

  it('needs total weight, not just a count: many poor faces are not enough', () => {
    const f = new PersonFusion({ minTotalWeight: 2 });
    for (let i = 0; i < 10; i++) f.add(obs({ quality: q(0.15) }));
    expect(f.samples).toBe(10);
    expect(f.estimate()).toBeNull();
  });

  it('lets big frontal faces outvote small side-on ones on gender and age (box fallback without quality)', () => {
    const f = new PersonFusion();
    for (let i = 0; i < 8; i++) f.add(obs({ box: squareBox(24, 0.6), score: 0.6, gender: 'male', genderScore: 0.9, ageYears: 60 }));
    for (let i = 0; i < 4; i++) f.add(obs({ box: squareBox(110), gender: 'female', genderScore: 0.9, ageYears: 25 }));
    expect(f.estimate()?.gender).toBe('female');
    expect(f.estimate()?.ageYears).toBe(25);
  });

  it('counts ignored observations and those without attributes, and bounds memory', () => {
    const f = new PersonFusion({ maxAgeSamples: 10 });
    for (let i = 0; i < 50; i++) f.add(obs({ ageYears: 30 }));
    f.add(obs({ box: squareBox(5) }));
    f.add(obs({ ageYears: Number.NaN }));
    f.add({ box: squareBox(100), score: 0.9 });
    expect(f.samples).toBe(50);
    expect(f.ignored).toBe(2);
    expect(f.withoutAttributes).toBe(1);
    expect(f.droppedAgeSamples).toBe(40);
    expect(f.estimate()?.ageYears).toBe(30);
  });

  it('counts how long the estimate has held, and starts over when it moves', () => {
    const f = new PersonFusion({ minSamples: 3, stableAgeYears: 3 });
    for (let i = 0; i < 2; i++) f.add(obs({ ageYears: 30 }));
    expect(f.stableSamples()).toBe(0);
    for (let i = 0; i < 5; i++) f.add(obs({ ageYears: 31 }));
    expect(f.stableSamples()).toBe(5);
    // The median moves to 50 once 50s are the majority: the run restarts there.
    for (let i = 0; i < 9; i++) f.add(obs({ ageYears: 50 }));
    expect(f.age()).toBe(50);
    expect(f.stableSamples()).toBeLessThan(9);
  });

  it('absorbs an earlier appearance', () => {
    const a = new PersonFusion();
    const b = new PersonFusion();
    for (let i = 0; i < 2; i++) a.add(obs({ ageYears: 40 }));
    for (let i = 0; i < 2; i++) b.add(obs({ ageYears: 40 }));
    expect(b.estimate()).toBeNull();
    b.absorb(a);
    expect(b.estimate()?.samples).toBe(4);
  });

  it('gives an 80% age range from the age error model', () => {
    const ageError = { knotsYears: [30], levels: [0, 0.1, 0.5, 0.9, 1], residualQuantilesYears: [[-10, -5, 0, 6, 12]] };
    const f = new PersonFusion({ ageError });
    for (let i = 0; i < 3; i++) f.add(obs({ ageYears: 30 }));
    expect(f.estimate()?.ageRangeYears).toEqual([25, 36]);
  });

  it('rejects bad params naming the field', () => {
    expect(() => fusionParams({ minSamples: 0 })).toThrow(/minSamples/);
    expect(() => fusionParams({ minGenderConfidence: 1.2 })).toThrow(/minGenderConfidence/);
    expect(() => fusionParams({ qualityFloor: 1 })).toThrow(/qualityFloor/);
    expect(() => fusionParams({ evidenceExponent: -1 })).toThrow(/evidenceExponent/);
    expect(() => fusionParams({ fullWeightSidePx: -1 })).toThrow(/fullWeightSidePx/);
  });
});

/**
 * Fusion vs single frames with REAL model output: face-api's age/gender model (models/onnx/age_gender)
 * on utkface-dev faces (real labeled people). Each person is "seen" 12 times: at face sizes
 * 20/32/48/96 px (the aligned crop downscaled with sharp, as a far camera would capture it) x 3
 * detector-like box jitters (box 80..100% of the crop, shifted), fed as the manifest says (pad to a
 * square, TF bilinear to 112). Per-frame errors then come from the model itself, not from a noise model.
 */
describe('fusion on real age_gender model output (utkface-dev, 150 people x 12 views)', () => {
  const SIZES = [20, 32, 48, 96];
  const JITTERS = 3;
  const views: { person: number; side: number; ageYears: number; gender: Gender; genderScore: number }[] = [];
  const truths = readTruths().filter((_, i) => i % 12 === 0);

  beforeAll(async () => {
    const model = await loadModel('age_gender');
    const input = model.session.inputNames[0] as string;
    const r = rng(42);
    for (let p = 0; p < truths.length; p++) {
      const t = truths[p] as (typeof truths)[number];
      const { data, info } = await sharp(path.join(path.dirname(LABELS), t.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      for (const size of SIZES) {
        for (let j = 0; j < JITTERS; j++) {
          const bw = Math.round(info.width * (0.8 + 0.2 * r()));
          const bh = Math.round(info.height * (0.8 + 0.2 * r()));
          const left = Math.floor((info.width - bw) * r());
          const top = Math.floor((info.height - bh) * r());
          const scale = size / Math.max(bw, bh);
          const small = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
            .extract({ left, top, width: bw, height: bh })
            .resize(Math.max(4, Math.round(bw * scale)), Math.max(4, Math.round(bh * scale)), { fit: 'fill' })
            .raw()
            .toBuffer({ resolveWithObject: true });
          // Zero-pad to a square with the padding split evenly, as the manifest's feed says.
          const sq = Math.max(small.info.width, small.info.height);
          const padded = new Uint8Array(sq * sq * 3);
          const ox = Math.floor((sq - small.info.width) / 2);
          const oy = Math.floor((sq - small.info.height) / 2);
          for (let y = 0; y < small.info.height; y++) padded.set(small.data.subarray(y * small.info.width * 3, (y + 1) * small.info.width * 3), ((y + oy) * sq + ox) * 3);
          const tensor = resizeBilinear({ data: padded, width: sq, height: sq, channels: 3 }, 112, 112);
          const out = await model.session.run({ [input]: new ort.Tensor('float32', tensor, [1, 112, 112, 3]) });
          const ageYears = (out['age']?.data as Float32Array)[0] as number;
          const pMale = (out['gender']?.data as Float32Array)[0] as number;
          views.push({ person: p, side: Math.sqrt(small.info.width * small.info.height), ageYears, gender: pMale >= 0.5 ? 'male' : 'female', genderScore: Math.max(pMale, 1 - pMale) });
        }
      }
    }
  }, 120_000);

  it('fused age and gender beat single frames, and weighting beats an unweighted median', () => {
    let singleAbs = 0;
    let singleRight = 0;
    let fusedAbs = 0;
    let unweightedAbs = 0;
    let fusedRight = 0;
    let fusedN = 0;
    for (let p = 0; p < truths.length; p++) {
      const t = truths[p] as (typeof truths)[number];
      const mine = views.filter((v) => v.person === p);
      expect(mine.length).toBe(SIZES.length * JITTERS);
      const f = new PersonFusion();
      for (const v of mine) {
        f.add({ box: [0, 0, v.side, v.side], score: 0.9, ageYears: v.ageYears, gender: v.gender, genderScore: v.genderScore });
        singleAbs += Math.abs(v.ageYears - t.ageYears);
        singleRight += v.gender === t.gender ? 1 : 0;
      }
      const e = f.estimate();
      if (e === null) continue;
      fusedN++;
      fusedAbs += Math.abs(e.ageYears - t.ageYears);
      unweightedAbs += Math.abs(weightedMedian(mine.map((v) => ({ ageYears: v.ageYears, weight: 1 }))) - t.ageYears);
      // The more likely gender (the label may abstain as `unknown`).
      fusedRight += (e.maleProbability >= 0.5 ? 'male' : 'female') === t.gender ? 1 : 0;
    }
    const singleMae = singleAbs / views.length;
    const singleAcc = singleRight / views.length;
    const fusedMae = fusedAbs / fusedN;
    const unweightedMae = unweightedAbs / fusedN;
    const fusedAcc = fusedRight / fusedN;
    console.log(`fusion (real age_gender model): single-frame age MAE ${singleMae.toFixed(2)} y, gender ${(100 * singleAcc).toFixed(1)}%; ` +
      `fused age MAE ${fusedMae.toFixed(2)} y (unweighted median ${unweightedMae.toFixed(2)} y), gender ${(100 * fusedAcc).toFixed(1)}%; ${fusedN}/${truths.length} people passed the gate`);
    expect(fusedN / truths.length).toBeGreaterThan(0.7);
    expect(fusedMae).toBeLessThan(0.9 * singleMae);
    expect(fusedMae).toBeLessThan(unweightedMae);
    expect(fusedAcc).toBeGreaterThan(singleAcc + 0.03);
  });
});
