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

  it('multicrop TTA is the mean over 10 jittered crops of the clipped box and their mirrors, in one face batch', async () => {
    const first = readFileSync(path.join(UTK, 'labels.csv'), 'utf8').split('\n')[1]?.split(',')[0] as string;
    const img = await decodeRgb(path.join(UTK, first));
    const multi = await FaceApiAgeGender.create({ tta: 'multicrop' });
    const flipOnly = await FaceApiAgeGender.create({ tta: 'flip', boxScale: 1 });
    expect([multi.cropsPerFace, flipOnly.cropsPerFace, exact.cropsPerFace]).toEqual([20, 2, 1]);
    // A whole-image box: x1.1 clips back to the image, then scales {1, 0.95} x shifts {0, +-4% x, +-4% y}.
    const whole: BoxXyxy = [0, 0, img.width, img.height];
    const side = Math.max(img.width, img.height);
    const boxes: BoxXyxy[] = [];
    for (const s of [1, 0.95]) {
      const b = scaleBox(whole, s);
      for (const [dx, dy] of [[0, 0], [-0.04, 0], [0.04, 0], [0, -0.04], [0, 0.04]] as const) boxes.push([b[0] + dx * side, b[1] + dy * side, b[2] + dx * side, b[3] + dy * side]);
    }
    const each = await flipOnly.estimateRaw(img, boxes);
    const [got] = await multi.estimateRaw(img, [whole]);
    const meanAge = each.reduce((s, r) => s + r.ageYears, 0) / each.length;
    const meanPm = each.reduce((s, r) => s + r.maleProbability, 0) / each.length;
    expect(Math.abs((got?.ageYears ?? NaN) - meanAge)).toBeLessThan(1e-3);
    expect(Math.abs((got?.maleProbability ?? NaN) - meanPm)).toBeLessThan(1e-4);
    // Several faces in one call give the same as one at a time.
    const two = await multi.estimateRaw(img, [whole, [20, 20, 150, 170]]);
    expect(Math.abs((two[0]?.ageYears ?? NaN) - meanAge)).toBeLessThan(1e-3);
    await expect(FaceApiAgeGender.create({ tta: 'many' as never })).rejects.toThrow(/tta/);
  });

  it('rejects an empty box and bad options, naming them', async () => {
    const img = await decodeRgb(path.join(DEMO_DIR, 'sample1.jpg'));
    await expect(exact.estimate(img, [5000, 10, 5100, 100])).rejects.toThrow(/box \[5000/);
    await expect(exact.estimate(img, [Number.NaN, 0, 10, 10])).rejects.toThrow(/non-finite/);
    await expect(FaceApiAgeGender.create({ boxScale: 0 })).rejects.toThrow(/boxScale/);
    await expect(FaceApiAgeGender.create({ maxBatch: 1 })).rejects.toThrow(/maxBatch/);
  });
});
