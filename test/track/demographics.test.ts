import { describe, expect, it } from 'vitest';
import { AGE_BUCKETS } from '../../src/shared/messages.ts';
import type { PersonEstimate } from '../../src/shared/messages.ts';
import { Demographics, emptyAgeGender } from '../../src/track/demographics.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** A confident estimate: all of the person in one gender. */
function est(ageYears: number, gender: 'female' | 'male'): PersonEstimate {
  return { ageYears, gender, genderScore: 1, maleProbability: gender === 'male' ? 1 : 0, samples: 10 };
}

describe('Demographics', () => {
  it('starts empty with every age bucket x gender cell at 0', () => {
    const d = new Demographics('cam1');
    const s = d.snapshot(0);
    expect(s).toMatchObject({ type: 'demographics', sourceId: 'cam1', atMs: 0, peopleNow: 0, averageDwellMs: 0 });
    expect(s.unique).toEqual({ lastMinute: 0, lastHour: 0, lastDay: 0, sinceStart: 0 });
    expect(Object.keys(s.byAgeGender)).toHaveLength(AGE_BUCKETS.length * 2);
    expect(s.byAgeGender).toEqual(emptyAgeGender());
  });

  it('counts people in view, unique people in trailing windows by frame time, and since start', () => {
    const d = new Demographics('cam1');
    d.enter(1, 0, false);
    d.enter(2, 1000, false);
    expect(d.snapshot(1000).peopleNow).toBe(2);
    d.leave(1, 10_000, 10_000);
    d.seen(2, 20_000);
    d.leave(2, 20_000, 19_000);
    let s = d.snapshot(20_000);
    expect(s.peopleNow).toBe(0);
    expect(s.unique).toEqual({ lastMinute: 2, lastHour: 2, lastDay: 2, sinceStart: 2 });
    // Person 1 was last seen at 10 s: out of the trailing minute at 70.001 s, person 2 still in it.
    s = d.snapshot(10_000 + MIN + 1);
    expect(s.unique).toEqual({ lastMinute: 1, lastHour: 2, lastDay: 2, sinceStart: 2 });
    s = d.snapshot(20_000 + HOUR + 1);
    expect(s.unique).toEqual({ lastMinute: 0, lastHour: 0, lastDay: 2, sinceStart: 2 });
    s = d.snapshot(20_000 + DAY + 1);
    expect(s.unique).toEqual({ lastMinute: 0, lastHour: 0, lastDay: 0, sinceStart: 2 });
    expect(s.averageDwellMs).toBe((10_000 + 19_000) / 2);
  });

  it('keeps a person in view inside every window however long they stay', () => {
    const d = new Demographics('cam1');
    d.enter(1, 0, false);
    const s = d.snapshot(2 * DAY);
    expect(s.peopleNow).toBe(1);
    expect(s.unique).toEqual({ lastMinute: 1, lastHour: 1, lastDay: 1, sinceStart: 1 });
  });

  it('does not count a returning person twice', () => {
    const d = new Demographics('cam1');
    d.enter(7, 0, false);
    d.estimate(7, est(30, 'female'));
    d.leave(7, 5000, 5000);
    d.enter(7, 65_000, true);
    d.estimate(7, est(31, 'female'));
    const s = d.snapshot(70_000);
    expect(s.unique).toEqual({ lastMinute: 1, lastHour: 1, lastDay: 1, sinceStart: 1 });
    expect(s.byAgeGender['25-34/female']).toBe(1);
  });

  it('counts each person once by their latest estimate, moving them between cells', () => {
    const d = new Demographics('cam1');
    d.enter(1, 0, false);
    d.enter(2, 0, false);
    d.enter(3, 0, false);
    d.estimate(1, est(23, 'male'));
    d.estimate(2, est(40, 'female'));
    d.estimate(1, est(26, 'male'));
    d.estimate(1, est(26.5, 'male'));
    const s = d.snapshot(1000);
    expect(s.byAgeGender['18-24/male']).toBe(0);
    expect(s.byAgeGender['25-34/male']).toBe(1);
    expect(s.byAgeGender['35-44/female']).toBe(1);
    // Person 3 has no estimate yet: in the unique counts, not in the cells.
    expect(Object.values(s.byAgeGender).reduce((a, b) => a + b, 0)).toBe(2);
    expect(s.unique.sinceStart).toBe(3);
  });

  it('keeps since-start cells after a person is forgotten past a day', () => {
    const d = new Demographics('cam1');
    d.enter(1, 0, false);
    d.estimate(1, est(70, 'male'));
    d.leave(1, 1000, 1000);
    const s = d.snapshot(1000 + DAY + 1);
    expect(s.unique.lastDay).toBe(0);
    expect(s.byAgeGender['65+/male']).toBe(1);
    // Forgotten: a late estimate for them changes nothing.
    d.estimate(1, est(20, 'male'));
    expect(d.snapshot(1000 + DAY + 2).byAgeGender['18-24/male']).toBe(0);
  });

  it('is bounded by maxPeople: the oldest sighting not in view is dropped and counted', () => {
    const d = new Demographics('cam1', { maxPeople: 3 });
    for (let id = 1; id <= 5; id++) {
      d.enter(id, id * 1000, false);
      d.leave(id, id * 1000 + 500, 500);
    }
    expect(d.evicted).toBe(2);
    const s = d.snapshot(6000);
    expect(s.unique.lastMinute).toBe(3);
    expect(s.unique.sinceStart).toBe(5);
  });

  it('counts people by their fused distributions: P(male) splits them, the age error spreads them over buckets', () => {
    // Estimated 24: the truth is 4 years either side (uniform), so 18-24 (up to 24.5) gets 0.5625 and 25-34 the rest.
    const ageError = { knotsYears: [24], levels: [0, 1], residualQuantilesYears: [[-4, 4]] };
    const d = new Demographics('cam1', { ageError });
    d.enter(1, 0, false);
    d.estimate(1, { ageYears: 24, gender: 'unknown', genderScore: 0.6, maleProbability: 0.6, samples: 5 });
    d.enter(2, 0, false);
    d.estimate(2, { ageYears: 50, gender: 'female', genderScore: 0.9, maleProbability: 0.1, samples: 5 });
    d.enter(3, 0, false);
    const s = d.snapshot(1000);
    expect(s.byAgeGender['18-24/male']).toBeCloseTo(0.6 * 0.5625, 2);
    expect(s.byAgeGender['18-24/female']).toBeCloseTo(0.4 * 0.5625, 2);
    expect(s.byAgeGender['25-34/male']).toBeCloseTo(0.6 * 0.4375, 2);
    expect(s.byAgeGender['45-54/female']).toBeCloseTo(0.9, 3);
    expect(s.byAgeGender['45-54/male']).toBeCloseTo(0.1, 3);
    expect(Object.values(s.byAgeGender).reduce((a, b) => a + b, 0)).toBeCloseTo(2, 2);
    // Per-person labels keep the abstention; person 3 has no estimate and is in no cell.
    expect(s).toMatchObject({ estimated: 2, withoutEstimate: 1, byGenderLabel: { female: 1, male: 0, unknown: 1 } });
    // Each cell's 90% interval: a person's share is a Bernoulli; sd = sqrt(sum p (1 - p)).
    const [lo, hi] = s.byAgeGenderInterval['45-54/female'];
    const sd = Math.sqrt(0.9 * 0.1);
    expect(lo).toBeCloseTo(Math.max(0, 0.9 - 1.6449 * sd), 3);
    expect(hi).toBeCloseTo(Math.min(2, 0.9 + 1.6449 * sd), 3);
    expect(s.byAgeGenderInterval['0-12/male']).toEqual([0, 0]);
    // A new estimate moves the person's shares, not adds to them.
    d.estimate(1, { ageYears: 24, gender: 'male', genderScore: 0.9, maleProbability: 0.9, samples: 9 });
    const t = d.snapshot(2000);
    expect(t.byAgeGender['18-24/male']).toBeCloseTo(0.9 * 0.5625, 2);
    expect(t.byGenderLabel).toEqual({ female: 1, male: 1, unknown: 0 });
    expect(t.estimated).toBe(2);
  });

  it('rejects bad params naming the field', () => {
    expect(() => new Demographics('c', { ageError: { knotsYears: [], levels: [0, 1], residualQuantilesYears: [] } })).toThrow(/ageError.*knotsYears/);
    expect(() => new Demographics('c', { minuteMs: 0 })).toThrow(/minuteMs/);
    expect(() => new Demographics('c', { maxPeople: 1.5 })).toThrow(/maxPeople/);
  });
});
