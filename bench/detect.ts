/**
 * `npm run bench:detect [-- --seeds 1,2,3,4,5,6] [--set default|sweep] [--real]`: detection alone (motion gate,
 * detect schedule, detector, IoU tracker for the expected boxes; no age/gender) on the bench:crowd
 * clips, for several schedule and region-geometry settings. Every frame goes through every setting
 * back to back (each with its own motion background, schedule and tracker), so CPU-time ratios hold on
 * a shared machine. Reports detection recall against the exact truth (IoU >= 0.3, as bench:crowd),
 * false positives, detector runs and CPU ms per frame. This is what chose the region defaults in
 * src/infer/regions.ts (DEFAULT_REGION_OPTIONS) and src/track/detect-schedule.ts.
 * `--real`: instead, the real clips of ../shared/data/videos (no truth): the share of the previous
 * default's detections (whole frame every frame) that the adaptive default also finds (IoU >= 0.5),
 * detections, detector runs and skipped frames.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createFaceAnalyzer, type FaceAnalyzer, type FaceAnalyzerOptions } from '../src/infer/analyzer.ts';
import { MotionDetector } from '../src/infer/motion.ts';
import type { RgbImage } from '../src/infer/types.ts';
import { iou } from '../src/shared/geometry.ts';
import type { BoxXyxy } from '../src/shared/messages.ts';
import { DetectScheduler, type DetectScheduleParams } from '../src/track/detect-schedule.ts';
import { linearSumAssignment } from '../src/track/hungarian.ts';
import { IouTracker } from '../src/track/iou-tracker.ts';
import { processCpuMs } from '../src/pipeline/standalone.ts';
import { parseArgs } from './lib/args.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const TOOL = path.resolve(ROOT, '..', 'shared', 'tools', 'make-crowd-video.py');
const FACES = path.resolve(ROOT, '..', 'shared', 'data', 'faces', 'utkface-dev');
const W = 1280;
const H = 720;
const FPS = 5;
const MATCH_IOU = 0.3;

interface Setting {
  readonly name: string;
  readonly analyzer: FaceAnalyzerOptions;
  readonly schedule: Partial<DetectScheduleParams>;
}

const BASE: readonly Setting[] = [
  { name: 'every-frame (previous default)', analyzer: {}, schedule: { mode: 'every-frame' } },
  { name: 'every-frame, tiles 2x2', analyzer: { tiles: { cols: 2, rows: 2 } }, schedule: { mode: 'every-frame' } },
  { name: 'adaptive (default)', analyzer: {}, schedule: { mode: 'adaptive' } },
  { name: 'adaptive, tiles 2x2', analyzer: { tiles: { cols: 2, rows: 2 } }, schedule: { mode: 'adaptive' } },
];

/** The region geometry and schedule alternatives around the defaults. */
const SWEEP: readonly Setting[] = [
  { name: 'adaptive, face 32 px, context 2.5', analyzer: { regions: { targetFacePx: 32, context: 2.5 } }, schedule: { mode: 'adaptive' } },
  { name: 'adaptive, face 48 px, context 1.7', analyzer: { regions: { targetFacePx: 48, context: 1.7 } }, schedule: { mode: 'adaptive' } },
  { name: 'adaptive, motion cells 64 px', analyzer: { regions: { motionCellPx: 64 } }, schedule: { mode: 'adaptive' } },
  { name: 'adaptive, motion cells 96 px', analyzer: { regions: { motionCellPx: 96 } }, schedule: { mode: 'adaptive' } },
  { name: 'adaptive, no shrink', analyzer: { regions: { shrink: [] } }, schedule: { mode: 'adaptive' } },
  { name: 'adaptive, 1 canvas at most', analyzer: { regions: { maxCanvases: 1 } }, schedule: { mode: 'adaptive' } },
  { name: 'adaptive, scan every 2 s', analyzer: {}, schedule: { mode: 'adaptive', scanEveryMs: 2000 } },
  { name: 'adaptive, scan every 8 s', analyzer: {}, schedule: { mode: 'adaptive', scanEveryMs: 8000 } },
];

interface Tally {
  tp: number;
  truth: number;
  found: number;
  frames: number;
  cpuMs: number;
}

function matches(gt: readonly BoxXyxy[], det: readonly BoxXyxy[]): number {
  if (gt.length === 0 || det.length === 0) return 0;
  const cost = gt.map((g) => det.map((d) => 1 - iou(g, d)));
  return linearSumAssignment(cost).filter((a) => 1 - (cost[a.row]?.[a.col] ?? 1) >= MATCH_IOU).length;
}

const VIDEOS = path.resolve(ROOT, '..', 'shared', 'data', 'videos');
const REAL_CLIPS = ['short_hamilton_clip.mp4', 'classroom.mp4', 'face-demographics-walking-and-pause.mp4', 'head-pose-face-detection-female-and-male.mp4', 'one-by-one-person-detection-full.mp4'];

/** Adaptive against the whole frame every frame on real clips: agreement with the previous default. */
async function realClips(): Promise<number> {
  const previous = await createFaceAnalyzer();
  const adaptive = await createFaceAnalyzer();
  process.stdout.write('| clip | frames (5 fps, first 150) | previous default detections | adaptive detections | of those found by adaptive (IoU >= 0.5) | adaptive detector runs/frame | skipped frames |\n|---|---|---|---|---|---|---|\n');
  for (const file of REAL_CLIPS) {
    const clip = path.join(VIDEOS, file);
    const [w, h] = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', clip], { encoding: 'utf8' }).trim().split(',').map(Number) as [number, number];
    const raw = execFileSync('ffmpeg', ['-loglevel', 'error', '-i', clip, '-vf', `fps=${FPS}`, '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-'], { maxBuffer: 1 << 30 });
    const size = w * h * 3;
    const frames = Math.min(150, raw.length / size);
    const motion = new MotionDetector();
    const schedule = new DetectScheduler({ mode: 'adaptive' });
    const tracker = new IouTracker();
    const runs0 = adaptive.detectStats().detectorRuns;
    let prevN = 0;
    let adN = 0;
    let agreed = 0;
    let skipped = 0;
    for (let i = 0; i < frames; i++) {
      const image: RgbImage = { data: new Uint8Array(raw.buffer, raw.byteOffset + i * size, size), width: w, height: h, channels: 3 };
      const atMs = (i * 1000) / FPS;
      const plan = schedule.plan({ atMs, tracks: tracker.expectedBoxes(atMs).map((t) => t.box), motion: motion.update(image) });
      if (plan.mode === 'skip') skipped++;
      const found = await adaptive.detect(image, plan);
      tracker.update(found, { seq: i, timeMs: atMs });
      const ref = await previous.detect(image);
      prevN += ref.length;
      adN += found.length;
      if (ref.length > 0 && found.length > 0) {
        const cost = ref.map((a) => found.map((b) => 1 - iou(a.box, b.box)));
        agreed += linearSumAssignment(cost).filter((a) => 1 - (cost[a.row]?.[a.col] ?? 1) >= 0.5).length;
      }
    }
    const share = prevN ? `${((100 * agreed) / prevN).toFixed(1)}%` : '-';
    process.stdout.write(`| ${file} (${w}x${h}) | ${frames} | ${prevN} | ${adN} | ${share} | ${((adaptive.detectStats().detectorRuns - runs0) / frames).toFixed(2)} | ${skipped} |\n`);
  }
  await previous.close();
  await adaptive.close();
  return 0;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), { seeds: 'string', set: 'string', real: 'boolean' });
  if (args['real']) return realClips();
  const seeds = String(args['seeds'] ?? '1,2,3,4,5,6').split(',').map(Number);
  if (seeds.some((s) => !Number.isInteger(s))) throw new Error(`--seeds: expected comma-separated integers, got ${JSON.stringify(args['seeds'])}`);
  const set = String(args['set'] ?? 'sweep');
  if (set !== 'default' && set !== 'sweep') throw new Error(`--set: expected default or sweep, got ${JSON.stringify(set)}`);
  const settings = set === 'sweep' ? [...BASE, ...SWEEP] : BASE;
  const analyzers: FaceAnalyzer[] = [];
  for (const st of settings) analyzers.push(await createFaceAnalyzer(st.analyzer));
  const tallies: Tally[] = settings.map(() => ({ tp: 0, truth: 0, found: 0, frames: 0, cpuMs: 0 }));
  const runsBefore = analyzers.map((a) => a.detectStats().detectorRuns);
  const work = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-detect-'));
  try {
    for (const seed of seeds) {
      const dir = path.join(work, `seed-${seed}`);
      execFileSync('python3', [TOOL, '--faces', FACES, '--out', dir, '--seed', String(seed), '--people', '10', '--duration', '16', '--size', `${W}x${H}`, '--min-face', '56', '--max-face', '140', '--reentry', '0.3'], { stdio: ['ignore', 'ignore', 'inherit'] });
      const raw = execFileSync('ffmpeg', ['-loglevel', 'error', '-i', path.join(dir, 'video.mp4'), '-vf', `fps=${FPS}`, '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-'], { maxBuffer: 1 << 30 });
      const truth = JSON.parse(readFileSync(path.join(dir, 'truth.json'), 'utf8')) as { video: { fps: number } };
      const gt = new Map<number, BoxXyxy[]>();
      for (const line of readFileSync(path.join(dir, 'gt.txt'), 'utf8').trim().split('\n')) {
        const [f, , x, y, w, h] = line.split(',').map(Number) as [number, number, number, number, number, number];
        gt.set(f, [...(gt.get(f) ?? []), [x, y, x + w, y + h]]);
      }
      const state = settings.map((st) => ({ motion: new MotionDetector(), schedule: new DetectScheduler(st.schedule), tracker: new IouTracker() }));
      const size = W * H * 3;
      const frames = raw.length / size;
      process.stdout.write(`seed ${seed}: ${frames} frames\n`);
      for (let i = 0; i < frames; i++) {
        const image: RgbImage = { data: new Uint8Array(raw.buffer, raw.byteOffset + i * size, size), width: W, height: H, channels: 3 };
        const atMs = (i * 1000) / FPS;
        const truthBoxes = gt.get(Math.round((atMs / 1000) * truth.video.fps) + 1) ?? [];
        for (const [k, st] of state.entries()) {
          const t0 = processCpuMs();
          const motion = st.motion.update(image);
          const plan = st.schedule.plan({ atMs, tracks: st.tracker.expectedBoxes(atMs).map((t) => t.box), motion });
          const found = await (analyzers[k] as FaceAnalyzer).detect(image, plan);
          const tally = tallies[k] as Tally;
          tally.cpuMs += processCpuMs() - t0;
          st.tracker.update(found, { seq: i, timeMs: atMs });
          tally.tp += matches(truthBoxes, found.map((f) => f.box));
          tally.truth += truthBoxes.length;
          tally.found += found.length;
          tally.frames++;
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const base = tallies[0] as Tally;
  process.stdout.write(`\nseeds ${seeds.join(',')} (bench:crowd clips), ${FPS} fps, each frame through every setting in turn; machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, shared\n\n`);
  process.stdout.write('| setting | det recall | FP/frame | detector runs/frame | detect CPU ms/frame | vs previous default |\n|---|---|---|---|---|---|\n');
  for (const [k, st] of settings.entries()) {
    const t = tallies[k] as Tally;
    const runs = ((analyzers[k] as FaceAnalyzer).detectStats().detectorRuns - (runsBefore[k] as number)) / t.frames;
    process.stdout.write(`| ${st.name} | ${((100 * t.tp) / t.truth).toFixed(1)}% | ${((t.found - t.tp) / t.frames).toFixed(3)} | ${runs.toFixed(2)} | ${(t.cpuMs / t.frames).toFixed(2)} | ${(t.cpuMs / base.cpuMs).toFixed(2)}x |\n`);
  }
  for (const a of analyzers) await a.close();
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:detect failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
