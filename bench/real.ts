/**
 * `npm run bench:real [-- --clips NAME,...] [--demo] [--trust FILE] [--quality-floor Q] [--floors Q,Q,...] [--cli DIR] [--no-factors]`
 *
 * The shipped pipeline (`crowdlens run --no-realtime`, default settings: the same loadConfig and
 * createStages as the CLI) on the real clips of ../shared/data/videos, scored against what the data's
 * README states per clip: the number of people and their genders (bench/lib/real.ts). Per clip: unique
 * persons (predicted / true), persons with an estimate (coverage), the answered genders against the
 * truth as a multiset (ids are not labelled), and on the no-face control the false persons. A small
 * evaluation: 7 clips with 13 stated people (one more clip without stated truth), a few seconds each.
 *
 * It also prints the quality model's factor breakdown (src/infer/quality.ts): per clip and, from the
 * records `npm run fit:trust` caches, per utkface-dev face size, the median contribution of each term
 * (size, detector score, roll, sharpness) to the quality logit, the yaw prior and the share of faces at
 * or above the fusion's floor: why real faces score as they do.
 *
 * - `--trust FILE`: a trust model other than the shipped src/infer/heads/trust.json (e.g. one written by
 *   `npm run fit:trust -- --out FILE`); `--quality-floor Q` overrides its fusion floor.
 * - `--floors 0,0.2,0.4`: also sweeps the fusion floor (every clip once per floor) and prints coverage and
 *   gender per floor.
 * - `--cli DIR`: instead of this checkout, runs `node DIR/bin/crowdlens.js run --source CLIP --no-realtime
 *   --summary ...` of another checkout (e.g. a commit before the trust work) and scores its summaries.
 * - `--demo`: adds samples/demo/demo.mp4 (five of the clips concatenated; not in the totals).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { qualityTerms, type QualityModel } from '../src/infer/quality.ts';
import { loadTrustModel, type TrustModel } from '../src/infer/trust.ts';
import { parseArgs } from './lib/args.ts';
import { REPO_ROOT } from './lib/faces.ts';
import { DEMO_CLIP, REAL_CLIPS, clipPath, realTotals, runRealClip, scoreSummary, type ClipRun, type FaceSample, type RealClip, type SummaryPersons } from './lib/real.ts';
import { DEFAULT_TRUST_CACHE, type TrustRecord } from './lib/trust.ts';

const args = parseArgs(process.argv.slice(2), { clips: 'string', demo: 'boolean', trust: 'string', 'quality-floor': 'number', floors: 'string', cli: 'string', 'no-factors': 'boolean', persons: 'boolean' });
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

function pickClips(): RealClip[] {
  const all = [...REAL_CLIPS, ...(args.demo ? [DEMO_CLIP] : [])];
  if (args.clips === undefined) return all;
  const wanted = String(args.clips).split(',').map((s) => s.trim());
  const found = wanted.map((w) => {
    const c = all.find((x) => x.name === w || x.file === w || path.basename(x.file) === w || path.basename(x.file, '.mp4') === w);
    if (!c) throw new Error(`--clips: unknown clip ${JSON.stringify(w)} (known: ${all.map((x) => path.basename(x.file, '.mp4')).join(', ')})`);
    return c;
  });
  return found;
}

/** Another checkout's `crowdlens run` as a child process. */
function runCli(clip: RealClip, dir: string, work: string): ClipRun {
  const out = path.join(work, `${path.basename(clip.file, '.mp4')}.json`);
  const t0 = performance.now();
  execFileSync(process.execPath, [path.join(dir, 'bin', 'crowdlens.js'), 'run', '--source', clipPath(clip), '--no-realtime', '--summary', out], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, CROWDLENS_LOG_LEVEL: 'warn' } });
  const summary = JSON.parse(readFileSync(out, 'utf8')) as SummaryPersons & { frames: number };
  return { clip, score: scoreSummary(summary, clip.truth), frames: summary.frames, faces: [], wallS: (performance.now() - t0) / 1000, persons: summary.persons };
}

function genders(s: { female: number; male: number; unknown?: number }): string {
  return `${s.female} F, ${s.male} M${s.unknown ? `, ${s.unknown} ?` : ''}`;
}

function md(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function resultTable(runs: readonly ClipRun[]): string {
  const rows = runs.map((r) => {
    const t = r.clip.truth;
    const s = r.score;
    if (r.clip.control) return [r.clip.name, String(r.frames), `${s.predPersons}/0`, `${s.estimated}`, genders(s), '-', `**${s.predPersons} false persons**, ${s.estimated} with an estimate`];
    return [
      r.clip.name + (r.clip.note && r.clip === DEMO_CLIP ? ' (appearances)' : ''),
      String(r.frames),
      `${s.predPersons}/${t ? t.persons : '?'}`,
      `${s.estimated} of ${s.predPersons}`,
      genders(s),
      t ? `${t.female} F, ${t.male} M` : '-',
      t ? `${s.genderMatched}/${t.persons} matched, ${s.genderExcess} excess` : '-',
    ];
  });
  const t = realTotals(runs);
  rows.push([
    '**total (clips with truth)**',
    '',
    `${t.pred}/${t.truePersons}`,
    `${t.estimated} of ${t.pred}`,
    '',
    `${t.trueFemale} F, ${t.trueMale} M`,
    `${t.matched}/${t.truePersons} matched (women ${t.femaleMatched}/${t.trueFemale}), ${t.excess} excess`,
  ]);
  return md(['clip', 'frames', 'unique pred/true', 'with an estimate', 'answered genders', 'true genders', 'genders vs truth (multiset)'], rows);
}

function median(v: readonly number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');

/** Median per-term logit contributions and the rest for a set of faces under `model`. */
function factorRow(name: string, faces: readonly FaceSample[], model: QualityModel, floor: number): string[] {
  const w = model.weights;
  const terms = faces.map((f) => qualityTerms({ sidePx: f.quality.sidePx, score: f.score, rollDeg: f.quality.rollDeg, sharpness: f.quality.sharpness }));
  const prior = faces.map((f) => Math.exp(-0.5 * (f.quality.yaw / model.yawSigma) ** 2));
  return [
    name,
    String(faces.length),
    median(faces.map((f) => f.quality.sidePx)).toFixed(0),
    f2(median(faces.map((f) => f.score))),
    median(faces.map((f) => Math.abs(f.quality.rollDeg))).toFixed(1),
    median(faces.map((f) => f.quality.sharpness ?? NaN).filter(Number.isFinite)).toFixed(1),
    f2(median(terms.map((t) => w.size * t.size))),
    f2(median(terms.map((t) => w.score * t.score))),
    f2(median(terms.map((t) => w.roll * t.roll))),
    f2(median(terms.map((t) => w.sharpness * t.sharpness))),
    f2(median(prior)),
    f2(median(faces.map((f) => f.quality.score))),
    faces.length ? `${((100 * faces.filter((f) => f.quality.score >= floor).length) / faces.length).toFixed(0)}%` : '-',
  ];
}

/** utkface-dev faces as fit:trust collected them (its cache), rescored under `model`. */
function utkfaceFaces(model: QualityModel): Map<number, FaceSample[]> | null {
  if (!existsSync(DEFAULT_TRUST_CACHE)) return null;
  const { records } = JSON.parse(readFileSync(DEFAULT_TRUST_CACHE, 'utf8')) as { records: TrustRecord[] };
  const bySize = new Map<number, FaceSample[]>();
  for (const r of records) {
    if (!r.seen) continue;
    const q = r.seen.quality;
    // Recorded with a neutral model: the score is recomputed under the model shown.
    const t = qualityTerms({ sidePx: q.sidePx, score: r.seen.score, rollDeg: q.rollDeg, sharpness: q.sharpness });
    const z = model.bias + model.weights.size * t.size + model.weights.score * t.score + model.weights.roll * t.roll + model.weights.sharpness * t.sharpness;
    const score = Math.min(1, Math.max(0, 2 / (1 + Math.exp(-z)) - 1)) * Math.exp(-0.5 * (q.yaw / model.yawSigma) ** 2);
    bySize.set(r.size, [...(bySize.get(r.size) ?? []), { score: r.seen.score, quality: { ...q, score } }]);
  }
  return bySize;
}

function factorTable(runs: readonly ClipRun[], model: QualityModel, floor: number): string {
  const rows = runs.filter((r) => r.faces.length > 0).map((r) => factorRow(r.clip.name, r.faces, model, floor));
  const utk = utkfaceFaces(model);
  if (utk) for (const [size, faces] of [...utk.entries()].sort((a, b) => b[0] - a[0])) rows.push(factorRow(`utkface-dev ${size} px${size === 200 ? ' (bordered)' : ' (in 1280x720)'}`, faces, model, floor));
  else rows.push([`utkface-dev: no ${DEFAULT_TRUST_CACHE} (run npm run fit:trust to collect it)`, '', '', '', '', '', '', '', '', '', '', '', '']);
  return md(['faces', 'n', 'side px', 'det score', '|roll| deg', 'sharpness', 'logit: size', 'score', 'roll', 'sharpness', 'yaw prior', 'quality', `>= floor ${floor}`], rows);
}

async function main(): Promise<number> {
  const clips = pickClips();
  const shipped = loadTrustModel();
  const base = args.trust !== undefined ? loadTrustModel(path.resolve(String(args.trust))) : shipped;
  const withFloor = (floor: number | undefined): TrustModel => (floor === undefined ? base : { ...base, thresholds: { ...base.thresholds, qualityFloor: floor } });
  const trust = withFloor(args['quality-floor'] as number | undefined);
  const cliDir = args.cli !== undefined ? path.resolve(String(args.cli)) : undefined;
  const work = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-real-'));
  try {
    const runs: ClipRun[] = [];
    for (const clip of clips) {
      log(`bench:real: ${clip.name}`);
      runs.push(cliDir ? runCli(clip, cliDir, work) : await runRealClip(clip, trust === shipped ? undefined : trust));
    }
    const what = cliDir
      ? `\`node ${path.relative(REPO_ROOT, cliDir) || '.'}/bin/crowdlens.js run --source CLIP --no-realtime --summary ...\` (another checkout)`
      : `crowdlens run --no-realtime (default settings), trust ${args.trust !== undefined ? path.relative(REPO_ROOT, path.resolve(String(args.trust))) : 'src/infer/heads/trust.json (shipped)'}, quality floor ${trust.thresholds.qualityFloor}, person threshold ${trust.thresholds.personMinGenderConfidence}`;
    console.log(`# bench:real: ${what}`);
    console.log(`clips in ../shared/data/videos; truth = the data README's number of people and genders per clip; genders compared as multisets (ids not labelled)\n`);
    console.log(resultTable(runs));
    for (const r of runs) if (r.clip.note) console.log(`- ${r.clip.name}: ${r.clip.note}`);
    const t = realTotals(runs);
    console.log(`\ncoverage: ${t.estimated} of ${t.pred} predicted persons have an estimate; genders: ${t.matched} of ${t.truePersons} true persons matched by an answer of their gender (women ${t.femaleMatched}/${t.trueFemale}, men ${t.matched - t.femaleMatched}/${t.trueMale}), ${t.excess} answers in excess of the truth; control: ${t.controlPersons} false persons (${t.controlEstimated} with an estimate)`);
    if (args.persons) {
      console.log('\npersons (id: samples fused, age, label, P(male)):');
      for (const r of runs) console.log(`- ${r.clip.name}: ${r.persons.map((p) => `#${p.id ?? "?"}: ${p.samples ?? '?'}${p.ageYears === null ? '' : `, ${p.ageYears.toFixed(0)} y, ${p.gender}${p.maleProbability === null || p.maleProbability === undefined ? '' : `, ${p.maleProbability.toFixed(2)}`}`}`).join('; ')}`);
    }
    console.log(`run time ${runs.reduce((a, r) => a + r.wallS, 0).toFixed(1)} s (shared machine)`);

    if (!cliDir && !args['no-factors']) {
      console.log(`\n## quality factors (src/infer/quality.ts): medians per face; "logit" columns are each term's weight x value in the quality logit (bias ${base.quality.bias}); quality = (2 sigmoid(logit) - 1) x yaw prior`);
      console.log(`weights ${JSON.stringify(base.quality.weights)}, yaw sigma ${base.quality.yawSigma}\n`);
      console.log(factorTable(runs, base.quality, trust.thresholds.qualityFloor));
    }

    if (args.floors !== undefined && !cliDir) {
      const floors = String(args.floors).split(',').map(Number);
      if (floors.some((f) => !(f >= 0 && f < 1))) throw new Error(`--floors: expected comma-separated numbers in 0..1, got ${JSON.stringify(args.floors)}`);
      const rows: string[][] = [];
      for (const floor of floors) {
        const sweep: ClipRun[] = [];
        for (const clip of clips) sweep.push(await runRealClip(clip, withFloor(floor)));
        const s = realTotals(sweep);
        const perClip = sweep.filter((r) => !r.clip.control && r.clip !== DEMO_CLIP).map((r) => `${r.score.estimated}/${r.score.predPersons}`).join(' ');
        rows.push([String(floor), `${s.estimated} of ${s.pred}`, perClip, `${s.matched}/${s.truePersons}`, `${s.femaleMatched}/${s.trueFemale}`, String(s.excess), `${s.controlPersons} (${s.controlEstimated})`]);
        log(`  floor ${floor} done`);
      }
      console.log(`\n## fusion floor sweep (same trust model, floor replaced; the attribute schedule uses the same floor)\n`);
      console.log(md(['floor', 'with an estimate', `per clip (${clips.filter((c) => !c.control && c !== DEMO_CLIP).map((c) => c.name).join(', ')})`, 'genders matched', 'women matched', 'excess answers', 'control persons (with estimate)'], rows));
    }
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:real failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
