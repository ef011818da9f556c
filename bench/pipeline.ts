/**
 * `npm run bench:pipeline [-- --reps 3] [--keep] [--attributes every|scheduled|both]`: throughput of `crowdlens run --no-realtime` on a
 * 720p clip at 5 fps against ffmpeg decoding the same clip alone (same fps + scale filter, rawvideo to
 * null), back-to-back in the same run; time per stage; faces and the faces given a re-id descriptor;
 * peak RSS of this process and of ffmpeg.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/shared/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { runPipeline, type PipelineResult } from '../src/pipeline/standalone.ts';
import { createStages } from '../src/pipeline/stages.ts';
import { STAGES } from '../src/pipeline/stats.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const TOOL = path.resolve(ROOT, '..', 'shared', 'tools', 'make-crowd-video.py');
const FACES = path.resolve(ROOT, '..', 'shared', 'data', 'faces', 'utkface-dev');
const FPS = 5;
const MAX_WIDTH = 1280;

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

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

/** `every`: age/gender for every face (the attribute schedule off, as before it existed); `scheduled`: the tracker's schedule (default). */
type AttributeMode = 'every' | 'scheduled';

async function pipelineOnce(clip: string, rss: ChildRssSampler, mode: AttributeMode = 'scheduled'): Promise<PipelineResult> {
  const logger = createLogger({ level: 'warn' });
  const config = loadConfig({ flags: { 'ingest.fps': FPS, 'ingest.maxWidth': MAX_WIDTH } });
  rss.start();
  try {
    return await runPipeline({}, { logger, stages: () => createStages({ source: clip, sourceId: 'bench', realtime: false, config, ...(mode === 'every' ? { tracker: { attributes: false } } : {}) }, { logger }) });
  } finally {
    rss.stop();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '3' }, keep: { type: 'boolean' }, duration: { type: 'string', default: '20' }, attributes: { type: 'string', default: 'both' } } });
  if (!['every', 'scheduled', 'both'].includes(values.attributes)) throw new Error(`--attributes: expected every, scheduled or both, got ${JSON.stringify(values.attributes)}`);
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: expected a positive integer, got ${JSON.stringify(values.reps)}`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-pipeline-'));
  try {
    const genArgs = [TOOL, '--faces', FACES, '--out', work, '--seed', '7', '--people', '10', '--duration', values.duration, '--size', '1280x720'];
    execFileSync('python3', genArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
    const clip = path.join(work, 'video.mp4');
    process.stdout.write(`clip: make-crowd-video.py --seed 7 --people 10 --duration ${values.duration} --size 1280x720 (15 fps source), sampled at ${FPS} fps\n`);
    process.stdout.write(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}\n\n`);

    // Warm-up: load the models once so start-up is not in the first repetition.
    await pipelineOnce(clip, new ChildRssSampler());
    const runs: PipelineResult[] = [];
    const baseline: PipelineResult[] = [];
    const decodes: { fps: number; frames: number }[] = [];
    const pipeRss = new ChildRssSampler();
    const decodeRss = new ChildRssSampler();
    const main: AttributeMode = values.attributes === 'every' ? 'every' : 'scheduled';
    for (let i = 0; i < reps; i++) {
      decodes.push(await ffmpegAlone(clip, decodeRss));
      // Back to back in each rep: every face with age/gender (before the schedule), then the default.
      if (values.attributes === 'both') baseline.push(await pipelineOnce(clip, new ChildRssSampler(), 'every'));
      runs.push(await pipelineOnce(clip, pipeRss, main));
    }
    const pipeFps = median(runs.map((r) => r.stats.fps));
    const decFps = median(decodes.map((d) => d.fps));
    process.stdout.write('| rep | ffmpeg alone frames | ffmpeg alone fps | pipeline frames | pipeline fps | faces | age/gender | descriptors |\n|---|---|---|---|---|---|---|---|\n');
    for (let i = 0; i < reps; i++) {
      const d = decodes[i] as { fps: number; frames: number };
      const r = runs[i] as PipelineResult;
      process.stdout.write(`| ${i + 1} | ${d.frames.toFixed(0)} | ${d.fps.toFixed(1)} | ${r.stats.frames} | ${r.stats.fps.toFixed(2)} | ${r.stats.faces} | ${r.stats.attributes} | ${r.stats.descriptors} |\n`);
    }
    process.stdout.write(`\nmedian: pipeline ${pipeFps.toFixed(2)} frames/s, ffmpeg alone ${decFps.toFixed(1)} frames/s, ratio pipeline/ffmpeg ${(pipeFps / decFps).toFixed(3)}\n\n`);

    process.stdout.write('| stage | mean ms/frame (median of reps) | share of wall |\n|---|---|---|\n');
    const wall = median(runs.map((r) => r.stats.wallMs / Math.max(1, r.stats.frames)));
    for (const s of STAGES) {
      const ms = median(runs.map((r) => r.stats.stages[s].totalMs / Math.max(1, r.stats.frames)));
      process.stdout.write(`| ${s} | ${ms.toFixed(1)} | ${((ms / wall) * 100).toFixed(1)}% |\n`);
    }
    process.stdout.write(`| (wall) | ${wall.toFixed(1)} | 100% |\n\n`);
    if (baseline.length > 0) {
      process.stdout.write('attribute schedule (analysed frames/s, same clip, back to back per rep):\n| rep | every face fps | scheduled fps | ratio | age/gender faces every / scheduled | age/gender ms/frame every / scheduled | descriptor ms/frame every / scheduled |\n|---|---|---|---|---|---|---|\n');
      const perFrame = (r: PipelineResult, st: 'ageGender' | 'descriptor'): number => r.stats.stages[st].totalMs / Math.max(1, r.stats.frames);
      const ratios: number[] = [];
      for (let i = 0; i < reps; i++) {
        const b = baseline[i] as PipelineResult;
        const r = runs[i] as PipelineResult;
        ratios.push(r.stats.fps / b.stats.fps);
        process.stdout.write(`| ${i + 1} | ${b.stats.fps.toFixed(2)} | ${r.stats.fps.toFixed(2)} | ${(r.stats.fps / b.stats.fps).toFixed(2)} | ${b.stats.attributes} / ${r.stats.attributes} | ${perFrame(b, 'ageGender').toFixed(1)} / ${perFrame(r, 'ageGender').toFixed(1)} | ${perFrame(b, 'descriptor').toFixed(1)} / ${perFrame(r, 'descriptor').toFixed(1)} |\n`);
      }
      process.stdout.write(`median ratio scheduled / every face: ${median(ratios).toFixed(2)}x (median fps ${pipeFps.toFixed(2)} vs ${median(baseline.map((b) => b.stats.fps)).toFixed(2)})\n\n`);
    }
    const maxRssMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`peak RSS: node (pipeline, models) ${maxRssMb.toFixed(0)} MiB; ffmpeg under the pipeline ${(pipeRss.peakKb / 1024).toFixed(0)} MiB; ffmpeg alone ${(decodeRss.peakKb / 1024).toFixed(0)} MiB\n`);
    process.stdout.write(`dropped frames (should be 0 with --no-realtime): ${runs.map((r) => r.stats.droppedFrames).join(', ')}\n`);
  } finally {
    if (values.keep) process.stdout.write(`clip kept in ${work}\n`);
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
