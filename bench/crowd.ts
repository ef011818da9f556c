/**
 * `npm run bench:crowd [-- --keep] [--seeds 1,2,3] [--detector NAME] [--tiles NxM] [--no-reid]`: the whole pipeline on synthetic crowd videos with
 * exact truth (../shared/tools/make-crowd-video.py): unique-person count, demographics, detection
 * recall / false positives, ID switches, and fused vs single-frame age/gender per person.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/shared/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { iou } from '../src/shared/geometry.ts';
import type { BoxXyxy, FrameDetections } from '../src/shared/messages.ts';
import { jsonlEventSink, motTrackSink, type PipelineSink } from '../src/pipeline/sinks.ts';
import { runPipeline } from '../src/pipeline/standalone.ts';
import { createStages } from '../src/pipeline/stages.ts';
import { buildSummary, writeSummary, type RunSummary } from '../src/pipeline/summary.ts';
import { linearSumAssignment } from '../src/track/hungarian.ts';
import { evaluateMot } from '../src/track/mot-eval.ts';
import { motRowBox, parseMot, type MotRow } from '../src/track/mot.ts';

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

interface VideoResult {
  seed: number;
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
  wallS: number;
}

/** Analyzer choices passed through from the command line (as `crowdlens run` flags). */
interface BenchChoices {
  readonly flags: Record<string, unknown>;
  readonly reid: boolean;
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
  const result = await runPipeline(
    { sinks: [collect, jsonlEventSink(files.events), motTrackSink(files.tracks)] },
    { logger, stages: () => createStages({ source: path.join(dir, 'video.mp4'), sourceId: `crowd-${seed}`, realtime: false, reid: choices.reid, config }, { logger }) },
  );
  const wallS = (performance.now() - t0) / 1000;
  const summary: RunSummary = buildSummary(result);
  await writeSummary(files.summary, summary);

  // Sampled frame seq -> truth frame (1-based at the video's rate) through the frame's timestamp.
  const gtFrameOf = (capturedAtMs: number): number => Math.round((capturedAtMs / 1000) * truth.video.fps) + 1;
  const seqToGt = new Map<number, number>();
  let gtTotal = 0;
  let tp = 0;
  let fp = 0;
  const single = new Map<number, { ageErr: number[]; genderOk: number }>();
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
      if (!person || !face) continue;
      const s = single.get(person.id) ?? { ageErr: [], genderOk: 0 };
      s.ageErr.push(Math.abs(face.ageYears - person.age));
      if (face.gender === person.gender) s.genderOk += 1;
      single.set(person.id, s);
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
  const matchedTruth = new Set<number>();
  for (const p of summary.persons) {
    const v = votes.get(p.id);
    if (!v || p.ageYears === null || p.gender === null) continue;
    const truthId = [...v.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    const person = truthId === undefined ? undefined : truthById.get(truthId);
    if (!person) continue;
    matchedTruth.add(person.id);
    fusedErr.push(Math.abs(p.ageYears - person.age));
    if (p.gender === person.gender) fusedGenderOk += 1;
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

  return {
    seed,
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
    wallS,
  };
}

function mean(v: readonly number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
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
    },
  });
  const seeds = values.seeds.split(',').map(Number);
  if (seeds.some((s) => !Number.isInteger(s))) throw new Error(`--seeds: expected comma-separated integers, got ${JSON.stringify(values.seeds)}`);
  const choices: BenchChoices = { flags: { 'infer.detector': values.detector, 'infer.tiles': values.tiles, 'infer.minScore': values['min-score'] }, reid: !values['no-reid'] };
  const work = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-crowd-'));
  const logger = createLogger({ level: 'warn' });
  const results: VideoResult[] = [];
  try {
    for (const seed of seeds) {
      const dir = path.join(work, `seed-${seed}`);
      const genArgs = [TOOL, '--faces', FACES, '--out', dir, '--seed', String(seed), '--people', values.people, '--duration', values.duration, '--size', '1280x720', '--min-face', '56', '--max-face', '140', '--reentry', '0.3'];
      execFileSync('python3', genArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
      const shown = genArgs.map((a) => (a === dir ? `$TMP/seed-${seed}` : a.startsWith('/') ? path.relative(ROOT, a) : a));
      process.stdout.write(`seed ${seed}: python3 ${shown.join(' ')}\n`);
      results.push(await runVideo(dir, seed, choices, logger));
    }
  } finally {
    if (values.keep) process.stdout.write(`videos, tracks, events and summaries kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }

  const config = loadConfig({ flags: choices.flags });
  process.stdout.write(`\ndetector ${config.infer.detector}, tiles ${config.infer.tiles}, min score ${config.infer.minScore ?? 'default'}, re-id ${choices.reid ? 'on' : 'off'}, sampled at ${SAMPLE_FPS} fps; matches at IoU >= ${MATCH_IOU}\n`);
  const head = ['seed', 'frames', 'unique pred/true', 'appear.', 'demo L1', 'det recall', 'FP/frame', 'IDsw', 'IDF1', 'MOTA', 'age MAE single', 'age MAE fused', 'gender single', 'gender fused', 'persons', 'wall s'];
  const rows = results.map((r) => [
    String(r.seed), String(r.frames), `${r.predUnique}/${r.truthUnique}`, String(r.appearances), r.demoL1.toFixed(2), pct(r.recall), r.fpPerFrame.toFixed(3), String(r.idSwitches), pct(r.idf1), pct(r.mota),
    r.singleAgeMae.toFixed(2), r.fusedAgeMae.toFixed(2), pct(r.singleGenderAcc), pct(r.fusedGenderAcc), String(r.matchedPersons), r.wallS.toFixed(1),
  ]);
  process.stdout.write(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n\n`);

  const checks: [string, boolean, string][] = [];
  for (const r of results) {
    const err = Math.abs(r.predUnique - r.truthUnique) / r.truthUnique;
    checks.push([`seed ${r.seed}: unique count within 10% of truth`, err <= 0.1, `${r.predUnique} vs ${r.truthUnique} (${pct(err)} off)`]);
  }
  const single = mean(results.map((r) => r.singleAgeMae));
  const fused = mean(results.map((r) => r.fusedAgeMae));
  checks.push(['fused per-person age MAE >= 10% below single-frame', fused <= single * 0.9, `fused ${fused.toFixed(2)} vs single ${single.toFixed(2)} years (${pct(1 - fused / single)} lower)`]);
  const genderOk = results.reduce((a, r) => a + r.fusedGenderAcc * r.matchedPersons, 0);
  const genderN = results.reduce((a, r) => a + r.matchedPersons, 0);
  checks.push(['fused gender accuracy >= 93%', genderN > 0 && genderOk / genderN >= 0.93, `${pct(genderN ? genderOk / genderN : 0)} of ${genderN} matched persons`]);
  for (const [name, ok, detail] of checks) process.stdout.write(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${detail}\n`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:crowd failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
