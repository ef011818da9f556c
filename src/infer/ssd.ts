/**
 * face-api's SSD MobileNetV1 face detector (models/onnx/ssd_mobilenetv1.onnx) over frames of any size.
 * Mirrors face-api's SsdMobilenetv1.locateFaces: pad bottom/right to a square, TF-bilinear resize to
 * 512, decode the anchor boxes, keep score > minScore, greedy NMS at IoU 0.5, at most 100 faces.
 */
import * as ort from 'onnxruntime-node';
import { clampBox } from '../shared/geometry.ts';
import type { BoxXyxy, FaceDetection } from '../shared/messages.ts';
import { BufferPool, frameToSquare, validateMinScore, validateRgb } from './faceapi-image.ts';
import { loadModel, type LoadedModel } from './models.ts';
import { nonMaxSuppression } from './nms.ts';
import type { SessionOptions } from './session.ts';
import type { DetectOptions, FaceDetector, RgbImage } from './types.ts';

/** Side of the square network input, fixed by the model's anchors. */
export const SSD_INPUT_SIZE = 512;

/** Options for {@link SsdMobilenetV1Detector.create}. */
export interface SsdOptions {
  readonly session?: SessionOptions;
  /**
   * Default minimum score, 0..1 (exclusive). Default 0.5: face-api's `SsdMobilenetv1Options` default;
   * the face class is sigmoid-calibrated and on face-api's demo photos every true face scores
   * above 0.6 while background anchors stay far below 0.3.
   */
  readonly minScore?: number;
  /** NMS IoU threshold. Default 0.5 (face-api's, hard-coded in locateFaces). */
  readonly iouThreshold?: number;
  /** Most faces returned. Default 100 (face-api's `maxResults`). */
  readonly maxResults?: number;
}

/**
 * Decodes SSD box encoding `i` against its anchor, exactly as face-api's outputLayer:
 * returns [y1, x1, y2, x2] in 0..1 of the padded square.
 */
export function decodeSsdBox(encodings: Float32Array, anchors: Float32Array, i: number): [number, number, number, number] {
  const o = i * 4;
  const a0 = anchors[o] as number;
  const a1 = anchors[o + 1] as number;
  const h = (anchors[o + 2] as number) - a0;
  const w = (anchors[o + 3] as number) - a1;
  const cy = ((encodings[o] as number) / 10) * h + (a0 + h / 2);
  const cx = ((encodings[o + 1] as number) / 10) * w + (a1 + w / 2);
  const halfH = (Math.exp((encodings[o + 2] as number) / 5) * h) / 2;
  const halfW = (Math.exp((encodings[o + 3] as number) / 5) * w) / 2;
  return [cy - halfH, cx - halfW, cy + halfH, cx + halfW];
}

export class SsdMobilenetV1Detector implements FaceDetector {
  readonly name = 'ssd_mobilenetv1';
  readonly inputSize = SSD_INPUT_SIZE;
  private readonly pool = new BufferPool(SSD_INPUT_SIZE * SSD_INPUT_SIZE * 3);

  private constructor(
    private readonly model: LoadedModel,
    readonly minScore: number,
    readonly iouThreshold: number,
    readonly maxResults: number,
  ) {}

  static async create(options: SsdOptions = {}): Promise<SsdMobilenetV1Detector> {
    const minScore = validateMinScore(options.minScore ?? 0.5, 'minScore');
    const iou = options.iouThreshold ?? 0.5;
    if (!(iou > 0 && iou <= 1)) throw new RangeError(`iouThreshold must be in (0, 1], got ${iou}`);
    const maxResults = options.maxResults ?? 100;
    if (!(Number.isInteger(maxResults) && maxResults >= 1)) throw new RangeError(`maxResults must be a positive integer, got ${maxResults}`);
    return new SsdMobilenetV1Detector(await loadModel('ssd_mobilenetv1', options.session ?? {}), minScore, iou, maxResults);
  }

  /** Raw model outputs for a frame, plus the padded square side in source pixels. */
  async infer(image: RgbImage): Promise<{ encodings: Float32Array; scores: Float32Array; anchors: Float32Array; side: number }> {
    validateRgb(image, 'SsdMobilenetV1Detector');
    const buf = this.pool.take();
    try {
      const { side } = frameToSquare(image, SSD_INPUT_SIZE, buf);
      const out = await this.model.session.run({ input: new ort.Tensor('float32', buf, [1, SSD_INPUT_SIZE, SSD_INPUT_SIZE, 3]) });
      const get = (n: string): Float32Array => {
        const t = out[n];
        if (!t) throw new Error(`ssd_mobilenetv1: output ${n} missing`);
        return t.data as Float32Array;
      };
      return { encodings: get('box_encodings'), scores: get('scores'), anchors: get('anchors'), side };
    } finally {
      this.pool.give(buf);
    }
  }

  async detect(image: RgbImage, options: DetectOptions = {}): Promise<FaceDetection[]> {
    const minScore = options.minScore === undefined ? this.minScore : validateMinScore(options.minScore, 'minScore');
    const { encodings, scores, anchors, side } = await this.infer(image);
    const candidates: { box: BoxXyxy; score: number }[] = [];
    for (let i = 0; i < scores.length; i++) {
      const score = scores[i] as number;
      if (!(score > minScore)) continue;
      const [y1, x1, y2, x2] = decodeSsdBox(encodings, anchors, i);
      // Pixels of the padded square = pixels of the source (the image sits at its top-left).
      candidates.push({ box: [x1 * side, y1 * side, x2 * side, y2 * side], score });
    }
    return nonMaxSuppression(candidates, this.iouThreshold, this.maxResults).map((c) => ({ box: clampBox(c.box, image.width, image.height), score: c.score }));
  }
}
