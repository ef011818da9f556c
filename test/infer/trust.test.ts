import { describe, expect, it } from 'vitest';
import { calibratedMaleProbability, calibrationFeature, loadTrustModel, parseTrustModel } from '../../src/infer/trust.ts';

describe('trust model', () => {
  const model = loadTrustModel();

  it('the shipped file is valid and says what was fitted on what', () => {
    expect(model.kind).toBe('crowdlens-trust');
    expect(model.provenance['createdBy']).toMatch(/fit:trust/);
    expect(String(model.provenance['data'])).toMatch(/utkface-dev/);
    expect(model.thresholds.personMinGenderConfidence).toBeGreaterThan(0.5);
    expect(model.thresholds.faceMinGenderConfidence).toBeGreaterThan(0.5);
  });

  it('computes named features and products; calibrated P(male) follows face-api and is less sure for small faces', () => {
    const x = { faMaleProbability: 0.9, frMaleProbability: 0.2, sidePx: 50 };
    expect(calibrationFeature('faLogit', x)).toBeCloseTo(Math.log(9), 9);
    expect(calibrationFeature('size', x)).toBeCloseTo(Math.log(0.5), 9);
    expect(calibrationFeature('size', { ...x, sidePx: 300 })).toBe(0);
    expect(calibrationFeature('faLogit*size', x)).toBeCloseTo(Math.log(9) * Math.log(0.5), 9);
    const c = model.gender.age_gender;
    const big = calibratedMaleProbability(c, { faMaleProbability: 0.95, sidePx: 150 });
    const small = calibratedMaleProbability(c, { faMaleProbability: 0.95, sidePx: 40 });
    expect(big).toBeGreaterThan(0.8);
    expect(small).toBeLessThan(big);
    expect(calibratedMaleProbability(c, { faMaleProbability: 0.05, sidePx: 150 })).toBeLessThan(0.2);
    expect(() => calibrationFeature('frLogit', { faMaleProbability: 0.5, sidePx: 100 })).toThrow(/faceres/);
    expect(() => calibrationFeature('beard', x)).toThrow(/unknown feature "beard"/);
  });

  it('rejects malformed files naming the field', () => {
    expect(() => parseTrustModel({ ...model, kind: 'x' })).toThrow(/kind/);
    expect(() => parseTrustModel({ ...model, thresholds: { ...model.thresholds, personMinGenderConfidence: 0.3 } })).toThrow(/personMinGenderConfidence/);
    expect(() => parseTrustModel({ ...model, gender: { ...model.gender, age_gender: { ...model.gender.age_gender, weights: [1] } } })).toThrow(/age_gender.weights/);
    expect(() => parseTrustModel({ ...model, ageError: { ...model.ageError, levels: [0, 0.5] } })).toThrow(/ageError.*levels/);
  });
});
