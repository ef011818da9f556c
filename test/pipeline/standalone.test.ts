import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { FrameDetections, TrackEvent } from '../../src/shared/messages.ts';
import type { FrameTracks, PipelineSink } from '../../src/pipeline/sinks.ts';
import { runPipeline, type PipelineStages } from '../../src/pipeline/standalone.ts';
import { createStages } from '../../src/pipeline/stages.ts';
import { buildSummary } from '../../src/pipeline/summary.ts';
import { DEFAULT_DESCRIPTORS_PER_TRACK } from '../../src/track/crowd.ts';
import { pidAlive } from '../support/process.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TOOL = path.resolve(ROOT, '..', 'shared', 'tools', 'make-crowd-video.py');
const FACES = path.resolve(ROOT, '..', 'shared', 'data', 'faces', 'utkface-dev');

interface Truth {
  unique_persons: number;
  appearances: number;
  video: { frames: number; fps: number; duration_s: number };
}

let dir: string;
let clip: string;
let truth: Truth;
const logger = createLogger({ level: 'warn' });
const config = loadConfig({ env: {}, flags: { 'ingest.fps': 5 } });

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-pipeline-test-'));
  // 3 people, faces large enough for every detector, nobody re-entering: the counts are unambiguous.
  execFileSync('python3', [TOOL, '--faces', FACES, '--out', dir, '--seed', '4', '--people', '3', '--duration', '4', '--fps', '10', '--size', '480x270', '--min-face', '80', '--max-face', '110', '--reentry', '0'], { stdio: 'ignore' });
  clip = path.join(dir, 'video.mp4');
  truth = JSON.parse(readFileSync(path.join(dir, 'truth.json'), 'utf8')) as Truth;
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});


describe('runPipeline on a real clip', () => {
  it('tracks people through the clip: entered/left events, MOT rows, a plausible summary', async () => {
    const events: TrackEvent[] = [];
    const frames: FrameTracks[] = [];
    const detections: FrameDetections[] = [];
    const sink: PipelineSink = {
      onEvents: (e) => void events.push(...e),
      onFrameTracks: (f) => void frames.push(f),
      onDetections: (d) => void detections.push(d),
    };
    const result = await runPipeline({ sinks: [sink] }, { logger, stages: () => createStages({ source: clip, sourceId: 'clip', realtime: false, config }, { logger }) });

    expect(result.reason).toBe('end');
    // 4 s sampled at 5 fps.
    expect(result.stats.frames).toBe(truth.video.duration_s * 5);
    expect(result.stats.droppedFrames).toBe(0);
    expect(result.stats.stages.detect.count).toBe(result.stats.frames);
    expect(result.stats.stages.track.count).toBe(result.stats.frames);
    expect(result.stats.stages.decode.count).toBe(result.stats.frames);
    expect(result.stats.faces).toBeGreaterThan(0);
    expect(result.stats.stages.ageGender.totalMs).toBeGreaterThan(0);

    const entered = events.filter((e) => e.type === 'person.entered');
    const left = events.filter((e) => e.type === 'person.left');
    expect(entered.length).toBeGreaterThanOrEqual(1);
    // Every person who entered has left by the end (finish() closes open tracks).
    expect(new Set(left.map((e) => e.personId))).toEqual(new Set(entered.map((e) => e.personId)));
    expect(events.at(-1)?.type).toBe('demographics');

    const summary = buildSummary(result);
    expect(summary.frames).toBe(result.stats.frames);
    expect(summary.uniquePersons).toBe(summary.persons.length);
    expect(summary.uniquePersons).toBeGreaterThanOrEqual(1);
    expect(summary.uniquePersons).toBeLessThanOrEqual(truth.unique_persons + 2);
    const estimated = summary.persons.filter((p) => p.ageYears !== null);
    // Soft counts (3 decimals per cell): they add up to the persons with an estimate.
    expect(Object.values(summary.demographics).reduce((a, b) => a + b, 0)).toBeCloseTo(estimated.length, 1);
    expect(summary.withoutEstimate).toBe(summary.uniquePersons - estimated.length);
    expect(summary.byGenderLabel.female + summary.byGenderLabel.male + summary.byGenderLabel.unknown).toBe(estimated.length);
    for (const [k, n] of Object.entries(summary.demographics)) {
      const [lo, hi] = summary.demographicsInterval[k] as readonly [number, number];
      expect(lo).toBeLessThanOrEqual(n);
      expect(hi).toBeGreaterThanOrEqual(n);
    }
    for (const p of summary.persons) expect(p.lastSeenMs).toBeGreaterThanOrEqual(p.firstSeenMs);

    // Track rows only name confirmed persons, and frames come in order.
    const ids = new Set(entered.map((e) => e.personId));
    for (const f of frames) for (const t of f.tracks) expect(ids.has(t.trackId)).toBe(true);
    expect(frames.map((f) => f.seq)).toEqual([...frames.map((f) => f.seq)].sort((a, b) => a - b));
    expect(frames.some((f) => f.tracks.length > 0)).toBe(true);

    // Re-id descriptors: the tracker asks for a few per track (DEFAULT_DESCRIPTORS_PER_TRACK), not one per face.
    const described = detections.flatMap((d) => d.faces.filter((f) => f.descriptor !== undefined));
    expect(result.stats.descriptors).toBe(described.length);
    expect(described.length).toBeGreaterThanOrEqual(entered.length);
    expect(described.length).toBeLessThan(result.stats.faces);
    for (const f of described) expect(f.descriptor?.length).toBe(1024);
    // A confirmed person's rows carry their face's box: at most descriptorsPerTrack of those faces came with a descriptor.
    const perPerson = new Map<number, number>();
    for (const [i, f] of frames.entries()) {
      const faces = (detections[i] as FrameDetections).faces;
      for (const t of f.tracks) if (faces.some((face) => face.descriptor !== undefined && face.box.every((v, c) => v === t.box[c]))) perPerson.set(t.trackId, (perPerson.get(t.trackId) ?? 0) + 1);
    }
    for (const n of perPerson.values()) expect(n).toBeLessThanOrEqual(DEFAULT_DESCRIPTORS_PER_TRACK);
  });

  it('spares age/gender for settled tracks (the tracker wantsAttributes hint) with the same people and estimates', async () => {
    const run = async (attributes: boolean): Promise<{ result: Awaited<ReturnType<typeof runPipeline>>; detections: FrameDetections[] }> => {
      const detections: FrameDetections[] = [];
      const result = await runPipeline({ sinks: [{ onDetections: (d) => void detections.push(d) }] }, { logger, stages: () => createStages({ source: clip, sourceId: 'clip', realtime: false, config, ...(attributes ? {} : { tracker: { attributes: false } }) }, { logger }) });
      return { result, detections };
    };
    const every = await run(false);
    const scheduled = await run(true);
    expect(every.result.stats.attributes).toBe(every.result.stats.faces);
    expect(scheduled.result.stats.faces).toBe(every.result.stats.faces);
    expect(scheduled.result.stats.attributes).toBeLessThan(scheduled.result.stats.faces);
    const bare = scheduled.detections.flatMap((d) => d.faces.filter((f) => f.ageYears === undefined));
    expect(bare.length).toBe(scheduled.result.stats.faces - scheduled.result.stats.attributes);
    // A spared face still has its box, score, keypoints and quality for the tracker.
    for (const f of bare) expect([f.quality !== undefined, f.landmarks !== undefined, f.gender, f.maleProbability]).toEqual([true, true, undefined, undefined]);
    // The same people, and fused estimates that moved little: the spared faces were of settled tracks.
    expect(scheduled.result.persons.map((p) => p.id)).toEqual(every.result.persons.map((p) => p.id));
    for (const [i, p] of scheduled.result.persons.entries()) {
      const q = every.result.persons[i];
      if (p.ageYears === null || q?.ageYears == null) continue;
      expect(Math.abs(p.ageYears - q.ageYears)).toBeLessThan(3);
      expect(Math.abs((p.maleProbability ?? NaN) - (q.maleProbability ?? NaN))).toBeLessThan(0.15);
    }
  });

  it('stops on abort, finishes open tracks and leaves no ffmpeg behind', async () => {
    const controller = new AbortController();
    let stages: PipelineStages | undefined;
    let pid: number | undefined;
    const events: TrackEvent[] = [];
    const result = await runPipeline(
      {
        signal: controller.signal,
        sinks: [{ onEvents: (e) => void events.push(...e) }],
        onFrame: (p) => {
          pid ??= stages?.source.status().pid;
          // Enough frames to confirm a track, then stop a looping real-time source that would never end.
          if (p.frames === 8) controller.abort();
        },
      },
      {
        logger,
        stages: async () => (stages = await createStages({ source: clip, sourceId: 'clip', realtime: true, loop: true, config }, { logger })),
      },
    );
    expect(result.reason).toBe('aborted');
    expect(result.stats.frames).toBe(8);
    expect(pid).toBeTypeOf('number');
    expect(pidAlive(pid as number)).toBe(false);
    expect(stages?.source.status().state).toBe('stopped');
    const entered = events.filter((e) => e.type === 'person.entered').map((e) => e.personId);
    const left = events.filter((e) => e.type === 'person.left').map((e) => e.personId);
    expect(new Set(left)).toEqual(new Set(entered));
  });

  it('fails clearly when the source cannot be opened, closing everything', async () => {
    const missing = path.join(dir, 'no-such-video.mp4');
    await expect(runPipeline({}, { logger, stages: () => createStages({ source: missing, sourceId: 'missing', realtime: false, config }, { logger }) })).rejects.toThrow(/not found|no such file/i);
  });
});

describe('runPipeline with the motion gate (detect schedule adaptive, the default)', () => {
  it('skips every model on an empty stretch of a real clip, and finds the people before it in zoomed regions', async () => {
    // The clip above, then 4 s of the same kind of background with nobody in it.
    const emptyS = 4;
    const empty = path.join(dir, 'empty.mp4');
    const bg = 'gradients=s=480x270:r=10:c0=0x3a4a5a:c1=0x8a9aa0:speed=0.002:seed=4,format=yuv420p,noise=c0s=5:c0f=t';
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', bg, '-t', String(emptyS), '-r', '10', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p', empty]);
    const gapClip = path.join(dir, 'busy-then-empty.mp4');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', clip, '-i', empty, '-filter_complex', '[0:v][1:v]concat=n=2:v=1:a=0[v]', '-map', '[v]', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p', gapClip]);
    expect(config.infer.detectSchedule).toBe('adaptive');

    const detections: FrameDetections[] = [];
    const result = await runPipeline({ sinks: [{ onDetections: (d) => void detections.push(d) }] }, { logger, stages: () => createStages({ source: gapClip, sourceId: 'gap', realtime: false, config }, { logger }) });
    const busyMs = truth.video.duration_s * 1000;
    expect(result.stats.frames).toBe((truth.video.duration_s + emptyS) * 5);
    const busy = detections.filter((d) => d.capturedAtMs < busyMs);
    const emptyFrames = detections.filter((d) => d.capturedAtMs >= busyMs);
    expect(busy.reduce((n, d) => n + d.faces.length, 0)).toBeGreaterThan(0);
    expect(emptyFrames.every((d) => d.faces.length === 0)).toBe(true);
    // Between full scans the people are looked for only around their tracks and where something moved.
    expect(result.stats.regionFrames).toBeGreaterThan(0);
    // Once the last track has ended (maxMissedMs 1 s after the last face) and the motion background has
    // forgotten the people (alpha 0.2 per frame: well within 2 s), nothing moves and nothing is tracked:
    // every such frame is skipped (the idle scan comes only every 10 s).
    const idle = emptyFrames.filter((d) => d.capturedAtMs >= busyMs + 2000).length;
    expect(idle).toBe(10);
    expect(result.stats.skippedFrames).toBeGreaterThanOrEqual(idle);
    expect(result.stats.stages.motion.count).toBe(result.stats.frames);
    expect(result.stats.stages.detect.count).toBe(result.stats.frames);
  });
});
