/**
 * HSE-FaceRes (via @vladmandic/human) on the converted ONNX model: a 1024-d face descriptor plus
 * age and gender from the same pass.
 *
 * The face is cropped exactly as human 3.3.6 does with its default config (face.mesh enabled,
 * detector.rotation off): the detector box is enlarged 1.4x about its centre and squared to its
 * longer side with corners rounded to whole pixels (facemeshutil.ts enlargeBox + squarifyBox), cut
 * with tf.image.cropAndResize to 192x192 (the face-mesh input size; the crop may extend past the
 * frame, filled with black), then tf.image.resizeBilinear to 224x224 (faceres.ts enhance).
 * Human divides by 255 after the crop and multiplies back before the model; that round trip changes
 * values by float32 rounding only (< 1e-4) and is skipped here.
 * The box is expected to be a tight face box like blazeface's (brows to chin).
 */
import * as ort from 'onnxruntime-node';
import type { BoxXyxy, FaceAttributes } from '../shared/messages.ts';
import { cropAndResize, resizeBilinear } from './image.ts';
import { loadModel, type LoadedModel } from './models.ts';
import type { SessionOptions } from './session.ts';
import type { AgeGenderEstimator, FaceDescriber, RgbImage } from './types.ts';

/** Model input side in pixels. */
export const FACERES_INPUT_SIZE = 224;
/** Side of human's intermediate face crop (its face-mesh input size). */
export const FACERES_CROP_STAGE = 192;
/** human's detector box enlargement for the face crop (config.face.detector.scale). */
export const FACERES_BOX_SCALE = 1.4;
/** Descriptor length. */
export const FACERES_DESCRIPTOR_SIZE = 1024;

/** How the 100-way age softmax becomes years. */
export type AgeDecoding =
  /** human's: argmax i moved toward its larger neighbour by 10 x that neighbour's probability. */
  | 'human'
  /** Expected value sum(i * p_i). */
  | 'mean';

/** Construction options for {@link FaceresDescriber}. */
export interface FaceresOptions {
  /** Age decoding. Default `human` (what human reports, for benchmark comparison). */
  readonly ageDecoding?: AgeDecoding;
  /** onnxruntime session options (threads, provider). */
  readonly session?: SessionOptions;
}

/** Everything faceres says about one face. */
export interface FaceresResult extends FaceAttributes {
  /** L2-normalised 1024-d descriptor. */
  readonly descriptor: Float32Array;
  /** Raw sigmoid P(male). */
  readonly maleProbability: number;
}

/** human's face crop box for a detector box: enlarged 1.4x, squared, rounded. [x1, y1, x2, y2] in source pixels, may exceed the frame. */
export function faceCropBox(box: BoxXyxy, scale = FACERES_BOX_SCALE): [number, number, number, number] {
  const [x1, y1, x2, y2] = box;
  const cx = x1 + (x2 - x1) / 2;
  const cy = y1 + (y2 - y1) / 2;
  const half = (Math.max(Math.abs(x2 - x1), Math.abs(y2 - y1)) * scale) / 2;
  return [Math.round(cx - half), Math.round(cy - half), Math.round(cx + half), Math.round(cy + half)];
}

/**
 * Fills `out` (224*224*3 float32, raw 0..255) with the face crop for `box`, as human does.
 * `stage` is an optional preallocated 192*192*3 buffer.
 */
export function cropFace(image: RgbImage, box: BoxXyxy, out: Float32Array, stage = new Float32Array(FACERES_CROP_STAGE * FACERES_CROP_STAGE * 3)): Float32Array {
  const [x1, y1, x2, y2] = faceCropBox(box);
  if (!(x2 > x1 && y2 > y1)) throw new RangeError(`faceres: box [${box.join(', ')}] is empty`);
  cropAndResize(image, [y1 / image.height, x1 / image.width, y2 / image.height, x2 / image.width], FACERES_CROP_STAGE, FACERES_CROP_STAGE, 0, stage);
  return resizeBilinear({ data: stage, width: FACERES_CROP_STAGE, height: FACERES_CROP_STAGE, channels: 3 }, FACERES_INPUT_SIZE, FACERES_INPUT_SIZE, {}, out);
}

/** human's age decoding of the softmax (see {@link AgeDecoding}). */
export function decodeAge(p: Float32Array, mode: AgeDecoding = 'human'): number {
  if (mode === 'mean') {
    let s = 0;
    for (let i = 0; i < p.length; i++) s += i * (p[i] as number);
    return s;
  }
  let idx = 0;
  for (let i = 1; i < p.length; i++) if ((p[i] as number) > (p[idx] as number)) idx = i;
  // Out-of-range neighbours are undefined in human; `undefined > x` is false there, so it takes the upper branch with NaN -> we treat missing as 0.
  const lo = p[idx - 1] ?? 0;
  const hi = p[idx + 1] ?? 0;
  return Math.round(lo > hi ? 10 * idx - 100 * lo : 10 * idx + 100 * hi) / 10;
}

/** faceres: a {@link FaceDescriber} (1024-d, L2-normalised) and an {@link AgeGenderEstimator} view of the same pass. */
export class FaceresDescriber implements FaceDescriber, AgeGenderEstimator {
  readonly name = 'faceres';
  readonly size = FACERES_DESCRIPTOR_SIZE;
  private readonly input = new Float32Array(FACERES_INPUT_SIZE * FACERES_INPUT_SIZE * 3);
  private readonly stage = new Float32Array(FACERES_CROP_STAGE * FACERES_CROP_STAGE * 3);
  private readonly tensor: ort.Tensor;
  /** Runs are serialised: the input buffer is shared and onnxruntime reads it while running. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly ageDecoding: AgeDecoding;

  private constructor(
    private readonly model: LoadedModel,
    options: FaceresOptions,
  ) {
    this.ageDecoding = options.ageDecoding ?? 'human';
    if (this.ageDecoding !== 'human' && this.ageDecoding !== 'mean') throw new RangeError(`ageDecoding must be "human" or "mean", got ${JSON.stringify(this.ageDecoding)}`);
    this.tensor = new ort.Tensor('float32', this.input, [1, FACERES_INPUT_SIZE, FACERES_INPUT_SIZE, 3]);
  }

  /** Loads models/onnx/faceres.onnx (shared per process). */
  static async create(options: FaceresOptions = {}): Promise<FaceresDescriber> {
    return new FaceresDescriber(await loadModel('faceres', options.session ?? {}), options);
  }

  /** Descriptor, age and gender of the face inside `box` (source pixels) in one model run. */
  analyze(image: RgbImage, box: BoxXyxy): Promise<FaceresResult> {
    const run = this.queue.then(() => this.run(image, box));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async describe(image: RgbImage, box: BoxXyxy): Promise<Float32Array> {
    return (await this.analyze(image, box)).descriptor;
  }

  async estimate(image: RgbImage, box: BoxXyxy): Promise<FaceAttributes> {
    const { ageYears, gender, genderScore } = await this.analyze(image, box);
    return { ageYears, gender, genderScore };
  }

  private async run(image: RgbImage, box: BoxXyxy): Promise<FaceresResult> {
    if (image.channels !== 3 || image.data.length !== image.width * image.height * 3) throw new RangeError(`faceres: image must be RGB ${image.width}x${image.height}x3, got ${image.data.length} bytes`);
    cropFace(image, box, this.input, this.stage);
    const out = await this.model.session.run({ input: this.tensor });
    const age = out.age?.data as Float32Array | undefined;
    const male = (out.gender?.data as Float32Array | undefined)?.[0];
    const raw = out.descriptor?.data as Float32Array | undefined;
    if (!age || male === undefined || !raw) throw new Error('faceres: model outputs "age"/"gender"/"descriptor" missing');
    let norm = 0;
    for (const v of raw) norm += v * v;
    norm = Math.sqrt(norm);
    const descriptor = new Float32Array(raw.length);
    // An all-zero descriptor (blank crop) stays zero rather than NaN.
    if (norm > 0) for (let i = 0; i < raw.length; i++) descriptor[i] = (raw[i] as number) / norm;
    return {
      descriptor,
      maleProbability: male,
      ageYears: decodeAge(age, this.ageDecoding),
      // human: <= 0.5 is female.
      gender: male > 0.5 ? 'male' : 'female',
      genderScore: Math.max(male, 1 - male),
    };
  }
}
