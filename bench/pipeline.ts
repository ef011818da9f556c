/**
 * `npm run bench:pipeline [-- --reps 3] [--keep] [--duration 20] [--empty 20]`: throughput of
 * `crowdlens run --no-realtime` on a 720p crowd clip at 5 fps under four settings interleaved in the same
 * run: the defaults before the detect and attribute schedules (detect schedule `every-frame`, age/gender
 * for every face), each schedule alone, and both (the shipped defaults); against ffmpeg decoding the same
 * clip alone (same fps + scale filter, rawvideo to null); time per stage; faces, age/gender runs and the
 * faces given a re-id descriptor; peak RSS of this process and of ffmpeg. Then the clip followed by
 * `--empty` seconds of the same kind of background with nobody in it: this process's CPU time per frame
 * on the busy part against the empty stretch (the motion gate's target), for the first and last settings.
 * Accuracy under the same four settings: `npm run bench:crowd -- --vs-previous`.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/shared/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { processCpuMs, runPipeline, type PipelineProgress, type PipelineResult } from '../src/pipeline/standalone.ts';
import { createStages } from '../src/pipeline/stages.ts';
import { STAGES } from '../src/pipeline/stats.ts';
import { median } from './lib/stats.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const TOOL = path.resolve(ROOT, '..', 'shared', 'tools', 'make-crowd-video.py');
const FACES = path.resolve(ROOT, '..', 'shared', 'data', 'faces', 'utkface-dev');
const FPS = 5;
const MAX_WIDTH = 1280;

/** Peak resident set (VmHWM, KiB) of this process's live children, sampled: ffmpeg runs as a child. */
class ChildRssSampler {
  peakKb = 0;
  private timer: NodeJS.Timeout | undefined;
  start(): void {
    this.timer = setInterval(() => this.sample(), 100);
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
  private sample(): void {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${process.pid}/task`);
    } catch {
      return; // not Linux: no child RSS figures
    }
    for (const t of tasks) {
      let children: string;
      try {
        children = readFileSync(`/proc/${process.pid}/task/${t}/children`, 'utf8');
      } catch {
        continue; // the thread ended between readdir and read
      }
      for (const pid of children.split(/\s+/).filter(Boolean)) {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
          if (m) this.peakKb = Math.max(this.peakKb, Number(m[1]));
        } catch {
          continue; // the child exited between listing and reading
        }
      }
    }
  }
}

/** ffmpeg alone: the ingest's decode path (same filter) into rawvideo on /dev/null. Returns frames/s. */
async function ffmpegAlone(clip: string, rss: ChildRssSampler): Promise<{ fps: number; frames: number; wallS: number }> {
  const vf = `fps=${FPS},scale=w='trunc(min(iw\\,${MAX_WIDTH})/2)*2':h=-2:flags=bilinear`;
  const args = ['-hide_banner', '-nostats', '-nostdin', '-loglevel', 'error', '-i', clip, '-map', '0:v:0', '-an', '-vf', vf, '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-'];
  const t0 = performance.now();
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (b: Buffer) => (bytes += b.length));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}`))));
    rss.start();
  });
  rss.stop();
  const wallS = (performance.now() - t0) / 1000;
  const frames = bytes / (MAX_WIDTH * 720 * 3);
  return { fps: frames / wallS, frames, wallS };
}

/** A setting of the comparison: config flags on top of the defaults, and whether the attribute schedule is on. */
interface Setting {
  readonly name: string;
  readonly flags: Record<string, unknown>;
  readonly schedule: boolean;
}

/** The previous defaults first (the ratios' denominator), the shipped defaults last. */
const SETTINGS: readonly Setting[] = [
  { name: 'previous defaults (every-frame, every face)', flags: { 'infer.detectSchedule': 'every-frame' }, schedule: false },
  { name: 'detect schedule only (adaptive, every face)', flags: { 'infer.detectSchedule': 'adaptive' }, schedule: false },
  { name: 'attribute schedule only (every-frame, scheduled)', flags: { 'infer.detectSchedule': 'every-frame' }, schedule: true },
  { name: 'default (adaptive, scheduled)', flags: {}, schedule: true },
];
const LAST = SETTINGS.length - 1;

interface FrameCost {
  readonly capturedAtMs: number;
  readonly cpuMs: number;
}

async function pipelineOnce(clip: string, rss: ChildRssSampler, setting: Setting, costs?: FrameCost[]): Promise<PipelineResult> {
  const logger = createLogger({ level: 'warn' });
  const config = loadConfig({ flags: { ...setting.flags, 'ingest.fps': FPS, 'ingest.maxWidth': MAX_WIDTH } });
  rss.start();
  let last = processCpuMs();
  const onFrame = costs
    ? (p: PipelineProgress): void => {
        const c = processCpuMs();
        costs.push({ capturedAtMs: p.capturedAtMs, cpuMs: c - last });
        last = c;
      }
    : undefined;
  try {
    return await runPipeline({ ...(onFrame ? { onFrame } : {}) }, { logger, stages: () => createStages({ source: clip, sourceId: 'bench', realtime: false, config, ...(setting.schedule ? {} : { tracker: { attributes: false } }) }, { logger }) });
  } finally {
    rss.stop();
  }
}

/** ffmpeg's own CPU time (-benchmark utime + stime) decoding `clip` with the ingest filter, ms per output frame. */
function ffmpegCpuPerFrame(clip: string, frames: number): number {
  const vf = `fps=${FPS},scale=w='trunc(min(iw\\,${MAX_WIDTH})/2)*2':h=-2:flags=bilinear`;
  const run = spawnSync('ffmpeg', ['-hide_banner', '-nostats', '-nostdin', '-benchmark', '-i', clip, '-map', '0:v:0', '-an', '-vf', vf, '-pix_fmt', 'rgb24', '-f', 'null', '-'], { encoding: 'utf8' });
  const m = /utime=([\d.]+)s stime=([\d.]+)s/.exec(run.stderr ?? '');
  if (run.status !== 0 || !m) throw new Error(`ffmpeg -benchmark failed (exit ${run.status}): ${(run.stderr ?? '').slice(-300)}`);
  return ((Number(m[1]) + Number(m[2])) * 1000) / frames;
}

function mean(v: readonly number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** Empty background like make-crowd-video.py's (gradient + temporal noise), `seconds` long, 15 fps, then `busy` + it as one clip. */
function withEmptyStretch(busy: string, work: string, seconds: number): string {
  const empty = path.join(work, 'empty.mp4');
  const bg = 'gradients=s=1280x720:r=15:c0=0x3a4a5a:c1=0x8a9aa0:speed=0.002:seed=7,format=yuv420p,noise=c0s=5:c0f=t';
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', bg, '-t', String(seconds), '-r', '15', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p', empty]);
  const out = path.join(work, 'busy-then-empty.mp4');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', busy, '-i', empty, '-filter_complex', '[0:v][1:v]concat=n=2:v=1:a=0[v]', '-map', '[v]', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p', out]);
  return out;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '3' }, keep: { type: 'boolean' }, duration: { type: 'string', default: '20' }, empty: { type: 'string', default: '20' } } });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: expected a positive integer, got ${JSON.stringify(values.reps)}`);
  const busyS = Number(values.duration);
  const emptyS = Number(values.empty);
  if (!(busyS >= 4) || !(emptyS >= 4)) throw new Error(`--duration and --empty: expected seconds >= 4, got ${values.duration} and ${values.empty}`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-pipeline-'));
  try {
    const genArgs = [TOOL, '--faces', FACES, '--out', work, '--seed', '7', '--people', '10', '--duration', values.duration, '--size', '1280x720'];
    execFileSync('python3', genArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
    const clip = path.join(work, 'video.mp4');
    process.stdout.write(`clip: make-crowd-video.py --seed 7 --people 10 --duration ${values.duration} --size 1280x720 (15 fps source), sampled at ${FPS} fps\n`);
    process.stdout.write(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, shared with other work\n\n`);

    // Warm-up: load the models once so start-up is not in the first repetition.
    await pipelineOnce(clip, new ChildRssSampler(), SETTINGS[LAST] as Setting);
    const runs: PipelineResult[][] = SETTINGS.map(() => []);
    const decodes: { fps: number; frames: number }[] = [];
    const pipeRss = new ChildRssSampler();
    const decodeRss = new ChildRssSampler();
    for (let i = 0; i < reps; i++) {
      decodes.push(await ffmpegAlone(clip, decodeRss));
      for (const [k, st] of SETTINGS.entries()) runs[k]?.push(await pipelineOnce(clip, pipeRss, st));
    }
    const decFps = median(decodes.map((d) => d.fps));
    process.stdout.write('| rep | ffmpeg alone fps | setting | frames | frames/s | faces | age/gender | descriptors | skipped | region frames |\n|---|---|---|---|---|---|---|---|---|---|\n');
    for (let i = 0; i < reps; i++) {
      const d = decodes[i] as { fps: number; frames: number };
      for (const [k, st] of SETTINGS.entries()) {
        const r = runs[k]?.[i] as PipelineResult;
        process.stdout.write(`| ${i + 1} | ${d.fps.toFixed(1)} | ${st.name} | ${r.stats.frames} | ${r.stats.fps.toFixed(2)} | ${r.stats.faces} | ${r.stats.attributes} | ${r.stats.descriptors} | ${r.stats.skippedFrames} | ${r.stats.regionFrames} |\n`);
      }
    }
    const fpsOf = (k: number): number => median((runs[k] ?? []).map((r) => r.stats.fps));
    process.stdout.write(`\nmedian frames/s: ${SETTINGS.map((st, k) => `${st.name} ${fpsOf(k).toFixed(2)}`).join(', ')}; ffmpeg alone ${decFps.toFixed(1)}\n`);
    // Per rep, each setting against the previous defaults of the same rep (the load of the moment hits both alike).
    const ratioOf = (k: number): number[] => (runs[k] ?? []).map((r, i) => r.stats.fps / ((runs[0]?.[i] as PipelineResult).stats.fps));
    process.stdout.write('| setting | frames/s (median) | vs previous defaults: median of per-rep ratios (range) | age/gender runs | descriptors |\n|---|---|---|---|---|\n');
    for (const [k, st] of SETTINGS.entries()) {
      const rs = ratioOf(k);
      const r0 = runs[k]?.[0] as PipelineResult;
      process.stdout.write(`| ${st.name} | ${fpsOf(k).toFixed(2)} | ${median(rs).toFixed(2)}x (${Math.min(...rs).toFixed(2)}-${Math.max(...rs).toFixed(2)}) | ${r0.stats.attributes} of ${r0.stats.faces} | ${r0.stats.descriptors} |\n`);
    }
    const shipped = median(ratioOf(LAST));
    process.stdout.write(`\n${shipped >= 1.6 ? 'PASS' : 'FAIL'}  default: analysed frames/s >= 1.6x the previous defaults: ${shipped.toFixed(2)}x (median of ${reps} per-rep ratios); pipeline/ffmpeg-alone ${(fpsOf(LAST) / decFps).toFixed(3)} (previous ${(fpsOf(0) / decFps).toFixed(3)})\n`);
    process.stdout.write('(accuracy under the same settings: npm run bench:crowd -- --vs-previous)\n\n');

    // Stage times per frame, median over reps: wall ms / CPU ms of this process (decode is a wait: ffmpeg runs apart).
    process.stdout.write(`| stage (ms/frame, wall / CPU) | ${SETTINGS.map((st) => st.name).join(' | ')} |\n|---|${SETTINGS.map(() => '---').join('|')}|\n`);
    const perFrame = (k: number, f: (r: PipelineResult) => number): number => median((runs[k] ?? []).map((r) => f(r) / Math.max(1, r.stats.frames)));
    const both = (k: number, pick: (r: PipelineResult) => { totalMs: number; cpuMs: number }): string => `${perFrame(k, (r) => pick(r).totalMs).toFixed(1)} / ${perFrame(k, (r) => pick(r).cpuMs).toFixed(1)}`;
    for (const s of STAGES) process.stdout.write(`| ${s} | ${SETTINGS.map((_, k) => both(k, (r) => r.stats.stages[s])).join(' | ')} |\n`);
    const detection = (r: PipelineResult): { totalMs: number; cpuMs: number } => ({ totalMs: r.stats.stages.motion.totalMs + r.stats.stages.detect.totalMs, cpuMs: r.stats.stages.motion.cpuMs + r.stats.stages.detect.cpuMs });
    process.stdout.write(`| detection (motion + detect) | ${SETTINGS.map((_, k) => both(k, detection)).join(' | ')} |\n`);
    process.stdout.write(`| (wall) | ${SETTINGS.map((_, k) => perFrame(k, (r) => r.stats.wallMs).toFixed(1)).join(' | ')} |\n\n`);
    const det = (k: number): number => perFrame(k, (r) => detection(r).cpuMs);
    process.stdout.write(`detection CPU per frame, default/previous: ${(det(LAST) / det(0)).toFixed(2)}x\n\n`);
    const maxRssMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`peak RSS: node (pipeline, models) ${maxRssMb.toFixed(0)} MiB; ffmpeg under the pipeline ${(pipeRss.peakKb / 1024).toFixed(0)} MiB; ffmpeg alone ${(decodeRss.peakKb / 1024).toFixed(0)} MiB\n`);
    process.stdout.write(`dropped frames (should be 0 with --no-realtime): ${runs.flat().map((r) => r.stats.droppedFrames).join(', ')}\n\n`);

    // The same clip, then an empty stretch: CPU per frame with people in view against nobody.
    const gapClip = withEmptyStretch(clip, work, emptyS);
    process.stdout.write(`empty stretch: the clip above, then ${emptyS} s of its kind of background (gradient + sensor noise, nobody in it), one run each for the previous and the shipped defaults\n`);
    process.stdout.write('| setting | busy CPU ms/frame (mean) | empty CPU ms/frame (mean) | empty/busy | frames skipped in the empty stretch |\n|---|---|---|---|---|\n');
    let checked: { ratio: number } | null = null;
    for (const k of [0, LAST]) {
      const st = SETTINGS[k] as Setting;
      const costs: FrameCost[] = [];
      const r = await pipelineOnce(gapClip, new ChildRssSampler(), st, costs);
      // 2 s margins: the first frames carry start-up, and tracks outlive the last face by up to a second.
      const busy = costs.filter((c) => c.capturedAtMs >= 2000 && c.capturedAtMs < busyS * 1000 - 2000).map((c) => c.cpuMs);
      const empty = costs.filter((c) => c.capturedAtMs >= busyS * 1000 + 2000).map((c) => c.cpuMs);
      const ratio = mean(empty) / mean(busy);
      if (k === LAST) checked = { ratio };
      process.stdout.write(`| ${st.name} | ${mean(busy).toFixed(2)} | ${mean(empty).toFixed(2)} | ${(ratio * 100).toFixed(1)}% | ${r.stats.skippedFrames} of ${empty.length + Math.round(2 * FPS)} |\n`);
    }
    process.stdout.write(`\n(ffmpeg decodes every frame either way, in its own process: ${ffmpegCpuPerFrame(clip, busyS * FPS).toFixed(1)} ms CPU per sampled frame on this clip)\n`);
    if (checked) process.stdout.write(`${checked.ratio <= 0.1 ? 'PASS' : 'FAIL'}  empty stretch costs <= 10% of a busy frame (default setting, this process's CPU): ${(checked.ratio * 100).toFixed(1)}%\n`);
  } finally {
    if (values.keep) process.stdout.write(`clips kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:pipeline failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
