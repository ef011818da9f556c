import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FaceApiAgeGender, faceApiCropRect, scaleBox } from '../../src/infer/agegender.ts';
import { SsdMobilenetV1Detector } from '../../src/infer/ssd.ts';
import type { BoxXyxy } from '../../src/shared/messages.ts';
import { decodeRgb, DEMO_DIR, goldenFixture, SHARED_DATA } from './faceapi-helpers.ts';

interface AgeGolden {
  readonly faces: readonly { image: string; crop: { x: number; y: number; width: number; height: number }; age: number; gender: [number, number] }[];
}

const UTK = path.join(SHARED_DATA, 'faces', 'utkface-dev');

describe('FaceApiAgeGender', () => {
  let exact: FaceApiAgeGender;
  let defaults: FaceApiAgeGender;
  beforeAll(async () => {
    exact = await FaceApiAgeGender.create({ flip: false, boxScale: 1 });
    defaults = await FaceApiAgeGender.create();
  });

  it("crops like face-api's Box.clipAtImageBorders (clip, then floor x/y/width/height)", () => {
    expect(faceApiCropRect([-5.5, 10.7, 50.2, 80.9], 40, 60)).toEqual({ x: 0, y: 10, width: 40, height: 49 });
    expect(faceApiCropRect([3.9, 4.2, 20.5, 30.1], 100, 100)).toEqual({ x: 3, y: 4, width: 16, height: 25 });
    expect(scaleBox([10, 20, 30, 60], 1.5)).toEqual([5, 10, 35, 70]);
  });

  it("reproduces face-api's age and P(male) on its golden crops (flip off, box scale 1), batched", async () => {
    const { faces } = goldenFixture<AgeGolden>('faceapi-age_gender.json');
    const byImage = new Map<string, (typeof faces)[number][]>();
    for (const f of faces) byImage.set(f.image, [...(byImage.get(f.image) ?? []), f]);
    let compared = 0;
    for (const [image, list] of byImage) {
      const img = await decodeRgb(path.join(DEMO_DIR, image));
      const boxes = list.map((f): BoxXyxy => [f.crop.x, f.crop.y, f.crop.x + f.crop.width, f.crop.y + f.crop.height]);
      const raw = await exact.estimateRaw(img, boxes);
      raw.forEach((r, i) => {
        const want = list[i] as (typeof faces)[number];
        expect(Math.abs(r.ageYears - want.age), `${image} #${i} age`).toBeLessThan(1e-3);
        expect(Math.abs(r.maleProbability - want.gender[0]), `${image} #${i} P(male)`).toBeLessThan(1e-3);
        compared++;
      });
      // The batched path equals one face at a time.
      const single = await exact.estimate(img, boxes[0] as BoxXyxy);
      expect(Math.abs(single.ageYears - Math.max(0, (raw[0] as { ageYears: number }).ageYears))).toBeLessThan(1e-4);
    }
    expect(compared).toBe(faces.length);
  });

  it('gives plausible attributes for the two faces of two_people.jpg found by the SSD detector', async () => {
    const image = await decodeRgb(path.join(SHARED_DATA, 'videos', 'two_people.jpg'));
    const faces = await (await SsdMobilenetV1Detector.create()).detect(image);
    expect(faces).toHaveLength(2);
    const attrs = await defaults.estimateMany(image, faces.map((f) => f.box));
    expect(attrs).toHaveLength(2);
    for (const a of attrs) {
      expect(a.ageYears).toBeGreaterThan(10);
      expect(a.ageYears).toBeLessThan(80);
      expect(a.genderScore).toBeGreaterThanOrEqual(0.5);
      expect(a.genderScore).toBeLessThanOrEqual(1);
    }
  });

  it('estimates utkface-dev ages within a loose band and mostly right genders (30 faces, 10-69 years)', async () => {
    const rows = readFileSync(path.join(UTK, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    // Every k-th adult-range face, deterministic; under 10 the net's gender is near chance, over 70 it reads low.
    const pool = rows.filter((r) => Number(r[1]) >= 10 && Number(r[1]) < 70);
    const picks = Array.from({ length: 30 }, (_, i) => pool[Math.floor((i * pool.length) / 30)] as string[]);
    let absErr = 0;
    let right = 0;
    for (const [file, age, gender] of picks) {
      const img = await decodeRgb(path.join(UTK, file as string));
      const a = await defaults.estimate(img, [0, 0, img.width, img.height]);
      absErr += Math.abs(a.ageYears - Number(age));
      if (a.gender === gender) right++;
    }
    expect(absErr / picks.length).toBeLessThan(9);
    expect(right / picks.length).toBeGreaterThanOrEqual(0.8);
  });

  it('rejects an empty box and bad options, naming them', async () => {
    const img = await decodeRgb(path.join(DEMO_DIR, 'sample1.jpg'));
    await expect(exact.estimate(img, [5000, 10, 5100, 100])).rejects.toThrow(/box \[5000/);
    await expect(exact.estimate(img, [Number.NaN, 0, 10, 10])).rejects.toThrow(/non-finite/);
    await expect(FaceApiAgeGender.create({ boxScale: 0 })).rejects.toThrow(/boxScale/);
    await expect(FaceApiAgeGender.create({ maxBatch: 1 })).rejects.toThrow(/maxBatch/);
  });
});
