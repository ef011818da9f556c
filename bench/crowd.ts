/**
 * `npm run bench:crowd [-- --keep] [--seeds 1,2,3] [--detector NAME] [--tiles NxM] [--detect-schedule MODE] [--no-reid]`:
 * the whole pipeline on synthetic crowd videos with exact truth (../shared/tools/make-crowd-video.py):
 * unique-person count, demographics, detection recall / false positives, detection time, ID switches,
 * and fused vs single-frame age/gender per person.
 * `--compare`: the same clips under several detection settings in one run, interleaved per clip
 * (`--reps N` times each), against today's defaults (`every-frame`, tiles off): recall, detection time
 * and its ratio, MOTA/IDF1, fused age/gender, frames/s.
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
import { processCpuMs, runPipeline } from '../src/pipeline/standalone.ts';
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
  /** Detection time per frame, ms: the detector stage plus the motion gate (wall time). */
  detectMs: number;
  /** The same as CPU time of this process, ms per frame: steadier than wall time on a shared machine. */
  detectCpuMs: number;
  /** All CPU time of this process during the run, ms per frame (ffmpeg's decoding is another process). */
  cpuPerFrameMs: number;
  /** Processed frames per second of wall time. */
  fps: number;
  skippedFrames: number;
  regionFrames: number;
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
  const c0 = processCpuMs();
  const result = await runPipeline(
    { sinks: [collect, jsonlEventSink(files.events), motTrackSink(files.tracks)] },
    { logger, stages: () => createStages({ source: path.join(dir, 'video.mp4'), sourceId: `crowd-${seed}`, realtime: false, reid: choices.reid, config }, { logger }) },
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
    detectMs: (result.stats.stages.detect.totalMs + result.stats.stages.motion.totalMs) / Math.max(1, result.stats.frames),
    detectCpuMs: (result.stats.stages.detect.cpuMs + result.stats.stages.motion.cpuMs) / Math.max(1, result.stats.frames),
    cpuPerFrameMs: cpuMs / Math.max(1, result.stats.frames),
    fps: result.stats.fps,
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

/** A named detection setting: `crowdlens run` flags. */
interface Setting {
  readonly name: string;
  readonly flags: Record<string, unknown>;
}

/** `--compare`: today's defaults first (the ratios' denominator), then the alternatives. */
const COMPARE_SETTINGS: readonly Setting[] = [
  { name: 'every-frame, tiles off (previous default)', flags: { 'infer.detectSchedule': 'every-frame', 'infer.tiles': 'off' } },
  { name: 'every-frame, tiles 2x2', flags: { 'infer.detectSchedule': 'every-frame', 'infer.tiles': '2x2' } },
  { name: 'gated, tiles off', flags: { 'infer.detectSchedule': 'gated', 'infer.tiles': 'off' } },
  { name: 'adaptive, tiles off (default)', flags: { 'infer.detectSchedule': 'adaptive', 'infer.tiles': 'off' } },
  { name: 'adaptive, tiles 2x2', flags: { 'infer.detectSchedule': 'adaptive', 'infer.tiles': '2x2' } },
];

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return `\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n\n`;
}

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The per-seed table of one setting, and the targets checked on it (single-setting mode). */
function report(results: readonly VideoResult[]): void {
  const head = ['seed', 'frames', 'unique pred/true', 'appear.', 'demo L1', 'det recall', 'FP/frame', 'detect CPU ms/frame', 'IDsw', 'IDF1', 'MOTA', 'age MAE single', 'age MAE fused', 'gender single', 'gender fused', 'persons', 'wall s'];
  const rows = results.map((r) => [
    String(r.seed), String(r.frames), `${r.predUnique}/${r.truthUnique}`, String(r.appearances), r.demoL1.toFixed(2), pct(r.recall), r.fpPerFrame.toFixed(3), r.detectCpuMs.toFixed(1), String(r.idSwitches), pct(r.idf1), pct(r.mota),
    r.singleAgeMae.toFixed(2), r.fusedAgeMae.toFixed(2), pct(r.singleGenderAcc), pct(r.fusedGenderAcc), String(r.matchedPersons), r.wallS.toFixed(1),
  ]);
  process.stdout.write(table(head, rows));
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
}

/** Pooled figures of one setting over the seeds (each rep's run counts once; times are medians over reps). */
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
  fusedGender: number;
  persons: number;
  fps: number;
  skipped: number;
  regionFrames: number;
  frames: number;
}

function pool(runs: readonly VideoResult[]): Pooled {
  const persons = runs.reduce((a, r) => a + r.matchedPersons, 0);
  return {
    recall: mean(runs.map((r) => r.recall)),
    fpPerFrame: mean(runs.map((r) => r.fpPerFrame)),
    detectMs: mean(runs.map((r) => r.detectMs)),
    detectCpuMs: mean(runs.map((r) => r.detectCpuMs)),
    cpuPerFrameMs: mean(runs.map((r) => r.cpuPerFrameMs)),
    mota: mean(runs.map((r) => r.mota)),
    idf1: mean(runs.map((r) => r.idf1)),
    idSwitches: runs.reduce((a, r) => a + r.idSwitches, 0),
    fusedAgeMae: mean(runs.map((r) => r.fusedAgeMae)),
    fusedGender: persons ? runs.reduce((a, r) => a + r.fusedGenderAcc * r.matchedPersons, 0) / persons : 0,
    persons,
    fps: mean(runs.map((r) => r.fps)),
    skipped: runs.reduce((a, r) => a + r.skippedFrames, 0),
    regionFrames: runs.reduce((a, r) => a + r.regionFrames, 0),
    frames: runs.reduce((a, r) => a + r.frames, 0),
  };
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
      'detect-schedule': { type: 'string' },
      'min-score': { type: 'string' },
      'no-reid': { type: 'boolean' },
      compare: { type: 'boolean' },
      reps: { type: 'string', default: '1' },
    },
  });
  const seeds = values.seeds.split(',').map(Number);
  if (seeds.some((s) => !Number.isInteger(s))) throw new Error(`--seeds: expected comma-separated integers, got ${JSON.stringify(values.seeds)}`);
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: expected a positive integer, got ${JSON.stringify(values.reps)}`);
  const base = { 'infer.detector': values.detector, 'infer.minScore': values['min-score'] };
  const settings: readonly Setting[] = values.compare
    ? COMPARE_SETTINGS.map((st) => ({ name: st.name, flags: { ...base, ...st.flags } }))
    : [{ name: 'as given', flags: { ...base, 'infer.tiles': values.tiles, 'infer.detectSchedule': values['detect-schedule'] } }];
  const reid = !values['no-reid'];
  const work = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-crowd-'));
  const logger = createLogger({ level: 'warn' });
  // results[setting][rep] = per-seed results
  const results: VideoResult[][][] = settings.map(() => Array.from({ length: reps }, () => []));
  try {
    for (const seed of seeds) {
      const dir = path.join(work, `seed-${seed}`);
      const genArgs = [TOOL, '--faces', FACES, '--out', dir, '--seed', String(seed), '--people', values.people, '--duration', values.duration, '--size', '1280x720', '--min-face', '56', '--max-face', '140', '--reentry', '0.3'];
      execFileSync('python3', genArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
      const shown = genArgs.map((a) => (a === dir ? `$TMP/seed-${seed}` : a.startsWith('/') ? path.relative(ROOT, a) : a));
      process.stdout.write(`seed ${seed}: python3 ${shown.join(' ')}\n`);
      // Interleaved: every setting once per rep, so load on the shared machine hits them alike.
      for (let rep = 0; rep < reps; rep++) {
        for (const [i, st] of settings.entries()) {
          const r = await runVideo(dir, seed, { flags: st.flags, reid }, logger);
          (results[i] as VideoResult[][])[rep]?.push(r);
          if (values.compare) process.stdout.write(`  ${st.name}: recall ${pct(r.recall)}, detect ${r.detectCpuMs.toFixed(1)} ms CPU / ${r.detectMs.toFixed(1)} ms wall per frame, ${r.fps.toFixed(1)} frames/s\n`);
        }
      }
    }
  } finally {
    if (values.keep) process.stdout.write(`videos, tracks, events and summaries kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }

  if (!values.compare) {
    const config = loadConfig({ flags: settings[0]?.flags ?? {} });
    process.stdout.write(`\ndetector ${config.infer.detector}, tiles ${config.infer.tiles}, detect schedule ${config.infer.detectSchedule}, min score ${config.infer.minScore ?? 'default'}, re-id ${reid ? 'on' : 'off'}, sampled at ${SAMPLE_FPS} fps; matches at IoU >= ${MATCH_IOU}\n`);
    report(results[0]?.[0] ?? []);
    return 0;
  }

  // Per seed and setting: accuracy from the first rep (runs are deterministic but for timing), time as the median over reps.
  const summary = settings.map((st, i) => {
    const perSeed = seeds.map((_, k) => {
      const runs = (results[i] as VideoResult[][]).map((rep) => rep[k] as VideoResult);
      const first = runs[0] as VideoResult;
      return { ...first, detectMs: median(runs.map((r) => r.detectMs)), detectCpuMs: median(runs.map((r) => r.detectCpuMs)), cpuPerFrameMs: median(runs.map((r) => r.cpuPerFrameMs)), fps: median(runs.map((r) => r.fps)) };
    });
    return { setting: st, perSeed, pooled: pool(perSeed) };
  });
  const today = summary[0] as (typeof summary)[number];
  process.stdout.write(`\nsame ${seeds.length} clips (seeds ${seeds.join(',')}), re-id ${reid ? 'on' : 'off'}, ${SAMPLE_FPS} fps, ${reps} interleaved rep(s) per setting (times: median over reps); machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, shared\n`);
  const perSeedRows: string[][] = [];
  for (const s of summary) {
    for (const [k, r] of s.perSeed.entries()) {
      const base0 = today.perSeed[k] as VideoResult;
      perSeedRows.push([s.setting.name, String(r.seed), pct(r.recall), r.fpPerFrame.toFixed(3), r.detectCpuMs.toFixed(1), `${(r.detectCpuMs / base0.detectCpuMs).toFixed(2)}x`, r.detectMs.toFixed(1), pct(r.mota), pct(r.idf1), String(r.idSwitches), `${r.predUnique}/${r.truthUnique}`, r.fusedAgeMae.toFixed(2), pct(r.fusedGenderAcc), r.cpuPerFrameMs.toFixed(1), r.fps.toFixed(1), `${r.skippedFrames}/${r.regionFrames}`]);
    }
  }
  process.stdout.write(table(['setting', 'seed', 'det recall', 'FP/frame', 'detect CPU ms/frame', 'vs today', 'detect wall ms/frame', 'MOTA', 'IDF1', 'IDsw', 'unique', 'age MAE fused', 'gender fused', 'CPU ms/frame', 'frames/s', 'skipped/region frames'], perSeedRows));
  const rows = summary.map((s) => {
    const p = s.pooled;
    return [
      s.setting.name, pct(p.recall), p.fpPerFrame.toFixed(3), p.detectCpuMs.toFixed(1), `${(p.detectCpuMs / today.pooled.detectCpuMs).toFixed(2)}x`, `${p.detectMs.toFixed(1)} (${(p.detectMs / today.pooled.detectMs).toFixed(2)}x)`,
      pct(p.mota), pct(p.idf1), String(p.idSwitches), p.fusedAgeMae.toFixed(2), `${pct(p.fusedGender)} of ${p.persons}`, `${p.cpuPerFrameMs.toFixed(1)} (${(p.cpuPerFrameMs / today.pooled.cpuPerFrameMs).toFixed(2)}x)`, `${p.fps.toFixed(1)} (${(p.fps / today.pooled.fps).toFixed(2)}x)`, `${p.skipped}/${p.regionFrames} of ${p.frames}`,
    ];
  });
  process.stdout.write(table(['setting (mean of seeds)', 'det recall', 'FP/frame', 'detect CPU ms/frame', 'vs today', 'detect wall ms/frame (vs today)', 'MOTA', 'IDF1', 'IDsw', 'age MAE fused', 'gender fused', 'CPU ms/frame (vs today)', 'frames/s (vs today)', 'skipped/region frames'], rows));
  for (const s of summary.slice(1)) {
    const p = s.pooled;
    const ratio = p.detectCpuMs / today.pooled.detectCpuMs;
    const ok = p.recall >= 0.9 && ratio <= 1.5;
    process.stdout.write(`${ok ? 'PASS' : 'FAIL'}  ${s.setting.name}: detection recall >= 90% at <= 1.5x today's detection time (CPU): ${pct(p.recall)} at ${ratio.toFixed(2)}x (wall ${(p.detectMs / today.pooled.detectMs).toFixed(2)}x)\n`);
  }
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:crowd failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
