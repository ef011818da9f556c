/**
 * BlazeFace (MediaPipe short-range, via @vladmandic/human) face detector on the converted ONNX model.
 * The frame is letterboxed into the 256x256 input (aspect kept, zero padding bottom/right) so faces
 * are not squashed as in human's default stretch; anchors are decoded as human's blazeface.ts.
 */
import * as ort from 'onnxruntime-node';
import { clampBox } from '../shared/geometry.ts';
import type { BoxXyxy, FaceDetection, FaceLandmarks, PointXy } from '../shared/messages.ts';
import { resizeBilinear } from './image.ts';
import { loadModel, type LoadedModel } from './models.ts';
import { nonMaxSuppression } from './nms.ts';
import type { SessionOptions } from './session.ts';
import type { DetectOptions, FaceDetector, RgbImage } from './types.ts';

/** Model input side in pixels. */
export const BLAZEFACE_INPUT_SIZE = 256;

/**
 * Default minimum score: 0.5, MediaPipe's own threshold for this model (face_detection_short_range
 * min_score_thresh); human uses 0.2 only because its face-mesh stage re-checks every face.
 * Measured (80 frames each, ../shared/data/videos): on the no-face control clip
 * one-by-one-person-detection-full.mp4 false positives per frame are 1.45 at 0.3, 0.44 at 0.5,
 * 0 at 0.75; classroom.mp4 (4 people) gives 6.0 faces per frame at 0.3, 3.98 at 0.5, 2.0 at 0.75;
 * face-demographics-walking-and-pause.mp4 (3 people) 3.0 at 0.3 and 0.5, 2.9 at 0.75.
 * 0.5 keeps nearly every visible face while cutting clutter hits threefold against 0.3;
 * the tracker's persistence check absorbs the rest.
 */
export const BLAZEFACE_DEFAULT_MIN_SCORE = 0.5;

/** Construction options for {@link BlazeFaceDetector}. */
export interface BlazeFaceOptions {
  /** Default minimum score 0..1 when `detect` gets none. Default {@link BLAZEFACE_DEFAULT_MIN_SCORE}. */
  readonly minScore?: number;
  /** NMS IoU threshold 0..1. Default 0.3 (MediaPipe's; human's 0.1 also merges neighbours in crowds). */
  readonly iouThreshold?: number;
  /** Most faces returned per frame. Default 100. */
  readonly maxFaces?: number;
  /** onnxruntime session options (threads, provider). */
  readonly session?: SessionOptions;
}

/** Size of the image content inside the letterboxed 256x256 input (the rest is zero padding). */
export function letterboxSize(width: number, height: number): { width: number; height: number } {
  if (!(width > 0 && height > 0)) throw new RangeError(`letterboxSize: image ${width}x${height} is empty`);
  const scale = BLAZEFACE_INPUT_SIZE / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Anchor centres in 256-px input units, in the model's output order (human generateAnchors(256)). */
function generateAnchors(): Float32Array {
  const out: number[] = [];
  for (const [stride, perCell] of [[16, 2], [32, 6]] as const) {
    const grid = Math.ceil(BLAZEFACE_INPUT_SIZE / stride);
    for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) for (let n = 0; n < perCell; n++) out.push(stride * (x + 0.5), stride * (y + 0.5));
  }
  return Float32Array.from(out);
}

const ANCHORS = generateAnchors();
const ANCHOR_COUNT = ANCHORS.length / 2;

/**
 * Letterboxes `image` into `input` (256*256*3 float32, raw 0..255): TF-bilinear resize of the whole
 * frame to {@link letterboxSize}, pasted top-left, zeros elsewhere. `scratch` holds the resized content.
 * Returns the source pixels per input pixel on each axis.
 */
export function letterbox(image: RgbImage, input: Float32Array, scratch?: Float32Array): { scaleX: number; scaleY: number; content: Float32Array } {
  const S = BLAZEFACE_INPUT_SIZE;
  if (input.length !== S * S * 3) throw new RangeError(`letterbox: input has ${input.length} values, expected ${S * S * 3}`);
  if (image.channels !== 3) throw new RangeError(`letterbox: image has ${image.channels} channels, expected 3`);
  const { width, height } = letterboxSize(image.width, image.height);
  if (image.width === S && image.height === S) {
    // TF's bilinear resize at scale 1 is the identity: copy (region canvases are drawn at input size).
    input.set(image.data);
    return { scaleX: 1, scaleY: 1, content: input };
  }
  const content = scratch && scratch.length === width * height * 3 ? scratch : new Float32Array(width * height * 3);
  resizeBilinear(image, width, height, {}, content);
  if (width === S) {
    input.set(content, 0);
    input.fill(0, content.length);
  } else {
    input.fill(0);
    for (let y = 0; y < height; y++) input.set(content.subarray(y * width * 3, (y + 1) * width * 3), y * S * 3);
  }
  return { scaleX: image.width / width, scaleY: image.height / height, content };
}

/** Face detector over frames of any size; boxes in source pixels, clamped to the frame. */
export class BlazeFaceDetector implements FaceDetector {
  readonly name = 'blazeface';
  readonly inputSize = BLAZEFACE_INPUT_SIZE;
  /** Faces dropped because their clamped box was empty (entirely outside the frame). */
  droppedEmptyBoxes = 0;
  private readonly input = new Float32Array(BLAZEFACE_INPUT_SIZE * BLAZEFACE_INPUT_SIZE * 3);
  private readonly tensor: ort.Tensor;
  private scratch: Float32Array | undefined;
  /** Runs are serialised: the input buffer is shared and onnxruntime reads it while running. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly minScore: number;
  private readonly iouThreshold: number;
  private readonly maxFaces: number;

  private constructor(
    private readonly model: LoadedModel,
    options: BlazeFaceOptions,
  ) {
    this.minScore = checkUnit('minScore', options.minScore ?? BLAZEFACE_DEFAULT_MIN_SCORE);
    this.iouThreshold = checkUnit('iouThreshold', options.iouThreshold ?? 0.3);
    this.maxFaces = options.maxFaces ?? 100;
    if (!(Number.isInteger(this.maxFaces) && this.maxFaces > 0)) throw new RangeError(`maxFaces must be a positive integer, got ${options.maxFaces}`);
    this.tensor = new ort.Tensor('float32', this.input, [1, BLAZEFACE_INPUT_SIZE, BLAZEFACE_INPUT_SIZE, 3]);
  }

  /** Loads models/onnx/blazeface.onnx (shared per process) and builds a detector. */
  static async create(options: BlazeFaceOptions = {}): Promise<BlazeFaceDetector> {
    return new BlazeFaceDetector(await loadModel('blazeface', options.session ?? {}), options);
  }

  async detect(image: RgbImage, options: DetectOptions = {}): Promise<FaceDetection[]> {
    const minScore = checkUnit('minScore', options.minScore ?? this.minScore);
    const run = this.queue.then(() => this.run(image, minScore));
    this.queue = run.catch(() => undefined);
    return await run;
  }

  private async run(image: RgbImage, minScore: number): Promise<FaceDetection[]> {
    if (image.data.length !== image.width * image.height * 3) throw new RangeError(`detect: image data has ${image.data.length} bytes, expected ${image.width}x${image.height}x3`);
    const { scaleX, scaleY, content } = letterbox(image, this.input, this.scratch);
    if (content !== this.input) this.scratch = content;
    const out = await this.model.session.run({ input: this.tensor });
    const logits = out.classificators?.data as Float32Array | undefined;
    const regs = out.regressors?.data as Float32Array | undefined;
    if (!logits || !regs) throw new Error('blazeface: model outputs "classificators"/"regressors" missing');
    // Compare logits, not scores: one threshold instead of 896 exp() calls.
    const minLogit = minScore <= 0 ? -Infinity : minScore >= 1 ? Infinity : Math.log(minScore / (1 - minScore));
    const cands: FaceDetection[] = [];
    for (let i = 0; i < ANCHOR_COUNT; i++) {
      const logit = logits[i] as number;
      if (!(logit > minLogit)) continue;
      const r = i * 16;
      const cx = (ANCHORS[2 * i] as number) + (regs[r] as number);
      const cy = (ANCHORS[2 * i + 1] as number) + (regs[r + 1] as number);
      const hw = (regs[r + 2] as number) / 2;
      const hh = (regs[r + 3] as number) / 2;
      const box: BoxXyxy = [(cx - hw) * scaleX, (cy - hh) * scaleY, (cx + hw) * scaleX, (cy + hh) * scaleY];
      // Keypoints are offsets from the anchor centre in input pixels, as the box centre (human's blazeface.ts).
      const kp = (k: number): PointXy => [((ANCHORS[2 * i] as number) + (regs[r + 4 + 2 * k] as number)) * scaleX, ((ANCHORS[2 * i + 1] as number) + (regs[r + 5 + 2 * k] as number)) * scaleY];
      const landmarks: FaceLandmarks = { rightEye: kp(0), leftEye: kp(1), nose: kp(2), mouth: kp(3), rightEar: kp(4), leftEar: kp(5) };
      cands.push({ box, score: 1 / (1 + Math.exp(-logit)), landmarks });
    }
    const kept = nonMaxSuppression(cands, this.iouThreshold, this.maxFaces);
    const faces: FaceDetection[] = [];
    for (const f of kept) {
      const box = clampBox(f.box, image.width, image.height);
      if (box[2] - box[0] <= 0 || box[3] - box[1] <= 0) {
        this.droppedEmptyBoxes++;
        continue;
      }
      faces.push(f.landmarks ? { box, score: f.score, landmarks: f.landmarks } : { box, score: f.score });
    }
    return faces;
  }
}

function checkUnit(field: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${field} must be within 0..1, got ${value}`);
  return value;
}
