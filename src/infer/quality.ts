/**
 * Per-observation face quality from what the detector already gives: face size, detector score and
 * pose from the keypoints (eye-line roll, nose offset for yaw), combined by a model fitted to how
 * often gender answers are right ({@link QualityModel}). A cheap sharpness measure is computed too and
 * the model may weigh it, but the shipped one does not: fitted on utkface-dev it pushed clear real-video
 * faces below the fusion floor (real faces read below the fit data's 10th percentile at their size:
 * codec smoothing, and it follows facial texture such as beards and glasses more than blur;
 * `npm run bench:real`).
 * Computed right after detection, before age/gender, so the tracker can decide from it whether a
 * face still needs attributes.
 */
import type { BoxXyxy, FaceDetection, FaceLandmarks, FaceQuality } from '../shared/messages.ts';
import type { RgbImage } from './types.ts';

/**
 * The quality model: P(the face's gender answer is right) as a logistic function of the quality
 * terms ({@link qualityTerms}), fitted by `npm run fit:trust` on utkface-dev at 64-200 px
 * (src/infer/heads/trust.json), mapped to 0..1 as 2 P - 1 (0: a coin flip, 1: always right), times
 * a yaw prior: utkface-dev's faces are frontal, so a head turn cannot be fitted there. A term left
 * out of the fit has weight 0 (the shipped model: sharpness).
 */
export interface QualityModel {
  /** Weights of the terms of {@link qualityTerms}, by name. */
  readonly weights: { readonly size: number; readonly score: number; readonly roll: number; readonly sharpness: number };
  readonly bias: number;
  /** Yaw (nose offset / eye distance) at which the yaw prior is exp(-0.5); not fitted. */
  readonly yawSigma: number;
}

/** Without landmarks (detectors other than blazeface): the box aspect of a frontal face and the log-aspect sigma of the pose prior that replaces yaw. */
const TYPICAL_ASPECT = 0.9;
const ASPECT_SIGMA = 0.25;

/** Throws naming the field when the model is malformed. */
export function validateQualityModel(m: QualityModel, source = 'quality model'): QualityModel {
  const w = m?.weights as Record<string, unknown> | undefined;
  if (!w || typeof w !== 'object') throw new Error(`${source}: weights must be an object`);
  for (const k of ['size', 'score', 'roll', 'sharpness'] as const) if (typeof w[k] !== 'number' || !Number.isFinite(w[k])) throw new Error(`${source}: weights.${k} must be a finite number (got ${JSON.stringify(w[k])})`);
  if (typeof m.bias !== 'number' || !Number.isFinite(m.bias)) throw new Error(`${source}: bias must be a finite number (got ${JSON.stringify(m.bias)})`);
  if (!(typeof m.yawSigma === 'number' && m.yawSigma > 0)) throw new Error(`${source}: yawSigma must be a number > 0 (got ${JSON.stringify(m.yawSigma)})`);
  return m;
}

/**
 * The quality model's inputs: `size` = min(0, ln(side / 100 px)) (only small faces lose), `score` =
 * detector score, `roll` = min(|roll|, 45 deg) / 45, `sharpness` = min(0.5, ln(max(1, sharpness) / 30)).
 */
export function qualityTerms(c: { sidePx: number; score: number; rollDeg: number; sharpness?: number | undefined }): { size: number; score: number; roll: number; sharpness: number } {
  return {
    size: Math.min(0, Math.log(Math.max(1, c.sidePx) / 100)),
    score: c.score,
    roll: Math.min(45, Math.abs(c.rollDeg)) / 45,
    sharpness: c.sharpness === undefined ? 0 : Math.min(0.5, Math.log(Math.max(1, c.sharpness) / 30)),
  };
}

/** Roll (degrees, positive = clockwise in image coordinates) and yaw (nose offset / eye distance) from keypoints. */
export function poseFromLandmarks(lm: FaceLandmarks): { rollDeg: number; yaw: number } {
  const ex = lm.leftEye[0] - lm.rightEye[0];
  const ey = lm.leftEye[1] - lm.rightEye[1];
  const eyeDist = Math.hypot(ex, ey);
  if (!(eyeDist > 0)) return { rollDeg: 0, yaw: 0 };
  const rollDeg = (Math.atan2(ey, ex) * 180) / Math.PI;
  const mx = (lm.leftEye[0] + lm.rightEye[0]) / 2;
  const my = (lm.leftEye[1] + lm.rightEye[1]) / 2;
  // Nose offset along the eye line: 0 when the nose is under the eyes' midpoint.
  const yaw = ((lm.nose[0] - mx) * ex + (lm.nose[1] - my) * ey) / (eyeDist * eyeDist);
  return { rollDeg, yaw };
}

function side(box: BoxXyxy): number {
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  return w > 0 && h > 0 ? Math.sqrt(w * h) : 0;
}

/**
 * The quality score 0..1 from its components ({@link QualityModel}); `posePrior` replaces the yaw
 * prior for faces without keypoints (default: the yaw prior from `c.yaw`).
 */
export function qualityScore(c: { sidePx: number; score: number; rollDeg: number; yaw: number; sharpness?: number | undefined }, model: QualityModel, posePrior?: number): number {
  if (!(c.sidePx > 0) || !Number.isFinite(c.score)) return 0;
  const t = qualityTerms(c);
  const w = model.weights;
  const z = model.bias + w.size * t.size + w.score * t.score + w.roll * t.roll + w.sharpness * t.sharpness;
  const right = 1 / (1 + Math.exp(-z));
  const y = c.yaw / model.yawSigma;
  const prior = posePrior ?? Math.exp(-0.5 * y * y);
  return Math.min(1, Math.max(0, 2 * right - 1)) * prior;
}

/** The quality of one detection (see {@link QualityModel}); `sharpness` when measured ({@link sharpnessOf}). */
export function faceQuality(det: Pick<FaceDetection, 'box' | 'score' | 'landmarks'>, sharpness: number | undefined, model: QualityModel): FaceQuality {
  const sidePx = side(det.box);
  const pose = det.landmarks ? poseFromLandmarks(det.landmarks) : { rollDeg: 0, yaw: 0 };
  const extra = sharpness !== undefined ? { sharpness } : {};
  let prior: number | undefined;
  if (!det.landmarks && sidePx > 0) {
    const a = Math.log((det.box[2] - det.box[0]) / (det.box[3] - det.box[1]) / TYPICAL_ASPECT) / ASPECT_SIGMA;
    prior = Math.exp(-0.5 * a * a);
  }
  return { score: qualityScore({ sidePx, score: det.score, ...pose, sharpness }, model, prior), sidePx, ...pose, ...extra };
}

const SHARP_SIDE = 32;

/**
 * Sharpness of the face inside `box`: the box resampled (nearest of 2x2 means) to 32x32 grey, then the
 * mean absolute 4-neighbour Laplacian. ~1k pixels per face, so negligible beside the models.
 */
export function sharpnessOf(image: RgbImage, box: BoxXyxy): number {
  const x1 = Math.max(0, Math.floor(box[0]));
  const y1 = Math.max(0, Math.floor(box[1]));
  const x2 = Math.min(image.width, Math.ceil(box[2]));
  const y2 = Math.min(image.height, Math.ceil(box[3]));
  const w = x2 - x1;
  const h = y2 - y1;
  if (w < 2 || h < 2) return 0;
  const n = SHARP_SIDE;
  const grey = new Float32Array(n * n);
  const d = image.data;
  for (let gy = 0; gy < n; gy++) {
    const sy = y1 + Math.min(h - 1, Math.floor(((gy + 0.5) * h) / n));
    for (let gx = 0; gx < n; gx++) {
      const sx = x1 + Math.min(w - 1, Math.floor(((gx + 0.5) * w) / n));
      const o = (sy * image.width + sx) * 3;
      grey[gy * n + gx] = 0.299 * (d[o] as number) + 0.587 * (d[o + 1] as number) + 0.114 * (d[o + 2] as number);
    }
  }
  let sum = 0;
  for (let y = 1; y < n - 1; y++) {
    for (let x = 1; x < n - 1; x++) {
      const i = y * n + x;
      sum += Math.abs(4 * (grey[i] as number) - (grey[i - 1] as number) - (grey[i + 1] as number) - (grey[i - n] as number) - (grey[i + n] as number));
    }
  }
  return sum / ((n - 2) * (n - 2));
}
