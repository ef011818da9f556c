/**
 * Age/gender from face-api's age_gender net and faceres together: age is face-api's (with its TTA),
 * gender comes from a linear head (src/infer/heads/gender-head.json, written by `npm run fit:heads`)
 * over features both models already produce: face-api age and gender logit, faceres gender logit and
 * faceres' 1024-d descriptor. The head is fitted on UTKFace crops (utkface-dev); it may not transfer
 * to camera footage, so streams keep the cheaper `age_gender` unless measured otherwise.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BoxXyxy, FaceAttributes } from '../shared/messages.ts';
import { FaceApiAgeGender, type AgeGenderTta } from './agegender.ts';
import { FACERES_DESCRIPTOR_SIZE, FaceresDescriber } from './faceres.ts';
import type { SessionOptions } from './session.ts';
import type { AgeGenderEstimator, RgbImage } from './types.ts';

/** The shipped gender head. */
export const DEFAULT_GENDER_HEAD_FILE = fileURLToPath(new URL('./heads/gender-head.json', import.meta.url));

/** Feature names in the order the head expects them (the descriptor's 1024 entries follow). */
export const HEAD_SCALAR_FEATURES = ['faAgeYears', 'faMaleLogit', 'frMaleLogit'] as const;
/** Length of the head's feature vector. */
export const HEAD_FEATURE_COUNT = HEAD_SCALAR_FEATURES.length + FACERES_DESCRIPTOR_SIZE;

/** A logistic gender head: P(male) = sigmoid(bias + sum w_i (x_i - mean_i) / scale_i). */
export interface GenderHead {
  readonly kind: 'logistic-gender';
  readonly features: string;
  readonly mean: readonly number[];
  readonly scale: readonly number[];
  readonly weights: readonly number[];
  readonly bias: number;
  /** Where the weights come from (data, models, CV scores, command); free-form. */
  readonly provenance: Record<string, unknown>;
}

/** What the two models say about one face: the head's inputs. */
export interface FusedFeatures {
  /** face-api age (TTA mean), unclamped. */
  readonly faAgeYears: number;
  /** face-api P(male) (TTA mean). */
  readonly faMaleProbability: number;
  /** faceres sigmoid P(male). */
  readonly frMaleProbability: number;
  /** faceres L2-normalised descriptor. */
  readonly descriptor: Float32Array;
}

/** logit clipped at P = 1e-4 / 1 - 1e-4 so a saturated probability stays finite. */
export function clippedLogit(p: number): number {
  const q = Math.min(1 - 1e-4, Math.max(1e-4, p));
  return Math.log(q / (1 - q));
}

/** The head's raw feature vector for one face (before standardisation). */
export function headFeatures(f: FusedFeatures): number[] {
  if (f.descriptor.length !== FACERES_DESCRIPTOR_SIZE) throw new RangeError(`descriptor has ${f.descriptor.length} entries, expected ${FACERES_DESCRIPTOR_SIZE}`);
  return [f.faAgeYears, clippedLogit(f.faMaleProbability), clippedLogit(f.frMaleProbability), ...f.descriptor];
}

/** Validates a parsed head; errors name the field. */
export function parseGenderHead(value: unknown, source = 'gender head'): GenderHead {
  const v = value as Partial<GenderHead> | null;
  if (!v || typeof v !== 'object') throw new Error(`${source}: expected an object`);
  if (v.kind !== 'logistic-gender') throw new Error(`${source}: kind must be "logistic-gender" (got ${JSON.stringify(v.kind)})`);
  for (const key of ['mean', 'scale', 'weights'] as const) {
    const arr = v[key];
    if (!Array.isArray(arr) || arr.length !== HEAD_FEATURE_COUNT || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`${source}: ${key} must be ${HEAD_FEATURE_COUNT} finite numbers (got ${Array.isArray(arr) ? `${arr.length} entries` : typeof arr})`);
    }
  }
  if (!(v.scale as number[]).every((x) => x > 0)) throw new Error(`${source}: scale entries must be > 0`);
  if (typeof v.bias !== 'number' || !Number.isFinite(v.bias)) throw new Error(`${source}: bias must be a finite number (got ${JSON.stringify(v.bias)})`);
  return { kind: 'logistic-gender', features: String(v.features ?? ''), mean: v.mean as number[], scale: v.scale as number[], weights: v.weights as number[], bias: v.bias, provenance: (v.provenance ?? {}) as Record<string, unknown> };
}

/** Reads and validates a head JSON file (default: the shipped one). */
export function loadGenderHead(file = DEFAULT_GENDER_HEAD_FILE): GenderHead {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`gender head ${file} cannot be read (${(err as Error).message}); write it with \`npm run fit:heads\``);
  }
  return parseGenderHead(JSON.parse(text) as unknown, file);
}

/** P(male) from the head for a raw feature vector ({@link headFeatures}). */
export function applyGenderHead(head: GenderHead, x: readonly number[]): number {
  if (x.length !== head.weights.length) throw new RangeError(`gender head: ${x.length} features, expected ${head.weights.length}`);
  let z = head.bias;
  for (let i = 0; i < x.length; i++) z += ((head.weights[i] as number) * ((x[i] as number) - (head.mean[i] as number))) / (head.scale[i] as number);
  return 1 / (1 + Math.exp(-z));
}

/** Options for {@link FusedAgeGender.create}. */
export interface FusedAgeGenderOptions {
  readonly session?: SessionOptions;
  /** face-api TTA (see {@link FaceApiAgeGender}). Default `flip`. */
  readonly tta?: AgeGenderTta;
  /** The gender head. Default: {@link DEFAULT_GENDER_HEAD_FILE}; `null` for {@link FusedAgeGender.features} only (fitting a head). */
  readonly head?: GenderHead | null;
}

/** face-api age + head gender; one faceres run per face on top of face-api's crops (its descriptor is reusable, see estimateManyWithDescriptors). */
export class FusedAgeGender implements AgeGenderEstimator {
  readonly name = 'fused';

  private constructor(
    private readonly fa: FaceApiAgeGender,
    private readonly fr: FaceresDescriber,
    readonly head: GenderHead | null,
  ) {}

  static async create(options: FusedAgeGenderOptions = {}): Promise<FusedAgeGender> {
    const session = options.session ?? {};
    const head = options.head === undefined ? loadGenderHead() : options.head;
    const fa = await FaceApiAgeGender.create({ session, tta: options.tta ?? 'flip' });
    const fr = await FaceresDescriber.create({ session });
    return new FusedAgeGender(fa, fr, head);
  }

  /** The head's inputs for each box (face-api batched, faceres one run per face); `rollDeg` rotates face-api's crops (see FaceApiAgeGender.estimateRaw). */
  async features(image: RgbImage, boxes: readonly BoxXyxy[], rollDeg?: readonly number[]): Promise<FusedFeatures[]> {
    const fa = await this.fa.estimateRaw(image, boxes, rollDeg);
    const out: FusedFeatures[] = [];
    for (const [i, box] of boxes.entries()) {
      const r = await this.fr.analyze(image, box);
      const a = fa[i];
      if (!a) throw new Error(`fused: no face-api result for box ${i}`);
      out.push({ faAgeYears: a.ageYears, faMaleProbability: a.maleProbability, frMaleProbability: r.maleProbability, descriptor: r.descriptor });
    }
    return out;
  }

  /** Attributes from precomputed {@link features}. */
  attributes(f: FusedFeatures): FaceAttributes {
    if (!this.head) throw new Error('fused: created with head null (features only); load a gender head to estimate');
    const pm = applyGenderHead(this.head, headFeatures(f));
    const male = pm > 0.5;
    // The head is a CV-fitted logistic regression: its P(male) is the calibrated one.
    return { ageYears: Math.max(0, f.faAgeYears), gender: male ? 'male' : 'female', genderScore: male ? pm : 1 - pm, maleProbability: pm };
  }

  async estimateMany(image: RgbImage, boxes: readonly BoxXyxy[], rollDeg?: readonly number[]): Promise<FaceAttributes[]> {
    return (await this.features(image, boxes, rollDeg)).map((f) => this.attributes(f));
  }

  /**
   * {@link estimateMany} plus each box's faceres descriptor (L2-normalised, 1024-d) from the same faceres
   * run the gender head used: the analyzer reuses it for re-identification instead of running faceres
   * a second time on the same box. `rollDeg` rotates face-api's crops only, so the descriptor is that of the box as given.
   */
  async estimateManyWithDescriptors(image: RgbImage, boxes: readonly BoxXyxy[], rollDeg?: readonly number[]): Promise<(FaceAttributes & { descriptor: Float32Array })[]> {
    return (await this.features(image, boxes, rollDeg)).map((f) => ({ ...this.attributes(f), descriptor: f.descriptor }));
  }

  async estimate(image: RgbImage, box: BoxXyxy): Promise<FaceAttributes> {
    const [one] = await this.estimateMany(image, [box]);
    if (!one) throw new Error('fused: no result for one box');
    return one;
  }
}
