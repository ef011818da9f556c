import { describe, expect, it } from 'vitest';
import { ageBucketShares, ageInterval, validateAgeErrorModel, type AgeErrorModel } from '../../src/shared/age-error.ts';
import { AGE_BUCKETS } from '../../src/shared/messages.ts';

/** Two knots: young faces are read 2 years old +-2, old faces 10 years young +-10. */
const MODEL: AgeErrorModel = { knotsYears: [10, 70], levels: [0, 0.5, 1], residualQuantilesYears: [[-4, -2, 0], [0, 10, 20]] };

describe('ageBucketShares', () => {
  it('without a model puts the whole person in their estimate bucket', () => {
    const s = ageBucketShares(30, undefined);
    expect(s['25-34']).toBe(1);
    expect(Object.values(s).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('splits by the measured error: shares sum to 1 and follow the residual quantiles', () => {
    for (const age of [0, 5, 10, 24, 40, 70, 95]) {
      const s = ageBucketShares(age, MODEL);
      expect(Object.keys(s)).toEqual([...AGE_BUCKETS]);
      expect(Object.values(s).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      for (const v of Object.values(s)) expect(v).toBeGreaterThanOrEqual(0);
    }
    // At 70 the truth is 70..90 (median 80): all of it 65+.
    expect(ageBucketShares(70, MODEL)['65+']).toBeCloseTo(1, 9);
    // At 10 the truth is 6..10: below 12.5, all 0-12.
    expect(ageBucketShares(10, MODEL)['0-12']).toBeCloseTo(1, 9);
    // Half-way between the knots the quantiles are interpolated: at 40, residuals -2..10 (median 4): 38..50.
    const mid = ageBucketShares(40, MODEL);
    expect(mid['35-44']).toBeCloseTo(0.5 + (44.5 - 44) / 12, 6);
    expect(mid['45-54']).toBeCloseTo((50 - 44.5) / 12, 6);
  });

  it('gives quantile intervals, clamped at 0', () => {
    const [lo, hi] = ageInterval(70, MODEL, 0.25, 0.75);
    expect(lo).toBeCloseTo(75, 9);
    expect(hi).toBeCloseTo(85, 9);
    expect(ageInterval(1, MODEL, 0, 1)[0]).toBe(0);
  });

  it('rejects malformed models naming the field', () => {
    expect(() => validateAgeErrorModel({ ...MODEL, levels: [0.1, 1] })).toThrow(/levels/);
    expect(() => validateAgeErrorModel({ ...MODEL, knotsYears: [10, 5] })).toThrow(/knotsYears/);
    expect(() => validateAgeErrorModel({ ...MODEL, residualQuantilesYears: [[0, -1, 2], [0, 1, 2]] })).toThrow(/residualQuantilesYears\[0\]/);
  });
});
