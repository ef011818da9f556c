/**
 * face-api's TinyFaceDetector (models/onnx/tiny_face_detector.onnx) over frames of any size.
 * Mirrors face-api's TinyYolov2Base.detect: pad bottom/right to a square, TF-bilinear resize to
 * inputSize, decode the 5-anchor YOLO grid, keep score > minScore, greedy NMS at IoU 0.4.
 */
import * as ort from 'onnxruntime-node';
import { clampBox } from '../shared/geometry.ts';
import type { BoxXyxy, FaceDetection } from '../shared/messages.ts';
import { BufferPool, frameToSquare, validateMinScore, validateRgb } from './faceapi-image.ts';
import { loadModel, type LoadedModel } from './models.ts';
import { nonMaxSuppression } from './nms.ts';
import type { SessionOptions } from './session.ts';
import type { DetectOptions, FaceDetector, RgbImage } from './types.ts';

/** face-api's tinyFaceDetector/const.ts BOX_ANCHORS, in grid cells (x = width, y = height). */
export const TINY_ANCHORS: readonly (readonly [number, number])[] = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
];

/** Options for {@link TinyFaceDetector.create}. */
export interface TinyFaceOptions {
  readonly session?: SessionOptions;
  /** Network input side in pixels, a multiple of 32 (grid = inputSize/32). Default 416 (face-api's); 320 or 224 trade small faces for speed. */
  readonly inputSize?: number;
  /**
   * Default minimum score, 0..1 (exclusive). Default 0.5: face-api's `TinyYolov2Options` default
   * scoreThreshold; the objectness is a plain sigmoid, and lower values mostly add duplicate
   * boxes on the same face and background blobs.
   */
  readonly minScore?: number;
  /** NMS IoU threshold. Default 0.4 (face-api's tinyFaceDetector IOU_THRESHOLD). */
  readonly iouThreshold?: number;
}

/** One decoded grid candidate: box [x1, y1, x2, y2] in 0..1 of the padded square, and its score. */
export interface TinyCandidate {
  readonly box: BoxXyxy;
  readonly score: number;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Decodes face-api's TinyYolov2 grid ([cells, cells, 5 x 5], NHWC flattened), keeping score > minScore. */
export function decodeTinyGrid(grid: Float32Array, cells: number, minScore: number): TinyCandidate[] {
  const out: TinyCandidate[] = [];
  const n = TINY_ANCHORS.length;
  for (let row = 0; row < cells; row++) {
    for (let col = 0; col < cells; col++) {
      for (let a = 0; a < n; a++) {
        const o = ((row * cells + col) * n + a) * 5;
        const score = sigmoid(grid[o + 4] as number);
        if (!(score > minScore)) continue;
        const [ax, ay] = TINY_ANCHORS[a] as readonly [number, number];
        const cx = (col + sigmoid(grid[o] as number)) / cells;
        const cy = (row + sigmoid(grid[o + 1] as number)) / cells;
        const w = (Math.exp(grid[o + 2] as number) * ax) / cells;
        const h = (Math.exp(grid[o + 3] as number) * ay) / cells;
        out.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score });
      }
    }
  }
  return out;
}

export class TinyFaceDetector implements FaceDetector {
  readonly name = 'tiny_face_detector';
  private readonly pool: BufferPool;

  private constructor(
    private readonly model: LoadedModel,
    readonly inputSize: number,
    readonly minScore: number,
    readonly iouThreshold: number,
  ) {
    this.pool = new BufferPool(inputSize * inputSize * 3);
  }

  static async create(options: TinyFaceOptions = {}): Promise<TinyFaceDetector> {
    const inputSize = options.inputSize ?? 416;
    if (!(Number.isInteger(inputSize) && inputSize >= 64 && inputSize % 32 === 0)) throw new RangeError(`inputSize must be a multiple of 32 and >= 64, got ${inputSize}`);
    const minScore = validateMinScore(options.minScore ?? 0.5, 'minScore');
    const iou = options.iouThreshold ?? 0.4;
    if (!(iou > 0 && iou <= 1)) throw new RangeError(`iouThreshold must be in (0, 1], got ${iou}`);
    return new TinyFaceDetector(await loadModel('tiny_face_detector', options.session ?? {}), inputSize, minScore, iou);
  }

  /** Raw grid for a frame (NHWC [1, cells, cells, 25] flattened), plus the padded square side in source pixels. */
  async infer(image: RgbImage): Promise<{ grid: Float32Array; cells: number; side: number }> {
    validateRgb(image, 'TinyFaceDetector');
    const buf = this.pool.take();
    try {
      const { side } = frameToSquare(image, this.inputSize, buf);
      const out = await this.model.session.run({ input: new ort.Tensor('float32', buf, [1, this.inputSize, this.inputSize, 3]) });
      const grid = out.grid;
      if (!grid) throw new Error('tiny_face_detector: output grid missing');
      return { grid: grid.data as Float32Array, cells: grid.dims[1] as number, side };
    } finally {
      this.pool.give(buf);
    }
  }

  async detect(image: RgbImage, options: DetectOptions = {}): Promise<FaceDetection[]> {
    const minScore = options.minScore === undefined ? this.minScore : validateMinScore(options.minScore, 'minScore');
    const { grid, cells, side } = await this.infer(image);
    const candidates = decodeTinyGrid(grid, cells, minScore).map((c) => ({ box: [c.box[0] * side, c.box[1] * side, c.box[2] * side, c.box[3] * side] as BoxXyxy, score: c.score }));
    return nonMaxSuppression(candidates, this.iouThreshold).map((c) => ({ box: clampBox(c.box, image.width, image.height), score: c.score }));
  }
}
