/**
 * Golden fixtures from the ORIGINAL @vladmandic/human models: model.json executed by tfjs 4.22
 * (tf.loadGraphModel over an in-memory IO handler, pure-JS CPU backend so the numbers are plain
 * float32 math), on @vladmandic/face-api's demo photos decoded with sharp. Preprocessing is written
 * with tf ops exactly as human writes it (src/face/blazeface.ts, facemeshutil.ts, faceres.ts).
 * test/models/human.test.ts replays the same inputs through our ONNX files.
 *   npx tsx models/golden/human.ts   # writes test/fixtures/golden/human-{blazeface,faceres}.json
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { HUMAN_ROOT } from '../src/human.ts';
import { letterboxSize } from '../../src/infer/blazeface.ts';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FACE_API_DEMO = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
export const FIXTURE_DIR = path.join(ROOT, 'test', 'fixtures', 'golden');

/* eslint-disable @typescript-eslint/no-explicit-any -- tfjs is loaded through require to pick its node CPU build; typing it buys nothing here */
type Any = any;

/** 7 significant digits keeps fixtures small and far below the 1e-3 test tolerance. */
const sig = (v: number): number => Number(v.toPrecision(7));
const sigs = (a: ArrayLike<number>): number[] => Array.from(a, sig);

/** human's mesh-model input side: the face crop size when face.mesh is enabled (its default). */
const CROP_STAGE = 192;

/** human facemeshutil.ts enlargeBox(box, 1.4) then squarifyBox, verbatim in behaviour. Box [x1, y1, x2, y2]. */
function humanFaceCrop(box: readonly number[]): [number, number, number, number] {
  const [x1, y1, x2, y2] = box as [number, number, number, number];
  const c = [x1 + (x2 - x1) / 2, y1 + (y2 - y1) / 2];
  const size = [Math.abs(x2 - x1), Math.abs(y2 - y1)];
  const half = [(1.4 * (size[0] as number)) / 2, (1.4 * (size[1] as number)) / 2];
  const s = [(c[0] as number) - (half[0] as number), (c[1] as number) - (half[1] as number), (c[0] as number) + (half[0] as number), (c[1] as number) + (half[1] as number)] as const;
  const c2 = [s[0] + (s[2] - s[0]) / 2, s[1] + (s[3] - s[1]) / 2] as const;
  const h2 = Math.max(Math.abs(s[2] - s[0]), Math.abs(s[3] - s[1])) / 2;
  return [Math.round(c2[0] - h2), Math.round(c2[1] - h2), Math.round(c2[0] + h2), Math.round(c2[1] + h2)];
}

async function decode(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: decoded to ${info.channels} channels, expected 3`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

async function loadGraph(tf: Any, name: string): Promise<Any> {
  const file = path.join(HUMAN_ROOT, 'models', `${name}.json`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as Any;
  const shards = (json.weightsManifest as Any[]).flatMap((g: Any) => (g.paths as string[]).map((p) => readFileSync(path.join(path.dirname(file), p))));
  const bin = Buffer.concat(shards);
  const handler = {
    load: () =>
      Promise.resolve({
        modelTopology: json.modelTopology,
        weightSpecs: (json.weightsManifest as Any[]).flatMap((g: Any) => g.weights as Any[]),
        weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
      }),
  };
  return tf.loadGraphModel(handler);
}

function stats(a: Float32Array): { mean: number; meanAbs: number; min: number; max: number } {
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
  return { mean: sig(sum / a.length), meanAbs: sig(abs / a.length), min: sig(min), max: sig(max) };
}

async function main(): Promise<void> {
  const tf: Any = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  await tf.ready();
  const blazeface = await loadGraph(tf, 'blazeface');
  const faceres = await loadGraph(tf, 'faceres');
  const humanVersion = (JSON.parse(readFileSync(path.join(HUMAN_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const meta = { generator: 'models/golden/human.ts', human: humanVersion, tfjs: tf.version_core as string, backend: tf.getBackend() as string, decode: 'sharp(file).removeAlpha().raw() (no EXIF rotation)' };

  const cases: { photo: string; resize: 'letterbox' | 'stretch' }[] = [1, 2, 3, 4, 5, 6].map((i) => ({ photo: `sample${i}.jpg`, resize: 'letterbox' as const }));
  cases.push({ photo: 'sample1.jpg', resize: 'stretch' });
  const bf: Any[] = [];
  const faces: Any[] = [];
  for (const c of cases) {
    const img = await decode(path.join(FACE_API_DEMO, c.photo));
    const image = tf.tensor4d(Float32Array.from(img.data), [1, img.height, img.width, 3], 'float32');
    // crowdlens letterboxes: resize keeping the aspect, then zero-pad bottom/right (tf.pad, as human's square mode pads).
    const lb = letterboxSize(img.width, img.height);
    const resized = c.resize === 'stretch' ? tf.image.resizeBilinear(image, [256, 256]) : tf.pad(tf.image.resizeBilinear(image, [lb.height, lb.width]), [[0, 0], [0, 256 - lb.height], [0, 256 - lb.width], [0, 0]]);
    const normalized = tf.sub(tf.div(resized, 127.5), 1);
    const res = blazeface.execute(normalized) as Any[];
    // human: sort by size, concat [512-set, 384-set] of [logit, 16 regressors].
    const sorted = [...res].sort((a: Any, b: Any) => a.size - b.size);
    const batch = tf.squeeze(tf.concat([tf.concat([sorted[1], sorted[3]], 2), tf.concat([sorted[0], sorted[2]], 2)], 1), [0]);
    const rows: Float32Array = batch.dataSync();
    const n = rows.length / 17;
    const logits = new Float32Array(n);
    const regs = new Float32Array(n * 16);
    for (let i = 0; i < n; i++) {
      logits[i] = rows[i * 17] as number;
      regs.set(rows.subarray(i * 17 + 1, i * 17 + 17), i * 16);
    }
    const top = Array.from(logits, (l, i) => [l, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 24).map(([, i]) => i);
    bf.push({
      photo: c.photo,
      width: img.width,
      height: img.height,
      resize: c.resize === 'stretch' ? { mode: 'stretch', width: 256, height: 256 } : { mode: 'letterbox', width: lb.width, height: lb.height, pad: 'zeros bottom/right to 256x256' },
      anchors: n,
      top: top.map((i) => ({ index: i, logit: sig(logits[i] as number), regressors: sigs(regs.subarray(i * 16, i * 16 + 16)) })),
      logitStats: stats(logits),
      regressorStats: stats(regs),
    });

    // faceres on the strongest face of letterboxed photos 1-3, cropped as human does.
    if (c.resize === 'letterbox' && faces.length < 3 && ['sample1.jpg', 'sample2.jpg', 'sample3.jpg'].includes(c.photo)) {
      const i = top[0] as number;
      const stride = i < 512 ? 16 : 32;
      const cell = i < 512 ? Math.floor(i / 2) : Math.floor((i - 512) / 6);
      const grid = 256 / stride;
      const ax = stride * ((cell % grid) + 0.5);
      const ay = stride * (Math.floor(cell / grid) + 0.5);
      const r = regs.subarray(i * 16, i * 16 + 4);
      const scale = Math.max(img.width, img.height) / 256; // letterbox: one scale for both axes
      const cx = ax + (r[0] as number);
      const cy = ay + (r[1] as number);
      const box = [(cx - (r[2] as number) / 2) * scale, (cy - (r[3] as number) / 2) * scale, (cx + (r[2] as number) / 2) * scale, (cy + (r[3] as number) / 2) * scale] as const;
      const crop = humanFaceCrop(box);
      const cut = tf.image.cropAndResize(image, [[crop[1] / img.height, crop[0] / img.width, crop[3] / img.height, crop[2] / img.width]], [0], [CROP_STAGE, CROP_STAGE]);
      const enhanced = tf.mul(tf.image.resizeBilinear(tf.div(cut, 255), [224, 224], false), 255);
      const out = faceres.execute(enhanced) as Any[];
      const age = out.find((t: Any) => t.shape[1] === 100).dataSync() as Float32Array;
      const gender = out.find((t: Any) => t.shape[1] === 1).dataSync() as Float32Array;
      const desc = out.find((t: Any) => t.shape[1] === 1024).dataSync() as Float32Array;
      faces.push({ photo: c.photo, width: img.width, height: img.height, anchor: i, box: sigs(box), cropBox: crop, cropStage: CROP_STAGE, age: sigs(age), gender: sigs(gender), descriptor: sigs(desc) });
    }
  }
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const write = (name: string, body: unknown): void => {
    const file = path.join(FIXTURE_DIR, name);
    writeFileSync(file, `${JSON.stringify(body)}\n`);
    process.stderr.write(`wrote ${path.relative(ROOT, file)}\n`);
  };
  write('human-blazeface.json', { ...meta, model: 'blazeface', normalization: 'x/127.5-1', cases: bf });
  write('human-faceres.json', { ...meta, model: 'faceres', crop: 'faceCropBox(box) then tf.image.cropAndResize to cropStage^2, /255, tf.image.resizeBilinear to 224^2, *255', faces });
}

main().catch((err: unknown) => {
  process.stderr.write(`golden failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
