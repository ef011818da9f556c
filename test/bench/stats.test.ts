import { describe, expect, it } from 'vitest';
import { fitAgeCalibration } from '../../bench/lib/calibrate.ts';
import { stratifiedSubsample } from '../../bench/lib/faces.ts';
import { ageBinOf, crossValidate, errorTable, fitLogistic, percentile, seededRandom, sigmoid, stratifiedKFold } from '../../bench/lib/stats.ts';
import { applyAgeCalibration, parseAgeCalibration } from '../../src/infer/calibration.ts';

describe('stratifiedKFold', () => {
  const strata = Array.from({ length: 90 }, (_, i) => (i < 50 ? 'a' : i < 80 ? 'b' : 'c'));

  it('gives every stratum an even share of every fold and is seeded', () => {
    const folds = stratifiedKFold(strata, 5, 7);
    for (const s of ['a', 'b', 'c']) {
      const members = strata.map((x, i) => (x === s ? (folds[i] as number) : -1)).filter((f) => f >= 0);
      const counts = [0, 1, 2, 3, 4].map((f) => members.filter((m) => m === f).length);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
    expect(stratifiedKFold(strata, 5, 7)).toEqual(folds);
    expect(stratifiedKFold(strata, 5, 8)).not.toEqual(folds);
  });

  it('rejects k < 2', () => {
    expect(() => stratifiedKFold(strata, 1, 1)).toThrow(/k must be/);
  });
});

describe('crossValidate', () => {
  it('never predicts a sample with a model fitted on it', () => {
    const folds = stratifiedKFold(Array.from({ length: 20 }, () => 's'), 5, 1);
    const out = crossValidate(20, folds, (train) => new Set(train), (seen, i) => seen.has(i));
    expect(out).toEqual(new Array(20).fill(false));
  });
});

describe('errorTable', () => {
  it('computes MAE, signed bias and gender accuracy per age bin', () => {
    const t = errorTable([
      { trueAge: 1, trueMale: true, predAge: 3, predMale: true },
      { trueAge: 2, trueMale: false, predAge: 1, predMale: true },
      { trueAge: 75, trueMale: true, predAge: 65, predMale: true },
      { trueAge: 30, trueMale: true, predAge: NaN, predMale: false },
    ]);
    expect(t.bins['0-2']).toEqual({ n: 2, maeYears: 1.5, biasYears: 0.5, genderAccuracy: 0.5 });
    expect(t.bins['70+'].biasYears).toBe(-10);
    expect(t.bins['30-39'].n).toBe(0);
    expect(t.overall.n).toBe(3);
    expect(t.overall.maeYears).toBeCloseTo(13 / 3, 10);
  });

  it('bins ages at the utkface-dev edges', () => {
    expect([0, 2, 3, 9, 10, 19.5, 69, 70, 116].map(ageBinOf)).toEqual(['0-2', '0-2', '3-9', '3-9', '10-19', '10-19', '60-69', '70+', '70+']);
    expect(() => ageBinOf(-1)).toThrow(/ageYears/);
  });
});

describe('percentile', () => {
  it('interpolates linearly', () => {
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile([10, 20], 95)).toBeCloseTo(19.5, 10);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('fitLogistic', () => {
  it('recovers a separating weight sign and bias', () => {
    const rand = seededRandom(3);
    const x: number[][] = [];
    const y: boolean[] = [];
    for (let i = 0; i < 400; i++) {
      const a = rand() * 4 - 2;
      x.push([a]);
      y.push(rand() < sigmoid(3 * a - 1));
    }
    const [w, b] = fitLogistic(x, y) as [number, number];
    expect(w).toBeGreaterThan(2);
    expect(w).toBeLessThan(4.5);
    expect(b).toBeLessThan(-0.3);
    expect(b).toBeGreaterThan(-1.8);
  });
});

describe('age calibration', () => {
  it('fits a monotone map that removes a systematic compression', () => {
    const rand = seededRandom(5);
    const truth = Array.from({ length: 600 }, () => rand() * 90);
    // A model that compresses old ages: reads 0.8x above 40.
    const raw = truth.map((t) => (t > 40 ? 40 + 0.8 * (t - 40) : t) + (rand() - 0.5) * 4);
    const knots = fitAgeCalibration(raw, truth);
    for (let i = 1; i < knots.length; i++) {
      expect((knots[i] as [number, number])[0]).toBeGreaterThan((knots[i - 1] as [number, number])[0]);
      expect((knots[i] as [number, number])[1]).toBeGreaterThanOrEqual((knots[i - 1] as [number, number])[1]);
    }
    const mae = (pred: number[]): number => pred.reduce((s, p, i) => s + Math.abs(p - (truth[i] as number)), 0) / pred.length;
    const calibrated = raw.map((r) => applyAgeCalibration({ knots }, r));
    expect(mae(calibrated)).toBeLessThan(mae(raw) - 1);
  });

  it('interpolates between knots, shifts with slope 1 outside and never goes below 0', () => {
    const cal = { knots: [[10, 12], [20, 30]] as [number, number][] };
    expect(applyAgeCalibration(cal, 15)).toBe(21);
    expect(applyAgeCalibration(cal, 25)).toBe(35);
    expect(applyAgeCalibration(cal, 5)).toBe(7);
    expect(applyAgeCalibration({ knots: [[10, 2], [20, 30]] }, 1)).toBe(0);
  });

  it('rejects files with non-monotone knots, naming the knot', () => {
    const base = { kind: 'age-piecewise-linear', appliesTo: 'x', provenance: {} };
    expect(() => parseAgeCalibration({ ...base, knots: [[10, 12], [10, 13]] })).toThrow(/knots\[1\]\[0\]/);
    expect(() => parseAgeCalibration({ ...base, knots: [[10, 12], [11, 11]] })).toThrow(/knots\[1\]\[1\]/);
    expect(() => parseAgeCalibration({ ...base, kind: 'other', knots: [[1, 1], [2, 2]] })).toThrow(/kind/);
  });
});

describe('stratifiedSubsample', () => {
  it('keeps every stratum in proportion and is deterministic', () => {
    const items = Array.from({ length: 60 }, (_, i) => ({ id: i, stratum: i < 30 ? 'a' : i < 45 ? 'b' : 'c' }));
    const s = stratifiedSubsample(items, 9, 1);
    expect(s).toHaveLength(9);
    expect(new Set(s.map((x) => x.stratum))).toEqual(new Set(['a', 'b', 'c']));
    expect(stratifiedSubsample(items, 9, 1)).toEqual(s);
    expect(stratifiedSubsample(items, undefined, 1)).toHaveLength(60);
  });
});
