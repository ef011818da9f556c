import { describe, expect, it } from 'vitest';
import { historyBucketSchema } from '../../src/shared/api.ts';
import { DemographicsHistory } from '../../src/track/history.ts';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0); // a whole hour
const MIN = 60_000;
const HOUR = 3_600_000;

describe('DemographicsHistory', () => {
  it('aggregates people per minute and per hour: distinct people, entries, dwell, people in view, cells', () => {
    const h = new DemographicsHistory();
    // Minute 0: persons a and b; a has an estimate from the second frame on.
    h.entered(T0 + 1000, false);
    h.entered(T0 + 1000, false);
    h.frame(T0 + 1000, [
      { key: '1:1', cell: null },
      { key: '1:2', cell: null },
    ]);
    h.frame(T0 + 1200, [
      { key: '1:1', cell: '25-34/female' },
      { key: '1:2', cell: null },
    ]);
    h.peopleNow(T0 + 1200, 2);
    h.peopleNow(T0 + 30_000, 1);
    h.left(T0 + 40_000, 39_000);
    // Minute 1: a is still there (same key: counted once in the hour), c returns.
    h.entered(T0 + MIN + 5000, true);
    h.frame(T0 + MIN + 5000, [
      { key: '1:1', cell: '25-34/female' },
      { key: '1:3', cell: '45-54/male' },
    ]);
    h.peopleNow(T0 + MIN + 5000, 2);

    const { minutes, hours } = h.read(T0 + MIN + 10_000);
    expect(minutes).toHaveLength(60);
    expect(hours).toHaveLength(24);
    for (const b of [...minutes, ...hours]) historyBucketSchema.parse(b);
    const m0 = minutes[58];
    const m1 = minutes[59];
    expect(m0).toMatchObject({ startMs: T0, endMs: T0 + MIN, frames: 2, unique: 2, entered: 2, returning: 0, left: 1, averageDwellMs: 39_000, peopleNowMax: 2, peopleNowMean: 1.5, byAgeGender: { '25-34/female': 1 } });
    expect(m1).toMatchObject({ startMs: T0 + MIN, frames: 1, unique: 2, entered: 1, returning: 1, left: 0, averageDwellMs: null, byAgeGender: { '25-34/female': 1, '45-54/male': 1 } });
    // Older minutes of the hour: no data.
    expect(minutes[0]).toMatchObject({ startMs: T0 + MIN - 59 * MIN, frames: 0, unique: 0, averageDwellMs: null, byAgeGender: {} });
    expect(hours[23]).toMatchObject({ startMs: T0, endMs: T0 + HOUR, frames: 3, unique: 3, entered: 3, returning: 1, left: 1, peopleNowMax: 2, byAgeGender: { '25-34/female': 1, '45-54/male': 1 } });
    expect(hours[22]?.frames).toBe(0);
  });

  it('keeps only the last hour of minutes and the last day of hours (bounded memory)', () => {
    const h = new DemographicsHistory();
    for (let i = 0; i < 26; i++) h.frame(T0 + i * HOUR, [{ key: `p${i}`, cell: null }]);
    const last = T0 + 25 * HOUR;
    const { minutes, hours } = h.read(last);
    expect(hours.map((b) => b.frames)).toEqual(new Array(24).fill(1));
    expect(hours[0]?.startMs).toBe(last - 23 * HOUR);
    expect(minutes.filter((b) => b.frames > 0)).toHaveLength(1);
    // An event older than what is kept is ignored, not resurrected.
    h.frame(T0, [{ key: 'old', cell: null }]);
    expect(h.read(last).hours.reduce((n, b) => n + b.frames, 0)).toBe(24);
  });

  it('counts people beyond the per-bucket bound without remembering them', () => {
    const h = new DemographicsHistory({ maxPeoplePerBucket: 3 });
    h.frame(T0, ['a', 'b', 'c', 'd', 'e'].map((key) => ({ key, cell: null })));
    h.frame(T0 + 100, [{ key: 'a', cell: '0-12/male' }]);
    const m = h.read(T0).minutes.at(-1);
    expect(m?.unique).toBe(5);
    expect(m?.byAgeGender).toEqual({ '0-12/male': 1 });
    expect(h.overflow).toBe(4);
  });

  it('rejects bad parameters naming them', () => {
    expect(() => new DemographicsHistory({ minuteBuckets: 0 })).toThrow(/minuteBuckets/);
  });
});
