/**
 * Golden fixtures from the ORIGINAL @vladmandic/face-api implementation (its own dist build, its own
 * weight files, tfjs 4.22 on the pure-JS CPU backend so the numbers are plain float32 math), on
 * face-api's own demo photos decoded with sharp. test/models/faceapi.test.ts replays the same
 * inputs through our ONNX files.
 *   npx tsx models/golden/faceapi.ts   # writes test/fixtures/golden/faceapi-*.json
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PKG = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
export const FIXTURE_DIR = path.join(ROOT, 'test', 'fixtures', 'golden');
export const SAMPLES = [1, 2, 3, 4, 5, 6].map((i) => `sample${i}.jpg`);

/* eslint-disable @typescript-eslint/no-explicit-any -- face-api's CJS dist has no types reachable from here */
type Any = any;

/** 7 significant digits keeps fixtures small and far below the 1e-3 test tolerance. */
const sig = (v: number): number => Number(v.toPrecision(7));
const sigs = (a: ArrayLike<number>): number[] => Array.from(a, sig);

async function decode(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: decoded to ${info.channels} channels, expected 3`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

async function main(): Promise<void> {
  const tf: Any = require('@tensorflow/tfjs');
  const faceapi: Any = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  await tf.setBackend('cpu');
  await tf.ready();
  const modelDir = path.join(PKG, 'model');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
  await faceapi.nets.ageGenderNet.loadFromDisk(modelDir);
  const meta = { generator: 'models/golden/faceapi.ts', faceApiVersion: faceapi.version, tfjs: tf.version_core, backend: tf.getBackend(), decode: 'sharp(file).removeAlpha().raw() (no EXIF rotation)' };

  const ssd: Any[] = [];
  const tiny: Any[] = [];
  const ages: Any[] = [];
  for (const name of SAMPLES) {
    const file = path.join(PKG, 'demo', name);
    const img = await decode(file);
    const tensor = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');

    // SSD: raw decoded boxes/scores of the strongest anchors, and face-api's final detections.
    const netInput = await faceapi.toNetInput(tensor);
    const raw = faceapi.nets.ssdMobilenetv1.forwardInput(netInput);
    const scores: Float32Array = raw.scores[0].dataSync();
    const boxes: Float32Array = raw.boxes[0].dataSync();
    const top = Array.from(scores, (s, i) => [s, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 40).map(([, i]) => i);
    const anchors = top.map((i) => ({ index: i, score: sig(scores[i] as number), box: sigs(boxes.subarray(i * 4, i * 4 + 4)) }));
    tf.dispose([...raw.scores, ...raw.boxes]);
    const dets = await faceapi.nets.ssdMobilenetv1.locateFaces(tensor, { minConfidence: 0.5, maxResults: 100 });
    const ssdDetections = dets.map((d: Any) => ({ score: sig(d.score), box: sigs([d.box.x, d.box.y, d.box.x + d.box.width, d.box.y + d.box.height]) }));
    ssd.push({ image: name, width: img.width, height: img.height, topAnchors: anchors, detections: ssdDetections });

    // Tiny face detector at two input sizes: full grid at 416 for the first two images, detections always.
    for (const inputSize of [416, 320]) {
      const grid = await faceapi.nets.tinyFaceDetector.forward(tensor, inputSize);
      const g: Float32Array = grid.dataSync();
      const shape: number[] = grid.shape;
      grid.dispose();
      const tdets = await faceapi.nets.tinyFaceDetector.locateFaces(tensor, new faceapi.TinyFaceDetectorOptions({ inputSize, scoreThreshold: 0.5 }));
      const abs = (v: number[]): number => v.reduce((a, b) => a + Math.abs(b), 0);
      tiny.push({
        image: name,
        inputSize,
        width: img.width,
        height: img.height,
        gridShape: shape,
        gridSumAbs: sig(abs(Array.from(g))),
        gridMax: sig(Math.max(...g)),
        grid: inputSize === 416 && (name === 'sample1.jpg' || name === 'sample2.jpg') ? sigs(g) : undefined,
        detections: tdets.map((d: Any) => ({ score: sig(d.score), box: sigs([d.box.x, d.box.y, d.box.x + d.box.width, d.box.y + d.box.height]) })),
      });
    }

    // Age/gender on face-api's own crop of each SSD detection (extractFaceTensors: clip + floor, slice),
    // then forward() pads to a centred square and resizes to 112.
    const faceRects = dets.slice(0, 4).map((d: Any) => d.box);
    // Also an off-square region around the first face, to exercise the square padding on both axes.
    if (dets[0]) {
      const b = dets[0].box;
      faceRects.push(new faceapi.Rect(b.x - b.width * 0.3, b.y - b.height * 0.1, b.width * 1.6, b.height * 1.2));
      faceRects.push(new faceapi.Rect(b.x, b.y - b.height * 0.4, b.width, b.height * 1.9));
    }
    const crops = await faceapi.extractFaceTensors(tensor, faceRects);
    for (const [i, crop] of crops.entries()) {
      const r = faceRects[i].clipAtImageBorders(img.width, img.height);
      const out = await faceapi.nets.ageGenderNet.forward(crop);
      ages.push({ image: name, crop: { x: r.x, y: r.y, width: r.width, height: r.height }, age: sig(out.age.dataSync()[0]), gender: sigs(out.gender.dataSync()) });
      tf.dispose([crop, out.age, out.gender]);
    }
    tensor.dispose();
  }

  mkdirSync(FIXTURE_DIR, { recursive: true });
  const write = (n: string, body: object): void => writeFileSync(path.join(FIXTURE_DIR, n), `${JSON.stringify(body)}\n`);
  write('faceapi-age_gender.json', { ...meta, model: 'age_gender', crop: 'face-api extractFaceTensors (clip to image, floor x/y/w/h, slice); AgeGenderNet pads to a centred square with zeros and resizes to 112 (TF bilinear)', outputs: 'age: years; gender: softmax [male, female]', faces: ages });
  write('faceapi-ssd_mobilenetv1.json', { ...meta, model: 'ssd_mobilenetv1', preprocess: 'pad bottom/right to square with zeros, TF bilinear resize to 512', topAnchors: '40 highest-scoring anchors: decoded [y1,x1,y2,x2] (0..1 of the padded square) and score', detections: 'locateFaces minConfidence 0.5, maxResults 100, NMS IoU 0.5; boxes [x1,y1,x2,y2] in source pixels', images: ssd });
  write('faceapi-tiny_face_detector.json', { ...meta, model: 'tiny_face_detector', preprocess: 'pad bottom/right to square with zeros, TF bilinear resize to inputSize', grid: 'raw forward() output, NHWC flattened', detections: 'locateFaces scoreThreshold 0.5, NMS IoU 0.4; boxes [x1,y1,x2,y2] in source pixels', images: tiny });
  process.stderr.write(`wrote ${ages.length} age/gender faces, ${ssd.length} ssd images, ${tiny.length} tiny runs to ${path.relative(ROOT, FIXTURE_DIR)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`golden failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
