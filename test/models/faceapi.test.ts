/**
 * Our converted face-api models reproduce face-api's own outputs (fixtures from models/golden/faceapi.ts):
 * sharp decode -> our square/resize (src/infer/faceapi-image.ts) -> ONNX via onnxruntime-node.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { frameToSquare, squarePlacement, squareResize } from '../../src/infer/faceapi-image.ts';
import { loadModel, type LoadedModel } from '../../src/infer/models.ts';
import { decodeSsdBox, SSD_INPUT_SIZE } from '../../src/infer/ssd.ts';
import type { RgbImage } from '../../src/infer/types.ts';

const require = createRequire(import.meta.url);
const DEMO = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'golden');
const TOL = 1e-3;

const fixture = <T>(name: string): T => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as T;

const images = new Map<string, Promise<RgbImage>>();
function decode(name: string): Promise<RgbImage> {
  let p = images.get(name);
  if (!p) {
    p = sharp(path.join(DEMO, name)).removeAlpha().raw().toBuffer({ resolveWithObject: true }).then(({ data, info }) => ({ data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels }));
    images.set(name, p);
  }
  return p;
}

async function run(model: LoadedModel, input: Float32Array, dims: number[]): Promise<ort.InferenceSession.OnnxValueMapType> {
  return model.session.run({ input: new ort.Tensor('float32', input, dims) });
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
  expect(worst, `${what}: max |diff|`).toBeLessThan(TOL);
}

describe('face-api models reproduce face-api golden outputs', () => {
  let ageGender: LoadedModel;
  let ssd: LoadedModel;
  let tiny: LoadedModel;
  beforeAll(async () => {
    [ageGender, ssd, tiny] = await Promise.all([loadModel('age_gender'), loadModel('ssd_mobilenetv1'), loadModel('tiny_face_detector')]);
  });

  it('age_gender: age and gender probabilities of every golden crop, in one batch', async () => {
    const { faces } = fixture<{ faces: { image: string; crop: { x: number; y: number; width: number; height: number }; age: number; gender: number[] }[] }>('faceapi-age_gender.json');
    expect(faces.length).toBeGreaterThanOrEqual(20);
    const slot = 112 * 112 * 3;
    const input = new Float32Array(faces.length * slot);
    for (const [i, f] of faces.entries()) {
      const img = await decode(f.image);
      squareResize(img, f.crop, squarePlacement(f.crop.width, f.crop.height, true), 112, input.subarray(i * slot, (i + 1) * slot));
    }
    const out = await run(ageGender, input, [faces.length, 112, 112, 3]);
    expectClose(out.age?.data as Float32Array, faces.map((f) => f.age), 'age');
    expectClose(out.gender?.data as Float32Array, faces.flatMap((f) => f.gender), 'gender');
  });

  it('ssd_mobilenetv1: decoded boxes and scores of the strongest anchors on every demo photo', async () => {
    const { images: cases } = fixture<{ images: { image: string; topAnchors: { index: number; score: number; box: number[] }[] }[] }>('faceapi-ssd_mobilenetv1.json');
    const buf = new Float32Array(SSD_INPUT_SIZE * SSD_INPUT_SIZE * 3);
    for (const c of cases) {
      frameToSquare(await decode(c.image), SSD_INPUT_SIZE, buf);
      const out = await run(ssd, buf, [1, SSD_INPUT_SIZE, SSD_INPUT_SIZE, 3]);
      const scores = out.scores?.data as Float32Array;
      const enc = out.box_encodings?.data as Float32Array;
      const anchors = out.anchors?.data as Float32Array;
      expect(scores.length).toBe(5118);
      expectClose(c.topAnchors.map((a) => scores[a.index] as number), c.topAnchors.map((a) => a.score), `${c.image} scores`);
      expectClose(c.topAnchors.flatMap((a) => decodeSsdBox(enc, anchors, a.index)), c.topAnchors.flatMap((a) => a.box), `${c.image} boxes`);
    }
  });

  it('tiny_face_detector: the raw grid at 416 and its summary at 416 and 320 (symbolic input size)', async () => {
    const { images: cases } = fixture<{ images: { image: string; inputSize: number; gridShape: number[]; gridSumAbs: number; gridMax: number; grid?: number[] }[] }>('faceapi-tiny_face_detector.json');
    let fullGrids = 0;
    for (const c of cases) {
      const buf = new Float32Array(c.inputSize * c.inputSize * 3);
      frameToSquare(await decode(c.image), c.inputSize, buf);
      const out = await run(tiny, buf, [1, c.inputSize, c.inputSize, 3]);
      const grid = out.grid;
      expect(grid?.dims).toEqual(c.gridShape);
      const g = grid?.data as Float32Array;
      let sumAbs = 0;
      let max = -Infinity;
      for (const v of g) {
        sumAbs += Math.abs(v);
        max = Math.max(max, v);
      }
      // The sum runs over thousands of values: compare it relatively.
      expect(Math.abs(sumAbs - c.gridSumAbs) / c.gridSumAbs, `${c.image}@${c.inputSize} sum|grid|`).toBeLessThan(TOL);
      expect(Math.abs(max - c.gridMax), `${c.image}@${c.inputSize} max`).toBeLessThan(TOL);
      if (c.grid) {
        expectClose(g, c.grid, `${c.image}@${c.inputSize} grid`);
        fullGrids++;
      }
    }
    expect(fullGrids).toBeGreaterThanOrEqual(2);
  });
});
