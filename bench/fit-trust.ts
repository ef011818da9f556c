/**
 * Fits src/infer/heads/trust.json: the gender calibrations, the age model's error distribution, the
 * fusion's quality floor and the gender reporting thresholds, on utkface-dev at several face sizes
 * (bench/lib/trust.ts), and prints each choice with its stratified 5-fold cross-validated scores.
 *
 *   npm run fit:trust -- [--faces DIR] [--limit N] [--seed N] [--concurrency N] [--cache FILE] [--quality-terms size,score,roll[,sharpness]] [--out FILE] [--no-real] [--no-write]
 *
 * After the fit it runs the shipped pipeline on the real clips of ../shared/data/videos (bench/lib/real.ts)
 * with the fitted model at every floor candidate and records what it found in the provenance
 * (`realCheck`): a check on video nobody fitted on, not a fit (`--no-real` skips it).
 *
 * `--out FILE` writes the model there instead of src/infer/heads/trust.json (to try it, e.g. with
 * `npm run bench:real -- --trust FILE`); `--quality-terms` picks the quality model's terms (default
 * size, score, roll: see DEFAULT_QUALITY_TERMS in bench/lib/trust.ts for why not sharpness).
 *
 * The collected model outputs (~15 minutes on 2 shared cores) are kept in --cache FILE (default
 * $TMPDIR/crowdlens-trust-records.json for full runs) for later runs and for `npm run bench:crowd`,
 * which refits the model without each video's faces.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_TRUST_FILE, parseTrustModel, type TrustThresholds } from '../src/infer/trust.ts';
import { ageBucketShares, ageInterval } from '../src/shared/age-error.ts';
import { AGE_BUCKETS, ageBucketOf } from '../src/shared/messages.ts';
import { headFeatures, loadGenderHead } from '../src/infer/fused-age-gender.ts';
import { parseArgs, table } from './lib/args.ts';
import { DEFAULT_FACES_DIR, REPO_ROOT, readLabels, stratifiedSubsample } from './lib/faces.ts';
import { fitLogisticL2, predictLogistic } from './lib/heads.ts';
import { REAL_CLIPS, REAL_VIDEOS_DIR, realTotals, runRealClip, type ClipRun } from './lib/real.ts';
import { AGE_BINS, ageBinOf } from './lib/stats.ts';
import {
  DEFAULT_QUALITY_TERMS,
  PERSON_TARGET_ACCURACY,
  QUALITY_TERM_NAMES,
  DEFAULT_TRUST_CACHE,
  FLOOR_ERROR_RATIO,
  GOOD_QUALITY,
  QUALITY_FLOORS,
  TRUST_SIZES,
  accuracyAtCoverage,
  answered,
  collectTrustRecords,
  fitTrustParts,
  outOfFold,
  personThresholds,
  thresholdForAccuracy,
  thresholdForCoverage,
  trustModel,
  type QualityTermName,
  type TrustFit,
  type TrustFitOptions,
  type TrustRecord,
} from './lib/trust.ts';

const K = 5;
const args = parseArgs(process.argv.slice(2), { faces: 'string', limit: 'number', seed: 'number', concurrency: 'number', cache: 'string', 'quality-terms': 'string', out: 'string', 'no-real': 'boolean', 'no-write': 'boolean' });
const qualityTermsArg = args['quality-terms'] === undefined ? DEFAULT_QUALITY_TERMS : String(args['quality-terms']).split(',').map((t) => t.trim());
for (const t of qualityTermsArg) if (!(QUALITY_TERM_NAMES as readonly string[]).includes(t)) throw new Error(`--quality-terms: unknown term ${JSON.stringify(t)} (known: ${QUALITY_TERM_NAMES.join(', ')})`);
const fitOptions: TrustFitOptions = { qualityTerms: qualityTermsArg as QualityTermName[] };
const facesDir = path.resolve(REPO_ROOT, (args.faces as string | undefined) ?? DEFAULT_FACES_DIR);
const seed = (args.seed as number | undefined) ?? 1;
const limit = args.limit as number | undefined;
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '-');
const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/** Coverage of single faces the photo threshold is set for (the issue's operating point). */
const FACE_COVERAGE = 0.9;

const all = readLabels(facesDir);
const faces = stratifiedSubsample(all, limit, seed);
log(`fit-trust: ${faces.length} of ${all.length} faces from ${facesDir}, sizes ${TRUST_SIZES.join(', ')} px`);
const records = await collectTrustRecords(faces, TRUST_SIZES, (args.concurrency as number | undefined) ?? 2, log, (args.cache as string | undefined) ?? (limit === undefined ? DEFAULT_TRUST_CACHE : undefined));

// Out-of-fold calibrated P(male) (face-api alone, and with faceres) and age models.
const oof = outOfFold(records, faces.map((f) => f.stratum), () => true, K, seed, fitOptions);
const folds = oof.folds;
const seenIdx = records.map((r, i) => (r.seen ? i : -1)).filter((i) => i >= 0);
const camera = seenIdx.filter((i) => (records[i] as TrustRecord).size < 200);

console.log(`# fit-trust: ${faces.length} faces (${path.relative(REPO_ROOT, facesDir)}) x sizes ${TRUST_SIZES.join('/')} px; ${K}-fold stratified CV by face (seed ${seed})`);
console.log(`seen by the detector (default threshold): ${TRUST_SIZES.map((s) => `${s} px ${records.filter((r) => r.size === s && r.seen).length}/${faces.length}`).join(', ')}`);

function curveRows(idx: readonly number[], p: readonly number[]): string[] {
  const pm = idx.map((i) => p[i] as number);
  const male = idx.map((i) => (records[i] as TrustRecord).male);
  return [1, 0.95, 0.9, 0.85, 0.8, 0.7].map((c) => pct(accuracyAtCoverage(pm, male, c)));
}
console.log('\n## gender accuracy (CV) of the most confident share of faces (coverage), by face size');
const curveHead = ['faces', 'n', 'cov 100%', '95%', '90%', '85%', '80%', '70%'];
const curveBody: string[][] = [];
for (const s of TRUST_SIZES) {
  const idx = seenIdx.filter((i) => (records[i] as TrustRecord).size === s);
  curveBody.push([`${s} px, face-api calibrated`, String(idx.length), ...curveRows(idx, oof.fa)], [`${s} px, + faceres`, String(idx.length), ...curveRows(idx, oof.fafr)]);
}
curveBody.push(['camera sizes, face-api calibrated', String(camera.length), ...curveRows(camera, oof.fa)], ['camera sizes, + faceres', String(camera.length), ...curveRows(camera, oof.fafr)]);
console.log(table(curveHead, curveBody));

// Calibration check: shares right on average.
console.log('\n## calibration (CV, camera sizes, face-api calibrated): predicted P(male) bin -> observed share of males');
const calRows: string[][] = [];
for (let b = 0; b < 10; b++) {
  const idx = camera.filter((i) => Math.min(9, Math.floor((oof.fa[i] as number) * 10)) === b);
  if (idx.length === 0) continue;
  calRows.push([`${(b / 10).toFixed(1)}-${((b + 1) / 10).toFixed(1)}`, String(idx.length), (idx.reduce((s, i) => s + (oof.fa[i] as number), 0) / idx.length).toFixed(3), (idx.filter((i) => (records[i] as TrustRecord).male).length / idx.length).toFixed(3)]);
}
console.log(table(['P(male)', 'n', 'mean predicted', 'observed male share'], calRows));

// Quality floor and person threshold (chosen from the out-of-fold P above), then scored with each chosen on the other folds only.
const chosen = personThresholds(records, oof);
console.log(`\n## quality model (src/infer/quality.ts): P(face-api gender right) from ${fitOptions.qualityTerms?.join(', ')}; fitted on all faces:`);
const qAll = fitTrustParts(records, () => true, 0, fitOptions).quality;
console.log(JSON.stringify(qAll));
console.log('gender accuracy (face-api calibrated, CV) by quality band (CV quality):');
console.log(table(['quality', 'n', 'accuracy', 'age MAE'], [[0, 0.2], [0.2, 0.4], [0.4, 0.5], [0.5, 0.6], [0.6, 0.7], [0.7, 0.8], [0.8, 0.9], [0.9, 1.01]].map(([lo, hi]) => {
  const idx = seenIdx.filter((i) => (oof.quality[i] as number) >= (lo as number) && (oof.quality[i] as number) < (hi as number));
  const right = idx.filter((i) => ((oof.fa[i] as number) >= 0.5) === (records[i] as TrustRecord).male).length;
  const mae = idx.reduce((a, i) => a + Math.abs(Math.max(0, (records[i] as TrustRecord).seen?.faAgeYears ?? 0) - (records[i] as TrustRecord).ageYears), 0) / Math.max(1, idx.length);
  return [`${lo}-${Math.min(1, hi as number)}`, String(idx.length), pct(idx.length ? right / idx.length : NaN), mae.toFixed(2)];
})));
console.log(`\n## quality floor: gender accuracy and age MAE (CV) of the faces below each candidate; good faces (quality >= ${GOOD_QUALITY}) have age MAE ${chosen.goodMaeYears.toFixed(2)}`);
console.log(table(['floor', 'faces below', 'gender below', 'age MAE below'], chosen.floorTable.map((t) => [String(t.floor), String(t.below), pct(t.accuracyBelow), Number.isFinite(t.maeBelowYears) ? t.maeBelowYears.toFixed(2) : '-'])));
console.log(`chosen floor ${chosen.qualityFloor} (the highest candidate with >= 20 faces below it whose age MAE is >= ${FLOOR_ERROR_RATIO}x that of good faces)`);
const floorChoice = { floor: chosen.qualityFloor };
const cameraAbove = chosen.cameraAbove;
const personThreshold = chosen.personMinGenderConfidence;
const personCv: { coverage: number; accuracy: number }[] = [];
for (let f = 0; f < K; f++) {
  const inFold = cameraAbove.filter((i) => folds[(records[i] as TrustRecord).faceIndex] === f);
  const outFold = cameraAbove.filter((i) => folds[(records[i] as TrustRecord).faceIndex] !== f);
  const t = thresholdForAccuracy(records, outFold, oof.fa, PERSON_TARGET_ACCURACY);
  personCv.push(answered(inFold.map((i) => oof.fa[i] as number), inFold.map((i) => (records[i] as TrustRecord).male), t));
}
const meanOf = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
console.log(`\n## person threshold: fused confidence ${personThreshold} (answered CV accuracy >= ${pct(PERSON_TARGET_ACCURACY)} on camera-sized faces above the floor);` +
  ` CV with the threshold chosen on the other folds: coverage ${pct(meanOf(personCv.map((c) => c.coverage)))}, accuracy ${pct(meanOf(personCv.map((c) => c.accuracy)))}`);

// Per age bin at the person threshold.
console.log('\n## per age bin at the person threshold (CV, camera sizes above the floor, face-api calibrated)');
console.log(table(['age bin', 'n', 'answered', 'accuracy answered', 'accuracy all'], [...AGE_BINS, 'all'].map((b) => {
  const idx = cameraAbove.filter((i) => b === 'all' || ageBinOf((records[i] as TrustRecord).ageYears) === b);
  const pm = idx.map((i) => oof.fa[i] as number);
  const male = idx.map((i) => (records[i] as TrustRecord).male);
  const a = answered(pm, male, personThreshold);
  return [b, String(idx.length), pct(a.coverage), pct(a.accuracy), pct(answered(pm, male, 0.5).accuracy)];
})));

// Single faces (crowdlens analyze, detect-then-crop): the `fused` head, refitted out of fold on 200 px rows.
const head = loadGenderHead();
const lambda = Number(/lambda ([0-9.]+) chosen/.exec(String(head.provenance['fit'] ?? ''))?.[1] ?? 0.03);
const photo = seenIdx.filter((i) => (records[i] as TrustRecord).size === 200 && (records[i] as TrustRecord).seen?.descriptor);
const photoX = photo.map((i) => {
  const s = (records[i] as TrustRecord).seen as NonNullable<TrustRecord['seen']>;
  return headFeatures({ faAgeYears: s.faAgeYears, faMaleProbability: s.faMaleProbability, frMaleProbability: s.frMaleProbability, descriptor: Float32Array.from(s.descriptor ?? []) });
});
const headOof = new Array<number>(records.length).fill(NaN);
const faceCv: { coverage: number; accuracy: number; threshold: number }[] = [];
for (let f = 0; f < K; f++) {
  const tr = photo.map((i, k) => (folds[(records[i] as TrustRecord).faceIndex] !== f ? k : -1)).filter((k) => k >= 0);
  const te = photo.map((i, k) => (folds[(records[i] as TrustRecord).faceIndex] === f ? k : -1)).filter((k) => k >= 0);
  log(`  head fold ${f + 1}/${K} (lambda ${lambda})`);
  const m = fitLogisticL2(tr.map((k) => photoX[k] as number[]), tr.map((k) => (records[photo[k] as number] as TrustRecord).male), lambda);
  for (const k of te) headOof[photo[k] as number] = predictLogistic(m, photoX[k] as number[]);
}
for (let f = 0; f < K; f++) {
  const inFold = photo.filter((i) => folds[(records[i] as TrustRecord).faceIndex] === f);
  const outFold = photo.filter((i) => folds[(records[i] as TrustRecord).faceIndex] !== f);
  const t = thresholdForCoverage(outFold.map((i) => headOof[i] as number), FACE_COVERAGE);
  faceCv.push({ ...answered(inFold.map((i) => headOof[i] as number), inFold.map((i) => (records[i] as TrustRecord).male), t), threshold: t });
}
const faceThreshold = thresholdForCoverage(photo.map((i) => headOof[i] as number), FACE_COVERAGE);
console.log(`\n## single-face threshold (analyze, detect-then-crop, fused head refitted out of fold, 200 px): confidence ${faceThreshold} answers ${pct(FACE_COVERAGE)} of faces;` +
  ` CV with the threshold chosen on the other folds: coverage ${pct(meanOf(faceCv.map((c) => c.coverage)))}, accuracy ${pct(meanOf(faceCv.map((c) => c.accuracy)))}`);
console.log(table(curveHead, [['200 px, fused head (CV)', String(photo.length), ...curveRows(photo, headOof)]]));

// Age error model: out-of-fold checks of the interval and the soft bucket split.
let inside = 0;
let nAge = 0;
let softRight = 0;
let hardRight = 0;
const ageFits = Array.from({ length: K }, (_, f) => fitTrustParts(records, (i) => folds[i] !== f, floorChoice.floor, fitOptions).ageError);
for (const i of cameraAbove) {
  const r = records[i] as TrustRecord;
  const model = ageFits[folds[r.faceIndex] as number] as TrustFit['ageError'];
  const est = Math.max(0, r.seen?.faAgeYears ?? 0);
  const [lo, hi] = ageInterval(est, model);
  nAge++;
  if (r.ageYears >= lo - 0.5 && r.ageYears <= hi + 0.5) inside++;
  softRight += ageBucketShares(est, model)[ageBucketOf(r.ageYears)];
  hardRight += ageBucketOf(est) === ageBucketOf(r.ageYears) ? 1 : 0;
}
console.log(`\n## age error model (CV, camera sizes above the floor): the 80% interval holds the true age for ${pct(inside / nAge)} of faces;` +
  ` mean share given to the true bucket: soft ${pct(softRight / nAge)} vs hard ${pct(hardRight / nAge)} (buckets ${AGE_BUCKETS.join(', ')})`);

const parts = fitTrustParts(records, () => true, floorChoice.floor, fitOptions);
const thresholds: TrustThresholds = { faceMinGenderConfidence: faceThreshold, personMinGenderConfidence: personThreshold, qualityFloor: floorChoice.floor };
const extra = [limit ? `--limit ${limit}` : '', seed !== 1 ? `--seed ${seed}` : '', args['quality-terms'] !== undefined ? `--quality-terms ${qualityTermsArg.join(',')}` : ''].filter(Boolean);
const cmd = `npm run fit:trust${extra.length ? ` -- ${extra.join(' ')}` : ''}`;

// A check on real video (not a fit): the shipped pipeline on the real clips with this model at each floor candidate.
let realCheck: Record<string, unknown> | undefined;
if (!args['no-real'] && existsSync(REAL_VIDEOS_DIR)) {
  const clips = REAL_CLIPS.filter((c) => c.truth !== null);
  const byFloor: Record<string, unknown> = {};
  const rows: string[][] = [];
  for (const floor of QUALITY_FLOORS) {
    const candidate = parseTrustModel(trustModel(parts, { ...thresholds, qualityFloor: floor }, {}));
    const runs: ClipRun[] = [];
    for (const clip of clips) runs.push(await runRealClip(clip, candidate));
    const t = realTotals(runs);
    log(`  real clips at floor ${floor}: ${t.estimated}/${t.pred} persons with an estimate`);
    byFloor[String(floor)] = { withEstimate: t.estimated, persons: t.pred, genderMatched: t.matched, womenMatched: t.femaleMatched, excessAnswers: t.excess, controlFalsePersons: t.controlPersons, controlFalseEstimates: t.controlEstimated };
    rows.push([`${floor}${floor === thresholds.qualityFloor ? ' (chosen)' : ''}`, `${t.estimated}/${t.pred}`, `${t.matched}/${t.truePersons}`, `${t.femaleMatched}/${t.trueFemale}`, String(t.excess), `${t.controlEstimated}/${t.controlPersons}`]);
  }
  console.log(`\n## real clips (check, not fitted on): ${clips.map((c) => c.name).join(', ')}; \`crowdlens run --no-realtime\` with this model at each floor`);
  console.log(table(['floor', 'persons with an estimate', 'true persons matched by gender', 'women matched', 'excess answers', 'control: false persons with an estimate'], rows));
  realCheck = {
    command: 'npm run bench:real -- --trust FILE --floors ... (the same runs)',
    clips: `${clips.map((c) => c.file).join(', ')} in ../shared/data/videos (truth: the data README's people and genders per clip, 13 people; the last clip has no faces)`,
    byFloor,
  };
}

const model = parseTrustModel(
  trustModel(parts, thresholds, {
    createdBy: cmd,
    createdAt: new Date().toISOString(),
    data: `${path.relative(REPO_ROOT, facesDir)} (${faces.length} faces, labels.csv) at face sizes ${TRUST_SIZES.join(', ')} px: 200 = the crop on a 100 px mid-grey border; smaller = the crop resized (cubic) into a 1280x720 noisy grey frame`,
    models: 'blazeface (analyzer default threshold, keypoints, quality), face-api age_gender flip TTA, faceres on the detector box',
    fit: {
      gender: 'logistic regression (Newton, L2 1e-3) of male on the named features, all sizes pooled; age_gender+faceres is used for faces that also got a faceres (descriptor) pass',
      ageError: 'true - estimated age quantiles (levels 0..1 by 0.05; 0 and 1 = 1st and 99th percentile) in 14 equal-count bins of the estimated age, camera sizes (< 200 px) at or above the quality floor',
      quality: `logistic regression (Newton, L2 1e-3) of "face-api gender right" on the quality terms ${qualityTermsArg.join(', ')} (src/infer/quality.ts; the others weigh 0), all sizes; score = 2 P - 1, times a yaw prior with sigma 0.25 (not fitted: no turned heads in utkface-dev)${qualityTermsArg.includes('sharpness') ? '' : '; sharpness is measured but not weighted: it does not transfer to real video (npm run bench:real prints the factor breakdown: real faces of 55-80 px read below the 10th percentile of the fit data at their size, and it follows facial texture, e.g. beards and glasses, more than blur), and on utkface-dev it adds nothing to the floor or the person threshold'}`,
      qualityFloor: `highest of {${QUALITY_FLOORS.join(', ')}} with >= 20 faces below it whose age MAE is >= ${FLOOR_ERROR_RATIO}x that of faces with quality >= ${GOOD_QUALITY} (CV quality)`,
      personMinGenderConfidence: `lowest confidence whose CV answered accuracy is >= ${PERSON_TARGET_ACCURACY} on camera-sized faces above the floor`,
      faceMinGenderConfidence: `confidence that answers ${FACE_COVERAGE} of 200 px faces under the fused head refitted out of fold (lambda ${lambda})`,
    },
    cv: {
      k: K,
      seed,
      stratified: 'age bin x gender, folds by face',
      cameraGenderAccuracyAtCoverage: Object.fromEntries([1, 0.9, 0.8].map((c) => [String(c), r4(accuracyAtCoverage(camera.map((i) => oof.fa[i] as number), camera.map((i) => (records[i] as TrustRecord).male), c))])),
      person: { coverage: r4(meanOf(personCv.map((c) => c.coverage))), accuracy: r4(meanOf(personCv.map((c) => c.accuracy))) },
      face: { coverage: r4(meanOf(faceCv.map((c) => c.coverage))), accuracy: r4(meanOf(faceCv.map((c) => c.accuracy))) },
      ageInterval80Coverage: r4(inside / nAge),
      ageTrueBucketShare: { soft: r4(softRight / nAge), hard: r4(hardRight / nAge) },
    },
    ...(realCheck ? { realCheck } : {}),
    caveat: 'utkface-dev is stratified uniformly over 9 age bins (incl. babies and the very old) and its faces are frontal web photos: the age error model carries that prior, and the calibration may be optimistic for cameras',
  }),
);
if (!args['no-write']) {
  const out = args.out !== undefined ? path.resolve(String(args.out)) : DEFAULT_TRUST_FILE;
  writeFileSync(out, `${JSON.stringify(model, null, 1)}\n`);
  console.log(`\nwrote ${path.relative(REPO_ROOT, out)}`);
}
