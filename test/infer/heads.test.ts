import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaceAnalyzer, type FaceAnalyzer } from '../../src/infer/analyzer.ts';
import { loadImage } from '../../src/infer/decode.ts';
import { HEAD_FEATURE_COUNT, applyGenderHead, clippedLogit, headFeatures, loadGenderHead, parseGenderHead, type GenderHead } from '../../src/infer/fused-age-gender.ts';
import { SHARED_DATA } from './faceapi-helpers.ts';

const UTK = path.join(SHARED_DATA, 'faces', 'utkface-dev');

describe('gender head (src/infer/heads/gender-head.json)', () => {
  let head: GenderHead;
  beforeAll(() => {
    head = loadGenderHead();
  });

  it('loads with its provenance and applies as sigmoid(bias + w . standardised x)', () => {
    expect(head.weights).toHaveLength(HEAD_FEATURE_COUNT);
    expect(head.provenance['createdBy']).toMatch(/fit:heads/);
    expect(head.provenance['cv']).toBeDefined();
    const at = (x: number[]): number => applyGenderHead(head, x);
    expect(at([...head.mean])).toBeCloseTo(1 / (1 + Math.exp(-head.bias)), 12);
    // One standard deviation along feature j adds w_j to the logit.
    for (const j of [0, 1, 2, 500]) {
      const x = [...head.mean];
      x[j] = (x[j] as number) + (head.scale[j] as number);
      expect(at(x)).toBeCloseTo(1 / (1 + Math.exp(-(head.bias + (head.weights[j] as number)))), 10);
    }
    const features = headFeatures({ faAgeYears: 31, faMaleProbability: 0.9, frMaleProbability: 1, descriptor: new Float32Array(1024).fill(1 / 32) });
    expect(features.slice(0, 3)).toEqual([31, clippedLogit(0.9), clippedLogit(1)]);
    expect(features[2]).toBeCloseTo(Math.log(9999), 6);
    expect(() => applyGenderHead(head, [1, 2, 3])).toThrow(/3 features/);
  });

  it('rejects malformed heads naming the field', () => {
    const json = JSON.parse(readFileSync(path.resolve('src/infer/heads/gender-head.json'), 'utf8')) as Record<string, unknown>;
    expect(() => parseGenderHead({ ...json, kind: 'ridge' })).toThrow(/kind/);
    expect(() => parseGenderHead({ ...json, weights: [1, 2] })).toThrow(/weights must be 1027/);
    expect(() => parseGenderHead({ ...json, scale: (json['scale'] as number[]).map(() => 0) })).toThrow(/scale/);
    expect(() => parseGenderHead({ ...json, bias: 'x' })).toThrow(/bias/);
    expect(() => loadGenderHead('/nonexistent/head.json')).toThrow(/fit:heads/);
  });
});

describe('fused age/gender on real utkface-dev faces', () => {
  let analyzer: FaceAnalyzer;
  beforeAll(async () => {
    analyzer = await createFaceAnalyzer({ ageGender: 'fused', tta: 'multicrop' });
  });
  afterAll(async () => {
    await analyzer.close();
  });

  it('30 faces across all ages: ages within a loose band, genders mostly right', async () => {
    // Every 60th face of the 1,800 (all age bins). The head was fitted on all of utkface-dev, these
    // included, so this checks the wiring end to end, not generalisation (see the CV numbers in the head).
    const rows = readFileSync(path.join(UTK, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const picks = Array.from({ length: 30 }, (_, i) => rows[i * Math.floor(rows.length / 30)] as string[]);
    let absErr = 0;
    let right = 0;
    for (const [file, age, gender] of picks) {
      const [face, ...rest] = await analyzer.analyze(await loadImage(path.join(UTK, file as string)), { assumeFace: true });
      expect(rest).toHaveLength(0);
      absErr += Math.abs((face?.ageYears ?? NaN) - Number(age));
      if (face?.gender === gender) right++;
    }
    expect(absErr / picks.length).toBeLessThan(9);
    expect(right / picks.length).toBeGreaterThanOrEqual(0.8);
    expect(analyzer.options).toMatchObject({ ageGender: 'fused', tta: 'multicrop', cropScale: 1 });
  });
});
