/**
 * @vladmandic/human's TFJS graph models -> ONNX via the generic converter (tfjs-graph.ts).
 * Each graph takes raw RGB 0..255 NHWC and carries human's own input normalisation, so callers
 * never normalise. Preprocessing and decoding follow node_modules/@vladmandic/human/src/face/
 * blazeface.ts, facemeshutil.ts and faceres.ts (3.3.6).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { GraphBuilder } from './onnx.ts';
import { convertTfGraph, listOps, loadTfGraphModel, type TfGraphConvertOptions } from './tfjs-graph.ts';
import type { Converter, ConvertedModel, InputSpec, ModelManifest, OutputSpec } from './types.ts';

const PACKAGE = '@vladmandic/human';
const require = createRequire(import.meta.url);
/** Root of the installed @vladmandic/human package. */
export const HUMAN_ROOT = packageRootOf(require.resolve(PACKAGE));

/** The package's exports map hides package.json, so walk up from its entry point. */
function packageRootOf(entry: string): string {
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }).name === PACKAGE) return dir;
  }
  throw new Error(`${PACKAGE}: package root not found above ${entry}`);
}
const packageJson = JSON.parse(readFileSync(path.join(HUMAN_ROOT, 'package.json'), 'utf8')) as { version: string; license: string };

/** blazeface input side in pixels (model.json Placeholder shape). */
export const BLAZEFACE_SIZE = 256;
/** faceres input side in pixels. */
export const FACERES_SIZE = 224;

interface HumanModelSpec {
  readonly name: string;
  readonly task: ModelManifest['task'];
  readonly input: Omit<InputSpec, 'name' | 'layout' | 'dtype'>;
  readonly outputs: readonly (OutputSpec & { readonly from: readonly string[]; readonly concatAxis?: number })[];
  readonly preprocess?: (g: GraphBuilder, x: string) => string;
  readonly notes: string;
}

const specs: readonly HumanModelSpec[] = [
  {
    name: 'blazeface',
    task: 'face-detection',
    input: {
      shape: [1, BLAZEFACE_SIZE, BLAZEFACE_SIZE, 3],
      feed: 'RGB 0..255 of the frame resized to 256x256 with TF bilinear (align_corners=false, half_pixel_centers=false); crowdlens letterboxes (aspect kept, zero padding bottom/right), human stretches',
      normalization: 'x/127.5 - 1 (two float32 ops, as human: tf.div(x, 127.5) then tf.sub(.., 1))',
    },
    outputs: [
      {
        name: 'classificators',
        shape: [1, 896, 1],
        from: ['Identity', 'Identity_1'],
        concatAxis: 1,
        meaning: 'face logit per anchor; score = sigmoid(logit). Anchors: human generateAnchors(256): 16x16 grid stride 16 with 2 anchors per cell (512), then 8x8 stride 32 with 6 per cell (384), row-major, centre = stride*(cell+0.5) in 256-px units',
      },
      {
        name: 'regressors',
        shape: [1, 896, 16],
        from: ['Identity_2', 'Identity_3'],
        concatAxis: 1,
        meaning: 'per anchor, in 256-px input units: [dx, dy, w, h, 6 keypoints (x, y) offsets]; box centre = anchor + (dx, dy), box = centre -/+ (w, h)/2; keypoint = anchor + offset (right eye, left eye, nose, mouth, right ear, left ear)',
      },
    ],
    preprocess: (g, x) => g.op('Sub', [g.op('Div', [x, g.floats([127.5])]), g.floats([1])]),
    notes:
      'MediaPipe BlazeFace short-range (front) detector as converted to TFJS by vladmandic (mediapipe -> tfjs graph model, float32 weights). Human concatenates its four outputs as [512-anchor set, 384-anchor set] of [logit, 16 regressors]; here they come as two concatenated outputs in the same anchor order. Human then runs NMS (iou 0.1, minConfidence 0.2), enlarges the box 1.4x and squares it for the face crop. Designed for faces that fill a good part of the frame: the coarsest anchor stride is 16 px of 256, so faces under ~20 px in the 256 input are not found.',
  },
  {
    name: 'faceres',
    task: 'face-description',
    input: {
      shape: ['batch', FACERES_SIZE, FACERES_SIZE, 3],
      feed: 'RGB 0..255 face crop: human crops the detector box enlarged 1.4x and squared (rounded to whole pixels) with tf.image.cropAndResize to 192x192 (the mesh size), then tf.image.resizeBilinear to 224x224 (see src/infer/faceres.ts)',
      normalization: 'none: the graph takes 0..255 (human feeds crop/255*255; the original batch-norm folds any scaling)',
    },
    outputs: [
      { name: 'age', shape: ['batch', 100], from: ['age_pred/Softmax'], meaning: 'softmax over age 0..99 years; human decodes argmax i with its larger neighbour: age = i - 10*p[i-1] if p[i-1] > p[i+1] else i + 10*p[i+1]' },
      { name: 'gender', shape: ['batch', 1], from: ['gender_pred/Sigmoid'], meaning: 'sigmoid P(male); human: > 0.5 male, else female' },
      { name: 'descriptor', shape: ['batch', 1024], from: ['global_pooling/Mean'], meaning: 'face descriptor: global average pool of the last MobileNet block (not normalised; crowdlens L2-normalises it)' },
    ],
    notes:
      'HSE-FaceRes (HSE-asavchenko/HSE_FaceRec_tf), a MobileNet v1 age/gender/identity network converted to TFJS by vladmandic; weights stored as float16 in faceres.bin, decoded exactly to float32. ReLU6 appears as Relu -> Minimum(6) -> Maximum(0) and batch norm as Mul/Add, kept as is. Age is known to be compressed toward 25-30 years.',
  },
];

function makeConverter(spec: HumanModelSpec): Converter {
  return {
    name: spec.name,
    convert(): Promise<ConvertedModel> {
      const modelJson = path.join(HUMAN_ROOT, 'models', `${spec.name}.json`);
      const tf = loadTfGraphModel(modelJson, HUMAN_ROOT);
      const options: TfGraphConvertOptions = {
        graphName: spec.name,
        input: { name: 'input', shape: spec.input.shape },
        ...(spec.preprocess ? { preprocess: spec.preprocess } : {}),
        outputs: spec.outputs.map((o) => ({ name: o.name, from: o.from, shape: o.shape, ...(o.concatAxis === undefined ? {} : { concatAxis: o.concatAxis }) })),
      };
      const g = convertTfGraph(tf, options);
      const ops = [...listOps(tf).entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([op, n]) => `${op} x${n}`);
      const manifest: ModelManifest = {
        name: spec.name,
        task: spec.task,
        source: { package: PACKAGE, version: packageJson.version, license: packageJson.license, files: tf.files },
        input: { name: 'input', layout: 'NHWC', dtype: 'float32', ...spec.input },
        outputs: spec.outputs.map(({ name, shape, meaning }) => ({ name, shape, meaning })),
        notes: `${spec.notes} TF ops in the source graph: ${ops.join(', ')}.`,
      };
      const onnx = g.toBytes({
        producerVersion: '1',
        metadata: { source: `${PACKAGE}@${packageJson.version}/models/${spec.name}.json`, license: packageJson.license },
      });
      return Promise.resolve({ manifest, onnx });
    },
  };
}

/** Converters for @vladmandic/human's TFJS graph models: `blazeface` and `faceres`. */
export const humanConverters: readonly Converter[] = specs.map(makeConverter);
