import { describe, expect, it } from 'vitest';
import type { BoxXyxy } from '../../src/shared/messages.ts';
import { CrowdTracker } from '../../src/track/crowd.ts';
import { DEFAULT_DETECT_SCHEDULE_PARAMS, DetectScheduler, type DetectionPlan, type MotionSummary } from '../../src/track/detect-schedule.ts';
import { FACE_TRACKER_PARAMS, IouTracker } from '../../src/track/iou-tracker.ts';

const still: MotionSummary = { boxes: [], global: false };
const moving: MotionSummary = { boxes: [[100, 100, 200, 200]], global: false };
const restarted: MotionSummary = { boxes: [], global: true };
const track: BoxXyxy = [300, 300, 360, 360];

/** Plans for frames every `stepMs`, each frame's inputs from `input(i)`. */
function run(s: DetectScheduler, frames: number, stepMs: number, input: (i: number) => { tracks?: BoxXyxy[]; motion?: MotionSummary }, startMs = 0): DetectionPlan['mode'][] {
  return Array.from({ length: frames }, (_, i) => {
    const { tracks = [], motion } = input(i);
    return s.plan({ atMs: startMs + i * stepMs, tracks, ...(motion ? { motion } : {}) }).mode;
  });
}

describe('DetectScheduler', () => {
  it('every-frame: a scan on every frame, whatever moves', () => {
    const s = new DetectScheduler({ mode: 'every-frame' });
    expect(run(s, 5, 200, (i) => ({ motion: i % 2 ? still : moving }))).toEqual(['scan', 'scan', 'scan', 'scan', 'scan']);
    expect(s.stats()).toEqual({ scan: 5, regions: 0, skip: 0 });
  });

  it('gated: skips frames where nothing moves and nothing is tracked, but for a scan every idleScanEveryMs', () => {
    const s = new DetectScheduler({ mode: 'gated', idleScanEveryMs: 1000 });
    // Frame 0: the background starts (global). Then still frames; a scan once a second; motion or a track: scan.
    const modes = run(s, 12, 200, (i) => (i === 0 ? { motion: restarted } : i === 8 ? { motion: moving } : i === 9 ? { motion: still, tracks: [track] } : { motion: still }));
    expect(modes).toEqual(['scan', 'skip', 'skip', 'skip', 'skip', 'scan', 'skip', 'skip', 'scan', 'scan', 'skip', 'skip']);
  });

  it('adaptive: regions between scans, a scan every scanEveryMs while active; scans carry the tracks and motion too', () => {
    const s = new DetectScheduler({ mode: 'adaptive', scanEveryMs: 1000, idleScanEveryMs: 5000 });
    const plans: DetectionPlan[] = [];
    for (let i = 0; i < 8; i++) plans.push(s.plan({ atMs: i * 200, tracks: i === 0 ? [] : [track], motion: i === 0 ? restarted : moving }));
    expect(plans.map((p) => p.mode)).toEqual(['scan', 'regions', 'regions', 'regions', 'regions', 'scan', 'regions', 'regions']);
    expect(plans[1]).toEqual({ mode: 'regions', tracks: [track], motion: moving.boxes });
    expect(plans[5]).toEqual({ mode: 'scan', tracks: [track], motion: moving.boxes });
    // The first frame knows nothing about motion: a plain scan.
    expect(plans[0]).toEqual({ mode: 'scan' });
    // Idle: skipped until idleScanEveryMs after the last scan.
    const idle = run(s, 30, 200, () => ({ motion: still }), 1600).map((m, i) => `${(8 + i) * 200}:${m}`);
    expect(idle.filter((x) => x.endsWith(':scan'))).toEqual(['6000:scan']);
  });

  it('without a motion gate (no motion given) every frame is scanned: nothing is known about motion', () => {
    const s = new DetectScheduler({ mode: 'adaptive' });
    expect(run(s, 3, 200, () => ({ tracks: [track] }))).toEqual(['scan', 'scan', 'scan']);
  });

  it('rejects bad parameters and time going backwards, naming them', () => {
    expect(DEFAULT_DETECT_SCHEDULE_PARAMS.mode).toBe('adaptive');
    expect(() => new DetectScheduler({ mode: 'sometimes' as never })).toThrow(/mode must be one of every-frame, gated, adaptive, got "sometimes"/);
    expect(() => new DetectScheduler({ scanEveryMs: -1 })).toThrow(/scanEveryMs must be a finite number >= 0, got -1/);
    const s = new DetectScheduler();
    s.plan({ atMs: 1000, tracks: [], motion: still });
    expect(() => s.plan({ atMs: 999, tracks: [], motion: still })).toThrow(/went backwards: 999 < 1000/);
  });
});

describe('expected boxes of live tracks', () => {
  it('IouTracker predicts where a moving track will be, leaves out tracks that will have ended, and changes nothing', () => {
    // The face pipeline's parameters: the MOT-chosen defaults gate track starts at score 0.96.
    const a = new IouTracker({ ...FACE_TRACKER_PARAMS, maxMissedMs: 1000 });
    const b = new IouTracker({ ...FACE_TRACKER_PARAMS, maxMissedMs: 1000 });
    for (let i = 0; i < 4; i++) {
      const box: BoxXyxy = [100 + 20 * i, 100, 160 + 20 * i, 160];
      const ea = a.update([{ box, score: 0.9 }], { seq: i, timeMs: i * 200 });
      const eb = b.update([{ box, score: 0.9 }], { seq: i, timeMs: i * 200 });
      expect(ea).toEqual(eb);
      // Asking must not change what the tracker does next.
      a.expectedBoxes(i * 200 + 100);
    }
    const [next] = a.expectedBoxes(800);
    expect(next?.confirmed).toBe(true);
    // Moving right 20 px per 200 ms: at 800 ms the box is ahead of the last one (160..220), close to 180..240.
    expect(next?.box[0]).toBeGreaterThan(165);
    expect(next?.box[0]).toBeLessThan(190);
    expect(a.expectedBoxes(600 + 1001)).toEqual([]);
    const e1 = a.update([{ box: [180, 100, 240, 160], score: 0.9 }], { seq: 4, timeMs: 800 });
    const e2 = b.update([{ box: [180, 100, 240, 160], score: 0.9 }], { seq: 4, timeMs: 800 });
    expect(e1).toEqual(e2);
  });

  it('CrowdTracker.expectedBoxes lists tentative and confirmed tracks', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam' });
    const face = (box: BoxXyxy) => ({ box, score: 0.9, ageYears: 30, gender: 'male' as const, genderScore: 0.9 });
    crowd.update({ sourceId: 'cam', seq: 0, capturedAtMs: 0, width: 640, height: 360, faces: [face([10, 10, 50, 50]), face([300, 100, 360, 160])] });
    const boxes = crowd.expectedBoxes(200);
    expect(boxes).toHaveLength(2);
    expect(crowd.expectedBoxes(5000)).toEqual([]);
  });
});
