import { describe, expect, it } from 'vitest';
import { REAL_CLIPS, scoreSummary } from '../../bench/lib/real.ts';

describe('bench:real scoring', () => {
  const person = (gender: 'female' | 'male' | 'unknown' | null) => ({ ageYears: gender === null ? null : 30, gender, samples: gender === null ? 0 : 5 });

  it('counts estimates and compares answered genders with the truth as multisets', () => {
    const s = scoreSummary({ uniquePersons: 5, persons: [person('male'), person('male'), person('female'), person('unknown'), person(null)] }, { persons: 3, female: 2, male: 1 });
    expect(s).toEqual({ predPersons: 5, estimated: 4, female: 1, male: 2, unknown: 1, genderMatched: 2, genderExcess: 1 });
    expect(scoreSummary({ uniquePersons: 1, persons: [person(null)] }, null)).toMatchObject({ estimated: 0, genderMatched: null, genderExcess: null });
  });

  it('states the data README truth per clip (13 people with faces, a no-face control)', () => {
    const withFaces = REAL_CLIPS.filter((c) => c.truth && !c.control);
    expect(withFaces.reduce((a, c) => a + (c.truth?.persons ?? 0), 0)).toBe(13);
    for (const c of withFaces) expect((c.truth?.female ?? 0) + (c.truth?.male ?? 0)).toBe(c.truth?.persons);
    expect(REAL_CLIPS.filter((c) => c.control).map((c) => c.truth?.persons)).toEqual([0]);
  });
});
