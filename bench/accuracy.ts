/**
 * Age/gender accuracy and detector recall on a labeled face set (default ../shared/data/faces/utkface-dev).
 *
 *   npm run bench:accuracy -- [--faces DIR] [--limit N] [--detector NAME[,NAME]] [--json FILE]
 *                             [--border PX] [--no-faceres] [--fit-calibration MODE:CONFIG] [--seed N] [--concurrency N] [--no-shipped]
 *
 * Two modes: `assume-face` (the whole 200x200 crop is the face) and `detect` (each face pasted in the
 * middle of a mid-grey (128) canvas with a --border px border; the detector must find it and the
 * age/gender models run on the detector's box, scaled by a crop factor).
 * Every model is run once per face and variant (box scale x horizontal flip), then configurations
 * (flip averaging, multi-crop averaging, faceres, fusions) are scored from those raw outputs.
 * Anything fitted (age calibration, gender threshold, logistic gender fusion) is scored out-of-fold
 * with stratified 5-fold CV (seeded); raw numbers are printed beside them.
 * --fit-calibration MODE:CONFIG (e.g. assume-face:fa+flip, detect:blazeface:fa+flip) fits the age calibration of one configuration on all faces and writes
 * src/infer/calibration.json with its CV score. Progress goes to stderr, tables to stdout.
 * Last, "shipped defaults" (skip with --no-shipped): the shipped code path end to end (analyzer detector,
 * FusedAgeGender with multicrop / flip TTA, src/infer/heads/gender-head.json), raw and with the head refitted
 * by nested 5-fold CV (bench/lib/heads.ts), per bin, with PASS/FAIL against the targets. The head itself
 * is written by `npm run fit:heads` (bench/fit-heads.ts).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadImage } from '../src/infer/decode.ts';
import { ANALYZER_DEFAULTS, DETECTOR_NAMES, type DetectorName } from '../src/infer/analyzer.ts';
import { DEFAULT_CALIBRATION_FILE, applyAgeCalibration, parseAgeCalibration } from '../src/infer/calibration.ts';
import { loadGenderHead } from '../src/infer/fused-age-gender.ts';
import { loadTrustModel } from '../src/infer/trust.ts';
import type { AgeGenderEstimator, FaceDetector, RgbImage } from '../src/infer/types.ts';
import type { BoxXyxy } from '../src/shared/messages.ts';
import { iou } from '../src/shared/geometry.ts';
import { mapPool, parseArgs, table } from './lib/args.ts';
import { fitAgeCalibration } from './lib/calibrate.ts';
import { DEFAULT_FACES_DIR, REPO_ROOT, type LabeledFace, flipBox, flipHorizontal, readLabels, scaleBox, stratifiedSubsample, withBorder } from './lib/faces.ts';
import { collectHeadRecords, shippedReport } from './lib/heads.ts';
import { loadAgeGender, loadDetector, pMale } from './lib/models.ts';
import { AGE_BINS, type ErrorTable, type Scored, crossValidate, errorTable, fitLogistic, logit, sigmoid, stratifiedKFold } from './lib/stats.ts';

const K = 5;
/** Box scales tried on the whole crop in assume-face mode (> 1 is clipped to the image by the estimator). */
const ASSUME_SCALES = [1, 0.95] as const;
/**
 * Box scales tried on the detector's box in detect mode (1.1 is FaceApiAgeGender's own default boxScale;
 * the bench constructs it with boxScale 1 and applies the scale itself; multi-crop is centred on x1).
 */
const DETECT_SCALES = [0.9, 1, 1.1, 1.25, 1.4] as const;
const DETECT_BASE = 1;
/** Key of the multi-crop TTA result, computed by the shipped FaceApiAgeGender (tta 'multicrop', boxScale 1 on the base box). */
const MULTICROP = 'multicrop';
/** Thresholds at which detector recall is tabulated. */
const RECALL_THRESHOLDS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] as const;

interface Est {
  readonly age: number;
  readonly pm: number;
}
/** Raw outputs for one face box: `scale|flip` -> estimate, per model. */
interface Variants {
  readonly fa: Record<string, Est>;
  readonly fr: Record<string, Est>;
}
interface DetectRecord {
  /** Score of the detection matched to the face (0 = none at the low probe threshold). */
  readonly matchScore: number;
  readonly matchIou: number;
  /** Whether the detector's own default threshold found it. */
  readonly foundAtDefault: boolean;
  /** Detections at the default threshold that are not the face. */
  readonly falseAtDefault: number;
  /** Scores of unmatched detections at the probe threshold. */
  readonly falseScores: number[];
  readonly variants?: Variants;
}
interface FaceRecord {
  readonly face: LabeledFace;
  readonly assume: Variants;
  readonly detect: Record<string, DetectRecord>;
}

const args = parseArgs(process.argv.slice(2), {
  faces: 'string',
  limit: 'number',
  detector: 'string',
  json: 'string',
  border: 'number',
  'no-faceres': 'boolean',
  'fit-calibration': 'string',
  seed: 'number',
  concurrency: 'number',
  'no-shipped': 'boolean',
});
const facesDir = path.resolve(REPO_ROOT, (args.faces as string | undefined) ?? DEFAULT_FACES_DIR);
const seed = (args.seed as number | undefined) ?? 1;
const border = (args.border as number | undefined) ?? 100;
const detectorNames = ((args.detector as string | undefined) ?? ANALYZER_DEFAULTS.detector).split(',').map((s) => s.trim()) as DetectorName[];
for (const d of detectorNames) if (!(DETECTOR_NAMES as readonly string[]).includes(d)) throw new Error(`--detector: unknown ${JSON.stringify(d)} (choose from ${DETECTOR_NAMES.join(', ')})`);
const useFaceres = !(args['no-faceres'] as boolean | undefined);
const limit = args.limit as number | undefined;
if (limit !== undefined && !(Number.isInteger(limit) && limit >= 2 * K)) throw new Error(`--limit must be an integer >= ${2 * K} (got ${limit})`);

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

type BatchEstimator = AgeGenderEstimator & { estimateRaw?(image: RgbImage, boxes: readonly BoxXyxy[]): Promise<{ ageYears: number; maleProbability: number }[]> };

const vkey = (s: number, dx: number, dy: number, flip: 0 | 1): string => `${s}|${dx}|${dy}|${flip}`;

async function estimateAll(est: BatchEstimator, image: RgbImage, boxes: readonly BoxXyxy[]): Promise<Est[]> {
  if (est.estimateRaw) return (await est.estimateRaw(image, boxes)).map((r) => ({ age: r.ageYears, pm: r.maleProbability }));
  const out: Est[] = [];
  for (const b of boxes) {
    const r = await est.estimate(image, b);
    out.push({ age: r.ageYears, pm: pMale(r) });
  }
  return out;
}

/** fa on every scale and its mirror, fa's shipped multicrop TTA on the base box; faceres on the box and its mirror. */
async function runVariants(fa: BatchEstimator, faMulti: BatchEstimator, fr: AgeGenderEstimator | undefined, image: RgbImage, flipped: RgbImage, box: BoxXyxy, scales: readonly number[], base: number): Promise<Variants> {
  const out: Variants = { fa: {}, fr: {} };
  const clip = (b: BoxXyxy): BoxXyxy => [Math.max(0, b[0]), Math.max(0, b[1]), Math.min(image.width, b[2]), Math.min(image.height, b[3])];
  const keys: string[] = [];
  const boxes: BoxXyxy[] = [];
  for (const s of new Set([...scales, Math.round(base * 0.95 * 1000) / 1000])) {
    keys.push(vkey(s, 0, 0, 0));
    boxes.push(clip(scaleBox(box, s)));
  }
  const [multi] = await estimateAll(faMulti, image, [clip(scaleBox(box, base))]);
  out.fa[MULTICROP] = multi as Est;
  const normal = await estimateAll(fa, image, boxes);
  const mirrored = await estimateAll(fa, flipped, boxes.map((b) => flipBox(b, image.width)));
  keys.forEach((k, i) => {
    out.fa[k] = normal[i] as Est;
    out.fa[`${k.slice(0, -1)}1`] = mirrored[i] as Est;
  });
  if (fr) {
    const b = clip(box);
    const [n, f] = [await fr.estimate(image, b), await fr.estimate(flipped, flipBox(b, image.width))];
    out.fr[vkey(1, 0, 0, 0)] = { age: n.ageYears, pm: pMale(n) };
    out.fr[vkey(1, 0, 0, 1)] = { age: f.ageYears, pm: pMale(f) };
  }
  return out;
}

/** The face counts as found when a detection's centre lies inside the pasted face; the best-scoring such detection is the match. */
function match(dets: readonly { box: BoxXyxy; score: number }[], faceBox: BoxXyxy): { hit?: { box: BoxXyxy; score: number }; others: number[] } {
  let hit: { box: BoxXyxy; score: number } | undefined;
  const others: number[] = [];
  for (const d of [...dets].sort((a, b) => b.score - a.score)) {
    const cx = (d.box[0] + d.box[2]) / 2;
    const cy = (d.box[1] + d.box[3]) / 2;
    const inside = cx >= faceBox[0] && cx <= faceBox[2] && cy >= faceBox[1] && cy <= faceBox[3];
    if (inside && !hit) hit = d;
    else others.push(d.score);
  }
  return hit ? { hit, others } : { others };
}

async function collect(faces: readonly LabeledFace[]): Promise<FaceRecord[]> {
  // flip and box scale are applied here, so every variant is scored from one set of raw outputs.
  const fa = (await loadAgeGender('age_gender', {}, { flip: false, boxScale: 1 })) as BatchEstimator;
  const faMulti = (await loadAgeGender('age_gender', {}, { tta: 'multicrop', boxScale: 1 })) as BatchEstimator;
  const fr = useFaceres ? await loadAgeGender('faceres') : undefined;
  const detectors = new Map<string, FaceDetector>();
  for (const d of detectorNames) detectors.set(d, await loadDetector(d));
  const t0 = Date.now();
  return mapPool(
    faces,
    (args.concurrency as number | undefined) ?? 2,
    async (face) => {
      const image = await loadImage(face.file);
      const assume = await runVariants(fa, faMulti, fr, image, flipHorizontal(image), [0, 0, image.width, image.height], ASSUME_SCALES, 1);
      const { image: canvas, faceBox } = withBorder(image, border);
      const flippedCanvas = flipHorizontal(canvas);
      const detect: Record<string, DetectRecord> = {};
      for (const [name, det] of detectors) {
        const probe = match(await det.detect(canvas, { minScore: 0.05 }), faceBox);
        const atDefault = match(await det.detect(canvas), faceBox);
        const variants = probe.hit ? await runVariants(fa, faMulti, fr, canvas, flippedCanvas, probe.hit.box, DETECT_SCALES, DETECT_BASE) : undefined;
        detect[name] = {
          matchScore: probe.hit?.score ?? 0,
          matchIou: probe.hit ? iou(probe.hit.box, faceBox) : 0,
          foundAtDefault: atDefault.hit !== undefined,
          falseAtDefault: atDefault.others.length,
          falseScores: probe.others,
          ...(variants ? { variants } : {}),
        };
      }
      return { face, assume, detect };
    },
    (done) => {
      if (done % 50 === 0 || done === faces.length) log(`  ${done}/${faces.length} faces (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    },
  );
}

/** A configuration: how a face's raw variants become one age and one P(male). */
interface Config {
  readonly name: string;
  readonly describe: string;
  readonly age: (v: Variants) => number;
  readonly pm: (v: Variants) => number;
  /** Gender from a CV-fitted logistic fusion of these features instead of pm >= 0.5. */
  readonly fusion?: (v: Variants) => number[];
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const pick = (rec: Record<string, Est>, keys: readonly string[], f: (e: Est) => number): number => mean(keys.map((k) => f(rec[k] as Est)));

function configs(scales: readonly number[], base: number, faceres: boolean): Config[] {
  const one = [vkey(base, 0, 0, 0)];
  const flip = [vkey(base, 0, 0, 0), vkey(base, 0, 0, 1)];
  const small = Math.round(base * 0.95 * 1000) / 1000;
  const multi = [MULTICROP];
  const out: Config[] = [
    { name: 'fa', describe: `face-api age_gender, box x${base}`, age: (v) => pick(v.fa, one, (e) => e.age), pm: (v) => pick(v.fa, one, (e) => e.pm) },
    { name: 'fa+flip', describe: `fa, mean with the mirrored crop`, age: (v) => pick(v.fa, flip, (e) => e.age), pm: (v) => pick(v.fa, flip, (e) => e.pm) },
    { name: 'fa+flip+multicrop', describe: `fa, shipped tta 'multicrop' on box x${base}: mean over x{1,0.95} x 5 shifts (0, +-4% x, +-4% y) x flip = 20 crops`, age: (v) => pick(v.fa, multi, (e) => e.age), pm: (v) => pick(v.fa, multi, (e) => e.pm) },
  ];
  for (const s of new Set([...scales, small])) if (s !== base) out.push({ name: `fa+flip@x${s}`, describe: `fa+flip on box x${s}`, age: (v) => pick(v.fa, [vkey(s, 0, 0, 0), vkey(s, 0, 0, 1)], (e) => e.age), pm: (v) => pick(v.fa, [vkey(s, 0, 0, 0), vkey(s, 0, 0, 1)], (e) => e.pm) });
  if (faceres) {
    const frFlip = [vkey(1, 0, 0, 0), vkey(1, 0, 0, 1)];
    out.push(
      { name: 'faceres', describe: 'faceres age/gender', age: (v) => pick(v.fr, [vkey(1, 0, 0, 0)], (e) => e.age), pm: (v) => pick(v.fr, [vkey(1, 0, 0, 0)], (e) => e.pm) },
      { name: 'faceres+flip', describe: 'faceres, mean with mirrored', age: (v) => pick(v.fr, frFlip, (e) => e.age), pm: (v) => pick(v.fr, frFlip, (e) => e.pm) },
      {
        name: 'fa+fr(flip)',
        describe: 'age: mean of fa+flip and faceres+flip; gender: mean P(male)',
        age: (v) => (pick(v.fa, flip, (e) => e.age) + pick(v.fr, frFlip, (e) => e.age)) / 2,
        pm: (v) => (pick(v.fa, flip, (e) => e.pm) + pick(v.fr, frFlip, (e) => e.pm)) / 2,
      },
      {
        name: 'fa+fr(flip) logit',
        describe: 'age as fa+fr(flip); gender: CV logistic on logit P(male) of fa+flip, faceres+flip',
        age: (v) => (pick(v.fa, flip, (e) => e.age) + pick(v.fr, frFlip, (e) => e.age)) / 2,
        pm: (v) => (pick(v.fa, flip, (e) => e.pm) + pick(v.fr, frFlip, (e) => e.pm)) / 2,
        fusion: (v) => [logit(pick(v.fa, flip, (e) => e.pm)), logit(pick(v.fr, frFlip, (e) => e.pm))],
      },
      {
        name: 'fa multicrop, fr gender logit',
        describe: 'age: fa+flip+multicrop; gender: CV logistic on logit P(male) of fa multicrop and faceres+flip',
        age: (v) => pick(v.fa, multi, (e) => e.age),
        pm: (v) => (pick(v.fa, multi, (e) => e.pm) + pick(v.fr, frFlip, (e) => e.pm)) / 2,
        fusion: (v) => [logit(pick(v.fa, multi, (e) => e.pm)), logit(pick(v.fr, frFlip, (e) => e.pm))],
      },
      {
        name: 'fa+flip, fr gender logit',
        describe: 'age: fa+flip; gender: CV logistic fusion (as above)',
        age: (v) => pick(v.fa, flip, (e) => e.age),
        pm: (v) => (pick(v.fa, flip, (e) => e.pm) + pick(v.fr, frFlip, (e) => e.pm)) / 2,
        fusion: (v) => [logit(pick(v.fa, flip, (e) => e.pm)), logit(pick(v.fr, frFlip, (e) => e.pm))],
      },
    );
  }
  return out;
}

interface Scores {
  readonly raw: ErrorTable;
  /** Age calibration, gender threshold (or logistic fusion), each fitted out-of-fold. */
  readonly cv: ErrorTable;
  readonly cvGenderThreshold?: number;
}

/** Raw and CV-calibrated scores of one configuration over the faces that have variants. */
function score(cfg: Config, faces: readonly LabeledFace[], variants: readonly Variants[], folds: readonly number[]): Scores {
  const n = faces.length;
  const rawAge = variants.map(cfg.age);
  const rawPm = variants.map(cfg.pm);
  const raw: Scored[] = faces.map((f, i) => ({ trueAge: f.ageYears, trueMale: f.male, predAge: rawAge[i] as number, predMale: (rawPm[i] as number) >= 0.5 }));
  const truth = faces.map((f) => f.ageYears);
  const males = faces.map((f) => f.male);
  const cvAge = crossValidate(n, folds, (train) => fitAgeCalibration(train.map((i) => rawAge[i] as number), train.map((i) => truth[i] as number)), (knots, i) => applyAgeCalibration({ knots }, rawAge[i] as number));
  let cvMale: boolean[];
  let threshold: number | undefined;
  if (cfg.fusion) {
    const feats = variants.map(cfg.fusion);
    cvMale = crossValidate(n, folds, (train) => fitLogistic(train.map((i) => feats[i] as number[]), train.map((i) => males[i] as boolean)), (w, i) => {
      const f = [...(feats[i] as number[]), 1];
      return sigmoid(f.reduce((s, v, j) => s + v * (w[j] as number), 0)) >= 0.5;
    });
  } else {
    cvMale = crossValidate(n, folds, (train) => bestThreshold(train.map((i) => rawPm[i] as number), train.map((i) => males[i] as boolean)), (t, i) => (rawPm[i] as number) >= t);
    threshold = bestThreshold(rawPm, males);
  }
  const cv: Scored[] = faces.map((f, i) => ({ trueAge: f.ageYears, trueMale: f.male, predAge: cvAge[i] as number, predMale: cvMale[i] as boolean }));
  return { raw: errorTable(raw), cv: errorTable(cv), ...(threshold !== undefined ? { cvGenderThreshold: threshold } : {}) };
}

/** The P(male) threshold with the best accuracy (ties: nearest 0.5), on a 0.01 grid. */
function bestThreshold(pm: readonly number[], male: readonly boolean[]): number {
  let best = 0.5;
  let bestAcc = -1;
  for (let t = 0.2; t <= 0.8 + 1e-9; t += 0.01) {
    const acc = pm.reduce((s, p, i) => s + ((p >= t) === male[i] ? 1 : 0), 0);
    if (acc > bestAcc || (acc === bestAcc && Math.abs(t - 0.5) < Math.abs(best - 0.5))) [best, bestAcc] = [t, acc];
  }
  return Math.round(best * 100) / 100;
}

const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '-');

function summaryTable(results: readonly { cfg: Config; s: Scores }[]): string {
  return table(
    ['config', 'MAE raw', 'gender raw', 'MAE CV-cal', 'gender CV', 'bias 70+ raw', 'bias 70+ CV', 'gender 0-9 raw'],
    results.map(({ cfg, s }) => {
      const kid = (s.raw.bins['0-2'].genderAccuracy * s.raw.bins['0-2'].n + s.raw.bins['3-9'].genderAccuracy * s.raw.bins['3-9'].n) / (s.raw.bins['0-2'].n + s.raw.bins['3-9'].n);
      return [cfg.name, f2(s.raw.overall.maeYears), pct(s.raw.overall.genderAccuracy), f2(s.cv.overall.maeYears), pct(s.cv.overall.genderAccuracy), f2(s.raw.bins['70+'].biasYears), f2(s.cv.bins['70+'].biasYears), pct(kid)];
    }),
  );
}

function binTable(s: Scores): string {
  const rows = [...AGE_BINS, 'all'].map((b) => {
    const r = b === 'all' ? s.raw.overall : s.raw.bins[b as (typeof AGE_BINS)[number]];
    const c = b === 'all' ? s.cv.overall : s.cv.bins[b as (typeof AGE_BINS)[number]];
    return [b, String(r.n), f2(r.maeYears), f2(r.biasYears), pct(r.genderAccuracy), f2(c.maeYears), f2(c.biasYears), pct(c.genderAccuracy)];
  });
  return table(['age bin', 'n', 'MAE raw', 'bias raw', 'gender raw', 'MAE CV', 'bias CV', 'gender CV'], rows);
}

function best(results: readonly { cfg: Config; s: Scores }[], key: 'raw' | 'cv'): { cfg: Config; s: Scores } {
  return [...results].sort((a, b) => a.s[key].overall.maeYears - b.s[key].overall.maeYears)[0] as { cfg: Config; s: Scores };
}

async function main(): Promise<void> {
  const all = readLabels(facesDir);
  const faces = stratifiedSubsample(all, limit, seed);
  log(`accuracy: ${faces.length} of ${all.length} faces from ${facesDir}; detectors ${detectorNames.join(', ')}; faceres ${useFaceres ? 'on' : 'off'}; border ${border} px mid-grey (128)`);
  const records = await collect(faces);
  const folds = stratifiedKFold(faces.map((f) => f.stratum), K, seed);
  const json: Record<string, unknown> = { facesDir, n: faces.length, seed, k: K, border, borderFill: 'mid-grey 128', detectors: detectorNames, modes: {} };
  const modes = json.modes as Record<string, unknown>;

  console.log(`# crowdlens accuracy: ${faces.length} faces (${path.relative(REPO_ROOT, facesDir)}), ${K}-fold stratified CV (seed ${seed})`);
  console.log('# raw = model outputs as is (gender: P(male) >= 0.5); CV-cal = age calibration + gender threshold/fusion fitted on 4 folds, scored on the 5th');

  // assume-face
  const assumeResults = configs(ASSUME_SCALES, 1, useFaceres).map((cfg) => ({ cfg, s: score(cfg, faces, records.map((r) => r.assume), folds) }));
  console.log(`\n## assume-face (whole crop = face), n=${faces.length}`);
  console.log(summaryTable(assumeResults));
  for (const r of [assumeResults[0], assumeResults[1], best(assumeResults, 'cv')]) {
    if (!r) continue;
    console.log(`\n### assume-face per bin: ${r.cfg.name} (${r.cfg.describe})${r.s.cvGenderThreshold !== undefined ? `; gender threshold fitted on all: ${r.s.cvGenderThreshold}` : ''}`);
    console.log(binTable(r.s));
  }
  modes['assume-face'] = Object.fromEntries(assumeResults.map(({ cfg, s }) => [cfg.name, s]));

  // detect-then-crop
  for (const name of detectorNames) {
    const recs = records.map((r) => r.detect[name] as DetectRecord);
    const recallRows = RECALL_THRESHOLDS.map((t) => [String(t), pct(recs.filter((d) => d.matchScore >= t).length / recs.length), (recs.reduce((s, d) => s + d.falseScores.filter((x) => x >= t).length, 0) / recs.length).toFixed(3)]);
    recallRows.unshift(['default', pct(recs.filter((d) => d.foundAtDefault).length / recs.length), (recs.reduce((s, d) => s + d.falseAtDefault, 0) / recs.length).toFixed(3)]);
    const ious = recs.filter((d) => d.matchScore > 0).map((d) => d.matchIou).sort((a, b) => a - b);
    console.log(`\n## detect-then-crop: ${name} (face pasted on a ${border}px mid-grey border)`);
    console.log(`median IoU of the matched box with the whole 200x200 crop: ${f2(ious[ious.length >> 1] ?? NaN)}`);
    console.log(table(['min score', 'recall', 'false/img'], recallRows));
    const idx = recs.map((d, i) => (d.variants ? i : -1)).filter((i) => i >= 0);
    const dFaces = idx.map((i) => faces[i] as LabeledFace);
    const dVariants = idx.map((i) => (recs[i] as DetectRecord).variants as Variants);
    const dFolds = stratifiedKFold(dFaces.map((f) => f.stratum), K, seed);
    const detectResults = configs(DETECT_SCALES, DETECT_BASE, useFaceres).map((cfg) => ({ cfg, s: score(cfg, dFaces, dVariants, dFolds) }));
    console.log(`\nage/gender on the detector's box (faces found at the 0.05 probe: ${idx.length}/${faces.length}; crop = box x scale)`);
    console.log(summaryTable(detectResults));
    for (const r of [detectResults[1], best(detectResults, 'cv')]) {
      if (!r) continue;
      console.log(`\n### detect (${name}) per bin: ${r.cfg.name} (${r.cfg.describe})`);
      console.log(binTable(r.s));
    }
    modes[`detect:${name}`] = { recall: Object.fromEntries(recallRows.map((r) => [r[0], { recall: r[1], falsePerImage: r[2] }])), found: idx.length, configs: Object.fromEntries(detectResults.map(({ cfg, s }) => [cfg.name, s])) };
  }

  if (!args['no-shipped']) {
    // The shipped defaults end to end (analyzer detector, FusedAgeGender / FaceApiAgeGender TTA, the shipped head) with CV heads beside them.
    log('shipped defaults: collecting features through the shipped code path');
    const headRecords = await collectHeadRecords(faces, border, (args.concurrency as number | undefined) ?? 2, log);
    const shipped = shippedReport(headRecords, useFaceres ? loadGenderHead() : null, K, seed, log, undefined, loadTrustModel().thresholds.faceMinGenderConfidence);
    console.log(shipped.text);
    modes['shipped'] = shipped.cvByMode;
  }

  const fitName = args['fit-calibration'] as string | undefined;
  if (fitName) writeCalibration(fitName, faces, records, folds);
  if (args.json) {
    writeFileSync(path.resolve(args.json as string), JSON.stringify(json, null, 2));
    log(`wrote ${String(args.json)}`);
  }
}

/**
 * --fit-calibration MODE:CONFIG (e.g. `detect:blazeface:fa+flip@x1.3` or `assume-face:fa+flip`):
 * fits the age map on every face of that configuration and writes it with its CV score.
 */
function writeCalibration(spec: string, faces: readonly LabeledFace[], records: readonly FaceRecord[], folds: readonly number[]): void {
  const m = /^(assume-face|detect:([a-z_0-9]+)):(.+)$/.exec(spec);
  if (!m) throw new Error(`--fit-calibration: expected assume-face:CONFIG or detect:DETECTOR:CONFIG (got ${JSON.stringify(spec)})`);
  const det = m[2];
  const cfgName = m[3] as string;
  const idx = faces.map((_, i) => i).filter((i) => !det || (records[i] as FaceRecord).detect[det]?.variants);
  const vs = idx.map((i) => (det ? ((records[i] as FaceRecord).detect[det] as DetectRecord).variants : (records[i] as FaceRecord).assume) as Variants);
  const fs = idx.map((i) => faces[i] as LabeledFace);
  const cfg = configs(det ? DETECT_SCALES : ASSUME_SCALES, det ? DETECT_BASE : 1, useFaceres).find((c) => c.name === cfgName);
  if (!cfg) throw new Error(`--fit-calibration: unknown configuration ${JSON.stringify(cfgName)}`);
  const f = det ? stratifiedKFold(fs.map((x) => x.stratum), K, seed) : folds;
  const s = score(cfg, fs, vs, f);
  const knots = fitAgeCalibration(vs.map(cfg.age), fs.map((x) => x.ageYears));
  const calibration = parseAgeCalibration({
    kind: 'age-piecewise-linear',
    appliesTo: `${cfg.name}: ${cfg.describe}`,
    knots,
    provenance: {
      createdBy: `npm run bench:accuracy -- --fit-calibration ${spec}${limit ? ` --limit ${limit}` : ''}`,
      data: `${path.relative(REPO_ROOT, facesDir)} (${fs.length} faces; labels.csv)`,
      mode: det ? `detect-then-crop with ${det}, face on a ${border}px mid-grey border` : 'assume-face (whole crop)',
      fit: 'equal-count bins (16) of raw age, median true age per bin, pool-adjacent-violators; linear between knots, slope 1 beyond',
      cv: { k: K, stratified: 'age bin x gender', seed, maeRawYears: round2(s.raw.overall.maeYears), maeCalibratedYears: round2(s.cv.overall.maeYears), bias70PlusRawYears: round2(s.raw.bins['70+'].biasYears), bias70PlusCalibratedYears: round2(s.cv.bins['70+'].biasYears) },
      caveat: 'utkface-dev is stratified uniformly over 9 age bins; the map pulls ages towards that prior',
    },
  });
  writeFileSync(DEFAULT_CALIBRATION_FILE, `${JSON.stringify(calibration, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(REPO_ROOT, DEFAULT_CALIBRATION_FILE)} for ${spec}: CV MAE ${f2(s.cv.overall.maeYears)} (raw ${f2(s.raw.overall.maeYears)}), ${knots.length} knots`);
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

await main();
