/**
 * face-api's AgeGenderNet (models/onnx/age_gender.onnx) on face boxes of a frame.
 * Crop as face-api does for a detection (after an optional {@link FaceApiAgeGenderOptions.boxScale}): clip the box to the image and floor x/y/width/height
 * (Box.clipAtImageBorders), zero-pad to a centred square (padToSquare(x, true)), TF-bilinear
 * resize to 112. The crop is resampled straight from the frame into a preallocated batch tensor.
 */
import * as ort from 'onnxruntime-node';
import type { BoxXyxy, FaceAttributes } from '../shared/messages.ts';
import { mirrorInto, rotatedSquareResize, squarePlacement, squareResize, validateRgb, type PixelRect } from './faceapi-image.ts';
import { loadModel, type LoadedModel } from './models.ts';
import type { SessionOptions } from './session.ts';
import type { AgeGenderEstimator, RgbImage } from './types.ts';

/** Network input side in pixels. */
export const AGE_GENDER_INPUT_SIZE = 112;
const SLOT = AGE_GENDER_INPUT_SIZE * AGE_GENDER_INPUT_SIZE * 3;

/** Options for {@link FaceApiAgeGender.create}. */
export interface FaceApiAgeGenderOptions {
  readonly session?: SessionOptions;
  /**
   * Also run the horizontally mirrored crop and average age and P(male). Default true: on 400
   * utkface-dev faces (whole crops) age MAE 4.90 vs 5.07 years and gender 90.3% vs 89.0%, for one
   * extra batch slot (~1 ms of CPU).
   */
  readonly flip?: boolean;
  /**
   * Scale applied to each box about its centre before cropping. face-api itself crops the bare
   * detection (1.0), but detector boxes are tighter than the framing the net expects: on utkface-dev,
   * TinyFaceDetector boxes x1.25 gave gender 90.3% vs 77.9% and age MAE 4.98 vs 5.63 years
   * (113 faces); SSD boxes x1.25 88.8% vs 86.0%, MAE 4.43 vs 4.61 (179 faces). For blazeface (the
   * analyzer's default detector) bench:accuracy (utkface-dev, 1,800 faces on a 100 px grey border, flip on)
   * measured x1.1 best: age MAE 4.87 / gender 90.8% vs x1.25 5.33 / 89.8% and x1.0 4.94 / 90.3%. Default 1.1.
   */
  readonly boxScale?: number;
  /**
   * Test-time augmentation. `flip` (default, for streams): the crop and its mirror, 2 crops per face.
   * `multicrop` (offline photos): box x{1, 0.95} x 5 shifts (0, +-4% of the box side in x, in y) x mirror
   * = 20 crops per face, all of one face in one run (~10 ms/face on CPU); on utkface-dev whole crops
   * (1,800 faces) age MAE 4.77 / gender 92.4% vs flip 4.91 / 91.9%. The jitter is applied to the
   * scaled box after clipping it to the image, so a whole-image box still gets the smaller and shifted crops.
   * When set, it overrides {@link flip} (`flip: false` with no `tta` means one crop per face).
   */
  readonly tta?: AgeGenderTta;
  /** Most crops per onnxruntime run (mirrors count); raised to one face's crops if smaller. Default 8 (larger batches were not faster per face on CPU). */
  readonly maxBatch?: number;
}

/** Test-time augmentation modes of {@link FaceApiAgeGender}; `none` is one crop per face. */
export const AGE_GENDER_TTA = ['none', 'flip', 'multicrop'] as const;
export type AgeGenderTta = (typeof AGE_GENDER_TTA)[number];

/** Multi-crop jitter: box scales (of the clipped, scaled box) and shifts as a fraction of its longer side. */
const MULTICROP_SCALES = [1, 0.95] as const;
const MULTICROP_SHIFTS: readonly (readonly [number, number])[] = [
  [0, 0],
  [-0.04, 0],
  [0.04, 0],
  [0, -0.04],
  [0, 0.04],
];

/** Raw network outputs for one face: age in years and P(male) (softmax index 0), averaged over the mirror when flipping. */
export interface AgeGenderRaw {
  readonly ageYears: number;
  readonly maleProbability: number;
}

/** face-api's `Box.clipAtImageBorders(w, h)` (which floors x, y, width and height) for an xyxy box. */
export function faceApiCropRect(box: BoxXyxy, imageWidth: number, imageHeight: number): PixelRect {
  const [x1, y1, x2, y2] = box;
  if (![x1, y1, x2, y2].every(Number.isFinite)) throw new RangeError(`box [${box.join(', ')}] has a non-finite coordinate`);
  const x = Math.max(x1, 0);
  const y = Math.max(y1, 0);
  const width = Math.min(x2 - x, imageWidth - x);
  const height = Math.min(y2 - y, imageHeight - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(width), height: Math.floor(height) };
}

/** `box` scaled by `factor` about its centre. */
export function scaleBox(box: BoxXyxy, factor: number): BoxXyxy {
  if (factor === 1) return box;
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  const hw = ((box[2] - box[0]) * factor) / 2;
  const hh = ((box[3] - box[1]) * factor) / 2;
  return [cx - hw, cy - hh, cx + hw, cy + hh];
}

export class FaceApiAgeGender implements AgeGenderEstimator {
  readonly name = 'age_gender';
  private buffer: Float32Array;
  private busy = false;

  /** Whether mirrored crops are averaged in (true for `flip` and `multicrop`). */
  readonly flip: boolean;

  private constructor(
    private readonly model: LoadedModel,
    readonly tta: AgeGenderTta,
    readonly boxScale: number,
    readonly maxBatch: number,
  ) {
    this.flip = tta !== 'none';
    this.buffer = new Float32Array(SLOT * this.cropsPerFace);
  }

  /** Crops run per face, mirrors included. */
  get cropsPerFace(): number {
    return this.tta === 'multicrop' ? MULTICROP_SCALES.length * MULTICROP_SHIFTS.length * 2 : this.tta === 'flip' ? 2 : 1;
  }

  static async create(options: FaceApiAgeGenderOptions = {}): Promise<FaceApiAgeGender> {
    const maxBatch = options.maxBatch ?? 8;
    if (!(Number.isInteger(maxBatch) && maxBatch >= 2)) throw new RangeError(`maxBatch must be an integer >= 2, got ${maxBatch}`);
    const boxScale = options.boxScale ?? 1.1;
    if (!(boxScale >= 0.5 && boxScale <= 4)) throw new RangeError(`boxScale must be in [0.5, 4], got ${boxScale}`);
    const tta = options.tta ?? (options.flip === false ? 'none' : 'flip');
    if (!(AGE_GENDER_TTA as readonly string[]).includes(tta)) throw new RangeError(`tta must be one of ${AGE_GENDER_TTA.join(', ')}, got ${JSON.stringify(tta)}`);
    return new FaceApiAgeGender(await loadModel('age_gender', options.session ?? {}), tta, boxScale, maxBatch);
  }

  async estimate(image: RgbImage, box: BoxXyxy): Promise<FaceAttributes> {
    const [one] = await this.estimateMany(image, [box]);
    if (!one) throw new Error('age_gender: no result for one box');
    return one;
  }

  /** Age and gender for several faces of one frame, batched into as few runs as `maxBatch` allows; `rollDeg` as in {@link estimateRaw}. */
  async estimateMany(image: RgbImage, boxes: readonly BoxXyxy[], rollDeg?: readonly number[]): Promise<FaceAttributes[]> {
    const raw = await this.estimateRaw(image, boxes, rollDeg);
    return raw.map(({ ageYears, maleProbability }) => {
      const male = maleProbability > 0.5;
      return { ageYears: Math.max(0, ageYears), gender: male ? 'male' : 'female', genderScore: male ? maleProbability : 1 - maleProbability };
    });
  }

  /** The unmirrored crop rectangles for one box (1 without multicrop, 10 with). */
  private cropRects(image: RgbImage, box: BoxXyxy): PixelRect[] {
    const r = faceApiCropRect(scaleBox(box, this.boxScale), image.width, image.height);
    if (r.width < 1 || r.height < 1) throw new RangeError(`box [${box.join(', ')}] is empty inside the ${image.width}x${image.height} image`);
    if (this.tta !== 'multicrop') return [r];
    const base: BoxXyxy = [r.x, r.y, r.x + r.width, r.y + r.height];
    const side = Math.max(r.width, r.height);
    const out: PixelRect[] = [];
    for (const s of MULTICROP_SCALES) {
      const b = scaleBox(base, s);
      for (const [dx, dy] of MULTICROP_SHIFTS) {
        const c = faceApiCropRect([b[0] + dx * side, b[1] + dy * side, b[2] + dx * side, b[3] + dy * side], image.width, image.height);
        // A shift can only push a tiny box off the image; fall back to the unshifted crop then.
        out.push(c.width >= 1 && c.height >= 1 ? c : r);
      }
    }
    return out;
  }

  /**
   * Raw outputs per box (unclamped age; mean over the TTA crops), for callers that aggregate probabilities themselves.
   * `rollDeg[i]`, when given and non-zero, rotates box i's crop by that eye-line roll (degrees) so the face comes out
   * upright (see {@link rotatedSquareResize}); the crop's square then has the side of face-api's padded square.
   */
  async estimateRaw(image: RgbImage, boxes: readonly BoxXyxy[], rollDeg?: readonly number[]): Promise<AgeGenderRaw[]> {
    validateRgb(image, 'FaceApiAgeGender');
    const perBox = boxes.map((b) => this.cropRects(image, b));
    const rollOf = new Map<PixelRect, number>();
    perBox.forEach((rects, i) => {
      const r = rollDeg?.[i];
      if (r !== undefined && r !== 0 && Number.isFinite(r)) for (const rect of rects) rollOf.set(rect, r);
    });
    const per = this.cropsPerFace;
    const mirror = this.flip ? 2 : 1;
    const facesPerRun = Math.max(1, Math.floor(this.maxBatch / per));
    const results: AgeGenderRaw[] = [];
    for (let start = 0; start < perBox.length; start += facesPerRun) {
      const chunk = perBox.slice(start, start + facesPerRun);
      const n = chunk.length * per;
      // One buffer reused across calls (grown to the largest batch seen); a concurrent call gets its own.
      const reuse = !this.busy;
      if (reuse && this.buffer.length < n * SLOT) this.buffer = new Float32Array(n * SLOT);
      const buf = reuse ? this.buffer : new Float32Array(n * SLOT);
      if (reuse) this.busy = true;
      try {
        let k = 0;
        for (const rects of chunk) {
          for (const r of rects) {
            const slot = buf.subarray(k * SLOT, (k + 1) * SLOT);
            const roll = rollOf.get(r);
            if (roll !== undefined) rotatedSquareResize(image, r.x + r.width / 2, r.y + r.height / 2, Math.max(r.width, r.height), (roll * Math.PI) / 180, AGE_GENDER_INPUT_SIZE, slot);
            else squareResize(image, r, squarePlacement(r.width, r.height, true), AGE_GENDER_INPUT_SIZE, slot);
            if (this.flip) mirrorInto(slot, buf.subarray((k + 1) * SLOT, (k + 2) * SLOT), AGE_GENDER_INPUT_SIZE);
            k += mirror;
          }
        }
        const input = new ort.Tensor('float32', buf.subarray(0, n * SLOT), [n, AGE_GENDER_INPUT_SIZE, AGE_GENDER_INPUT_SIZE, 3]);
        const out = await this.model.session.run({ input });
        const age = out.age?.data as Float32Array | undefined;
        const gender = out.gender?.data as Float32Array | undefined;
        if (!age || !gender) throw new Error('age_gender: outputs age/gender missing');
        for (let i = 0; i < chunk.length; i++) {
          let a = 0;
          let m = 0;
          for (let j = 0; j < per; j++) {
            a += age[i * per + j] as number;
            m += gender[(i * per + j) * 2] as number;
          }
          results.push({ ageYears: a / per, maleProbability: m / per });
        }
      } finally {
        if (reuse) this.busy = false;
      }
    }
    return results;
  }
}
