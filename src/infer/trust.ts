/**
 * What crowdlens knows about how far to trust its models, fitted by `npm run fit:trust`
 * (bench/fit-trust.ts) on utkface-dev and shipped in src/infer/heads/trust.json:
 * - gender calibration: P(male) from face-api's (and, when the face also got a faceres pass,
 *   faceres') gender logit and the face size, so that shares are right on average;
 * - the quality model (src/infer/quality.ts): how often a face's gender answer is right, from its
 *   size, detector score and roll (sharpness may be weighed; the shipped model does not);
 * - the age model's error distribution by estimated age (src/shared/age-error.ts), for the soft
 *   age-bucket split of the demographics table and per-person age ranges;
 * - the gender reporting thresholds (single faces and fused persons) and the fusion's quality floor,
 *   each chosen by cross-validated measurement (the file's provenance says what, on what).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateAgeErrorModel, type AgeErrorModel } from '../shared/age-error.ts';
import { validateQualityModel, type QualityModel } from './quality.ts';

/** The shipped trust file. */
export const DEFAULT_TRUST_FILE = fileURLToPath(new URL('./heads/trust.json', import.meta.url));

/** Inputs a gender calibration may use. */
export interface CalibrationInputs {
  /** face-api's P(male) (TTA mean). */
  readonly faMaleProbability: number;
  /** faceres' P(male), when the face got a faceres pass. */
  readonly frMaleProbability?: number;
  /** Face side (sqrt of box area), source pixels. */
  readonly sidePx: number;
}

/** Base feature names; a feature is one of these or a product `a*b` of two. */
export const CALIBRATION_BASE_FEATURES = ['faLogit', 'frLogit', 'size'] as const;
type BaseFeature = (typeof CALIBRATION_BASE_FEATURES)[number];

/** A logistic calibration: P(male) = sigmoid(bias + sum weights[i] * feature_i). */
export interface LogisticCalibration {
  /** Feature names, e.g. `faLogit`, `faLogit*size` ({@link calibrationFeature}). */
  readonly features: readonly string[];
  readonly weights: readonly number[];
  readonly bias: number;
}

/** The gender calibrations by what the face got: face-api alone, or face-api and faceres. */
export interface GenderCalibration {
  readonly age_gender: LogisticCalibration;
  readonly 'age_gender+faceres': LogisticCalibration;
}

/** Reporting thresholds, each a calibrated confidence 0.5..1. */
export interface TrustThresholds {
  /** A single face's gender is answered at or above this confidence (`crowdlens analyze`). */
  readonly faceMinGenderConfidence: number;
  /** A fused person's gender is answered at or above this confidence (src/track's fusion). */
  readonly personMinGenderConfidence: number;
  /** The fusion's quality floor (src/track's FusionParams.qualityFloor), 0..1. */
  readonly qualityFloor: number;
}

export interface TrustModel {
  readonly kind: 'crowdlens-trust';
  readonly gender: GenderCalibration;
  readonly ageError: AgeErrorModel;
  /** How much each face observation can be trusted (src/infer/quality.ts). */
  readonly quality: QualityModel;
  readonly thresholds: TrustThresholds;
  /** What was fitted on what, the command, and the cross-validated scores; free-form. */
  readonly provenance: Record<string, unknown>;
}

function clippedLogit(p: number): number {
  const q = Math.min(1 - 1e-4, Math.max(1e-4, p));
  return Math.log(q / (1 - q));
}

function base(name: BaseFeature, x: CalibrationInputs): number {
  switch (name) {
    case 'faLogit':
      return clippedLogit(x.faMaleProbability);
    case 'frLogit':
      if (x.frMaleProbability === undefined) throw new Error('gender calibration: feature frLogit needs a faceres P(male)');
      return clippedLogit(x.frMaleProbability);
    case 'size':
      // Log face size below 100 px (0 at and above): the models lose confidence only on small faces.
      return Math.min(0, Math.log(Math.max(1, x.sidePx) / 100));
  }
}

/** The value of one named feature (`faLogit`, `size`, or a product such as `faLogit*size`). */
export function calibrationFeature(name: string, x: CalibrationInputs): number {
  let v = 1;
  for (const part of name.split('*')) {
    if (!(CALIBRATION_BASE_FEATURES as readonly string[]).includes(part)) throw new Error(`gender calibration: unknown feature ${JSON.stringify(part)} in ${JSON.stringify(name)}`);
    v *= base(part as BaseFeature, x);
  }
  return v;
}

/** Calibrated P(male) for one face. */
export function calibratedMaleProbability(c: LogisticCalibration, x: CalibrationInputs): number {
  let z = c.bias;
  for (let i = 0; i < c.features.length; i++) z += (c.weights[i] as number) * calibrationFeature(c.features[i] as string, x);
  return 1 / (1 + Math.exp(-z));
}

function parseCalibration(v: unknown, where: string): LogisticCalibration {
  const c = v as Partial<LogisticCalibration> | null;
  if (!c || typeof c !== 'object') throw new Error(`${where}: expected an object`);
  if (!Array.isArray(c.features) || !c.features.every((f) => typeof f === 'string')) throw new Error(`${where}.features must be an array of names`);
  for (const f of c.features) for (const part of f.split('*')) if (!(CALIBRATION_BASE_FEATURES as readonly string[]).includes(part)) throw new Error(`${where}.features: unknown feature ${JSON.stringify(f)}`);
  if (!Array.isArray(c.weights) || c.weights.length !== c.features.length || !c.weights.every((w) => typeof w === 'number' && Number.isFinite(w))) throw new Error(`${where}.weights must be ${c.features.length} finite numbers`);
  if (typeof c.bias !== 'number' || !Number.isFinite(c.bias)) throw new Error(`${where}.bias must be a finite number (got ${JSON.stringify(c.bias)})`);
  return { features: c.features, weights: c.weights, bias: c.bias };
}

/** Validates a parsed trust model; errors name the field. */
export function parseTrustModel(value: unknown, source = 'trust model'): TrustModel {
  const v = value as Partial<TrustModel> | null;
  if (!v || typeof v !== 'object') throw new Error(`${source}: expected an object`);
  if (v.kind !== 'crowdlens-trust') throw new Error(`${source}: kind must be "crowdlens-trust" (got ${JSON.stringify(v.kind)})`);
  const g = v.gender as Partial<GenderCalibration> | undefined;
  if (!g || typeof g !== 'object') throw new Error(`${source}: gender must be an object`);
  const gender: GenderCalibration = { age_gender: parseCalibration(g.age_gender, `${source}: gender.age_gender`), 'age_gender+faceres': parseCalibration(g['age_gender+faceres'], `${source}: gender["age_gender+faceres"]`) };
  const ageError = validateAgeErrorModel(v.ageError as AgeErrorModel, `${source}: ageError`);
  const quality = validateQualityModel(v.quality as QualityModel, `${source}: quality`);
  const t = v.thresholds as Partial<TrustThresholds> | undefined;
  if (!t || typeof t !== 'object') throw new Error(`${source}: thresholds must be an object`);
  for (const k of ['faceMinGenderConfidence', 'personMinGenderConfidence'] as const) {
    if (!(typeof t[k] === 'number' && t[k] >= 0.5 && t[k] <= 1)) throw new Error(`${source}: thresholds.${k} must be within 0.5..1 (got ${JSON.stringify(t[k])})`);
  }
  if (!(typeof t.qualityFloor === 'number' && t.qualityFloor >= 0 && t.qualityFloor < 1)) throw new Error(`${source}: thresholds.qualityFloor must be within 0..1 (got ${JSON.stringify(t.qualityFloor)})`);
  return { kind: 'crowdlens-trust', gender, ageError, quality, thresholds: t as TrustThresholds, provenance: (v.provenance ?? {}) as Record<string, unknown> };
}

/** Reads and validates a trust file (default: the shipped one). */
export function loadTrustModel(file = DEFAULT_TRUST_FILE): TrustModel {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`trust model ${file} cannot be read (${(err as Error).message}); write it with \`npm run fit:trust\``);
  }
  return parseTrustModel(JSON.parse(text) as unknown, file);
}
