/**
 * @vladmandic/face-api weight maps -> ONNX. face-api ships only weights (tfjs weights manifest + .bin,
 * uint8-quantised); the architectures live in its TypeScript, so each graph below mirrors
 * node_modules/@vladmandic/face-api/src op for op (file names cited per builder).
 *
 * Layout: the graph boundary is NHWC (as face-api's tensors); inside, after normalisation, it runs
 * NCHW because that is what ONNX Conv/Pool take. TF 'same' padding (extra pad at bottom/right) is
 * written as explicit pads computed from the known spatial size, except in tiny_face_detector,
 * whose size is symbolic, where only MaxPool needs 'same' and SAME_UPPER is the identical rule.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { GraphBuilder, float } from './onnx.ts';
import { decodeWeightGroups, samePads, sha256, type WeightGroup } from './tf.ts';
import type { Converter, ConvertedModel, ModelManifest, SourceFile } from './types.ts';

const PACKAGE = '@vladmandic/face-api';
const require = createRequire(import.meta.url);
const packageRoot = path.dirname(require.resolve(`${PACKAGE}/package.json`));
const packageJson = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string; license: string };

/** A loaded weight: float32 values (dequantised as tfjs does) and its TF shape. */
interface Weight {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

interface WeightMap {
  readonly weights: ReadonlyMap<string, Weight>;
  readonly files: readonly SourceFile[];
}


/** Reads `model/NAME-weights_manifest.json` and its shards; dequantises like tfjs-core's `decodeWeights`. */
export function loadWeightMap(modelName: string): WeightMap {
  const manifestRel = `model/${modelName}-weights_manifest.json`;
  const manifestBytes = readFileSync(path.join(packageRoot, manifestRel));
  const groups = JSON.parse(manifestBytes.toString('utf8')) as WeightGroup[];
  const files: SourceFile[] = [{ path: manifestRel, sha256: sha256(manifestBytes) }];
  const weights = new Map<string, Weight>();
  for (const [name, w] of decodeWeightGroups(groups, path.join(packageRoot, 'model'), packageRoot, files)) {
    // face-api reads its few int32 entries (shape constants) as plain numbers too.
    weights.set(name, { data: w.data instanceof Float32Array ? w.data : Float32Array.from(w.data), shape: w.shape });
  }
  return { weights, files };
}

/** A value in the graph with its (known or symbolic) NCHW spatial size. */
interface Fm {
  readonly name: string;
  readonly channels: number;
  /** Spatial side, or undefined when symbolic. Square inputs only (face-api pads to square). */
  readonly size: number | undefined;
}

/** Graph-building helpers over TF-layout weights. */
class TfGraph {
  constructor(
    readonly g: GraphBuilder,
    private readonly w: WeightMap,
  ) {}

  weight(name: string): Weight {
    const v = this.w.weights.get(name);
    if (!v) throw new Error(`weight ${JSON.stringify(name)} missing from the weight map`);
    return v;
  }

  /** TF [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
  convFilter(name: string): { init: string; kh: number; kw: number; cin: number; cout: number } {
    const { data, shape } = this.weight(name);
    const [kh, kw, cin, cout] = shape as [number, number, number, number];
    const out = new Float32Array(data.length);
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = data[((y * kw + x) * cin + i) * cout + o] as number;
    return { init: this.g.init('w', out, [cout, cin, kh, kw]), kh, kw, cin, cout };
  }

  /** TF depthwise [kh, kw, in, 1] -> ONNX [in, 1, kh, kw]. */
  depthwiseFilter(name: string): { init: string; kh: number; kw: number; cin: number } {
    const { data, shape } = this.weight(name);
    const [kh, kw, cin, mult] = shape as [number, number, number, number];
    if (mult !== 1) throw new Error(`weight ${name}: depth multiplier ${mult} is not 1`);
    const out = new Float32Array(data.length);
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) out[(i * kh + y) * kw + x] = data[(y * kw + x) * cin + i] as number;
    return { init: this.g.init('dw', out, [cin, 1, kh, kw]), kh, kw, cin };
  }

  vec(name: string): string {
    const { data } = this.weight(name);
    return this.g.init('b', data, [data.length]);
  }

  private padAttrs(x: Fm, k: number, stride: number, padding: 'same' | 'valid'): { attrs: Record<string, number[] | string>; size: number | undefined } {
    if (padding === 'valid') return { attrs: { pads: [0, 0, 0, 0] }, size: x.size === undefined ? undefined : Math.floor((x.size - k) / stride) + 1 };
    if (x.size === undefined) return { attrs: { auto_pad: 'SAME_UPPER' }, size: undefined };
    const [b, e] = samePads(x.size, k, stride);
    return { attrs: { pads: [b, b, e, e] }, size: Math.ceil(x.size / stride) };
  }

  /** tf.conv2d(x, filters, stride, padding) [+ bias]. */
  conv(x: Fm, filters: string, bias: string | undefined, stride: number, padding: 'same' | 'valid'): Fm {
    const f = this.convFilter(filters);
    if (f.cin !== x.channels) throw new Error(`${filters}: expects ${f.cin} channels, input has ${x.channels}`);
    const { attrs, size } = this.padAttrs(x, f.kh, stride, padding);
    const inputs = bias ? [x.name, f.init, this.vec(bias)] : [x.name, f.init];
    const name = this.g.op('Conv', inputs, { kernel_shape: [f.kh, f.kw], strides: [stride, stride], dilations: [1, 1], group: 1, ...attrs });
    return { name, channels: f.cout, size };
  }

  /** tf.depthwiseConv2d(x, filters, stride, padding). */
  depthwise(x: Fm, filters: string, stride: number, padding: 'same' | 'valid'): Fm {
    const f = this.depthwiseFilter(filters);
    if (f.cin !== x.channels) throw new Error(`${filters}: expects ${f.cin} channels, input has ${x.channels}`);
    const { attrs, size } = this.padAttrs(x, f.kh, stride, padding);
    const name = this.g.op('Conv', [x.name, f.init], { kernel_shape: [f.kh, f.kw], strides: [stride, stride], dilations: [1, 1], group: f.cin, ...attrs });
    return { name, channels: x.channels, size };
  }

  /** tf.separableConv2d(x, dw, pw, stride, padding) + bias: depthwise then 1x1. */
  separable(x: Fm, prefix: string, stride: number, padding: 'same' | 'valid'): Fm {
    const d = this.depthwise(x, `${prefix}/depthwise_filter`, stride, padding);
    return this.conv(d, `${prefix}/pointwise_filter`, `${prefix}/bias`, 1, 'valid');
  }

  maxPool(x: Fm, k: number, stride: number, padding: 'same' | 'valid'): Fm {
    const { attrs, size } = this.padAttrs(x, k, stride, padding);
    return { name: this.g.op('MaxPool', [x.name], { kernel_shape: [k, k], strides: [stride, stride], ...attrs }), channels: x.channels, size };
  }

  unary(op: string, x: Fm): Fm {
    return { ...x, name: this.g.op(op, [x.name]) };
  }

  add(a: Fm, b: Fm): Fm {
    return { ...a, name: this.g.op('Add', [a.name, b.name]) };
  }

  /** tf.clipByValue(x, lo, hi). */
  clip(x: Fm, lo: number, hi: number): Fm {
    return { ...x, name: this.g.op('Clip', [x.name, this.g.floats([lo]), this.g.floats([hi])]) };
  }

  /** tf.pad by 1 on each spatial side with zeros. */
  pad1(x: Fm): Fm {
    const name = this.g.op('Pad', [x.name, this.g.ints([0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'constant' });
    return { name, channels: x.channels, size: x.size === undefined ? undefined : x.size + 2 };
  }

  /** NHWC raw RGB input -> face-api normalisation (in NHWC, as face-api) -> NCHW. */
  input(size: number | string, batch: number | string, normalise: (x: string) => string): Fm {
    const x = this.g.input('input', [batch, size, size, 3]);
    const n = normalise(x);
    return { name: this.g.op('Transpose', [n], { perm: [0, 3, 1, 2] }), channels: 3, size: typeof size === 'number' ? size : undefined };
  }

  /** face-api's `normalize(x, meanRgb).div(255)`. */
  meanDiv255(x: string, mean: readonly [number, number, number]): string {
    const sub = this.g.op('Sub', [x, this.g.floats(mean, [3])]);
    return this.g.op('Div', [sub, this.g.floats([255])]);
  }

  toNhwc(x: Fm): string {
    return this.g.op('Transpose', [x.name], { perm: [0, 2, 3, 1] });
  }
}

function finish(g: GraphBuilder, name: string, doc: string, manifest: ModelManifest): ConvertedModel {
  const onnx = g.toBytes({
    producerVersion: '1',
    docString: doc,
    metadata: { source: `${PACKAGE}@${packageJson.version}`, license: packageJson.license, ...Object.fromEntries(manifest.source.files.map((f) => [`sha256:${f.path}`, f.sha256])) },
  });
  if (manifest.name !== name) throw new Error(`manifest name ${manifest.name} != ${name}`);
  return { manifest, onnx };
}

const source = (files: readonly SourceFile[]): ModelManifest['source'] => ({ package: PACKAGE, version: packageJson.version, license: packageJson.license, files });

/** src/xception/TinyXception.ts (2 main blocks) + src/ageGenderNet/AgeGenderNet.ts. */
function buildAgeGender(): ConvertedModel {
  const w = loadWeightMap('age_gender_model');
  const g = new GraphBuilder('age_gender');
  const t = new TfGraph(g, w);
  // TinyXception.forwardInput: normalize(x, meanRgb).div(255)
  let x = t.input(112, 'batch', (i) => t.meanDiv255(i, [122.782, 117.001, 104.298]));
  const conv = (v: Fm, p: string, stride: number): Fm => t.conv(v, `${p}/filters`, `${p}/bias`, stride, 'same');
  const reduction = (v: Fm, p: string, activateInput: boolean): Fm => {
    let out = activateInput ? t.unary('Relu', v) : v;
    out = t.separable(out, `${p}/separable_conv0`, 1, 'same');
    out = t.separable(t.unary('Relu', out), `${p}/separable_conv1`, 1, 'same');
    out = t.maxPool(out, 3, 2, 'same');
    return t.add(out, conv(v, `${p}/expansion_conv`, 2));
  };
  const main = (v: Fm, p: string): Fm => {
    let out = t.separable(t.unary('Relu', v), `${p}/separable_conv0`, 1, 'same');
    out = t.separable(t.unary('Relu', out), `${p}/separable_conv1`, 1, 'same');
    out = t.separable(t.unary('Relu', out), `${p}/separable_conv2`, 1, 'same');
    return t.add(out, v);
  };
  x = t.unary('Relu', conv(x, 'entry_flow/conv_in', 2));
  x = reduction(x, 'entry_flow/reduction_block_0', false);
  x = reduction(x, 'entry_flow/reduction_block_1', true);
  x = main(x, 'middle_flow/main_block_0');
  x = main(x, 'middle_flow/main_block_1');
  x = reduction(x, 'exit_flow/reduction_block', true);
  x = t.unary('Relu', t.separable(x, 'exit_flow/separable_conv', 1, 'same'));
  if (x.size !== 7) throw new Error(`age_gender: bottleneck is ${x.size}x${x.size}, expected 7x7`);
  // AgeGenderNet.runNet: avgPool 7x7 stride 2 'valid' -> [batch, 512]; two dense layers; softmax on gender.
  const pooled = g.op('AveragePool', [x.name], { kernel_shape: [7, 7], strides: [2, 2], pads: [0, 0, 0, 0] });
  const flat = g.op('Reshape', [pooled, g.ints([-1, 512])]);
  const dense = (p: string): string => g.op('Add', [g.op('MatMul', [flat, g.init('fc', t.weight(`${p}/weights`).data, [...t.weight(`${p}/weights`).shape])]), t.vec(`${p}/bias`)]);
  const age = g.op('Reshape', [dense('fc/age'), g.ints([-1])]);
  const gender = g.op('Softmax', [dense('fc/gender')], { axis: -1 });
  g.alias(age, 'age');
  g.alias(gender, 'gender');
  g.output('age', ['batch']);
  g.output('gender', ['batch', 2]);
  const manifest: ModelManifest = {
    name: 'age_gender',
    task: 'age-gender',
    source: source(w.files),
    input: {
      name: 'input',
      shape: ['batch', 112, 112, 3],
      layout: 'NHWC',
      dtype: 'float32',
      feed: 'RGB 0..255: the face box (clipped to the image, floored), zero-padded to a square with the padding split evenly (odd pixel after), resized to 112x112 with TF bilinear (align_corners=false, half_pixel_centers=false)',
      normalization: '(x - [122.782, 117.001, 104.298]) / 255 per RGB channel',
    },
    outputs: [
      { name: 'age', shape: ['batch'], meaning: 'age in years (linear regression output, unclamped)' },
      { name: 'gender', shape: ['batch', 2], meaning: 'softmax probabilities [male, female]; face-api reads index 0 as P(male)' },
    ],
    notes: 'face-api AgeGenderNet: TinyXception(2 main blocks) feature extractor, 7x7 avg pool, dense age regression and dense+softmax gender. Weights dequantised from uint8 (v*scale+min) to float32 exactly as tfjs does. Padding at the crop border is black (0) before normalisation, as face-api pads the tensor.',
  };
  return finish(g, 'age_gender', 'face-api AgeGenderNet (TinyXception) converted by crowdlens', manifest);
}

const SSD_BN_EPSILON = 0.0010000000474974513;

/** src/ssdMobilenetv1/{SsdMobilenetv1,mobileNetV1,predictionLayer,boxPredictionLayer,outputLayer}.ts. */
function buildSsd(): ConvertedModel {
  const w = loadWeightMap('ssd_mobilenetv1_model');
  const g = new GraphBuilder('ssd_mobilenetv1');
  const t = new TfGraph(g, w);
  // SsdMobilenetv1.forwardInput: x / 127.5 - 1
  const x0 = t.input(512, 1, (i) => g.op('Sub', [g.op('Div', [i, g.floats([127.5])]), g.floats([1])]));
  // pointwiseConvLayer: conv2d 'same' + batch_norm_offset, relu6
  const pointwise = (v: Fm, prefix: string, stride: number): Fm => t.clip(t.conv(v, `${prefix}/weights`, `${prefix}/convolution_bn_offset`, stride, 'same'), 0, 6);
  // depthwiseConvLayer: depthwiseConv2d 'same', batchNorm(eps 0.001), relu6
  const depthwise = (v: Fm, idx: number, stride: number): Fm => {
    const p = `MobilenetV1/Conv2d_${idx}_depthwise`;
    const d = t.depthwise(v, `${p}/depthwise_weights`, stride, 'same');
    const bn = g.op('BatchNormalization', [d.name, t.vec(`${p}/BatchNorm/gamma`), t.vec(`${p}/BatchNorm/beta`), t.vec(`${p}/BatchNorm/moving_mean`), t.vec(`${p}/BatchNorm/moving_variance`)], { epsilon: float(SSD_BN_EPSILON) });
    return t.clip({ ...d, name: bn }, 0, 6);
  };
  let out = pointwise(x0, 'MobilenetV1/Conv2d_0_pointwise', 2);
  let conv11: Fm | undefined;
  for (let idx = 1; idx <= 13; idx++) {
    out = depthwise(out, idx, [2, 4, 6, 12].includes(idx) ? 2 : 1);
    out = pointwise(out, `MobilenetV1/Conv2d_${idx}_pointwise`, 1);
    if (idx === 11) conv11 = out;
  }
  if (!conv11) throw new Error('ssd: conv11 missing');
  // predictionLayer
  const c: Fm[] = [];
  let prev = out;
  for (let i = 0; i < 8; i++) {
    prev = pointwise(prev, `Prediction/Conv2d_${i}_pointwise`, i % 2 === 1 ? 2 : 1);
    c.push(prev);
  }
  const sources = [conv11, out, c[1], c[3], c[5], c[7]] as Fm[];
  const boxParts: string[] = [];
  const classParts: string[] = [];
  sources.forEach((src, i) => {
    const p = `Prediction/BoxPredictor_${i}`;
    // boxPredictionLayer: convLayer (1x1 'same' + bias, no relu) reshaped in NHWC order.
    const box = t.conv(src, `${p}/BoxEncodingPredictor/weights`, `${p}/BoxEncodingPredictor/biases`, 1, 'same');
    const cls = t.conv(src, `${p}/ClassPredictor/weights`, `${p}/ClassPredictor/biases`, 1, 'same');
    boxParts.push(g.op('Reshape', [t.toNhwc(box), g.ints([1, -1, 4])]));
    classParts.push(g.op('Reshape', [t.toNhwc(cls), g.ints([1, -1, 3])]));
  });
  const boxes = g.op('Concat', boxParts, { axis: 1 });
  const classes = g.op('Concat', classParts, { axis: 1 });
  // outputLayer: sigmoid(classes[..., 1:])[..., 0] = sigmoid(classes[..., 1]); box decoding is done in JS.
  const faceLogit = g.op('Slice', [classes, g.ints([1]), g.ints([2]), g.ints([2])]);
  const scores = g.op('Reshape', [g.op('Sigmoid', [faceLogit]), g.ints([1, -1])]);
  const extra = t.weight('Output/extra_dim');
  const anchors = g.init('anchors', extra.data, [5118, 4]);
  g.alias(boxes, 'box_encodings');
  g.alias(scores, 'scores');
  g.alias(anchors, 'anchors');
  g.output('box_encodings', [1, 5118, 4]);
  g.output('scores', [1, 5118]);
  g.output('anchors', [5118, 4]);
  const manifest: ModelManifest = {
    name: 'ssd_mobilenetv1',
    task: 'face-detection',
    source: source(w.files),
    input: {
      name: 'input',
      shape: [1, 512, 512, 3],
      layout: 'NHWC',
      dtype: 'float32',
      feed: 'RGB 0..255: the frame zero-padded at the bottom or right to a square, resized to 512x512 with TF bilinear (align_corners=false, half_pixel_centers=false)',
      normalization: 'x / 127.5 - 1',
    },
    outputs: [
      { name: 'box_encodings', shape: [1, 5118, 4], meaning: 'raw SSD box encodings [ty, tx, th, tw] per anchor; decode with anchors: size=(a2-a0, a3-a1), centre=a0+size/2; cy=ty/10*h+cy_a, cx=tx/10*w+cx_a, half h=exp(th/5)*h/2, half w=exp(tw/5)*w/2 -> [y1,x1,y2,x2] in 0..1 of the padded square' },
      { name: 'scores', shape: [1, 5118], meaning: 'face probability per anchor: sigmoid of class logit 1 (logit 0 is background)' },
      { name: 'anchors', shape: [5118, 4], meaning: "face-api's Output/extra_dim anchor boxes [y1, x1, y2, x2] (constant, 0..1)" },
    ],
    notes: 'face-api SsdMobilenetv1: MobileNetV1 (relu6, batch norm eps 0.001 on depthwise layers, folded offsets on pointwise layers) + 6 SSD box predictors (conv11, conv13, 4 extra layers). face-api then keeps scores > minConfidence (0.5), NMS IoU 0.5 up to 100 results, clamps boxes to 0..1 and scales by the padding.',
  };
  return finish(g, 'ssd_mobilenetv1', 'face-api SsdMobilenetv1 converted by crowdlens', manifest);
}

/** src/tinyFaceDetector/TinyFaceDetector.ts + src/tinyYolov2/TinyYolov2Base.ts runMobilenet. */
function buildTiny(): ConvertedModel {
  const w = loadWeightMap('tiny_face_detector_model');
  const g = new GraphBuilder('tiny_face_detector');
  const t = new TfGraph(g, w);
  const x0 = t.input('size', 1, (i) => t.meanDiv255(i, [117.001, 114.697, 97.404]));
  // leaky(x) = relu(x - 0.1x) + 0.1x, written as face-api writes it.
  const leaky = (v: Fm): Fm => {
    const min = g.op('Mul', [v.name, g.floats([0.10000000149011612])]);
    return { ...v, name: g.op('Add', [g.op('Relu', [g.op('Sub', [v.name, min])]), min]) };
  };
  // tinyYolov2/depthwiseSeparableConv: pad 1, separable 'valid', bias, leaky.
  const sep = (v: Fm, p: string): Fm => leaky(t.separable(t.pad1(v), p, 1, 'valid'));
  let out = leaky(t.conv(x0, 'conv0/filters', 'conv0/bias', 1, 'valid'));
  out = t.maxPool(out, 2, 2, 'same');
  for (let i = 1; i <= 4; i++) {
    out = sep(out, `conv${i}`);
    out = t.maxPool(out, 2, 2, 'same');
  }
  out = sep(out, 'conv5');
  out = t.maxPool(out, 2, 1, 'same');
  out = t.conv(out, 'conv8/filters', 'conv8/bias', 1, 'valid');
  g.alias(t.toNhwc(out), 'grid');
  g.output('grid', [1, 'cells', 'cells', 25]);
  const manifest: ModelManifest = {
    name: 'tiny_face_detector',
    task: 'face-detection',
    source: source(w.files),
    input: {
      name: 'input',
      shape: [1, 'size', 'size', 3],
      layout: 'NHWC',
      dtype: 'float32',
      feed: 'RGB 0..255: the frame zero-padded at the bottom or right to a square, resized to size x size (a multiple of 32; face-api default 416) with TF bilinear (align_corners=false, half_pixel_centers=false)',
      normalization: '(x - [117.001, 114.697, 97.404]) / 255 per RGB channel',
    },
    outputs: [
      {
        name: 'grid',
        shape: [1, 'cells', 'cells', 25],
        meaning: 'TinyYolov2 grid, cells = size/32; last axis = 5 anchors x [tx, ty, tw, th, objectness logit]. Decode: score=sigmoid(obj); cx=(col+sigmoid(tx))/cells; cy=(row+sigmoid(ty))/cells; w=exp(tw)*anchor.x/cells; h=exp(th)*anchor.y/cells (0..1 of the padded square); anchors (1.603231,2.094468) (6.041143,7.080126) (2.882459,3.518061) (4.266906,5.178857) (9.041765,10.66308)',
      },
    ],
    notes: "face-api TinyFaceDetector (TinyYolov2 with separable convs, no batch norm, leaky 0.1; conv0 is a 3x3 'valid' conv, so the grid is size/32 only after the 'same' max pools round up). face-api then keeps score > scoreThreshold (0.5) and runs NMS with IoU 0.4.",
  };
  return finish(g, 'tiny_face_detector', 'face-api TinyFaceDetector converted by crowdlens', manifest);
}

/** Converters for @vladmandic/face-api's weight-map models. */
export const faceApiConverters: readonly Converter[] = [
  { name: 'age_gender', convert: () => Promise.resolve(buildAgeGender()) },
  { name: 'ssd_mobilenetv1', convert: () => Promise.resolve(buildSsd()) },
  { name: 'tiny_face_detector', convert: () => Promise.resolve(buildTiny()) },
];
