/**
 * Per-person fusion of age and gender over all of a person's face observations.
 *
 * Single frames are noisy: a small, side-on or low-score face gives a poor age and a coin-flip gender.
 * Each observation is weighted by its quality (src/infer's FaceQuality score: size, detector score,
 * pose from the keypoints; a box/score fallback for detections without one), and observations below
 * a quality floor are not fused at all. Age is the weighted median (robust to the odd wild frame).
 * Gender is the weighted mean of the observations' calibrated log-odds (the analyzer's
 * `maleProbability`), scaled by the effective number of observations to the power
 * `evidenceExponent`: frames of one track are strongly correlated, and on the only labeled video we
 * have (synthetic crowds of still photos) they carry no independent evidence, so the default 0 keeps
 * the fused P(male) as calibrated as one good observation. The person's label is `unknown` while the
 * fused confidence is below `minGenderConfidence`, chosen by measurement (`npm run fit:trust`).
 * Pure: no I/O, no clock; memory per person is bounded by `maxAgeSamples`.
 */
import { ageInterval, type AgeErrorModel } from '../shared/age-error.ts';
import type { BoxXyxy, FaceQuality, Gender, GenderLabel, PersonEstimate } from '../shared/messages.ts';

/** Fusion parameters (all named, all defaulted in {@link DEFAULT_FUSION_PARAMS}). */
export interface FusionParams {
  /**
   * Observations whose quality weight is below this are not fused (counted as ignored), 0..1.
   * Default 0.1: on utkface-dev faces at 56-200 px (bench/fit-trust.ts) faces below it were right on
   * gender barely more often than a coin; see src/infer/heads/trust.json.
   */
  qualityFloor: number;
  /** Fallback weight for faces without a quality score: face side (px) at and above which the size weight is 1. Default 96. */
  fullWeightSidePx: number;
  /** Fallback: faces with a side below this (px) get weight 0. Default 12. */
  minSidePx: number;
  /** Fallback: the detector's typical face-box aspect ratio (width / height) for a frontal face. Default 0.9. */
  typicalAspect: number;
  /** Fallback pose weight is exp(-0.5 (ln(aspect / typicalAspect) / aspectSigma)^2). Default 0.25. */
  aspectSigma: number;
  /** Fallback: detector scores at or below this give weight 0, rising linearly to 1 at score 1. Default 0.3. */
  scoreFloor: number;
  /** Fused observations needed before an estimate is reported (count). Default 3. */
  minSamples: number;
  /** Summed quality weight needed before an estimate is reported (so many poor faces are not enough). Default 0.8. */
  minTotalWeight: number;
  /**
   * Fused gender confidence (0.5..1, calibrated) needed to report a gender; below it the label is
   * `unknown`. Default 0.8 (chosen by `npm run fit:trust`, see src/infer/heads/trust.json).
   */
  minGenderConfidence: number;
  /** Fused log-odds = mean log-odds x (effective observation count)^this. 0 = no growth with frame count. Default 0. */
  evidenceExponent: number;
  /** Uncalibrated per-frame gender scores (faces without `maleProbability`) are clamped to this before taking log-odds. Default 0.98. */
  maxFrameGenderScore: number;
  /** Age samples kept per person; when full, the lowest-weight sample is dropped (counted). Default 256. */
  maxAgeSamples: number;
  /** The age model's measured error (src/infer/heads/trust.json): gives estimates an `ageRangeYears`. Default none. */
  ageError: AgeErrorModel | undefined;
  /** A fused estimate is stable while its gender label holds and its age stays within this many years of where it settled. Default 3. */
  stableAgeYears: number;
}

export const DEFAULT_FUSION_PARAMS: FusionParams = Object.freeze({
  qualityFloor: 0.1,
  fullWeightSidePx: 96,
  minSidePx: 12,
  typicalAspect: 0.9,
  aspectSigma: 0.25,
  scoreFloor: 0.3,
  minSamples: 3,
  minTotalWeight: 0.8,
  minGenderConfidence: 0.8,
  evidenceExponent: 0,
  maxFrameGenderScore: 0.98,
  maxAgeSamples: 256,
  ageError: undefined,
  stableAgeYears: 3,
});

/** One face observation of a person: a src/shared Face, attributes optional (the analyzer may have skipped them). */
export interface FaceObservation {
  readonly box: BoxXyxy;
  /** Detector score, 0..1. */
  readonly score: number;
  readonly quality?: FaceQuality | undefined;
  readonly ageYears?: number | undefined;
  readonly gender?: Gender | undefined;
  /** The model's confidence of `gender`, 0.5..1. */
  readonly genderScore?: number | undefined;
  /** Calibrated P(male), 0..1; preferred over `gender`/`genderScore` when present. */
  readonly maleProbability?: number | undefined;
}

/** Throws on an invalid parameter, naming the field and the value. */
export function validateFusionParams(p: FusionParams): FusionParams {
  const positive = (name: keyof FusionParams, v: number): void => {
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`fusion param ${name} must be a finite number > 0, got ${String(v)}`);
  };
  positive('fullWeightSidePx', p.fullWeightSidePx);
  positive('typicalAspect', p.typicalAspect);
  positive('aspectSigma', p.aspectSigma);
  if (!(p.qualityFloor >= 0 && p.qualityFloor < 1)) throw new Error(`fusion param qualityFloor must be within 0..1 (exclusive of 1), got ${String(p.qualityFloor)}`);
  if (!(p.minSidePx >= 0 && p.minSidePx <= p.fullWeightSidePx)) throw new Error(`fusion param minSidePx must be within 0..fullWeightSidePx, got ${String(p.minSidePx)}`);
  if (!(p.scoreFloor >= 0 && p.scoreFloor < 1)) throw new Error(`fusion param scoreFloor must be within 0..1 (exclusive of 1), got ${String(p.scoreFloor)}`);
  if (!(Number.isInteger(p.minSamples) && p.minSamples >= 1)) throw new Error(`fusion param minSamples must be an integer >= 1, got ${String(p.minSamples)}`);
  if (!(p.minTotalWeight >= 0 && Number.isFinite(p.minTotalWeight))) throw new Error(`fusion param minTotalWeight must be a finite number >= 0, got ${String(p.minTotalWeight)}`);
  if (!(p.minGenderConfidence >= 0.5 && p.minGenderConfidence <= 1)) throw new Error(`fusion param minGenderConfidence must be within 0.5..1, got ${String(p.minGenderConfidence)}`);
  if (!(p.evidenceExponent >= 0 && p.evidenceExponent <= 1)) throw new Error(`fusion param evidenceExponent must be within 0..1, got ${String(p.evidenceExponent)}`);
  if (!(p.maxFrameGenderScore > 0.5 && p.maxFrameGenderScore < 1)) throw new Error(`fusion param maxFrameGenderScore must be within 0.5..1 (exclusive), got ${String(p.maxFrameGenderScore)}`);
  if (!(Number.isInteger(p.maxAgeSamples) && p.maxAgeSamples >= 1)) throw new Error(`fusion param maxAgeSamples must be an integer >= 1, got ${String(p.maxAgeSamples)}`);
  if (!(p.stableAgeYears >= 0 && Number.isFinite(p.stableAgeYears))) throw new Error(`fusion param stableAgeYears must be a finite number >= 0, got ${String(p.stableAgeYears)}`);
  return p;
}

/** Merges partial params over the defaults and validates them. */
export function fusionParams(partial: Partial<FusionParams> = {}): Readonly<FusionParams> {
  return Object.freeze(validateFusionParams({ ...DEFAULT_FUSION_PARAMS, ...partial }));
}

/** Fallback weight (0..1) of a face without a quality score: size x score x pose (box aspect). */
export function observationWeight(obs: Pick<FaceObservation, 'box' | 'score'>, p: Readonly<FusionParams> = DEFAULT_FUSION_PARAMS): number {
  const w = obs.box[2] - obs.box[0];
  const h = obs.box[3] - obs.box[1];
  if (!(w > 0 && h > 0) || !Number.isFinite(obs.score)) return 0;
  const side = Math.sqrt(w * h);
  if (side < p.minSidePx) return 0;
  const size = Math.min(side, p.fullWeightSidePx) / p.fullWeightSidePx;
  const score = Math.min(1, Math.max(0, (obs.score - p.scoreFloor) / (1 - p.scoreFloor)));
  const z = Math.log(w / h / p.typicalAspect) / p.aspectSigma;
  const pose = Math.exp(-0.5 * z * z);
  return size * score * pose;
}

/** Quality weight of an observation: its quality score when it has one, else {@link observationWeight}. */
export function qualityWeight(obs: Pick<FaceObservation, 'box' | 'score' | 'quality'>, p: Readonly<FusionParams> = DEFAULT_FUSION_PARAMS): number {
  const q = obs.quality?.score;
  return q !== undefined && Number.isFinite(q) ? Math.min(1, Math.max(0, q)) : observationWeight(obs, p);
}

interface AgeSample {
  readonly ageYears: number;
  readonly weight: number;
}

/** Weighted median; on an exact half split, the midpoint of the two middle values. */
export function weightedMedian(samples: readonly { ageYears: number; weight: number }[]): number {
  const sorted = samples.filter((s) => s.weight > 0).sort((a, b) => a.ageYears - b.ageYears);
  if (sorted.length === 0) return NaN;
  const total = sorted.reduce((sum, s) => sum + s.weight, 0);
  let cum = 0;
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i] as AgeSample;
    cum += s.weight;
    // Relative tolerance: float sums of equal weights rarely hit half exactly.
    if (Math.abs(cum - total / 2) <= 1e-9 * total && i + 1 < sorted.length) return (s.ageYears + (sorted[i + 1] as AgeSample).ageYears) / 2;
    if (cum > total / 2) return s.ageYears;
  }
  return (sorted[sorted.length - 1] as AgeSample).ageYears;
}

const LOGIT_CLAMP = 1e-4;

function logit(p: number): number {
  const q = Math.min(1 - LOGIT_CLAMP, Math.max(LOGIT_CLAMP, p));
  return Math.log(q / (1 - q));
}

/** P(male) of one observation: calibrated when it has `maleProbability`, else the model's score clamped to `maxFrameGenderScore`. NaN without attributes. */
export function observationMaleProbability(obs: FaceObservation, p: Readonly<FusionParams> = DEFAULT_FUSION_PARAMS): number {
  if (obs.maleProbability !== undefined) return obs.maleProbability;
  if (obs.gender === undefined || obs.genderScore === undefined) return NaN;
  const s = Math.min(p.maxFrameGenderScore, Math.max(0.5, obs.genderScore));
  return obs.gender === 'male' ? s : 1 - s;
}

/** A fusion's evidence as plain data, e.g. to carry a departed person to another process. */
export interface FusionState {
  readonly samples: number;
  readonly ignored: number;
  readonly withoutAttributes: number;
  readonly droppedAgeSamples: number;
  /** Highest quality weight fused, 0..1. */
  readonly bestQuality: number;
  readonly totalWeight: number;
  readonly sumSquaredWeight: number;
  /** Sum of weight x calibrated log-odds of male. */
  readonly weightedLogOdds: number;
  /** Age samples kept (at most maxAgeSamples). */
  readonly ages: readonly { readonly ageYears: number; readonly weight: number }[];
}

/** Fused state of one person; add observations, read the estimate. */
export class PersonFusion {
  readonly params: Readonly<FusionParams>;
  /** Observations fused (attributes present, quality at or above the floor). */
  samples = 0;
  /** Observations with attributes that were not fused: quality below the floor, degenerate box, non-finite attributes. */
  ignored = 0;
  /** Observations without attributes (the analyzer skipped age/gender for them). */
  withoutAttributes = 0;
  /** Age samples dropped because `maxAgeSamples` was reached (the lowest weight goes first). */
  droppedAgeSamples = 0;
  /** Highest quality weight among the fused observations (0 before any). */
  bestQuality = 0;
  private totalWeight = 0;
  private sumSquaredWeight = 0;
  /** Sum of weight x calibrated log-odds of male. */
  private weightedLogOdds = 0;
  private ages: AgeSample[] = [];
  /** Where the estimate last settled, and how many fused observations it has held since. */
  private anchor: { gender: GenderLabel; ageYears: number } | null = null;
  private stableRun = 0;

  constructor(params: Partial<FusionParams> | Readonly<FusionParams> = {}) {
    this.params = fusionParams(params);
  }

  /** Adds one observation; returns its weight (0 when not fused). */
  add(obs: FaceObservation): number {
    if (obs.ageYears === undefined) {
      this.withoutAttributes++;
      return 0;
    }
    const weight = qualityWeight(obs, this.params);
    const pm = observationMaleProbability(obs, this.params);
    if (!(weight > 0) || weight < this.params.qualityFloor || !Number.isFinite(obs.ageYears) || !Number.isFinite(pm)) {
      this.ignored++;
      return 0;
    }
    this.weightedLogOdds += weight * logit(pm);
    this.totalWeight += weight;
    this.sumSquaredWeight += weight * weight;
    this.bestQuality = Math.max(this.bestQuality, weight);
    this.samples++;
    this.pushAge({ ageYears: Math.max(0, obs.ageYears), weight });
    this.updateStability();
    return weight;
  }

  /** The evidence as plain data ({@link PersonFusion.fromState} restores it; stability is re-earned). */
  toState(): FusionState {
    return {
      samples: this.samples,
      ignored: this.ignored,
      withoutAttributes: this.withoutAttributes,
      droppedAgeSamples: this.droppedAgeSamples,
      bestQuality: this.bestQuality,
      totalWeight: this.totalWeight,
      sumSquaredWeight: this.sumSquaredWeight,
      weightedLogOdds: this.weightedLogOdds,
      ages: this.ages.map((a) => ({ ageYears: a.ageYears, weight: a.weight })),
    };
  }

  /** A fusion holding `state`'s evidence; throws naming the field when a value is not a finite number >= 0 (log-odds: finite). */
  static fromState(state: FusionState, params: Partial<FusionParams> | Readonly<FusionParams> = {}): PersonFusion {
    const f = new PersonFusion(params);
    const check = (name: string, v: number, min = 0): number => {
      if (!(Number.isFinite(v) && v >= min)) throw new Error(`fusion state ${name} must be a finite number >= ${min}, got ${String(v)}`);
      return v;
    };
    f.samples = check('samples', state.samples);
    f.ignored = check('ignored', state.ignored);
    f.withoutAttributes = check('withoutAttributes', state.withoutAttributes);
    f.droppedAgeSamples = check('droppedAgeSamples', state.droppedAgeSamples);
    f.bestQuality = check('bestQuality', state.bestQuality);
    f.totalWeight = check('totalWeight', state.totalWeight);
    f.sumSquaredWeight = check('sumSquaredWeight', state.sumSquaredWeight);
    f.weightedLogOdds = check('weightedLogOdds', state.weightedLogOdds, -Infinity);
    for (const [i, a] of state.ages.entries()) f.pushAge({ ageYears: check(`ages[${i}].ageYears`, a.ageYears), weight: check(`ages[${i}].weight`, a.weight) });
    f.updateStability();
    return f;
  }

  /** Takes over another fusion's evidence (a returning person's earlier appearances). */
  absorb(other: PersonFusion): void {
    this.samples += other.samples;
    this.ignored += other.ignored;
    this.withoutAttributes += other.withoutAttributes;
    this.droppedAgeSamples += other.droppedAgeSamples;
    this.totalWeight += other.totalWeight;
    this.sumSquaredWeight += other.sumSquaredWeight;
    this.weightedLogOdds += other.weightedLogOdds;
    this.bestQuality = Math.max(this.bestQuality, other.bestQuality);
    for (const s of other.ages) this.pushAge(s);
    // The merged estimate has to prove itself stable again.
    this.anchor = null;
    this.stableRun = 0;
    this.updateStability();
  }

  /** Effective number of independent observations (Kish): (sum w)^2 / sum w^2. */
  effectiveSamples(): number {
    return this.sumSquaredWeight > 0 ? (this.totalWeight * this.totalWeight) / this.sumSquaredWeight : 0;
  }

  /** Fused, calibrated P(male), 0..1; 0.5 before any sample. */
  maleProbability(): number {
    if (!(this.totalWeight > 0)) return 0.5;
    const z = (this.weightedLogOdds / this.totalWeight) * this.effectiveSamples() ** this.params.evidenceExponent;
    return 1 / (1 + Math.exp(-z));
  }

  /** The more likely gender and its fused confidence, 0.5..1 (regardless of the reporting threshold). */
  genderScore(): { gender: Gender; genderScore: number } {
    const pm = this.maleProbability();
    return pm >= 0.5 ? { gender: 'male', genderScore: pm } : { gender: 'female', genderScore: 1 - pm };
  }

  /** The gender label: `unknown` below `minGenderConfidence`. */
  genderLabel(): GenderLabel {
    const g = this.genderScore();
    return g.genderScore >= this.params.minGenderConfidence ? g.gender : 'unknown';
  }

  /** Fused age (weighted median, years, one decimal) regardless of the gate; NaN before any sample. */
  age(): number {
    return Math.round(weightedMedian(this.ages) * 10) / 10;
  }

  /** Whether `minSamples` and `minTotalWeight` are met (an estimate exists). */
  hasEstimate(): boolean {
    return this.samples >= this.params.minSamples && this.totalWeight >= this.params.minTotalWeight;
  }

  /** Fused observations in a row over which the estimate's gender label held and its age stayed within `stableAgeYears` (0 before an estimate exists). */
  stableSamples(): number {
    return this.stableRun;
  }

  /** The fused estimate once `minSamples` and `minTotalWeight` are met, else null; its gender is `unknown` below `minGenderConfidence`. */
  estimate(): PersonEstimate | null {
    if (!this.hasEstimate()) return null;
    const pm = this.maleProbability();
    const ageYears = this.age();
    const range = this.params.ageError ? ageInterval(ageYears, this.params.ageError) : undefined;
    return {
      ageYears,
      gender: this.genderLabel(),
      genderScore: Math.max(pm, 1 - pm),
      maleProbability: pm,
      ...(range ? { ageRangeYears: [Math.round(range[0] * 10) / 10, Math.round(range[1] * 10) / 10] as const } : {}),
      samples: this.samples,
    };
  }

  private updateStability(): void {
    if (!this.hasEstimate()) return;
    const now = { gender: this.genderLabel(), ageYears: this.age() };
    if (this.anchor !== null && this.anchor.gender === now.gender && Math.abs(this.anchor.ageYears - now.ageYears) <= this.params.stableAgeYears) {
      this.stableRun++;
      return;
    }
    this.anchor = now;
    this.stableRun = 1;
  }

  private pushAge(s: AgeSample): void {
    if (this.ages.length < this.params.maxAgeSamples) {
      this.ages.push(s);
      return;
    }
    let lowest = 0;
    for (let i = 1; i < this.ages.length; i++) if ((this.ages[i] as AgeSample).weight < (this.ages[lowest] as AgeSample).weight) lowest = i;
    this.droppedAgeSamples++;
    if ((this.ages[lowest] as AgeSample).weight < s.weight) this.ages[lowest] = s;
  }
}
