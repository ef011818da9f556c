/**
 * Fits the gender head of src/infer/fused-age-gender.ts on utkface-dev and writes
 * src/infer/heads/gender-head.json with its provenance, then prints the shipped-defaults table.
 *
 *   npm run fit:heads -- [--faces DIR] [--limit N] [--seed N] [--border PX] [--concurrency N] [--no-write]
 *
 * Features come from the shipped code path (FusedAgeGender.features; the analyzer's detector for the
 * bordered faces). The penalty is chosen by 5-fold CV over all faces for the shipped head; the scores
 * printed are nested CV (penalty chosen inside each outer training split), never on fitted faces.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_GENDER_HEAD_FILE, HEAD_SCALAR_FEATURES, parseGenderHead } from '../src/infer/fused-age-gender.ts';
import { parseArgs } from './lib/args.ts';
import { DEFAULT_FACES_DIR, REPO_ROOT, type LabeledFace, readLabels, stratifiedSubsample } from './lib/faces.ts';
import { type HeadRecord, collectHeadRecords, fitLogisticL2, headRows, selectLambda, shippedReport } from './lib/heads.ts';
import type { FusedFeatures } from '../src/infer/fused-age-gender.ts';

type Plain = Omit<FusedFeatures, 'descriptor'> & { descriptor: number[] };
function writeRecords(file: string, records: readonly HeadRecord[]): void {
  const plain = (f: FusedFeatures): Plain => ({ ...f, descriptor: Array.from(f.descriptor) });
  writeFileSync(file, JSON.stringify(records.map((r) => ({ file: r.face.file, assume: plain(r.assume), ...(r.detect ? { detect: plain(r.detect) } : {}) }))));
}
function readRecords(file: string, faces: readonly LabeledFace[]): HeadRecord[] {
  const rows = JSON.parse(readFileSync(file, 'utf8')) as { file: string; assume: Plain; detect?: Plain }[];
  const feat = (p: Plain): FusedFeatures => ({ ...p, descriptor: Float32Array.from(p.descriptor) });
  if (rows.length !== faces.length || rows.some((r, i) => r.file !== faces[i]?.file)) throw new Error(`--cache ${file}: collected for other faces; delete it`);
  return rows.map((r, i) => ({ face: faces[i] as LabeledFace, assume: feat(r.assume), ...(r.detect ? { detect: feat(r.detect) } : {}) }));
}

const K = 5;
const args = parseArgs(process.argv.slice(2), { faces: 'string', limit: 'number', seed: 'number', border: 'number', concurrency: 'number', 'no-write': 'boolean', cache: 'string' });
const facesDir = path.resolve(REPO_ROOT, (args.faces as string | undefined) ?? DEFAULT_FACES_DIR);
const seed = (args.seed as number | undefined) ?? 1;
const border = (args.border as number | undefined) ?? 100;
const limit = args.limit as number | undefined;
if (limit !== undefined && !(Number.isInteger(limit) && limit >= 2 * K * K)) throw new Error(`--limit must be an integer >= ${2 * K * K} (got ${limit})`);
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

const all = readLabels(facesDir);
const faces = stratifiedSubsample(all, limit, seed);
log(`fit-heads: ${faces.length} of ${all.length} faces from ${facesDir}`);
// --cache FILE: reuse features collected by an earlier run with the same faces (iteration on the fit only).
const cacheFile = args.cache as string | undefined;
const records = cacheFile && existsSync(cacheFile) ? readRecords(cacheFile, faces) : await collectHeadRecords(faces, border, (args.concurrency as number | undefined) ?? 2, log);
if (cacheFile && !existsSync(cacheFile)) writeRecords(cacheFile, records);
const rows = headRows(records);
const strata = records.map((r) => r.face.stratum);
const sel = selectLambda(rows, strata, K, seed);
log(`lambda for the shipped head: ${sel.lambda} (5-fold CV accuracy per lambda: ${JSON.stringify(sel.innerAccuracy)})`);
const model = fitLogisticL2(rows.map((r) => r.x), rows.map((r) => r.male), sel.lambda);
const command = `npm run fit:heads${limit ? ` -- --limit ${limit}` : ''}${seed !== 1 ? ` --seed ${seed}` : ''}`;
const draft = parseGenderHead({ kind: 'logistic-gender', features: '', ...model, provenance: {} });
const report = shippedReport(records, draft, K, seed, log);
const r2 = (v: number): number => Math.round(v * 1e4) / 1e4;
const cv = Object.fromEntries(Object.entries(report.cvByMode).map(([mode, t]) => [mode, { n: t.overall.n, maeYears: r2(t.overall.maeYears), genderAccuracy: r2(t.overall.genderAccuracy), genderAccuracyByBin: Object.fromEntries(Object.entries(t.bins).map(([b, row]) => [b, r2(row.genderAccuracy)])) }]));
const head = {
  kind: 'logistic-gender',
  features: `${HEAD_SCALAR_FEATURES.join(', ')} (logits clipped at 1e-4), faceres descriptor[0..1023]; standardised with mean/scale`,
  provenance: {
    createdBy: command,
    createdAt: new Date().toISOString(),
    data: `${path.relative(REPO_ROOT, facesDir)} (${faces.length} faces, labels.csv; rows: each face whole-crop with face-api multicrop TTA, and on a ${border}px mid-grey border via the analyzer's detector with flip TTA: ${rows.length} rows)`,
    models: 'models/onnx/age_gender.onnx (face-api 1.7.15 AgeGenderNet), models/onnx/faceres.onnx (@vladmandic/human 3.3.6 HSE-FaceRes)',
    fit: `L2 logistic regression (mean log-loss + lambda/2 |w|^2 on the descriptor weights; bias and the 3 scalar features unpenalised), Nesterov gradient descent 200 steps; lambda ${sel.lambda} chosen by stratified ${K}-fold CV over faces from {${Object.keys(sel.innerAccuracy).join(', ')}}`,
    cv: { k: K, stratified: 'age bin x gender, folds by face', seed, nested: 'lambda chosen inside each outer training split', ...cv },
    caveat: 'fitted to UTKFace crops (aligned, frontal, web photos); it may not transfer to surveillance cameras',
  },
  mean: model.mean.map((v) => Number(v.toPrecision(7))),
  scale: model.scale.map((v) => Number(v.toPrecision(7))),
  weights: model.weights.map((v) => Number(v.toPrecision(7))),
  bias: Number(model.bias.toPrecision(7)),
};
parseGenderHead(head);
console.log(`# fit-heads: ${faces.length} faces (${path.relative(REPO_ROOT, facesDir)})`);
console.log(report.text);
if (!args['no-write']) {
  writeFileSync(DEFAULT_GENDER_HEAD_FILE, `${JSON.stringify(head)}\n`);
  console.log(`\nwrote ${path.relative(REPO_ROOT, DEFAULT_GENDER_HEAD_FILE)} (lambda ${sel.lambda})`);
}
