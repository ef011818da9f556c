/**
 * Per-person fusion of age and gender over all of a person's face observations.
 *
 * Single frames are noisy: a small, side-on or low-score face gives a poor age and a coin-flip gender.
 * Each observation is weighted by face size, detector score and pose (box aspect ratio far from the
 * detector's typical one means a turned head); age is the weighted median (robust to the odd wild
 * frame), gender the weighted log-odds, discounted because consecutive video frames are not
 * independent evidence. An estimate is reported only once enough samples exist and they agree.
 * Pure: no I/O, no clock; memory per person is bounded by `maxAgeSamples`.
 */
import type { BoxXyxy, Gender, PersonEstimate } from '../shared/messages.ts';

/** Fusion parameters (all named, all defaulted in {@link DEFAULT_FUSION_PARAMS}). */
export interface FusionParams {
  /** Face side (sqrt of box area, px) at and above which size weight is 1; below it the weight is side/this. Default 96 (the age model sees 112 px crops). */
  fullWeightSidePx: number;
  /** Faces with a side below this (px) get weight 0 and are counted as ignored. Default 12. */
  minSidePx: number;
  /** The detector's typical face-box aspect ratio (width / height) for a frontal face. Default 0.9. */
  typicalAspect: number;
  /** Pose weight is exp(-0.5 (ln(aspect / typicalAspect) / aspectSigma)^2): 0.25 gives ~0.27 at aspect 0.6. Default 0.25. */
  aspectSigma: number;
  /** Detector scores at or below this give weight 0; the score weight rises linearly to 1 at score 1. Default 0.3. */
  scoreFloor: number;
  /** Samples needed before an estimate is reported (count). Default 5. */
  minSamples: number;
  /** Summed observation weight needed before an estimate is reported (so many tiny faces are not enough). Default 2. */
  minTotalWeight: number;
  /** Fused gender confidence (0.5..1) needed before an estimate is reported: the agreement gate. Default 0.75. */
  minGenderScore: number;
  /** Per-frame gender scores are clamped to this before taking log-odds, so one over-confident frame cannot dominate. Default 0.98. */
  maxFrameGenderScore: number;
  /** Age samples kept per person; when full, the lowest-weight sample is dropped (counted). Default 256. */
  maxAgeSamples: number;
}

export const DEFAULT_FUSION_PARAMS: FusionParams = Object.freeze({
  fullWeightSidePx: 96,
  minSidePx: 12,
  typicalAspect: 0.9,
  aspectSigma: 0.25,
  scoreFloor: 0.3,
  minSamples: 5,
  minTotalWeight: 2,
  minGenderScore: 0.75,
  maxFrameGenderScore: 0.98,
  maxAgeSamples: 256,
});

/** One face observation of a person. */
export interface FaceObservation {
  readonly box: BoxXyxy;
  /** Detector score, 0..1. */
  readonly score: number;
  readonly ageYears: number;
  readonly gender: Gender;
  /** Confidence of `gender`, 0.5..1. */
  readonly genderScore: number;
}

/** Throws on an invalid parameter, naming the field and the value. */
export function validateFusionParams(p: FusionParams): FusionParams {
  const positive = (name: keyof FusionParams, v: number): void => {
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`fusion param ${name} must be a finite number > 0, got ${String(v)}`);
  };
  positive('fullWeightSidePx', p.fullWeightSidePx);
  positive('typicalAspect', p.typicalAspect);
  positive('aspectSigma', p.aspectSigma);
  if (!(p.minSidePx >= 0 && p.minSidePx <= p.fullWeightSidePx)) throw new Error(`fusion param minSidePx must be within 0..fullWeightSidePx, got ${String(p.minSidePx)}`);
  if (!(p.scoreFloor >= 0 && p.scoreFloor < 1)) throw new Error(`fusion param scoreFloor must be within 0..1 (exclusive of 1), got ${String(p.scoreFloor)}`);
  if (!(Number.isInteger(p.minSamples) && p.minSamples >= 1)) throw new Error(`fusion param minSamples must be an integer >= 1, got ${String(p.minSamples)}`);
  if (!(p.minTotalWeight >= 0 && Number.isFinite(p.minTotalWeight))) throw new Error(`fusion param minTotalWeight must be a finite number >= 0, got ${String(p.minTotalWeight)}`);
  if (!(p.minGenderScore >= 0.5 && p.minGenderScore < 1)) throw new Error(`fusion param minGenderScore must be within 0.5..1 (exclusive of 1), got ${String(p.minGenderScore)}`);
  if (!(p.maxFrameGenderScore > 0.5 && p.maxFrameGenderScore < 1)) throw new Error(`fusion param maxFrameGenderScore must be within 0.5..1 (exclusive), got ${String(p.maxFrameGenderScore)}`);
  if (!(Number.isInteger(p.maxAgeSamples) && p.maxAgeSamples >= 1)) throw new Error(`fusion param maxAgeSamples must be an integer >= 1, got ${String(p.maxAgeSamples)}`);
  return p;
}

/** Merges partial params over the defaults and validates them. */
export function fusionParams(partial: Partial<FusionParams> = {}): Readonly<FusionParams> {
  return Object.freeze(validateFusionParams({ ...DEFAULT_FUSION_PARAMS, ...partial }));
}

/** Weight (0..1) of one observation: size x score x pose. */
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

/** A fusion's evidence as plain data, e.g. to carry a departed person to another process. */
export interface FusionState {
  readonly samples: number;
  readonly ignored: number;
  readonly droppedAgeSamples: number;
  readonly totalWeight: number;
  /** Weighted log-odds of male (positive) vs female. */
  readonly maleLogOdds: number;
  /** Age samples kept (at most maxAgeSamples). */
  readonly ages: readonly { readonly ageYears: number; readonly weight: number }[];
}

/** Fused state of one person; add observations, read the estimate. */
export class PersonFusion {
  readonly params: Readonly<FusionParams>;
  /** Observations fused (weight > 0). */
  samples = 0;
  /** Observations with weight 0 (too small, score at/below the floor, degenerate box, non-finite attributes). */
  ignored = 0;
  /** Age samples dropped because `maxAgeSamples` was reached (the lowest weight goes first). */
  droppedAgeSamples = 0;
  private totalWeight = 0;
  /** Weighted log-odds of male (positive) vs female. */
  private maleLogOdds = 0;
  private ages: AgeSample[] = [];

  constructor(params: Partial<FusionParams> | Readonly<FusionParams> = {}) {
    this.params = fusionParams(params);
  }

  /** Adds one observation; returns its weight (0 when ignored). */
  add(obs: FaceObservation): number {
    const weight = observationWeight(obs, this.params);
    if (weight <= 0 || !Number.isFinite(obs.ageYears) || !Number.isFinite(obs.genderScore)) {
      this.ignored++;
      return 0;
    }
    const p = Math.min(this.params.maxFrameGenderScore, Math.max(0.5, obs.genderScore));
    const logit = Math.log(p / (1 - p));
    this.maleLogOdds += weight * (obs.gender === 'male' ? logit : -logit);
    this.totalWeight += weight;
    this.samples++;
    this.pushAge({ ageYears: Math.max(0, obs.ageYears), weight });
    return weight;
  }

  /** The evidence as plain data ({@link PersonFusion.fromState} restores it). */
  toState(): FusionState {
    return { samples: this.samples, ignored: this.ignored, droppedAgeSamples: this.droppedAgeSamples, totalWeight: this.totalWeight, maleLogOdds: this.maleLogOdds, ages: this.ages.map((a) => ({ ageYears: a.ageYears, weight: a.weight })) };
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
    f.droppedAgeSamples = check('droppedAgeSamples', state.droppedAgeSamples);
    f.totalWeight = check('totalWeight', state.totalWeight);
    f.maleLogOdds = check('maleLogOdds', state.maleLogOdds, -Infinity);
    for (const [i, a] of state.ages.entries()) f.pushAge({ ageYears: check(`ages[${i}].ageYears`, a.ageYears), weight: check(`ages[${i}].weight`, a.weight) });
    return f;
  }

  /** Takes over another fusion's evidence (a returning person's earlier appearances). */
  absorb(other: PersonFusion): void {
    this.samples += other.samples;
    this.ignored += other.ignored;
    this.droppedAgeSamples += other.droppedAgeSamples;
    this.totalWeight += other.totalWeight;
    this.maleLogOdds += other.maleLogOdds;
    for (const s of other.ages) this.pushAge(s);
  }

  /**
   * Fused gender confidence of the leading gender, 0.5..1. The weighted log-odds sum is divided by
   * sqrt(total weight) (for total weight >= 1): video frames of one face are strongly correlated, so
   * n agreeing frames are worth about sqrt(n) independent ones, and disagreeing frames pull it to 0.5.
   */
  genderScore(): { gender: Gender; genderScore: number } {
    const z = this.maleLogOdds / Math.sqrt(Math.max(1, this.totalWeight));
    const pMale = 1 / (1 + Math.exp(-z));
    return z >= 0 ? { gender: 'male', genderScore: pMale } : { gender: 'female', genderScore: 1 - pMale };
  }

  /** Fused age (weighted median, years, one decimal) regardless of the gate; NaN before any sample. */
  age(): number {
    return Math.round(weightedMedian(this.ages) * 10) / 10;
  }

  /** The fused estimate once `minSamples`, `minTotalWeight` and `minGenderScore` are met, else null. */
  estimate(): PersonEstimate | null {
    const p = this.params;
    if (this.samples < p.minSamples || this.totalWeight < p.minTotalWeight) return null;
    const g = this.genderScore();
    if (g.genderScore < p.minGenderScore) return null;
    return { ageYears: this.age(), gender: g.gender, genderScore: g.genderScore, samples: this.samples };
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
