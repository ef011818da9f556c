/**
 * The real clips of ../shared/data/videos and what its README states about each (number of people and
 * their genders), and how a `crowdlens run` summary is scored against that: bench:real and the real-clip
 * test share these. Person ids are not labelled in the data, so genders are compared as a multiset per clip.
 */
import path from 'node:path';
import type { TrustModel } from '../../src/infer/trust.ts';
import { runPipeline } from '../../src/pipeline/standalone.ts';
import { createStages } from '../../src/pipeline/stages.ts';
import { buildSummary } from '../../src/pipeline/summary.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { FaceQuality, GenderLabel } from '../../src/shared/messages.ts';
import { REPO_ROOT } from './faces.ts';

/** Where the real clips are (read-only evaluation data beside the project root). */
export const REAL_VIDEOS_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'data', 'videos');

/** One clip and its stated truth; `truth: null` when the data README states no count or genders. */
export interface RealClip {
  readonly file: string;
  /** Short name for tables. */
  readonly name: string;
  readonly truth: { readonly persons: number; readonly female: number; readonly male: number } | null;
  /** The negative control: people seen from behind, no faces. */
  readonly control?: boolean;
  /** What the truth means when it is not "distinct people" (e.g. appearances in a concatenation). */
  readonly note?: string;
}

/** The clips with faces, then the no-face control (../shared/data/README.md, "videos/"). */
export const REAL_CLIPS: readonly RealClip[] = [
  { file: 'face-demographics-walking.mp4', name: 'walking', truth: { persons: 2, female: 1, male: 1 } },
  { file: 'face-demographics-walking-and-pause.mp4', name: 'walking-and-pause', truth: { persons: 3, female: 2, male: 1 } },
  { file: 'head-pose-face-detection-female-and-male.mp4', name: 'head-pose female-and-male', truth: { persons: 2, female: 1, male: 1 } },
  { file: 'head-pose-face-detection-female.mp4', name: 'head-pose female', truth: { persons: 1, female: 1, male: 0 } },
  { file: 'head-pose-face-detection-male.mp4', name: 'head-pose male', truth: { persons: 1, female: 0, male: 1 } },
  { file: 'classroom.mp4', name: 'classroom', truth: { persons: 4, female: 0, male: 4 } },
  { file: 'short_hamilton_clip.mp4', name: 'hamilton', truth: null, note: 'stage and audience, 1 to 6+ faces, scene cuts: no stated count or genders' },
  { file: 'one-by-one-person-detection-full.mp4', name: 'control (no faces)', truth: { persons: 0, female: 0, male: 0 }, control: true },
];

/** The built-in demo clip (samples/demo/demo.mp4): five of the clips above, each followed by 1.5 s of grey. */
export const DEMO_CLIP: RealClip = {
  file: path.join(REPO_ROOT, 'samples', 'demo', 'demo.mp4'),
  name: 'demo.mp4',
  truth: { persons: 9, female: 5, male: 4 },
  note: 'truth = appearances in its 5 clips (the same people appear in several, so 5-9 distinct)',
};

/** The path of a clip (absolute files as given, others under {@link REAL_VIDEOS_DIR}). */
export function clipPath(clip: RealClip, dir = REAL_VIDEOS_DIR): string {
  return path.isAbsolute(clip.file) ? clip.file : path.join(dir, clip.file);
}

/** The part of a `crowdlens run --summary` this scoring reads (also what older versions wrote). */
export interface SummaryPersons {
  readonly uniquePersons: number;
  readonly persons: readonly { readonly id?: number; readonly ageYears: number | null; readonly gender: GenderLabel | null; readonly maleProbability?: number | null; readonly samples?: number }[];
}

/** One clip's run scored against its truth. */
export interface RealScore {
  readonly predPersons: number;
  /** Persons with an age/gender estimate (the fusion reported one). */
  readonly estimated: number;
  /** Of those, labelled female / male / unknown. */
  readonly female: number;
  readonly male: number;
  readonly unknown: number;
  /** Truth persons accounted for by an answer of their gender: sum over genders of min(answered, true). Null without truth. */
  readonly genderMatched: number | null;
  /** Answers beyond the truth's count of that gender (a wrong gender, or one person counted twice). Null without truth. */
  readonly genderExcess: number | null;
}

/** Scores one summary: counts, coverage and the answered genders against the truth as multisets. */
export function scoreSummary(summary: SummaryPersons, truth: RealClip['truth']): RealScore {
  const est = summary.persons.filter((p) => p.ageYears !== null && p.ageYears !== undefined);
  const female = est.filter((p) => p.gender === 'female').length;
  const male = est.filter((p) => p.gender === 'male').length;
  const unknown = est.length - female - male;
  return {
    predPersons: summary.uniquePersons,
    estimated: est.length,
    female,
    male,
    unknown,
    genderMatched: truth ? Math.min(female, truth.female) + Math.min(male, truth.male) : null,
    genderExcess: truth ? Math.max(0, female - truth.female) + Math.max(0, male - truth.male) : null,
  };
}

/** One face as the analyzer scored it: the detector score and the quality components. */
export interface FaceSample {
  readonly score: number;
  readonly quality: FaceQuality;
}

/** One clip's run: its score against the truth, the faces' quality components, the persons. */
export interface ClipRun {
  readonly clip: RealClip;
  readonly score: RealScore;
  readonly frames: number;
  readonly faces: FaceSample[];
  readonly wallS: number;
  readonly persons: SummaryPersons['persons'];
}

/**
 * Runs one clip the way `crowdlens run --source CLIP --no-realtime` does (the same loadConfig defaults, env
 * included, and createStages, re-identification on), with `trust` instead of the shipped trust model when given.
 */
export async function runRealClip(clip: RealClip, trust?: TrustModel): Promise<ClipRun> {
  const source = clipPath(clip);
  const logger = createLogger({ level: 'warn' });
  const faces: FaceSample[] = [];
  const config = loadConfig({ flags: { 'log.level': 'warn' } });
  const t0 = performance.now();
  const result = await runPipeline(
    { sinks: [{ onDetections: (d) => void faces.push(...d.faces.filter((f) => f.quality).map((f) => ({ score: f.score, quality: f.quality as FaceQuality }))) }] },
    { logger, stages: () => createStages({ source, sourceId: path.basename(source), realtime: false, reid: true, config, ...(trust ? { trust } : {}) }, { logger }) },
  );
  const summary = buildSummary(result);
  return { clip, score: scoreSummary(summary, clip.truth), frames: summary.frames, faces, wallS: (performance.now() - t0) / 1000, persons: summary.persons };
}

/** Totals over the clips with stated truth (the control counted apart; the demo left out). */
export interface RealTotals {
  truePersons: number;
  pred: number;
  estimated: number;
  trueFemale: number;
  trueMale: number;
  matched: number;
  excess: number;
  femaleMatched: number;
  controlPersons: number;
  controlEstimated: number;
}

export function realTotals(runs: readonly ClipRun[]): RealTotals {
  const t: RealTotals = { truePersons: 0, pred: 0, estimated: 0, trueFemale: 0, trueMale: 0, matched: 0, excess: 0, femaleMatched: 0, controlPersons: 0, controlEstimated: 0 };
  for (const r of runs) {
    if (r.clip === DEMO_CLIP || !r.clip.truth) continue;
    if (r.clip.control) {
      t.controlPersons += r.score.predPersons;
      t.controlEstimated += r.score.estimated;
      continue;
    }
    t.truePersons += r.clip.truth.persons;
    t.pred += r.score.predPersons;
    t.estimated += r.score.estimated;
    t.trueFemale += r.clip.truth.female;
    t.trueMale += r.clip.truth.male;
    t.matched += r.score.genderMatched ?? 0;
    t.excess += r.score.genderExcess ?? 0;
    t.femaleMatched += Math.min(r.score.female, r.clip.truth.female);
  }
  return t;
}
