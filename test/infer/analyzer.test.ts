import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iou } from '../../src/shared/geometry.ts';
import type { Face } from '../../src/shared/messages.ts';
import { createFaceAnalyzer, mergeDetections, tileGrid, type FaceAnalyzer } from '../../src/infer/analyzer.ts';
import { loadImage } from '../../src/infer/decode.ts';
import type { RgbImage } from '../../src/infer/types.ts';

// Shared evaluation data is read in place, never copied (see ../shared/data/README.md).
const TWO_PEOPLE = '../shared/data/videos/two_people.jpg';
const UTK = '../shared/data/faces/utkface-dev';

let analyzer: FaceAnalyzer;
let two: RgbImage;

beforeAll(async () => {
  analyzer = await createFaceAnalyzer();
  two = await loadImage(TWO_PEOPLE);
});

afterAll(async () => {
  await analyzer.close();
});

function expectPlausible(face: Face, image: RgbImage): void {
  const [x1, y1, x2, y2] = face.box;
  expect(x1).toBeGreaterThanOrEqual(0);
  expect(y1).toBeGreaterThanOrEqual(0);
  expect(x2).toBeLessThanOrEqual(image.width);
  expect(y2).toBeLessThanOrEqual(image.height);
  expect(x2).toBeGreaterThan(x1);
  expect(y2).toBeGreaterThan(y1);
  expect(face.score).toBeGreaterThan(0);
  expect(face.score).toBeLessThanOrEqual(1);
  expect(face.ageYears).toBeGreaterThan(0);
  expect(face.ageYears).toBeLessThan(110);
  expect(['female', 'male']).toContain(face.gender);
  expect(face.genderScore).toBeGreaterThanOrEqual(0.5);
  expect(face.genderScore).toBeLessThanOrEqual(1);
}

describe('FaceAnalyzer (default detector and age/gender model)', () => {
  it('finds the two faces in two_people.jpg, one in each half, both men', async () => {
    const faces = await analyzer.analyze(two);
    expect(faces).toHaveLength(2);
    for (const f of faces) {
      expectPlausible(f, two);
      expect(f.descriptor).toBeUndefined();
      // Faces are head-sized: between 5% and 40% of the image width.
      expect((f.box[2] - f.box[0]) / two.width).toBeGreaterThan(0.05);
      expect((f.box[2] - f.box[0]) / two.width).toBeLessThan(0.4);
    }
    const centres = faces.map((f) => (f.box[0] + f.box[2]) / 2).sort((a, b) => a - b);
    expect(centres[0]).toBeLessThan(two.width / 2);
    expect(centres[1]).toBeGreaterThan(two.width / 2);
    expect(faces.map((f) => f.gender)).toEqual(['male', 'male']);
    // Streams' defaults: one crop-framing knob (FaceApiAgeGender's boxScale), cheap flip TTA, no head.
    expect(analyzer.options).toMatchObject({ ageGender: 'age_gender', tta: 'flip', cropScale: 1 });
  });

  it('assumeFace scores labelled utkface crops as whole-image faces', async () => {
    // Adults 25..45 from the labels, first 6 per gender in file order: real labels, not recorded outputs.
    const rows = readFileSync(path.join(UTK, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const pick = (g: string) => rows.filter((r) => r[2] === g && Number(r[1]) >= 25 && Number(r[1]) <= 45).slice(0, 6);
    const chosen = [...pick('female'), ...pick('male')];
    expect(chosen).toHaveLength(12);
    let genderRight = 0;
    let ageErr = 0;
    for (const [file, age, gender] of chosen as Array<[string, string, string]>) {
      const img = await loadImage(path.join(UTK, file));
      const faces = await analyzer.analyze(img, { assumeFace: true });
      expect(faces).toHaveLength(1);
      const f = faces[0] as Face;
      expect(f.box).toEqual([0, 0, img.width, img.height]);
      expect(f.score).toBe(1);
      expectPlausible(f, img);
      if (f.gender === gender) genderRight++;
      ageErr += Math.abs((f.ageYears ?? NaN) - Number(age));
    }
    expect(genderRight).toBeGreaterThanOrEqual(9);
    expect(ageErr / chosen.length).toBeLessThan(12);
  });

  it('tiling finds the same faces in a wide frame made by padding', async () => {
    const pad = { left: 1400, right: 1400, top: 250, bottom: 250 };
    const { data, info } = await sharp(TWO_PEOPLE).extend({ ...pad, background: { r: 90, g: 90, b: 90 } }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const wide: RgbImage = { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
    // fullFrame off: every face must come from a tile, mapped back to frame pixels.
    const tiled = await createFaceAnalyzer({ tiles: { cols: 4, rows: 1, fullFrame: false } });
    const original = await analyzer.analyze(two);
    const found = await tiled.analyze(wide);
    await tiled.close();
    expect(found).toHaveLength(original.length);
    for (const o of original) {
      const shifted = [o.box[0] + pad.left, o.box[1] + pad.top, o.box[2] + pad.left, o.box[3] + pad.top] as const;
      const best = Math.max(...found.map((f) => iou(f.box, shifted)));
      expect(best).toBeGreaterThan(0.6);
    }
    for (const f of found) expectPlausible(f, wide);
  });

  it('computes descriptors only when asked', async () => {
    const withDesc = await createFaceAnalyzer({ descriptors: true });
    const faces = await withDesc.analyze(two);
    await withDesc.close();
    expect(faces).toHaveLength(2);
    for (const f of faces) {
      const d = f.descriptor as Float32Array;
      expect(d).toBeInstanceOf(Float32Array);
      expect(d.length).toBe(1024);
      let norm = 0;
      for (const v of d) norm += v * v;
      expect(Math.sqrt(norm)).toBeCloseTo(1, 3);
    }
    // Two different people: their descriptors are far apart (cosine well below a same-person match).
    const [a, b] = faces.map((f) => f.descriptor as Float32Array) as [Float32Array, Float32Array];
    let cos = 0;
    for (let i = 0; i < a.length; i++) cos += (a[i] as number) * (b[i] as number);
    expect(cos).toBeLessThan(0.8);
    expect((await analyzer.analyze(two)).every((f) => f.descriptor === undefined)).toBe(true);
  });

  it('wantDescriptor picks the faces that get a descriptor, the same one as without it', async () => {
    const withDesc = await createFaceAnalyzer({ descriptors: true });
    const all = await withDesc.analyze(two);
    expect(all).toHaveLength(2);
    const inLeftHalf = (f: { box: Face['box'] }): boolean => (f.box[0] + f.box[2]) / 2 < two.width / 2;
    let calls = 0;
    // Decided from the detection alone (box, score), before any model runs on the face.
    const some = await withDesc.analyze(two, {
      wantDescriptor: (f) => {
        calls++;
        return inLeftHalf(f);
      },
    });
    const none = await withDesc.analyze(two, { wantDescriptor: () => false });
    await withDesc.close();
    expect(calls).toBe(2);
    expect(some.map((f) => f.box)).toEqual(all.map((f) => f.box));
    expect(some.map((f) => f.descriptor !== undefined)).toEqual(all.map(inLeftHalf));
    const left = all.findIndex(inLeftHalf);
    expect(Array.from((some[left] as Face).descriptor as Float32Array)).toEqual(Array.from((all[left] as Face).descriptor as Float32Array));
    // Age and gender do not depend on the choice.
    expect(some.map((f) => [f.ageYears, f.gender])).toEqual(all.map((f) => [f.ageYears, f.gender]));
    expect(none.map((f) => f.descriptor)).toEqual([undefined, undefined]);
    // faceres for age/gender too: one pass per face gives the descriptor; still only the chosen faces carry it.
    const onePass = await createFaceAnalyzer({ descriptors: true, ageGender: 'faceres', cropScale: 1 });
    const chosen = await onePass.analyze(two, { wantDescriptor: inLeftHalf });
    await onePass.close();
    expect(chosen.map((f) => f.descriptor !== undefined)).toEqual(chosen.map(inLeftHalf));
    expect(chosen.map((f) => f.descriptor?.length)).toContain(1024);
  });

  it('gives each face keypoints, a quality from them, and a calibrated P(male)', async () => {
    const faces = await analyzer.analyze(two);
    for (const f of faces) {
      const lm = f.landmarks;
      expect(lm).toBeDefined();
      if (!lm) continue;
      // Keypoints inside the box; the subject's right eye is on the image's left of a frontal face.
      for (const p of [lm.rightEye, lm.leftEye, lm.nose, lm.mouth]) {
        expect(p[0]).toBeGreaterThan(f.box[0]);
        expect(p[0]).toBeLessThan(f.box[2]);
        expect(p[1]).toBeGreaterThan(f.box[1]);
        expect(p[1]).toBeLessThan(f.box[3]);
      }
      expect(lm.rightEye[0]).toBeLessThan(lm.leftEye[0]);
      expect(lm.mouth[1]).toBeGreaterThan(lm.nose[1]);
      const q = f.quality;
      expect(q?.score).toBeGreaterThan(0.3);
      expect(q?.score).toBeLessThanOrEqual(1);
      expect(Math.abs(q?.rollDeg ?? 99)).toBeLessThan(20);
      expect(q?.sharpness).toBeGreaterThan(0);
      expect(q?.sidePx).toBeCloseTo(Math.sqrt((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])), 6);
      // Both are men: the calibrated P(male) agrees with the model's label.
      expect(f.maleProbability).toBeGreaterThan(0.5);
    }
  });

  it('wantAttributes spares age/gender for the faces it declines, deciding from box, score, keypoints and quality', async () => {
    const all = await analyzer.analyze(two);
    const seen: Face[] = [];
    const some = await analyzer.analyze(two, {
      wantAttributes: (f) => {
        seen.push(f as Face);
        return (f.box[0] + f.box[2]) / 2 < two.width / 2;
      },
    });
    expect(seen).toHaveLength(2);
    for (const f of seen) {
      expect(f.quality).toBeDefined();
      expect(f.landmarks).toBeDefined();
    }
    expect(some.map((f) => f.box)).toEqual(all.map((f) => f.box));
    for (const [i, f] of some.entries()) {
      const left = (f.box[0] + f.box[2]) / 2 < two.width / 2;
      if (left) expect([f.ageYears, f.gender, f.maleProbability]).toEqual([all[i]?.ageYears, all[i]?.gender, all[i]?.maleProbability]);
      else expect([f.ageYears, f.gender, f.genderScore, f.maleProbability]).toEqual([undefined, undefined, undefined, undefined]);
      expect(f.quality).toEqual(all[i]?.quality);
    }
  });

  it('rotates the age/gender crop upright on the eye line for a rolled face', async () => {
    // A real labeled face rotated by 30 degrees: blazeface's eye line finds the roll, the crop undoes it.
    const file = path.join(UTK, '35_0_0_20170105165146660.jpg');
    const { data, info } = await sharp(file).rotate(30, { background: { r: 128, g: 128, b: 128 } }).extend({ top: 100, bottom: 100, left: 100, right: 100, background: { r: 128, g: 128, b: 128 } }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const rolled: RgbImage = { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
    const upright = await loadImage(file);
    const off = await createFaceAnalyzer({ ageGender: 'age_gender', rollCorrectionMinDeg: Infinity });
    const [plain] = await off.analyze(rolled);
    const [corrected] = await analyzer.analyze(rolled);
    const [reference] = await analyzer.analyze((await import('../../bench/lib/faces.ts')).withBorder(upright, 100).image);
    await off.close();
    expect(corrected?.quality?.rollDeg).toBeGreaterThan(22);
    expect(corrected?.quality?.rollDeg).toBeLessThan(38);
    // Corrected, the estimate is close to the upright face's; uncorrected it is further off.
    const gap = (f: Face | undefined): number => Math.abs((f?.ageYears ?? NaN) - (reference?.ageYears ?? NaN)) + 20 * Math.abs((f?.genderScore ?? NaN) * (f?.gender === 'male' ? 1 : -1) - (reference?.genderScore ?? NaN) * (reference?.gender === 'male' ? 1 : -1));
    expect(gap(corrected)).toBeLessThan(gap(plain));
  });

  it('rejects unknown models and analyze after close', async () => {
    await expect(createFaceAnalyzer({ detector: 'yolo' as never })).rejects.toThrow(/detector.*"yolo"/);
    const a = await createFaceAnalyzer();
    await a.close();
    await expect(a.analyze(two)).rejects.toThrow(/after close/);
  });
});

describe('FaceAnalyzer.detect: where to look', () => {
  it('zoomed region cells see small faces more clearly than the whole-frame pass; skip and empty regions look nowhere', async () => {
    // two_people.jpg at a quarter of its size (faces ~38 px) on a 1280x720 grey frame: at 5 source px per
    // detector pixel the whole-frame pass sees 8 px faces, a track's cell 40 px ones.
    const k = 1 / 4;
    const small = await sharp(TWO_PEOPLE).resize(Math.round(two.width * k)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const at = { x: 500, y: 300 };
    const { data } = await sharp({ create: { width: 1280, height: 720, channels: 3, background: { r: 90, g: 90, b: 90 } } })
      .composite([{ input: small.data, raw: { width: small.info.width, height: small.info.height, channels: 3 }, left: at.x, top: at.y }])
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const frame: RgbImage = { data: new Uint8Array(data), width: 1280, height: 720, channels: 3 };
    const truth = (await analyzer.detect(two)).map((d) => [d.box[0] * k + at.x, d.box[1] * k + at.y, d.box[2] * k + at.x, d.box[3] * k + at.y] as const);
    expect(truth).toHaveLength(2);

    const a = await createFaceAnalyzer();
    const before = a.detectStats();
    const scanned = await a.detect(frame);
    // Where a tracker expects the faces (a few px off, as predictions are):
    const expected = truth.map((t) => [t[0] + 4, t[1] - 3, t[2] + 4, t[3] - 3] as const);
    const tracked = await a.detect(frame, { mode: 'regions', tracks: expected, motion: [] });
    expect(tracked).toHaveLength(2);
    const scoreOf = (found: readonly { box: readonly [number, number, number, number]; score: number }[], t: readonly [number, number, number, number]): number => Math.max(0, ...found.filter((d) => iou(d.box, t) > 0.5).map((d) => d.score));
    for (const t of truth) {
      expect(Math.max(...tracked.map((d) => iou(d.box, t)))).toBeGreaterThan(0.6);
      expect(scoreOf(tracked, t)).toBeGreaterThan(0.85);
      expect(scoreOf(tracked, t)).toBeGreaterThan(scoreOf(scanned, t));
    }
    // Only a moving area around both faces (no track yet): found too, at the motion cell's zoom.
    const moving = await a.detect(frame, { mode: 'regions', tracks: [], motion: [[at.x, at.y, at.x + small.info.width, at.y + small.info.height]] });
    for (const t of truth) expect(Math.max(...moving.map((d) => iou(d.box, t)))).toBeGreaterThan(0.5);
    // The analyze path takes the same request, and nothing is looked at when told so.
    expect((await a.analyze(frame, { detect: { mode: 'regions', tracks: expected, motion: [] } })).length).toBe(2);
    expect(await a.detect(frame, { mode: 'skip' })).toEqual([]);
    expect(await a.detect(frame, { mode: 'regions', tracks: [], motion: [] })).toEqual([]);
    const after = a.detectStats();
    expect(after.scans - before.scans).toBe(1);
    expect(after.regionFrames - before.regionFrames).toBe(3);
    expect(after.skipped - before.skipped).toBe(2);
    // One run for the scan, one canvas per regions frame.
    expect(after.detectorRuns - before.detectorRuns).toBe(4);
    await a.close();
    await expect(a.detect(frame)).rejects.toThrow(/after close/);
    await expect(createFaceAnalyzer({ regions: { targetFacePx: 2 } })).rejects.toThrow(/regions.targetFacePx must be 8..128 \(got 2\)/);
  });
});

describe('tiling helpers', () => {
  it('tiles cover the frame with the requested overlap', () => {
    const tiles = tileGrid(1000, 300, 3, 2, 0.25);
    expect(tiles).toHaveLength(6);
    const covered = new Uint8Array(1000 * 300);
    for (const t of tiles) for (let y = t.y; y < t.y + t.height; y++) covered.fill(1, y * 1000 + t.x, y * 1000 + t.x + t.width);
    expect(covered.every((v) => v === 1)).toBe(true);
    const row = tiles.slice(0, 3);
    for (let i = 1; i < row.length; i++) {
      const prev = row[i - 1] as (typeof tiles)[number];
      const overlap = prev.x + prev.width - (row[i] as (typeof tiles)[number]).x;
      expect(overlap / prev.width).toBeCloseTo(0.25, 2);
    }
  });

  it('merging prefers a whole face over a tile-cut part of it, even with a lower score', () => {
    const whole = { box: [100, 100, 200, 200] as const, score: 0.8, cut: false };
    const part = { box: [150, 100, 200, 200] as const, score: 0.9, cut: true };
    const other = { box: [400, 100, 480, 190] as const, score: 0.7, cut: false };
    expect(mergeDetections([part, whole, other])).toEqual([{ box: whole.box, score: 0.8 }, { box: other.box, score: 0.7 }]);
    // Keypoints travel with the kept detection.
    const lm = { rightEye: [120, 130], leftEye: [180, 130], nose: [150, 150], mouth: [150, 175], rightEar: [105, 140], leftEar: [195, 140] } as const;
    expect(mergeDetections([{ ...whole, landmarks: lm }])).toEqual([{ box: whole.box, score: 0.8, landmarks: lm }]);
  });
});
