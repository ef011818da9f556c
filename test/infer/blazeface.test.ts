import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { BLAZEFACE_DEFAULT_MIN_SCORE, BlazeFaceDetector, letterbox, letterboxSize } from '../../src/infer/blazeface.ts';
import type { RgbImage } from '../../src/infer/types.ts';
import { iou } from '../../src/shared/geometry.ts';
import type { BoxXyxy } from '../../src/shared/messages.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TWO_PEOPLE = path.join(ROOT, '..', 'shared', 'data', 'videos', 'two_people.jpg');
const SAMPLE1 = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');

async function decode(input: string | ReturnType<typeof sharp>): Promise<RgbImage> {
  const s = typeof input === 'string' ? sharp(input) : input;
  const { data, info } = await s.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
}

function flipX(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * 3;
      const d = (y * img.width + (img.width - 1 - x)) * 3;
      out[d] = img.data[s] as number;
      out[d + 1] = img.data[s + 1] as number;
      out[d + 2] = img.data[s + 2] as number;
    }
  }
  return { ...img, data: out };
}

/** Best IoU of `box` against any of `boxes`. */
const bestIou = (box: BoxXyxy, boxes: readonly BoxXyxy[]): number => Math.max(0, ...boxes.map((b) => iou(box, b)));

describe('BlazeFaceDetector', () => {
  let det: BlazeFaceDetector;
  let two: RgbImage;
  let sample1: RgbImage;
  beforeAll(async () => {
    det = await BlazeFaceDetector.create();
    [two, sample1] = await Promise.all([decode(TWO_PEOPLE), decode(SAMPLE1)]);
  });

  it('finds the two faces of two_people.jpg, inside the frame, above the default score', async () => {
    const faces = await det.detect(two);
    expect(faces).toHaveLength(2);
    for (const f of faces) {
      expect(f.score).toBeGreaterThanOrEqual(BLAZEFACE_DEFAULT_MIN_SCORE);
      const [x1, y1, x2, y2] = f.box;
      expect(x1).toBeGreaterThanOrEqual(0);
      expect(y1).toBeGreaterThanOrEqual(0);
      expect(x2).toBeLessThanOrEqual(two.width);
      expect(y2).toBeLessThanOrEqual(two.height);
      // A face box is roughly square (the letterbox keeps the aspect ratio).
      expect((x2 - x1) / (y2 - y1)).toBeGreaterThan(0.75);
      expect((x2 - x1) / (y2 - y1)).toBeLessThan(1.33);
    }
    expect(iou(faces[0]!.box, faces[1]!.box)).toBe(0);
  });

  it('finds the three faces of face-api sample1.jpg', async () => {
    expect(await det.detect(sample1)).toHaveLength(3);
  });

  it('maps boxes back to source pixels: mirrored image gives mirrored boxes', async () => {
    const faces = await det.detect(two);
    const flipped = await det.detect(flipX(two));
    expect(flipped).toHaveLength(faces.length);
    for (const f of faces) {
      const mirrored: BoxXyxy = [two.width - f.box[2], f.box[1], two.width - f.box[0], f.box[3]];
      expect(bestIou(mirrored, flipped.map((x) => x.box))).toBeGreaterThan(0.8);
    }
  });

  it('gives six keypoints per face in source pixels; a mirrored image mirrors them and swaps right and left', async () => {
    const faces = await det.detect(two);
    const mirrored = await det.detect(flipX(two));
    for (const f of faces) {
      const lm = f.landmarks;
      expect(lm).toBeDefined();
      if (!lm) continue;
      for (const p of [lm.rightEye, lm.leftEye, lm.nose, lm.mouth]) {
        expect(p[0]).toBeGreaterThan(f.box[0]);
        expect(p[0]).toBeLessThan(f.box[2]);
        expect(p[1]).toBeGreaterThan(f.box[1]);
        expect(p[1]).toBeLessThan(f.box[3]);
      }
      // The subject's right eye is on the image's left; eyes above the nose, the nose above the mouth.
      expect(lm.rightEye[0]).toBeLessThan(lm.leftEye[0]);
      expect(Math.max(lm.rightEye[1], lm.leftEye[1])).toBeLessThan(lm.mouth[1]);
      const cx = (f.box[0] + f.box[2]) / 2;
      const m = mirrored.find((g) => Math.abs(two.width - (g.box[0] + g.box[2]) / 2 - cx) < 10);
      const ml = m?.landmarks;
      expect(ml).toBeDefined();
      if (!ml) continue;
      const side = f.box[2] - f.box[0];
      // In the mirror the subject's right eye is where the left one was, mirrored.
      expect(Math.abs(two.width - ml.rightEye[0] - lm.leftEye[0])).toBeLessThan(0.08 * side);
      expect(Math.abs(ml.rightEye[1] - lm.leftEye[1])).toBeLessThan(0.08 * side);
      expect(Math.abs(two.width - ml.nose[0] - lm.nose[0])).toBeLessThan(0.08 * side);
    }
  });

  it('works on portrait frames: a tall crop finds the same face at the crop offset', async () => {
    const full = await det.detect(two);
    const face = full.reduce((a, b) => (a.box[0] < b.box[0] ? a : b)).box;
    const left = Math.max(0, Math.round(face[0] - 60));
    const width = Math.round(face[2] - face[0] + 120);
    const crop = await decode(sharp(TWO_PEOPLE).extract({ left, top: 0, width, height: two.height }));
    expect(crop.height).toBeGreaterThan(crop.width);
    const found = await det.detect(crop);
    expect(found.length).toBeGreaterThanOrEqual(1);
    const shifted = found.map((f): BoxXyxy => [f.box[0] + left, f.box[1], f.box[2] + left, f.box[3]]);
    expect(bestIou(face, shifted)).toBeGreaterThan(0.7);
  });

  it('clamps boxes to the frame when a face is cut by the border', async () => {
    const full = await det.detect(two);
    const face = full.reduce((a, b) => (a.box[0] < b.box[0] ? a : b)).box;
    const left = Math.round((face[0] + face[2]) / 2 - (face[2] - face[0]) * 0.2);
    const crop = await decode(sharp(TWO_PEOPLE).extract({ left, top: 0, width: two.width - left, height: two.height }));
    const found = await det.detect(crop, { minScore: 0.2 });
    expect(found.length).toBeGreaterThanOrEqual(1);
    for (const f of found) {
      expect(f.box[0]).toBeGreaterThanOrEqual(0);
      expect(f.box[1]).toBeGreaterThanOrEqual(0);
      expect(f.box[2]).toBeLessThanOrEqual(crop.width);
      expect(f.box[3]).toBeLessThanOrEqual(crop.height);
    }
  });

  it('finds nothing in a blank frame', async () => {
    const blank: RgbImage = { data: new Uint8Array(640 * 360 * 3).fill(128), width: 640, height: 360, channels: 3 };
    expect(await det.detect(blank)).toEqual([]);
  });

  it('honours minScore per call and rejects invalid values by name', async () => {
    const all = await det.detect(two, { minScore: 0.05 });
    const strict = await det.detect(two, { minScore: 0.95 });
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(strict.length).toBeLessThanOrEqual(2);
    for (const f of strict) expect(f.score).toBeGreaterThan(0.95);
    await expect(det.detect(two, { minScore: 1.5 })).rejects.toThrow(/minScore/);
  });

  it('gives identical results for concurrent calls (shared input buffer is serialised)', async () => {
    const [a, b, c] = await Promise.all([det.detect(two), det.detect(sample1), det.detect(two)]);
    expect(c).toEqual(a);
    expect(b).toEqual(await det.detect(sample1));
  });

  it('letterboxes keeping the aspect ratio, content top-left and zeros elsewhere', () => {
    expect(letterboxSize(1920, 1080)).toEqual({ width: 256, height: 144 });
    expect(letterboxSize(270, 480)).toEqual({ width: 144, height: 256 });
    const input = new Float32Array(256 * 256 * 3).fill(7);
    const img: RgbImage = { data: new Uint8Array(200 * 100 * 3).fill(200), width: 200, height: 100, channels: 3 };
    const { scaleX, scaleY } = letterbox(img, input);
    expect(scaleX).toBeCloseTo(200 / 256, 6);
    expect(scaleY).toBeCloseTo(100 / 128, 6);
    expect(input[0]).toBe(200);
    expect(input[(127 * 256 + 255) * 3]).toBe(200);
    expect(input[(128 * 256) * 3]).toBe(0);
    expect(input[input.length - 1]).toBe(0);
  });
});
