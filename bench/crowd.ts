/**
 * `npm run bench:crowd [-- --keep] [--seeds 1,2,3] [--detector NAME] [--tiles NxM] [--detect-schedule MODE] [--no-reid] [--attributes every|scheduled|both]
 *   [--trust shipped|cv] [--roll-min DEG] [--quality-floor Q] [--compare | --vs-previous] [--reps N]` (roll-min and quality-floor: ablations of roll
 *   correction and the fusion's quality floor):
 * the whole pipeline on synthetic crowd videos with exact truth (../shared/tools/make-crowd-video.py):
 * unique-person count, the age x gender table against the truth (L1 / persons), detection recall /
 * false positives, ID switches, fused vs single-frame age/gender per person, and gender accuracy
 * against coverage (answered share) for single faces and fused persons, per age bin.
 *
 * The videos are made of utkface-dev faces, on which the trust model (src/infer/heads/trust.json) is
 * fitted: with `--trust cv` (default) each video runs with a trust model refitted without that video's
 * faces (bench/lib/trust.ts, from the records `npm run fit:trust` caches; collected here if absent).
 * `--attributes both` (default) runs every video twice in one process, back to back: every face gets
 * age/gender (`every`, as before the attribute schedule) and the tracker's schedule (`scheduled`, the
 * default), and prints the accuracy of each and the ratio of age/gender runs.
 *
 * `--compare`: the same clips under several detection settings (attribute schedule on, as shipped), interleaved
 * per clip (`--reps N` times each), against the previous default (`every-frame`, tiles off): recall, detection
 * time and its ratio, MOTA/IDF1, fused age/gender, frames/s. `--vs-previous`: the defaults before the detect and
 * attribute schedules (every-frame detection, age/gender for every face) against each schedule alone and both
 * (the shipped defaults), same layout, with issue 8's combined targets checked.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/shared/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { iou } from '../src/shared/geometry.ts';
import { ageBucketOf, type BoxXyxy, type FrameDetections } from '../src/shared/messages.ts';
import { jsonlEventSink, motTrackSink, type PipelineSink } from '../src/pipeline/sinks.ts';
import { processCpuMs, runPipeline } from '../src/pipeline/standalone.ts';
import { createStages } from '../src/pipeline/stages.ts';
import { buildSummary, writeSummary, type RunSummary } from '../src/pipeline/summary.ts';
import { linearSumAssignment } from '../src/track/hungarian.ts';
import { evaluateMot } from '../src/track/mot-eval.ts';
import { motRowBox, parseMot, type MotRow } from '../src/track/mot.ts';
import { loadTrustModel, type TrustModel } from '../src/infer/trust.ts';
import { cellShares } from '../src/track/demographics.ts';
import { AGE_BINS, ageBinOf, median } from './lib/stats.ts';
import { readLabels } from './lib/faces.ts';
import { DEFAULT_TRUST_CACHE, TRUST_SIZES, accuracyAtCoverage, collectTrustRecords, fitStreamTrust } from './lib/trust.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const TOOL = path.resolve(ROOT, '..', 'shared', 'tools', 'make-crowd-video.py');
const FACES = path.resolve(ROOT, '..', 'shared', 'data', 'faces', 'utkface-dev');
/** A detection matches a truth box at IoU >= this: truth boxes are the whole pasted 200x200 crop, detector boxes are tighter. */
const MATCH_IOU = 0.3;
const SAMPLE_FPS = 5;

interface TruthPerson {
  id: number;
  age: number;
  gender: 'female' | 'male';
  size: number;
  appearances: unknown[];
}
interface Truth {
  video: { fps: number; frames: number; width: number; height: number; duration_s: number };
  unique_persons: number;
  appearances: number;
  demographics: Record<string, number>;
  persons: TruthPerson[];
}

/** Optimal one-to-one matching of boxes at IoU >= MATCH_IOU: pairs [gtIndex, detIndex]. */
function matchBoxes(gt: readonly BoxXyxy[], det: readonly BoxXyxy[]): [number, number][] {
  if (gt.length === 0 || det.length === 0) return [];
  const cost = gt.map((g) => det.map((d) => 1 - iou(g, d)));
  return linearSumAssignment(cost)
    .filter((a) => 1 - (cost[a.row]?.[a.col] ?? 1) >= MATCH_IOU)
    .map((a) => [a.row, a.col]);
}

/** One person or face scored on gender: truth, calibrated P(male), label (with abstention), true age. */
interface GenderCase {
  readonly male: boolean;
  readonly pMale: number;
  /** `unknown` when not answered. */
  readonly label: 'female' | 'male' | 'unknown';
  readonly trueAge: number;
}

interface VideoResult {
  seed: number;
  /** L1 / persons of the same persons hard-assigned (fused age's bucket, more likely gender). */
  hardL1: number;
  /** L1 / persons with the matched persons' true age (their P(male) kept), and with their true gender (their age kept). */
  l1TrueAge: number;
  l1TrueGender: number;
  frames: number;
  truthUnique: number;
  predUnique: number;
  appearances: number;
  demoL1: number;
  recall: number;
  fpPerFrame: number;
  idSwitches: number;
  idf1: number;
  mota: number;
  singleAgeMae: number;
  fusedAgeMae: number;
  singleGenderAcc: number;
  fusedGenderAcc: number;
  matchedPersons: number;
  /** Matched persons with an estimate whose gender was answered (not `unknown`). */
  answeredPersons: number;
  answeredRight: number;
  persons: GenderCase[];
  singles: GenderCase[];
  /** Faces that got age/gender / faces detected. */
  attributeRuns: number;
  faces: number;
  fps: number;
  wallS: number;
  /** Detection time per frame, ms: the detector stage plus the motion gate (wall time). */
  detectMs: number;
  /** The same as CPU time of this process, ms per frame: steadier than wall time on a shared machine. */
  detectCpuMs: number;
  /** All CPU time of this process during the run, ms per frame (ffmpeg's decoding is another process). */
  cpuPerFrameMs: number;
  skippedFrames: number;
  regionFrames: number;
}

/** Analyzer choices passed through from the command line (as `crowdlens run` flags). */
interface BenchChoices {
  readonly flags: Record<string, unknown>;
  readonly reid: boolean;
  /** false: every face gets age/gender (no attribute schedule). */
  readonly schedule: boolean;
  readonly trust: TrustModel;
  /** Ablations: the analyzer's minimum roll for roll correction, the fusion's quality floor. */
  readonly rollMin?: number;
  readonly qualityFloor?: number;
}

async function runVideo(dir: string, seed: number, choices: BenchChoices, logger: ReturnType<typeof createLogger>): Promise<VideoResult> {
  const truth = JSON.parse(readFileSync(path.join(dir, 'truth.json'), 'utf8')) as Truth;
  const gtRows = parseMot(readFileSync(path.join(dir, 'gt.txt'), 'utf8'), 'gt.txt');
  const gtByFrame = new Map<number, MotRow[]>();
  for (const r of gtRows) gtByFrame.set(r.frame, [...(gtByFrame.get(r.frame) ?? []), r]);
  const truthById = new Map(truth.persons.map((p) => [p.id, p]));

  const detections: FrameDetections[] = [];
  const collect: PipelineSink = {
    onDetections(d) {
      detections.push(d);
    },
  };
  const files = { events: path.join(dir, 'events.jsonl'), tracks: path.join(dir, 'tracks.txt'), summary: path.join(dir, 'summary.json') };
  const config = loadConfig({ flags: { ...choices.flags, 'ingest.fps': SAMPLE_FPS, 'log.level': 'warn' } });
  const t0 = performance.now();
  const c0 = processCpuMs();
  const result = await runPipeline(
    { sinks: [collect, jsonlEventSink(files.events), motTrackSink(files.tracks)] },
    { logger, stages: () => createStages({ source: path.join(dir, 'video.mp4'), sourceId: `crowd-${seed}`, realtime: false, reid: choices.reid, config, trust: choices.qualityFloor === undefined ? choices.trust : { ...choices.trust, thresholds: { ...choices.trust.thresholds, qualityFloor: choices.qualityFloor } }, ...(choices.rollMin === undefined ? {} : { analyzer: { rollCorrectionMinDeg: choices.rollMin } }), ...(choices.schedule ? {} : { tracker: { attributes: false } }) }, { logger }) },
  );
  const wallS = (performance.now() - t0) / 1000;
  const cpuMs = processCpuMs() - c0;
  const summary: RunSummary = buildSummary(result);
  await writeSummary(files.summary, summary);

  // Sampled frame seq -> truth frame (1-based at the video's rate) through the frame's timestamp.
  const gtFrameOf = (capturedAtMs: number): number => Math.round((capturedAtMs / 1000) * truth.video.fps) + 1;
  const seqToGt = new Map<number, number>();
  let gtTotal = 0;
  let tp = 0;
  let fp = 0;
  const single = new Map<number, { ageErr: number[]; genderOk: number }>();
  const singles: GenderCase[] = [];
  const faceMin = choices.trust.thresholds.faceMinGenderConfidence;
  for (const d of detections) {
    const gtFrame = gtFrameOf(d.capturedAtMs);
    seqToGt.set(d.seq + 1, gtFrame);
    const gts = gtByFrame.get(gtFrame) ?? [];
    gtTotal += gts.length;
    const pairs = matchBoxes(gts.map(motRowBox), d.faces.map((f) => f.box));
    tp += pairs.length;
    fp += d.faces.length - pairs.length;
    for (const [gi, di] of pairs) {
      const person = truthById.get((gts[gi] as MotRow).id);
      const face = d.faces[di];
      // Faces the schedule spared have no age/gender: single-frame scores are over the faces that got one.
      if (!person || !face || face.ageYears === undefined) continue;
      const s = single.get(person.id) ?? { ageErr: [], genderOk: 0 };
      s.ageErr.push(Math.abs(face.ageYears - person.age));
      if (face.gender === person.gender) s.genderOk += 1;
      single.set(person.id, s);
      const pm = face.maleProbability ?? (face.gender === 'male' ? face.genderScore : 1 - face.genderScore);
      singles.push({ male: person.gender === 'male', pMale: pm, label: Math.max(pm, 1 - pm) >= faceMin ? face.gender : 'unknown', trueAge: person.age });
    }
  }

  // Truth at the sampled frames, renumbered to the tracks' frame numbers (seq + 1).
  const gtSampled: MotRow[] = [];
  for (const [frame, gtFrame] of seqToGt) for (const r of gtByFrame.get(gtFrame) ?? []) gtSampled.push({ ...r, frame });
  const tracks = parseMot(readFileSync(files.tracks, 'utf8'), 'tracks.txt');
  const mot = evaluateMot(gtSampled, tracks, { iouThreshold: MATCH_IOU });

  // Each predicted person -> the truth person its track boxes overlap most often.
  const gtAt = new Map<number, MotRow[]>();
  for (const r of gtSampled) gtAt.set(r.frame, [...(gtAt.get(r.frame) ?? []), r]);
  const votes = new Map<number, Map<number, number>>();
  for (const t of tracks) {
    let best = 0;
    let bestId = -1;
    for (const g of gtAt.get(t.frame) ?? []) {
      const v = iou(motRowBox(g), motRowBox(t));
      if (v > best) [best, bestId] = [v, g.id];
    }
    if (best < MATCH_IOU) continue;
    const m = votes.get(t.id) ?? new Map<number, number>();
    m.set(bestId, (m.get(bestId) ?? 0) + 1);
    votes.set(t.id, m);
  }
  const fusedErr: number[] = [];
  let fusedGenderOk = 0;
  let answeredPersons = 0;
  let answeredRight = 0;
  const persons: GenderCase[] = [];
  const matchedTruth = new Set<number>();
  for (const p of summary.persons) {
    const v = votes.get(p.id);
    if (!v || p.ageYears === null || p.gender === null || p.maleProbability === null) continue;
    const truthId = [...v.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    const person = truthId === undefined ? undefined : truthById.get(truthId);
    if (!person) continue;
    matchedTruth.add(person.id);
    fusedErr.push(Math.abs(p.ageYears - person.age));
    // "gender fused" as before the abstention: the more likely gender, answered or not.
    if ((p.maleProbability >= 0.5 ? 'male' : 'female') === person.gender) fusedGenderOk += 1;
    if (p.gender !== 'unknown') {
      answeredPersons++;
      if (p.gender === person.gender) answeredRight++;
    }
    persons.push({ male: person.gender === 'male', pMale: p.maleProbability, label: p.gender, trueAge: person.age });
  }
  // Single-frame scores per truth person (mean of that person's frames), then averaged over persons,
  // so that both columns weigh every person once.
  const singlePersons = [...single.entries()].filter(([id]) => matchedTruth.has(id));
  const singleAgeMae = mean(singlePersons.map(([, s]) => mean(s.ageErr)));
  const singleGenderAcc = mean(singlePersons.map(([, s]) => s.genderOk / s.ageErr.length));

  const truthTotal = Object.values(truth.demographics).reduce((a, b) => a + b, 0);
  const keys = new Set([...Object.keys(truth.demographics), ...Object.keys(summary.demographics)]);
  let l1 = 0;
  for (const k of keys) l1 += Math.abs((summary.demographics[k] ?? 0) - (truth.demographics[k] ?? 0));

  // The same persons hard-assigned (their fused age's bucket, the more likely gender): today's table before soft counting.
  const hard: Record<string, number> = {};
  for (const p of summary.persons) {
    if (p.ageYears === null || p.maleProbability === null) continue;
    const key = `${ageBucketOf(p.ageYears)}/${p.maleProbability >= 0.5 ? 'male' : 'female'}`;
    hard[key] = (hard[key] ?? 0) + 1;
  }
  // Diagnostics: the soft table with each matched person's true age (or true gender) put in: which half of the error is whose.
  const oracle = { age: {} as Record<string, number>, gender: {} as Record<string, number> };
  for (const p of summary.persons) {
    if (p.ageYears === null || p.maleProbability === null) continue;
    const v = votes.get(p.id);
    const truthId = v ? [...v.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] : undefined;
    const person = truthId === undefined ? undefined : truthById.get(truthId);
    const byAge = cellShares({ ageYears: person ? person.age : p.ageYears, maleProbability: p.maleProbability }, person ? undefined : choices.trust.ageError);
    const byGender = cellShares({ ageYears: p.ageYears, maleProbability: person ? (person.gender === 'male' ? 1 : 0) : p.maleProbability }, choices.trust.ageError);
    for (const [k, v2] of Object.entries(byAge)) oracle.age[k] = (oracle.age[k] ?? 0) + v2;
    for (const [k, v2] of Object.entries(byGender)) oracle.gender[k] = (oracle.gender[k] ?? 0) + v2;
  }
  const l1Of = (t: Record<string, number>): number => [...new Set([...Object.keys(truth.demographics), ...Object.keys(t)])].reduce((a, k) => a + Math.abs((t[k] ?? 0) - (truth.demographics[k] ?? 0)), 0) / truthTotal;
  let hardL1 = 0;
  for (const k of new Set([...Object.keys(truth.demographics), ...Object.keys(hard)])) hardL1 += Math.abs((hard[k] ?? 0) - (truth.demographics[k] ?? 0));

  return {
    seed,
    hardL1: hardL1 / truthTotal,
    l1TrueAge: l1Of(oracle.age),
    l1TrueGender: l1Of(oracle.gender),
    frames: summary.frames,
    truthUnique: truth.unique_persons,
    predUnique: summary.uniquePersons,
    appearances: truth.appearances,
    demoL1: l1 / truthTotal,
    recall: gtTotal ? tp / gtTotal : 0,
    fpPerFrame: detections.length ? fp / detections.length : 0,
    idSwitches: mot.numSwitches,
    idf1: mot.idf1,
    mota: mot.mota,
    singleAgeMae,
    fusedAgeMae: mean(fusedErr),
    singleGenderAcc,
    fusedGenderAcc: fusedErr.length ? fusedGenderOk / fusedErr.length : 0,
    matchedPersons: fusedErr.length,
    answeredPersons,
    answeredRight,
    persons,
    singles,
    attributeRuns: result.stats.attributes,
    faces: result.stats.faces,
    fps: result.stats.fps,
    wallS,
    detectMs: (result.stats.stages.detect.totalMs + result.stats.stages.motion.totalMs) / Math.max(1, result.stats.frames),
    detectCpuMs: (result.stats.stages.detect.cpuMs + result.stats.stages.motion.cpuMs) / Math.max(1, result.stats.frames),
    cpuPerFrameMs: cpuMs / Math.max(1, result.stats.frames),
    skippedFrames: result.stats.skippedFrames,
    regionFrames: result.stats.regionFrames,
  };
}

function mean(v: readonly number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

/** Accuracy of answered cases, and coverage, per utkface age bin and overall. */
function byBin(cases: readonly GenderCase[]): string[][] {
  return [...AGE_BINS, 'all'].map((b) => {
    const c = cases.filter((x) => b === 'all' || ageBinOf(x.trueAge) === b);
    const ans = c.filter((x) => x.label !== 'unknown');
    const right = ans.filter((x) => (x.label === 'male') === x.male).length;
    const rightAll = c.filter((x) => (x.pMale >= 0.5) === x.male).length;
    return [b, String(c.length), c.length ? pct(ans.length / c.length) : '-', ans.length ? pct(right / ans.length) : '-', c.length ? pct(rightAll / c.length) : '-'];
  });
}

function curve(cases: readonly GenderCase[]): string[] {
  const pm = cases.map((c) => c.pMale);
  const male = cases.map((c) => c.male);
  return [1, 0.9, 0.8, 0.7, 0.6].map((cov) => (cases.length ? pct(accuracyAtCoverage(pm, male, cov)) : '-'));
}

/** A named setting of a comparison: `crowdlens run` flags, and whether the attribute schedule is on. */
interface Setting {
  readonly name: string;
  readonly flags: Record<string, unknown>;
  readonly schedule: boolean;
}

/** `--compare`: the previous detection default first (the ratios' denominator), then the alternatives; attribute schedule on, as shipped. */
const COMPARE_SETTINGS: readonly Setting[] = [
  { name: 'every-frame, tiles off (previous default)', flags: { 'infer.detectSchedule': 'every-frame', 'infer.tiles': 'off' }, schedule: true },
  { name: 'every-frame, tiles 2x2', flags: { 'infer.detectSchedule': 'every-frame', 'infer.tiles': '2x2' }, schedule: true },
  { name: 'gated, tiles off', flags: { 'infer.detectSchedule': 'gated', 'infer.tiles': 'off' }, schedule: true },
  { name: 'adaptive, tiles off (default)', flags: { 'infer.detectSchedule': 'adaptive', 'infer.tiles': 'off' }, schedule: true },
  { name: 'adaptive, tiles 2x2', flags: { 'infer.detectSchedule': 'adaptive', 'infer.tiles': '2x2' }, schedule: true },
];

/** `--vs-previous`: the defaults before issue 8's schedules first, then each schedule alone, then both (the shipped defaults, last). */
const PREVIOUS_SETTINGS: readonly Setting[] = [
  { name: 'previous defaults (every-frame, every face)', flags: { 'infer.detectSchedule': 'every-frame', 'infer.tiles': 'off' }, schedule: false },
  { name: 'detect schedule only (adaptive, every face)', flags: { 'infer.detectSchedule': 'adaptive', 'infer.tiles': 'off' }, schedule: false },
  { name: 'attribute schedule only (every-frame, scheduled)', flags: { 'infer.detectSchedule': 'every-frame', 'infer.tiles': 'off' }, schedule: true },
  { name: 'default (adaptive, scheduled)', flags: { 'infer.detectSchedule': 'adaptive', 'infer.tiles': 'off' }, schedule: true },
];

/** Pooled figures of one setting over the seeds (times: medians over reps, per seed, then the mean of seeds). */
interface Pooled {
  recall: number;
  fpPerFrame: number;
  detectMs: number;
  detectCpuMs: number;
  cpuPerFrameMs: number;
  mota: number;
  idf1: number;
  idSwitches: number;
  fusedAgeMae: number;
  /** The more likely gender right, over the matched persons. */
  fusedGender: number;
  persons: number;
  answered: number;
  answeredRight: number;
  attributeRuns: number;
  faces: number;
  fps: number;
  skipped: number;
  regionFrames: number;
  frames: number;
}

function pool(runs: readonly VideoResult[]): Pooled {
  const persons = runs.reduce((a, r) => a + r.matchedPersons, 0);
  const sum = (f: (r: VideoResult) => number): number => runs.reduce((a, r) => a + f(r), 0);
  return {
    recall: mean(runs.map((r) => r.recall)),
    fpPerFrame: mean(runs.map((r) => r.fpPerFrame)),
    detectMs: mean(runs.map((r) => r.detectMs)),
    detectCpuMs: mean(runs.map((r) => r.detectCpuMs)),
    cpuPerFrameMs: mean(runs.map((r) => r.cpuPerFrameMs)),
    mota: mean(runs.map((r) => r.mota)),
    idf1: mean(runs.map((r) => r.idf1)),
    idSwitches: sum((r) => r.idSwitches),
    fusedAgeMae: mean(runs.map((r) => r.fusedAgeMae)),
    fusedGender: persons ? sum((r) => r.fusedGenderAcc * r.matchedPersons) / persons : 0,
    persons,
    answered: sum((r) => r.answeredPersons),
    answeredRight: sum((r) => r.answeredRight),
    attributeRuns: sum((r) => r.attributeRuns),
    faces: sum((r) => r.faces),
    fps: mean(runs.map((r) => r.fps)),
    skipped: sum((r) => r.skippedFrames),
    regionFrames: sum((r) => r.regionFrames),
    frames: sum((r) => r.frames),
  };
}

/** The tables of `--compare` / `--vs-previous`: per seed, pooled per setting, and the targets against the first setting. */
function compareReport(settings: readonly Setting[], byRep: readonly VideoResult[][][], seeds: readonly number[], reps: number, reid: boolean, vsPrevious: boolean): void {
  // Per seed and setting: accuracy from the first rep (runs are deterministic but for timing), times as the median over reps.
  const summary = settings.map((st, i) => {
    const perSeed = seeds.map((_, k) => {
      const runs = (byRep[i] ?? []).map((rep) => rep[k] as VideoResult);
      const first = runs[0] as VideoResult;
      return { ...first, detectMs: median(runs.map((r) => r.detectMs)), detectCpuMs: median(runs.map((r) => r.detectCpuMs)), cpuPerFrameMs: median(runs.map((r) => r.cpuPerFrameMs)), fps: median(runs.map((r) => r.fps)) };
    });
    return { setting: st, perSeed, pooled: pool(perSeed) };
  });
  const base = summary[0] as (typeof summary)[number];
  const x = (v: number, b: number): string => `${(v / b).toFixed(2)}x`;
  process.stdout.write(`\nsame ${seeds.length} clips (seeds ${seeds.join(',')}), re-id ${reid ? 'on' : 'off'}, ${SAMPLE_FPS} fps, ${reps} interleaved rep(s) per setting (times: median over reps); machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, shared\n`);
  const perSeedRows: string[][] = [];
  for (const s of summary) {
    for (const [k, r] of s.perSeed.entries()) {
      const b = base.perSeed[k] as VideoResult;
      perSeedRows.push([s.setting.name, String(r.seed), pct(r.recall), r.fpPerFrame.toFixed(3), r.detectCpuMs.toFixed(1), x(r.detectCpuMs, b.detectCpuMs), pct(r.mota), pct(r.idf1), String(r.idSwitches), `${r.predUnique}/${r.truthUnique}`, r.fusedAgeMae.toFixed(2), pct(r.fusedGenderAcc), `${r.answeredPersons}/${r.matchedPersons}`, `${r.attributeRuns}/${r.faces}`, r.cpuPerFrameMs.toFixed(1), r.fps.toFixed(1), `${r.skippedFrames}/${r.regionFrames}`]);
    }
  }
  process.stdout.write(`\n${table(['setting', 'seed', 'det recall', 'FP/frame', 'detect CPU ms/frame', 'vs first', 'MOTA', 'IDF1', 'IDsw', 'unique', 'age MAE fused', 'gender fused', 'answered', 'age/gender runs', 'CPU ms/frame', 'frames/s', 'skipped/region frames'], perSeedRows)}\n`);
  const rows = summary.map((s) => {
    const p = s.pooled;
    return [
      s.setting.name, pct(p.recall), p.fpPerFrame.toFixed(3), `${p.detectCpuMs.toFixed(1)} (${x(p.detectCpuMs, base.pooled.detectCpuMs)})`, pct(p.mota), pct(p.idf1), String(p.idSwitches), p.fusedAgeMae.toFixed(2), `${pct(p.fusedGender)} of ${p.persons}`,
      `${p.answered ? pct(p.answeredRight / p.answered) : '-'} of ${p.answered}`, `${p.attributeRuns}/${p.faces}`, `${p.cpuPerFrameMs.toFixed(1)} (${x(p.cpuPerFrameMs, base.pooled.cpuPerFrameMs)})`, `${p.fps.toFixed(1)} (${x(p.fps, base.pooled.fps)})`, `${p.skipped}/${p.regionFrames} of ${p.frames}`,
    ];
  });
  process.stdout.write(`\n${table(['setting (mean of seeds)', 'det recall', 'FP/frame', 'detect CPU ms/frame (vs first)', 'MOTA', 'IDF1', 'IDsw', 'age MAE fused', 'gender fused (more likely)', 'gender answered', 'age/gender runs', 'CPU ms/frame (vs first)', 'frames/s (vs first)', 'skipped/region frames'], rows)}\n\n`);
  if (!vsPrevious) {
    for (const s of summary.slice(1)) {
      const p = s.pooled;
      const ratio = p.detectCpuMs / base.pooled.detectCpuMs;
      process.stdout.write(`${p.recall >= 0.9 && ratio <= 1.5 ? 'PASS' : 'FAIL'}  ${s.setting.name}: detection recall >= 90% at <= 1.5x the previous default's detection time (CPU): ${pct(p.recall)} at ${ratio.toFixed(2)}x (wall ${x(p.detectMs, base.pooled.detectMs)})\n`);
    }
    return;
  }
  // Issue 8 section 3, against the previous defaults: accuracy here; throughput is bench:pipeline's (frames/s here is a secondary figure).
  const b = base.pooled;
  const d = (summary[summary.length - 1] as (typeof summary)[number]).pooled;
  process.stdout.write(`${d.fusedAgeMae <= b.fusedAgeMae + 0.2 ? 'PASS' : 'FAIL'}  default: fused age MAE within +0.2 years of the previous defaults: ${d.fusedAgeMae.toFixed(2)} vs ${b.fusedAgeMae.toFixed(2)}\n`);
  process.stdout.write(`${d.fusedGender >= b.fusedGender - 0.01 ? 'PASS' : 'FAIL'}  default: fused gender (more likely gender) within -1 point: ${pct(d.fusedGender)} of ${d.persons} vs ${pct(b.fusedGender)} of ${b.persons}\n`);
  process.stdout.write(`${d.recall >= 0.9 && d.detectCpuMs <= 1.5 * b.detectCpuMs ? 'PASS' : 'FAIL'}  default: detection recall >= 90% at <= 1.5x the previous detection time (CPU): ${pct(d.recall)} at ${x(d.detectCpuMs, b.detectCpuMs)}\n`);
  process.stdout.write(`(info) default: frames/s ${x(d.fps, b.fps)} and CPU per frame ${x(d.cpuPerFrameMs, b.cpuPerFrameMs)} of the previous defaults on these clips; bench:pipeline is the throughput measurement\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      keep: { type: 'boolean' },
      seeds: { type: 'string', default: '1,2,3' },
      people: { type: 'string', default: '10' },
      duration: { type: 'string', default: '16' },
      detector: { type: 'string' },
      tiles: { type: 'string' },
      'min-score': { type: 'string' },
      'no-reid': { type: 'boolean' },
      attributes: { type: 'string', default: 'both' },
      trust: { type: 'string', default: 'cv' },
      'roll-min': { type: 'string' },
      'quality-floor': { type: 'string' },
      'detect-schedule': { type: 'string' },
      compare: { type: 'boolean' },
      'vs-previous': { type: 'boolean' },
      reps: { type: 'string', default: '1' },
    },
  });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: expected a positive integer, got ${JSON.stringify(values.reps)}`);
  if (values.compare && values['vs-previous']) throw new Error('--compare and --vs-previous: choose one');
  // The comparisons set the detect schedule, the tiles and the attribute schedule per setting themselves.
  if ((values.compare || values['vs-previous']) && (values.tiles !== undefined || values['detect-schedule'] !== undefined || values.attributes !== 'both')) {
    throw new Error(`--${values.compare ? 'compare' : 'vs-previous'} sets --tiles, --detect-schedule and --attributes per setting; drop them (got tiles ${JSON.stringify(values.tiles)}, detect-schedule ${JSON.stringify(values['detect-schedule'])}, attributes ${JSON.stringify(values.attributes)})`);
  }
  const seeds = values.seeds.split(',').map(Number);
  if (seeds.some((s) => !Number.isInteger(s))) throw new Error(`--seeds: expected comma-separated integers, got ${JSON.stringify(values.seeds)}`);
  if (!['every', 'scheduled', 'both'].includes(values.attributes)) throw new Error(`--attributes: expected every, scheduled or both, got ${JSON.stringify(values.attributes)}`);
  if (!['cv', 'shipped'].includes(values.trust)) throw new Error(`--trust: expected cv or shipped, got ${JSON.stringify(values.trust)}`);
  const modes = values.attributes === 'both' ? (['every', 'scheduled'] as const) : ([values.attributes] as ('every' | 'scheduled')[]);
  const flags = { 'infer.detector': values.detector, 'infer.tiles': values.tiles, 'infer.minScore': values['min-score'], 'infer.detectSchedule': values['detect-schedule'] };
  const comparing = values.compare ? COMPARE_SETTINGS : values['vs-previous'] ? PREVIOUS_SETTINGS : null;
  // The settings run on each clip: the comparison's, or the attribute modes with the flags as given.
  const settings: readonly Setting[] = comparing
    ? comparing.map((st) => ({ ...st, flags: { 'infer.detector': values.detector, 'infer.minScore': values['min-score'], ...st.flags } }))
    : modes.map((mode) => ({ name: mode, flags, schedule: mode === 'scheduled' }));
  const reid = !values['no-reid'];
  const shipped = loadTrustModel();
  // Leave-the-video's-faces-out trust models need the records of every utkface-dev face at every size.
  const labeled = readLabels(FACES);
  const records = values.trust === 'cv' ? await collectTrustRecords(labeled, TRUST_SIZES, 2, (m) => process.stderr.write(`${m}\n`), DEFAULT_TRUST_CACHE) : null;
  const faceIndex = new Map(labeled.map((f, i) => [path.basename(f.file), i]));
  const work = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-crowd-'));
  const logger = createLogger({ level: 'warn' });
  // byRep[setting][rep] = per-seed results
  const byRep: VideoResult[][][] = settings.map(() => Array.from({ length: reps }, () => []));
  try {
    for (const seed of seeds) {
      const dir = path.join(work, `seed-${seed}`);
      const genArgs = [TOOL, '--faces', FACES, '--out', dir, '--seed', String(seed), '--people', values.people, '--duration', values.duration, '--size', '1280x720', '--min-face', '56', '--max-face', '140', '--reentry', '0.3'];
      execFileSync('python3', genArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
      const shown = genArgs.map((a) => (a === dir ? `$TMP/seed-${seed}` : a.startsWith('/') ? path.relative(ROOT, a) : a));
      process.stdout.write(`seed ${seed}: python3 ${shown.join(' ')}\n`);
      let trust = shipped;
      if (records !== null) {
        const truth = JSON.parse(readFileSync(path.join(dir, 'truth.json'), 'utf8')) as { persons: { file: string }[] };
        const held = new Set(truth.persons.map((p) => faceIndex.get(p.file) ?? -1));
        if (held.has(-1)) throw new Error(`seed ${seed}: a truth face is not in ${FACES}/labels.csv`);
        trust = fitStreamTrust(records, labeled.map((f) => f.stratum), (i) => !held.has(i), shipped.thresholds.faceMinGenderConfidence, seed, { fittedFor: `bench:crowd seed ${seed}, without its ${held.size} faces` });
        process.stdout.write(`  trust refitted without the video's ${held.size} faces: person threshold ${trust.thresholds.personMinGenderConfidence}, quality floor ${trust.thresholds.qualityFloor}\n`);
      }
      const ablation = { ...(values['roll-min'] !== undefined ? { rollMin: Number(values['roll-min']) } : {}), ...(values['quality-floor'] !== undefined ? { qualityFloor: Number(values['quality-floor']) } : {}) };
      // Interleaved: every setting once per rep, so load on the shared machine hits them alike.
      for (let rep = 0; rep < reps; rep++) {
        for (const [i, st] of settings.entries()) {
          const r = await runVideo(dir, seed, { flags: st.flags, reid, schedule: st.schedule, trust, ...ablation }, logger);
          byRep[i]?.[rep]?.push(r);
          if (comparing) process.stdout.write(`  ${st.name}: recall ${pct(r.recall)}, detect ${r.detectCpuMs.toFixed(1)} ms CPU / ${r.detectMs.toFixed(1)} ms wall per frame, age/gender ${r.attributeRuns}/${r.faces} faces, ${r.fps.toFixed(1)} frames/s\n`);
        }
      }
    }
  } finally {
    if (values.keep) process.stdout.write(`videos, tracks, events and summaries kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }

  if (comparing) {
    compareReport(settings, byRep, seeds, reps, reid, values['vs-previous'] === true);
    return 0;
  }
  const results: Record<'every' | 'scheduled', VideoResult[]> = { every: [], scheduled: [] };
  for (const [i, mode] of modes.entries()) results[mode] = byRep[i]?.[0] ?? [];
  const config = loadConfig({ flags });
  process.stdout.write(`\ndetector ${config.infer.detector}, tiles ${config.infer.tiles}, detect schedule ${config.infer.detectSchedule}, min score ${config.infer.minScore ?? 'default'}, re-id ${reid ? 'on' : 'off'}, sampled at ${SAMPLE_FPS} fps; matches at IoU >= ${MATCH_IOU}; trust ${values.trust === 'cv' ? 'refitted per video without its faces' : 'shipped (fitted on utkface-dev, in-sample here)'}\n`);
  const head = ['attributes', 'seed', 'frames', 'unique pred/true', 'appear.', 'demo L1', 'L1 hard', 'L1 true age', 'L1 true gender', 'det recall', 'FP/frame', 'IDsw', 'IDF1', 'MOTA', 'age MAE single', 'age MAE fused', 'gender single', 'gender fused', 'answered', 'gender answered', 'persons', 'age/gender runs', 'fps'];
  const rows = modes.flatMap((mode) =>
    results[mode].map((r) => [
      mode, String(r.seed), String(r.frames), `${r.predUnique}/${r.truthUnique}`, String(r.appearances), r.demoL1.toFixed(2), r.hardL1.toFixed(2), r.l1TrueAge.toFixed(2), r.l1TrueGender.toFixed(2), pct(r.recall), r.fpPerFrame.toFixed(3), String(r.idSwitches), pct(r.idf1), pct(r.mota),
      r.singleAgeMae.toFixed(2), r.fusedAgeMae.toFixed(2), pct(r.singleGenderAcc), pct(r.fusedGenderAcc), `${r.answeredPersons}/${r.matchedPersons}`, r.answeredPersons ? pct(r.answeredRight / r.answeredPersons) : '-', String(r.matchedPersons), `${r.attributeRuns}/${r.faces}`, r.fps.toFixed(1),
    ]),
  );
  process.stdout.write(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`);

  const main = modes.includes('scheduled') ? 'scheduled' : modes[0] as 'every' | 'scheduled';
  const res = results[main];
  const persons = res.flatMap((r) => r.persons);
  const singles = res.flatMap((r) => r.singles);
  process.stdout.write(`\ngender accuracy of the most confident share (coverage), attributes ${main}:\n`);
  process.stdout.write(table(['', 'n', 'cov 100%', '90%', '80%', '70%', '60%'], [['single faces', String(singles.length), ...curve(singles)], ['fused persons', String(persons.length), ...curve(persons)]]) + '\n');
  process.stdout.write(`\nper age bin (answered = share not \`unknown\`; thresholds: face ${shipped.thresholds.faceMinGenderConfidence}, person per video):\n`);
  process.stdout.write(`fused persons\n${table(['age bin', 'n', 'answered', 'accuracy answered', 'accuracy all'], byBin(persons))}\n`);
  process.stdout.write(`single faces\n${table(['age bin', 'n', 'answered', 'accuracy answered', 'accuracy all'], byBin(singles))}\n\n`);

  const checks: [string, boolean, string][] = [];
  for (const r of res) {
    const err = Math.abs(r.predUnique - r.truthUnique) / r.truthUnique;
    checks.push([`seed ${r.seed}: unique count within 10% of truth`, err <= 0.1, `${r.predUnique} vs ${r.truthUnique} (${pct(err)} off)`]);
  }
  for (const r of res) checks.push([`seed ${r.seed}: age x gender table L1 / persons <= 0.35`, r.demoL1 <= 0.35, r.demoL1.toFixed(3)]);
  // Single-frame accuracy is over every face only when every face got age/gender (the schedule keeps a biased few).
  const base = results.every.length > 0 ? results.every : res;
  const single = mean(base.map((r) => r.singleAgeMae));
  const fused = mean(base.map((r) => r.fusedAgeMae));
  checks.push([`fused per-person age MAE >= 10% below single-frame (attributes ${base === res ? main : 'every'})`, fused <= single * 0.9, `fused ${fused.toFixed(2)} vs single ${single.toFixed(2)} years (${pct(1 - fused / single)} lower)`]);
  const ans = res.reduce((a, r) => a + r.answeredPersons, 0);
  const ansRight = res.reduce((a, r) => a + r.answeredRight, 0);
  const matched = res.reduce((a, r) => a + r.matchedPersons, 0);
  checks.push(['fused gender >= 93% on answered persons, >= 80% answered', ans > 0 && ansRight / ans >= 0.93 && ans / matched >= 0.8, `${pct(ans ? ansRight / ans : 0)} of ${ans} answered; ${ans}/${matched} = ${pct(matched ? ans / matched : 0)} answered`]);
  if (modes.length === 2) {
    const ev = results.every;
    const sc = results.scheduled;
    const runs = (rs: VideoResult[]): number => rs.reduce((a, r) => a + r.attributeRuns, 0);
    const acc = (rs: VideoResult[]): number => rs.reduce((a, r) => a + r.fusedGenderAcc * r.matchedPersons, 0) / Math.max(1, rs.reduce((a, r) => a + r.matchedPersons, 0));
    const maeE = mean(ev.map((r) => r.fusedAgeMae));
    const maeS = mean(sc.map((r) => r.fusedAgeMae));
    checks.push(['schedule: fused age MAE within +0.2 years of every-face', maeS <= maeE + 0.2, `${maeS.toFixed(2)} vs ${maeE.toFixed(2)} years`]);
    checks.push(['schedule: fused gender (more likely gender, all persons) within -1 point of every-face', acc(sc) >= acc(ev) - 0.01, `${pct(acc(sc))} vs ${pct(acc(ev))} (one person is ${pct(1 / Math.max(1, ev.reduce((a, r) => a + r.matchedPersons, 0)))})`]);
    const answeredAcc = (rs: VideoResult[]): string => {
      const n = rs.reduce((a, r) => a + r.answeredPersons, 0);
      const m = rs.reduce((a, r) => a + r.matchedPersons, 0);
      return `${pct(n ? rs.reduce((a, r) => a + r.answeredRight, 0) / n : 0)} of ${n}/${m} answered`;
    };
    process.stdout.write(`answered persons: scheduled ${answeredAcc(sc)}, every face ${answeredAcc(ev)}\n`);
    process.stdout.write(`schedule: age/gender runs ${runs(sc)} vs ${runs(ev)} (${pct(runs(sc) / Math.max(1, runs(ev)))}), median fps ${median(sc.map((r) => r.fps)).toFixed(1)} vs ${median(ev.map((r) => r.fps)).toFixed(1)} (bench:pipeline measures throughput)\n`);
  }
  for (const [name, ok, detail] of checks) process.stdout.write(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${detail}\n`);
  return 0;
}


function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:crowd failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
