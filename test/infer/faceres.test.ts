import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { BlazeFaceDetector } from '../../src/infer/blazeface.ts';
import { cropFace, decodeAge, faceCropBox, FACERES_DESCRIPTOR_SIZE, FaceresDescriber } from '../../src/infer/faceres.ts';
import type { RgbImage } from '../../src/infer/types.ts';
import type { BoxXyxy } from '../../src/shared/messages.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TWO_PEOPLE = path.join(ROOT, '..', 'shared', 'data', 'videos', 'two_people.jpg');
const SAMPLE6 = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample6.jpg');

async function decode(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
}

function flipX(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  const row = img.width * 3;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      for (let k = 0; k < 3; k++) out[y * row + (img.width - 1 - x) * 3 + k] = img.data[y * row + x * 3 + k] as number;
    }
  }
  return { ...img, data: out };
}

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * (b[i] as number), 0);
const norm = (a: Float32Array): number => Math.sqrt(dot(a, a));

describe('faceCropBox (human enlargeBox 1.4 + squarifyBox)', () => {
  it('squares to the longer side x1.4 about the centre, rounded to whole pixels', () => {
    const box: BoxXyxy = [100.3, 50.6, 200.3, 170.6];
    const [x1, y1, x2, y2] = faceCropBox(box);
    expect(x2 - x1).toBe(y2 - y1);
    expect(Math.abs(x2 - x1 - 120 * 1.4)).toBeLessThanOrEqual(1);
    expect(Math.abs((x1 + x2) / 2 - 150.3)).toBeLessThanOrEqual(1);
    expect(Math.abs((y1 + y2) / 2 - 110.6)).toBeLessThanOrEqual(1);
    for (const v of [x1, y1, x2, y2]) expect(Number.isInteger(v)).toBe(true);
  });

  it('fills the part of the crop outside the frame with black', () => {
    const img: RgbImage = { data: new Uint8Array(100 * 100 * 3).fill(255), width: 100, height: 100, channels: 3 };
    const out = cropFace(img, [-40, -40, 40, 40], new Float32Array(224 * 224 * 3));
    expect(out[0]).toBe(0);
    expect(out[out.length - 1]).toBe(255);
  });
});

describe('decodeAge', () => {
  it("follows human's argmax-with-neighbour rule and the expected-value rule", () => {
    const p = new Float32Array(100);
    p[30] = 0.5;
    p[31] = 0.3;
    p[29] = 0.2;
    expect(decodeAge(p)).toBeCloseTo(33, 5); // 30 + 10 * 0.3
    expect(decodeAge(p, 'mean')).toBeCloseTo(29 * 0.2 + 30 * 0.5 + 31 * 0.3, 4);
    p[29] = 0.4;
    expect(decodeAge(p)).toBeCloseTo(26, 5); // 30 - 10 * 0.4
  });
});

describe('FaceresDescriber', () => {
  let fr: FaceresDescriber;
  let two: RgbImage;
  let boxes: BoxXyxy[];
  beforeAll(async () => {
    const det = await BlazeFaceDetector.create();
    [fr, two] = await Promise.all([FaceresDescriber.create(), decode(TWO_PEOPLE)]);
    boxes = (await det.detect(two)).map((f) => f.box).sort((a, b) => a[0] - b[0]);
  });

  it('gives L2-normalised 1024-d descriptors', async () => {
    expect(boxes).toHaveLength(2);
    const d = await fr.describe(two, boxes[0]!);
    expect(fr.size).toBe(FACERES_DESCRIPTOR_SIZE);
    expect(d).toHaveLength(1024);
    expect(norm(d)).toBeCloseTo(1, 5);
  });

  it('same face (shifted box, mirrored image) is closer than the other person', async () => {
    const [a, b] = boxes as [BoxXyxy, BoxXyxy];
    const da = await fr.describe(two, a);
    const db = await fr.describe(two, b);
    const w = a[2] - a[0];
    const shifted = await fr.describe(two, [a[0] + 0.05 * w, a[1] - 0.05 * w, a[2] + 0.05 * w, a[3] - 0.05 * w]);
    const mirrored = await fr.describe(flipX(two), [two.width - a[2], a[1], two.width - a[0], a[3]]);
    const other = dot(da, db);
    expect(dot(da, shifted)).toBeGreaterThan(other);
    expect(dot(da, mirrored)).toBeGreaterThan(other);
  });

  it('tells the people of a different photo apart from both faces here', async () => {
    const s6 = await decode(SAMPLE6);
    const det = await BlazeFaceDetector.create();
    const face = (await det.detect(s6))[0];
    expect(face).toBeDefined();
    const d6 = await fr.describe(s6, face!.box);
    const [a, b] = boxes as [BoxXyxy, BoxXyxy];
    const da = await fr.describe(two, a);
    const shifted = await fr.describe(two, [a[0] + 3, a[1] + 3, a[2] + 3, a[3] + 3]);
    expect(dot(da, shifted)).toBeGreaterThan(dot(da, d6));
    expect(dot(await fr.describe(two, b), d6)).toBeLessThan(dot(da, shifted));
  });

  it('estimates age and gender: both people in two_people.jpg are men', async () => {
    for (const box of boxes) {
      const a = await fr.estimate(two, box);
      expect(a.gender).toBe('male');
      expect(a.genderScore).toBeGreaterThanOrEqual(0.5);
      expect(a.genderScore).toBeLessThanOrEqual(1);
      expect(a.ageYears).toBeGreaterThan(0);
      expect(a.ageYears).toBeLessThan(100);
    }
  });

  it('one pass gives the same numbers as describe + estimate, also when called concurrently', async () => {
    const [r0, r1] = await Promise.all(boxes.map((b) => fr.analyze(two, b)));
    expect(Array.from(r0!.descriptor)).toEqual(Array.from(await fr.describe(two, boxes[0]!)));
    expect((await fr.estimate(two, boxes[1]!)).ageYears).toBe(r1!.ageYears);
  });

  it('rejects an empty box by name', async () => {
    await expect(fr.describe(two, [10, 10, 10, 10])).rejects.toThrow(/box/);
  });
});
