/**
 * Data and fits behind src/infer/heads/trust.json (`npm run fit:trust`): every utkface-dev face at
 * several face sizes, through the shipped code path (createFaceAnalyzer's detector and quality, the
 * streams' face-api age/gender with flip TTA, faceres on the same box as the pipeline's descriptor
 * pass), then the gender calibrations, the age error model and the thresholds, each fitted on a
 * subset of faces so that callers can score them out of fold (k-fold CV here, leave-the-video's-faces-
 * out in bench:crowd).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ANALYZER_DEFAULTS, createFaceAnalyzer } from '../../src/infer/analyzer.ts';
import { FaceApiAgeGender } from '../../src/infer/agegender.ts';
import { FaceresDescriber } from '../../src/infer/faceres.ts';
import { qualityScore, qualityTerms, type QualityModel } from '../../src/infer/quality.ts';
import { calibratedMaleProbability, calibrationFeature, type CalibrationInputs, type LogisticCalibration, type TrustModel, type TrustThresholds } from '../../src/infer/trust.ts';
import type { RgbImage } from '../../src/infer/types.ts';
import type { AgeErrorModel } from '../../src/shared/age-error.ts';
import type { BoxXyxy, FaceQuality } from '../../src/shared/messages.ts';
import { mapPool } from './args.ts';
import { type LabeledFace, withBorder } from './faces.ts';
import { fitLogistic, seededRandom, stratifiedKFold } from './stats.ts';

/**
 * Face sizes (px) the data is collected at: 200 is utkface-dev's own crop on a 100 px grey border
 * (bench:accuracy's detect-then-crop); the others are the crop resized (cubic, as ffmpeg's scale in
 * make-crowd-video.py) and pasted at a random spot of a 1280x720 noisy grey frame, the range of
 * bench:crowd's faces (56..140 px) and of a camera's.
 */
export const TRUST_SIZES = [200, 128, 96, 64] as const;
const CANVAS = { width: 1280, height: 720 } as const;

/** Where fit:trust and bench:crowd keep the collected records of all of utkface-dev. */
export const DEFAULT_TRUST_CACHE = path.join(os.tmpdir(), 'crowdlens-trust-records.json');

/** One face at one size, as the pipeline sees it. */
export interface TrustRecord {
  readonly faceIndex: number;
  readonly size: number;
  readonly ageYears: number;
  readonly male: boolean;
  /** Absent when the detector (default threshold) missed the face. */
  readonly seen?: {
    readonly box: BoxXyxy;
    readonly score: number;
    readonly quality: FaceQuality;
    /** face-api age/gender, flip TTA, crop rotated upright from the analyzer's minimum roll (the pipeline's default). */
    readonly faAgeYears: number;
    readonly faMaleProbability: number;
    /** faceres on the detector box (the pipeline's descriptor pass). */
    readonly frMaleProbability: number;
    /** faceres' descriptor, at 200 px only (the `fused` head's input for photos). */
    readonly descriptor?: number[];
  };
}

function centreInside(box: BoxXyxy, face: BoxXyxy): boolean {
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  return cx >= face[0] && cx <= face[2] && cy >= face[1] && cy <= face[3];
}

async function decode(file: string, size: number | null): Promise<RgbImage> {
  const s = sharp(file).removeAlpha();
  const { data, info } = await (size === null ? s : s.resize(size, size, { kernel: 'cubic' })).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
}

/** The face at `size` in its frame, and where it is. Deterministic per (face, size). */
export async function placeFace(file: string, faceIndex: number, size: number): Promise<{ image: RgbImage; faceBox: BoxXyxy }> {
  if (size === 200) {
    const r = withBorder(await decode(file, null), 100);
    return { image: r.image, faceBox: r.faceBox };
  }
  const face = await decode(file, size);
  const rand = seededRandom(faceIndex * 1009 + size);
  const { width: W, height: H } = CANVAS;
  const data = new Uint8Array(W * H * 3);
  for (let i = 0; i < data.length; i++) data[i] = 110 + Math.floor(rand() * 11);
  const x0 = Math.floor(rand() * (W - size));
  const y0 = Math.floor(rand() * (H - size));
  for (let y = 0; y < size; y++) data.set(face.data.subarray(y * size * 3, (y + 1) * size * 3), ((y0 + y) * W + x0) * 3);
  return { image: { data, width: W, height: H, channels: 3 }, faceBox: [x0, y0, x0 + size, y0 + size] };
}

/** Collects (or reads from `cacheFile`, written on first use and when stale) a record per face and size. ~20 ms per record on one CPU core. */
export async function collectTrustRecords(faces: readonly LabeledFace[], sizes: readonly number[], concurrency: number, log: (msg: string) => void, cacheFile?: string): Promise<TrustRecord[]> {
  const rollMin = ANALYZER_DEFAULTS.rollCorrectionMinDeg;
  const tag = `${faces.length}:${faces[0]?.file ?? ''}:${faces[faces.length - 1]?.file ?? ''}:${sizes.join(',')}:roll>=${rollMin}@${ANALYZER_DEFAULTS.rollCorrectionMinInputPx}px`;
  if (cacheFile && existsSync(cacheFile)) {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { tag: string; records: TrustRecord[] };
    if (cached.tag === tag) {
      log(`trust records from ${cacheFile}`);
      return cached.records;
    }
    // Collected for other faces, sizes or crop settings: stale, collected again and replaced.
    log(`${cacheFile} was collected for ${cached.tag}, not ${tag}: collecting again`);
  }
  // Quality is recomputed from its stored components by each fitted model; any model will do here.
  const analyzer = await createFaceAnalyzer({ genderCalibration: null, quality: NEUTRAL_QUALITY });
  const fa = await FaceApiAgeGender.create({ tta: 'flip' });
  const fr = await FaceresDescriber.create();
  const jobs = faces.flatMap((face, faceIndex) => sizes.map((size) => ({ face, faceIndex, size })));
  const t0 = Date.now();
  const records = await mapPool(
    jobs,
    concurrency,
    async ({ face, faceIndex, size }): Promise<TrustRecord> => {
      const { image, faceBox } = await placeFace(face.file, faceIndex, size);
      // The analyzer's own detection, threshold and quality; attributes are skipped there and computed below with raw outputs.
      const found = (await analyzer.analyze(image, { wantAttributes: () => false })).find((f) => centreInside(f.box, faceBox));
      const base = { faceIndex, size, ageYears: face.ageYears, male: face.male };
      if (!found?.quality) return base;
      // As the analyzer: the crop is rotated upright from the default minimum roll.
      const roll = found.quality.rollDeg;
      const reliable = (found.quality.sidePx * 256) / Math.max(image.width, image.height) >= ANALYZER_DEFAULTS.rollCorrectionMinInputPx;
      const [a] = await fa.estimateRaw(image, [found.box], [reliable && Math.abs(roll) >= rollMin ? roll : 0]);
      const r = await fr.analyze(image, found.box);
      if (!a) throw new Error(`${face.file}: no age/gender result`);
      const descriptor = size === 200 ? { descriptor: Array.from(r.descriptor, (v) => Math.round(v * 1e6) / 1e6) } : {};
      return { ...base, seen: { box: found.box, score: found.score, quality: found.quality, faAgeYears: a.ageYears, faMaleProbability: a.maleProbability, frMaleProbability: r.maleProbability, ...descriptor } };
    },
    (done) => {
      if (done % 500 === 0 || done === jobs.length) log(`  ${done}/${jobs.length} face x size records (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    },
  );
  if (cacheFile) writeFileSync(cacheFile, JSON.stringify({ tag, records }));
  return records;
}

/** A quality model that weighs nothing (collection stores the components, not the score). */
export const NEUTRAL_QUALITY: QualityModel = { weights: { size: 0, score: 0, roll: 0, sharpness: 0 }, bias: 0, yawSigma: 1 };

/** The yaw prior's sigma (nose offset / eye distance): utkface-dev has no turned heads to fit it on. */
export const YAW_SIGMA = 0.25;

/** The quality terms ({@link qualityTerms}) a quality model may weigh. */
export const QUALITY_TERM_NAMES = ['size', 'score', 'roll', 'sharpness'] as const;
export type QualityTermName = (typeof QUALITY_TERM_NAMES)[number];

/**
 * The terms fit:trust fits by default. Sharpness is left out (weight 0) because it does not transfer
 * from utkface-dev to real video (`npm run bench:real` prints the breakdown): the median real face of
 * 55-80 px reads below the 10th percentile of utkface-dev's faces of its size (x264-smoothed video), and the
 * measure follows facial texture: in face-demographics-walking-and-pause.mp4 the frontal, 0.9-score,
 * 52 px face of the woman without glasses reads 8-10, the bearded man's and the woman's with glasses
 * beside her 13-19, so the floor dropped her and kept them. On utkface-dev the fit without it gives the
 * same floor (0.5) and person threshold (0.735) and its quality bands separate age errors as well.
 */
export const DEFAULT_QUALITY_TERMS: readonly QualityTermName[] = ['size', 'score', 'roll'];

/** What a trust fit may vary. */
export interface TrustFitOptions {
  /** Terms the quality model weighs (the others get weight 0). Default {@link DEFAULT_QUALITY_TERMS}. */
  readonly qualityTerms?: readonly QualityTermName[];
}

/** Fits the quality model: logistic regression of "face-api's gender is right" on the chosen quality terms. */
export function fitQuality(records: readonly TrustRecord[], terms: readonly QualityTermName[] = DEFAULT_QUALITY_TERMS): QualityModel {
  const seen = records.filter((r) => r.seen);
  const x = seen.map((r) => {
    const s = r.seen as NonNullable<TrustRecord['seen']>;
    const t = qualityTerms({ sidePx: s.quality.sidePx, score: s.score, rollDeg: s.quality.rollDeg, sharpness: s.quality.sharpness });
    return terms.map((name) => t[name]);
  });
  const w = fitLogistic(x, seen.map((r) => ((r.seen?.faMaleProbability ?? 0.5) >= 0.5) === r.male), 1e-3);
  const weights = { size: 0, score: 0, roll: 0, sharpness: 0 };
  terms.forEach((name, i) => (weights[name] = round(w[i] as number, 4)));
  return { weights, bias: round(w[terms.length] as number, 4), yawSigma: YAW_SIGMA };
}

/** A seen record's quality under `model`. */
export function recordQuality(r: TrustRecord, model: QualityModel): number {
  const s = r.seen;
  if (!s) return 0;
  return qualityScore({ sidePx: s.quality.sidePx, score: s.score, rollDeg: s.quality.rollDeg, yaw: s.quality.yaw, sharpness: s.quality.sharpness }, model);
}

/** Calibration inputs of a seen record. */
export function inputsOf(r: TrustRecord, withFaceres: boolean): CalibrationInputs {
  const s = r.seen;
  if (!s) throw new Error(`record of face ${r.faceIndex} at ${r.size} px was not seen`);
  return withFaceres ? { faMaleProbability: s.faMaleProbability, frMaleProbability: s.frMaleProbability, sidePx: s.quality.sidePx } : { faMaleProbability: s.faMaleProbability, sidePx: s.quality.sidePx };
}

/** The calibrations' feature sets (see src/infer/trust.ts for the names). */
export const CALIBRATION_FEATURES = {
  age_gender: ['faLogit', 'faLogit*size', 'size'],
  'age_gender+faceres': ['faLogit', 'frLogit', 'faLogit*size', 'frLogit*size', 'size'],
} as const;

/** Fits one logistic calibration on seen records. */
export function fitCalibration(records: readonly TrustRecord[], features: readonly string[], withFaceres: boolean): LogisticCalibration {
  const x = records.map((r) => features.map((f) => calibrationFeature(f, inputsOf(r, withFaceres))));
  const w = fitLogistic(x, records.map((r) => r.male), 1e-3);
  return { features: [...features], weights: w.slice(0, features.length).map((v) => round(v, 6)), bias: round(w[features.length] as number, 6) };
}

/** Probability levels of the age error quantiles. */
export const AGE_ERROR_LEVELS: readonly number[] = Array.from({ length: 21 }, (_, i) => i / 20);
/** Equal-count bins of estimated age for the age error knots. */
export const AGE_ERROR_BINS = 14;

function quantile(sorted: readonly number[], p: number): number {
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

/**
 * The age error model: records sorted by face-api's age, cut into {@link AGE_ERROR_BINS} equal-count
 * bins; per bin the knot is the median estimated age and the row the quantiles of true - estimated
 * age at {@link AGE_ERROR_LEVELS} (levels 0 and 1 take the 1st and 99th percentile: the extremes of a
 * few hundred faces are noise).
 */
export function fitAgeError(records: readonly TrustRecord[]): AgeErrorModel {
  const seen = records.filter((r) => r.seen).sort((a, b) => (a.seen?.faAgeYears ?? 0) - (b.seen?.faAgeYears ?? 0));
  const knots: number[] = [];
  const rows: number[][] = [];
  for (let b = 0; b < AGE_ERROR_BINS; b++) {
    const bin = seen.slice(Math.floor((b * seen.length) / AGE_ERROR_BINS), Math.floor(((b + 1) * seen.length) / AGE_ERROR_BINS));
    if (bin.length < 10) continue;
    const est = bin.map((r) => r.seen?.faAgeYears ?? 0).sort((x, y) => x - y);
    const knot = round(quantile(est, 0.5), 3);
    if (knots.length > 0 && knot <= (knots[knots.length - 1] as number)) continue;
    const res = bin.map((r) => r.ageYears - Math.max(0, r.seen?.faAgeYears ?? 0)).sort((x, y) => x - y);
    knots.push(knot);
    rows.push(AGE_ERROR_LEVELS.map((p) => round(quantile(res, Math.min(0.99, Math.max(0.01, p))), 3)));
  }
  return { knotsYears: knots, levels: [...AGE_ERROR_LEVELS], residualQuantilesYears: rows };
}

/** Calibrated P(male) of a seen record under `model`: with faceres when `withFaceres`. */
export function recordMaleProbability(model: Pick<TrustModel, 'gender'>, r: TrustRecord, withFaceres: boolean): number {
  return withFaceres ? calibratedMaleProbability(model.gender['age_gender+faceres'], inputsOf(r, true)) : calibratedMaleProbability(model.gender.age_gender, inputsOf(r, false));
}

/** Quality floor candidates tried by {@link chooseQualityFloor}. */
export const QUALITY_FLOORS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6] as const;
/** Faces at or above this quality are "good" for the floor rule. */
export const GOOD_QUALITY = 0.7;
/** The floor keeps out observations whose age error is at least this many times a good face's. */
export const FLOOR_ERROR_RATIO = 2;

/**
 * The fusion's quality floor: the highest candidate below which (>= 20 faces) the age MAE is at least
 * {@link FLOOR_ERROR_RATIO} x that of good faces (quality >= {@link GOOD_QUALITY}), out of fold.
 * Gender alone gives no floor: calibration already makes poor faces unconfident (they are right
 * 77% of the time at every floor, and their calibrated P says so), but their ages are twice as wrong
 * and their cost is the same: observations below it are not fused and get no age/gender inference.
 */
export function chooseQualityFloor(records: readonly TrustRecord[], pMale: readonly number[], quality: readonly number[]): { floor: number; goodMaeYears: number; table: { floor: number; below: number; accuracyBelow: number; maeBelowYears: number }[] } {
  const ageErr = (i: number): number => Math.abs(Math.max(0, (records[i] as TrustRecord).seen?.faAgeYears ?? 0) - (records[i] as TrustRecord).ageYears);
  const seen = records.map((r, i) => (r.seen ? i : -1)).filter((i) => i >= 0);
  const good = seen.filter((i) => (quality[i] as number) >= GOOD_QUALITY);
  const goodMaeYears = good.reduce((a, i) => a + ageErr(i), 0) / Math.max(1, good.length);
  const table = QUALITY_FLOORS.map((floor) => {
    const idx = seen.filter((i) => (quality[i] as number) < floor);
    const right = idx.filter((i) => ((pMale[i] as number) >= 0.5) === (records[i] as TrustRecord).male).length;
    return { floor, below: idx.length, accuracyBelow: idx.length ? right / idx.length : NaN, maeBelowYears: idx.length ? idx.reduce((a, i) => a + ageErr(i), 0) / idx.length : NaN };
  });
  let floor = 0;
  for (const row of table) if (row.below >= 20 && row.maeBelowYears >= FLOOR_ERROR_RATIO * goodMaeYears) floor = row.floor;
  return { floor, goodMaeYears, table };
}

/** The confidence at or above which `coverage` (0..1) of the given P(male) values are answered. */
export function thresholdForCoverage(pMale: readonly number[], coverage: number): number {
  const conf = pMale.map((p) => Math.max(p, 1 - p)).sort((a, b) => b - a);
  if (conf.length === 0) return 0.5;
  const k = Math.min(conf.length - 1, Math.max(0, Math.ceil(coverage * conf.length) - 1));
  return round(conf[k] as number, 4);
}

/** Answered accuracy and coverage at a confidence threshold. */
export function answered(pMale: readonly number[], male: readonly boolean[], minConfidence: number): { coverage: number; accuracy: number; n: number } {
  let n = 0;
  let right = 0;
  pMale.forEach((p, i) => {
    if (Math.max(p, 1 - p) < minConfidence) return;
    n++;
    if ((p >= 0.5) === male[i]) right++;
  });
  return { coverage: pMale.length ? n / pMale.length : 0, accuracy: n ? right / n : NaN, n };
}

/** Accuracy of the top `coverage` share of answers ranked by confidence. */
export function accuracyAtCoverage(pMale: readonly number[], male: readonly boolean[], coverage: number): number {
  const order = pMale.map((p, i) => ({ c: Math.max(p, 1 - p), ok: (p >= 0.5) === male[i] })).sort((a, b) => b.c - a.c);
  const n = Math.max(1, Math.round(coverage * order.length));
  return order.slice(0, n).filter((o) => o.ok).length / n;
}

/** Everything {@link fitTrustModel} fits, on the records whose face is in `train`. */
export interface TrustFit {
  readonly gender: TrustModel['gender'];
  readonly ageError: AgeErrorModel;
  readonly quality: QualityModel;
}

/**
 * Fits the gender calibrations and the quality model (all sizes) and the age error model (sizes below
 * 200: camera-like faces; with `qualityFloor`, only those the fusion would fuse) on the given faces.
 */
export function fitTrustParts(records: readonly TrustRecord[], train: (faceIndex: number) => boolean, qualityFloor = 0, options: TrustFitOptions = {}): TrustFit {
  const seen = records.filter((r) => r.seen && train(r.faceIndex));
  const quality = fitQuality(seen, options.qualityTerms);
  return {
    gender: {
      age_gender: fitCalibration(seen, CALIBRATION_FEATURES.age_gender, false),
      'age_gender+faceres': fitCalibration(seen, CALIBRATION_FEATURES['age_gender+faceres'], true),
    },
    ageError: fitAgeError(seen.filter((r) => r.size < 200 && recordQuality(r, quality) >= qualityFloor)),
    quality,
  };
}

/**
 * Persons: the fused confidence at or above which a gender is reported is the lowest calibrated
 * confidence whose answered accuracy, out of fold on camera-sized faces above the quality floor,
 * reaches this: the threshold sets the accuracy of what is reported and the coverage follows.
 */
export const PERSON_TARGET_ACCURACY = 0.95;

/** The lowest confidence (0.005 grid) whose answered accuracy over `idx` reaches `target` (with >= 50 answered). */
export function thresholdForAccuracy(records: readonly TrustRecord[], idx: readonly number[], pMale: readonly number[], target: number): number {
  const pm = idx.map((i) => pMale[i] as number);
  const male = idx.map((i) => (records[i] as TrustRecord).male);
  for (let k = 0; k <= 98; k++) {
    const c = 0.5 + k * 0.005;
    const a = answered(pm, male, c);
    if (a.n >= 50 && a.accuracy >= target) return round(c, 4);
  }
  return 0.995;
}

/** Out-of-fold calibrated P(male) per record (NaN for unseen records and faces outside `train`), face-api alone and with faceres. */
export interface OutOfFold {
  readonly fa: number[];
  readonly fafr: number[];
  /** Out-of-fold quality score per record (0 when unseen). */
  readonly quality: number[];
  /** The fold fits, by fold. */
  readonly fits: TrustFit[];
  /** Fold of each face (-1 outside `train`). */
  readonly folds: number[];
}

/** k-fold CV over the faces in `train` (stratum per face index), folds by face. */
export function outOfFold(records: readonly TrustRecord[], strata: readonly string[], train: (faceIndex: number) => boolean, k: number, seed: number, options: TrustFitOptions = {}): OutOfFold {
  const members = strata.map((_, i) => i).filter(train);
  const inner = stratifiedKFold(members.map((i) => strata[i] as string), k, seed);
  const folds = new Array<number>(strata.length).fill(-1);
  members.forEach((face, j) => (folds[face] = inner[j] as number));
  const fa = new Array<number>(records.length).fill(NaN);
  const fafr = new Array<number>(records.length).fill(NaN);
  const quality = new Array<number>(records.length).fill(0);
  const fits: TrustFit[] = [];
  for (let f = 0; f < k; f++) {
    const parts = fitTrustParts(records, (i) => folds[i] !== -1 && folds[i] !== f, 0, options);
    fits.push(parts);
    records.forEach((r, i) => {
      if (!r.seen || folds[r.faceIndex] !== f) return;
      fa[i] = recordMaleProbability(parts, r, false);
      fafr[i] = recordMaleProbability(parts, r, true);
      quality[i] = recordQuality(r, parts.quality);
    });
  }
  return { fa, fafr, quality, fits, folds };
}

/** The fusion's quality floor and the person threshold from out-of-fold P(male) (face-api calibrated, as most stream observations). */
export function personThresholds(records: readonly TrustRecord[], oof: OutOfFold): { qualityFloor: number; personMinGenderConfidence: number; floorTable: ReturnType<typeof chooseQualityFloor>['table']; goodMaeYears: number; cameraAbove: number[] } {
  const inTrain = records.map((r, i) => (r.seen && oof.folds[r.faceIndex] !== -1 ? i : -1)).filter((i) => i >= 0);
  const floor = chooseQualityFloor(inTrain.map((i) => records[i] as TrustRecord), inTrain.map((i) => oof.fa[i] as number), inTrain.map((i) => oof.quality[i] as number));
  const cameraAbove = inTrain.filter((i) => (records[i] as TrustRecord).size < 200 && (oof.quality[i] as number) >= floor.floor);
  return { qualityFloor: floor.floor, personMinGenderConfidence: thresholdForAccuracy(records, cameraAbove, oof.fa, PERSON_TARGET_ACCURACY), floorTable: floor.table, goodMaeYears: floor.goodMaeYears, cameraAbove };
}

/**
 * The stream side of a trust model fitted on the faces in `train` only (thresholds by an inner CV
 * over those faces): what bench:crowd runs a video with when none of the video's faces may be seen.
 * The single-face threshold is copied from `faceMinGenderConfidence` (photos are not scored there).
 */
export function fitStreamTrust(records: readonly TrustRecord[], strata: readonly string[], train: (faceIndex: number) => boolean, faceMinGenderConfidence: number, seed: number, provenance: Record<string, unknown>, options: TrustFitOptions = {}): TrustModel {
  const oof = outOfFold(records, strata, train, 5, seed, options);
  const t = personThresholds(records, oof);
  return trustModel(fitTrustParts(records, train, t.qualityFloor, options), { faceMinGenderConfidence, personMinGenderConfidence: t.personMinGenderConfidence, qualityFloor: t.qualityFloor }, provenance);
}

/** Assembles a model from fitted parts and chosen thresholds. */
export function trustModel(parts: TrustFit, thresholds: TrustThresholds, provenance: Record<string, unknown>): TrustModel {
  return { kind: 'crowdlens-trust', gender: parts.gender, ageError: parts.ageError, quality: parts.quality, thresholds, provenance };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
