/**
 * Our path (sharp decode -> src/infer/image.ts resize/crop -> ONNX in onnxruntime-node) against golden
 * outputs of the original @vladmandic/human models run by tfjs (models/golden/human.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { humanConverters } from '../../models/src/human.ts';
import { letterbox } from '../../src/infer/blazeface.ts';
import { cropFace, faceCropBox } from '../../src/infer/faceres.ts';
import { resizeBilinear } from '../../src/infer/image.ts';
import { loadModel, readModelInfo } from '../../src/infer/models.ts';
import type { RgbImage } from '../../src/infer/types.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEMO = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
const TOL = 1e-3;

interface Stats { mean: number; meanAbs: number; min: number; max: number }
interface BlazeCase {
  photo: string;
  width: number;
  height: number;
  resize: { mode: 'letterbox' | 'stretch'; width: number; height: number };
  anchors: number;
  top: { index: number; logit: number; regressors: number[] }[];
  logitStats: Stats;
  regressorStats: Stats;
}
interface FaceCase { photo: string; box: [number, number, number, number]; cropBox: number[]; age: number[]; gender: number[]; descriptor: number[] }

const golden = <T>(name: string): T => JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'golden', name), 'utf8')) as T;
const blaze = golden<{ cases: BlazeCase[] }>('human-blazeface.json');
const faceres = golden<{ faces: FaceCase[] }>('human-faceres.json');

const decoded = new Map<string, Promise<RgbImage>>();
function decode(photo: string): Promise<RgbImage> {
  let p = decoded.get(photo);
  if (!p) {
    p = sharp(path.join(DEMO, photo)).removeAlpha().raw().toBuffer({ resolveWithObject: true }).then(({ data, info }) => ({ data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 }));
    decoded.set(photo, p);
  }
  return p;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function stats(a: Float32Array): Stats {
  let sum = 0;
  let abs = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    sum += v;
    abs += Math.abs(v);
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { mean: sum / a.length, meanAbs: abs / a.length, min, max };
}

describe('blazeface ONNX vs original tfjs model', () => {
  it('has fixtures for several photos', () => {
    expect(blaze.cases.length).toBeGreaterThanOrEqual(6);
  });
  for (const c of blaze.cases) {
    it(`${c.photo} (${c.resize.mode}) reproduces the top anchors and output statistics`, async () => {
      const img = await decode(c.photo);
      expect([img.width, img.height]).toEqual([c.width, c.height]);
      const input = new Float32Array(256 * 256 * 3);
      if (c.resize.mode === 'letterbox') {
        const { content } = letterbox(img, input);
        expect(content.length).toBe(c.resize.width * c.resize.height * 3);
      } else {
        resizeBilinear(img, 256, 256, {}, input);
      }
      const { session } = await loadModel('blazeface');
      const out = await session.run({ input: new ort.Tensor('float32', input, [1, 256, 256, 3]) });
      const logits = out.classificators?.data as Float32Array;
      const regs = out.regressors?.data as Float32Array;
      expect(logits.length).toBe(c.anchors);
      expect(regs.length).toBe(c.anchors * 16);
      for (const t of c.top) {
        expect(Math.abs((logits[t.index] as number) - t.logit)).toBeLessThan(TOL);
        expect(maxAbsDiff(regs.subarray(t.index * 16, t.index * 16 + 16), t.regressors)).toBeLessThan(TOL);
      }
      const ls = stats(logits);
      const rs = stats(regs);
      // Whole-output statistics reach 1e4 in magnitude (the zero padding drives logits far negative),
      // where 7 stored digits alone are 1e-3: relative tolerance above magnitude 1.
      for (const k of ['mean', 'meanAbs', 'min', 'max'] as const) {
        expect(Math.abs(ls[k] - c.logitStats[k])).toBeLessThan(TOL * Math.max(1, Math.abs(c.logitStats[k])));
        expect(Math.abs(rs[k] - c.regressorStats[k])).toBeLessThan(TOL * Math.max(1, Math.abs(c.regressorStats[k])));
      }
    });
  }
});

describe('faceres ONNX vs original tfjs model', () => {
  it('has fixtures for three faces', () => {
    expect(faceres.faces.length).toBe(3);
  });
  for (const f of faceres.faces) {
    it(`${f.photo}: human's crop and age/gender/descriptor outputs`, async () => {
      const img = await decode(f.photo);
      expect(faceCropBox(f.box)).toEqual(f.cropBox);
      const input = cropFace(img, f.box, new Float32Array(224 * 224 * 3));
      const { session } = await loadModel('faceres');
      const out = await session.run({ input: new ort.Tensor('float32', input, [1, 224, 224, 3]) });
      expect(maxAbsDiff(out.age?.data as Float32Array, f.age)).toBeLessThan(TOL);
      expect(maxAbsDiff(out.gender?.data as Float32Array, f.gender)).toBeLessThan(TOL);
      expect(maxAbsDiff(out.descriptor?.data as Float32Array, f.descriptor)).toBeLessThan(TOL);
    });
  }
});

describe('human converters', () => {
  for (const c of humanConverters) {
    it(`${c.name}: re-converting gives the committed sha256`, async () => {
      const { onnx, manifest } = await c.convert();
      expect(manifest.name).toBe(c.name);
      expect(createHash('sha256').update(onnx).digest('hex')).toBe(readModelInfo(c.name).onnx.sha256);
    });
  }
});
