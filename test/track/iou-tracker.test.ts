import { describe, expect, it } from 'vitest';
import { DEFAULT_TRACKER_PARAMS, FACE_TRACKER_PARAMS, IouTracker, type TrackerEvent, type TrackerParams } from '../../src/track/iou-tracker.ts';
import type { BoxXyxy } from '../../src/shared/messages.ts';
import { SORT_NOISE } from '../../src/track/kalman.ts';

const box = (x: number, y = 0, w = 40, h = 80): BoxXyxy => [x, y, x + w, y + h];
const det = (b: BoxXyxy, score = 0.9) => ({ box: b, score });
const frameAt = (seq: number, fps = 25) => ({ seq, timeMs: (seq * 1000) / fps });
/**
 * The mechanism tests below set what they exercise on top of a plain SORT-like lifecycle (the pre-LOO
 * defaults), so that they do not depend on the tuned DEFAULT_TRACKER_PARAMS.
 */
const BASE: Partial<TrackerParams> = { iouThreshold: 0.3, minHits: 3, maxMissedMs: 1000, minScore: 0.5, minScoreToStart: 0.5, motionModel: 'kalman', confirmAtStart: false, kalmanNoise: SORT_NOISE };
const tracker = (params: Partial<TrackerParams> = {}): IouTracker => new IouTracker({ ...BASE, ...params });
const ofType = <T extends TrackerEvent['type']>(events: TrackerEvent[], type: T) => events.filter((e): e is Extract<TrackerEvent, { type: T }> => e.type === type);

describe('IouTracker lifecycle', () => {
  it('goes tentative -> confirmed -> ended, reporting every match', () => {
    const t = tracker({ minHits: 3, maxMissedMs: 100, motion: false });
    const e1 = t.update([det(box(10))], frameAt(1));
    expect(e1).toEqual([{ type: 'matched', trackId: 1, detectionIndex: 0, confirmed: false, box: box(10), timeMs: 40 }]);
    expect(t.update([det(box(12))], frameAt(2))).toEqual([{ type: 'matched', trackId: 1, detectionIndex: 0, confirmed: false, box: box(12), timeMs: 80 }]);
    const e3 = t.update([det(box(14))], frameAt(3));
    expect(e3.map((e) => e.type)).toEqual(['confirmed', 'matched']);
    expect(e3[1]).toMatchObject({ trackId: 1, confirmed: true });
    expect(t.activeTracks()).toEqual([{ id: 1, box: box(14), confirmed: true, hits: 3 }]);
    // 80 ms later still alive (<= 100 ms unmatched), 160 ms later ended.
    expect(t.update([], frameAt(5))).toEqual([]);
    expect(t.update([], frameAt(7))).toEqual([{ type: 'ended', trackId: 1, confirmed: true, firstSeenMs: 40, lastSeenMs: 120, hits: 3, timeMs: 280 }]);
    expect(t.activeTracks()).toEqual([]);
  });

  it('a miss resets the streak: hits must be consecutive to confirm', () => {
    const t = tracker({ minHits: 2, maxMissedMs: 1000, motion: false });
    t.update([det(box(0))], frameAt(1));
    t.update([], frameAt(2));
    expect(ofType(t.update([det(box(0))], frameAt(3)), 'confirmed')).toEqual([]);
    expect(ofType(t.update([det(box(0))], frameAt(4)), 'confirmed')).toEqual([{ type: 'confirmed', trackId: 1, timeMs: 160 }]);
  });

  it('never reuses ids, also after finish()', () => {
    const t = tracker({ minHits: 1, maxMissedMs: 0, motion: false });
    const ids: number[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      // The person blinks out every other frame, so each reappearance is a new track.
      const events = t.update(seq % 2 === 1 ? [det(box(0))] : [], frameAt(seq));
      ids.push(...ofType(events, 'matched').map((e) => e.trackId));
    }
    const ended = ofType(t.finish(frameAt(6)), 'ended');
    ids.push(...ofType(t.update([det(box(0))], frameAt(8)), 'matched').map((e) => e.trackId));
    expect(ids).toEqual([1, 2, 3, 4]);
    expect(ended.map((e) => e.trackId)).toEqual([3]);
  });

  it('judges skipped frames by time, not by frame count', () => {
    // Same gap in frames (seq 1 -> 10), different gaps in time.
    const fast = tracker({ minHits: 1, maxMissedMs: 200, motion: false });
    fast.update([det(box(0))], { seq: 1, timeMs: 0 });
    expect(ofType(fast.update([det(box(2))], { seq: 10, timeMs: 150 }), 'matched')[0]?.trackId).toBe(1);
    const slow = tracker({ minHits: 1, maxMissedMs: 200, motion: false });
    slow.update([det(box(0))], { seq: 1, timeMs: 0 });
    const events = slow.update([det(box(2))], { seq: 10, timeMs: 450 });
    expect(ofType(events, 'ended').map((e) => e.trackId)).toEqual([1]);
    expect(ofType(events, 'matched')[0]?.trackId).toBe(2);
  });

  it('ignores detections below minScore but keeps their input indexes', () => {
    const t = tracker({ minHits: 1, minScore: 0.5 });
    const events = ofType(t.update([det(box(0), 0.2), det(box(200), 0.8)], frameAt(1)), 'matched');
    expect(events.map((e) => [e.trackId, e.detectionIndex])).toEqual([[1, 1]]);
  });
});

describe('IouTracker motion', () => {
  /** A person walking 12 px per frame, then 3 frames without detections, then seen again 48 px further. */
  function fastMove(motion: boolean): number[] {
    const t = tracker({ minHits: 1, maxMissedMs: 500, iouThreshold: 0.3, motion });
    const ids: number[] = [];
    for (let seq = 1; seq <= 12; seq++) {
      const seen = seq <= 8 || seq === 12;
      const events = t.update(seen ? [det(box(12 * seq))] : [], frameAt(seq));
      ids.push(...ofType(events, 'matched').map((e) => e.trackId));
    }
    return ids;
  }

  it('keeps the id across a fast move over skipped frames with motion, loses it without', () => {
    expect(new Set(fastMove(true))).toEqual(new Set([1]));
    expect(fastMove(false).at(-1)).toBe(2);
  });

  it('keeps both ids when two people cross', () => {
    const t = tracker({ minHits: 1, maxMissedMs: 300, iouThreshold: 0.3, motion: true });
    const history = new Map<number, number[]>(); // track id -> x positions
    for (let seq = 1; seq <= 30; seq++) {
      // A walks right, B walks left on a slightly different row; they overlap fully mid-way.
      const a = box(10 * seq, 0);
      const b = box(310 - 10 * seq, 10);
      const events = ofType(t.update([det(b), det(a)], frameAt(seq)), 'matched');
      for (const e of events) history.set(e.trackId, [...(history.get(e.trackId) ?? []), e.detectionIndex === 1 ? 1 : -1]);
    }
    // Exactly two tracks, each always matched to the same person (+1 = A, -1 = B).
    expect([...history.keys()]).toEqual([1, 2]);
    for (const dirs of history.values()) expect(new Set(dirs).size).toBe(1);
  });

  it('predicts with velocity per ms: same motion at a lower frame rate keeps the id too', () => {
    const t = tracker({ minHits: 1, maxMissedMs: 1000, iouThreshold: 0.3, motion: true });
    const ids = new Set<number>();
    // 0.3 px/ms: 12 px per 40 ms for 8 frames, then frames 200 ms apart (60 px, more than a box width of 40).
    const times = [0, 40, 80, 120, 160, 200, 240, 280, 480, 680, 880];
    for (const [i, ms] of times.entries()) {
      for (const e of ofType(t.update([det(box(0.3 * ms))], { seq: i, timeMs: ms }), 'matched')) ids.add(e.trackId);
    }
    expect(ids).toEqual(new Set([1]));
  });
});

describe('IouTracker Kalman motion', () => {
  /** A box moving 10 px per frame at 25 fps, unseen at `hidden` frames; returns the track ids matched. */
  function occluded(params: Partial<TrackerParams>, hidden: ReadonlySet<number>): number[] {
    const t = tracker({ minHits: 1, maxMissedMs: 500, iouThreshold: 0.3, ...params });
    const ids: number[] = [];
    for (let seq = 1; seq <= 14; seq++) {
      const events = t.update(hidden.has(seq) ? [] : [det(box(10 * seq, 0, 30, 60))], frameAt(seq));
      ids.push(...ofType(events, 'matched').map((e) => e.trackId));
    }
    return ids;
  }

  it('keeps the id through a 2-frame occlusion of a moving box, loses it without motion', () => {
    // 30 px wide, 10 px/frame: 3 frames later the box has moved 30 px, no overlap with where it was last seen.
    const hidden = new Set([9, 10]);
    expect(new Set(occluded({ motion: true, motionModel: 'kalman' }, hidden))).toEqual(new Set([1]));
    expect(occluded({ motion: false }, hidden).at(-1)).toBe(2);
  });

  it('is the default motion model, and constant-velocity stays available', () => {
    expect(new IouTracker().params.motionModel).toBe('kalman');
    expect(new Set(occluded({ motion: true, motionModel: 'constant-velocity' }, new Set([9, 10])))).toEqual(new Set([1]));
  });

  it('predicts by elapsed time: frames skipped by the camera move the prediction as far as the time that passed', () => {
    // 0.25 px/ms, 40 ms frames; then the camera drops to one frame per 240 ms (60 px, twice the box width).
    const t = tracker({ minHits: 1, maxMissedMs: 1000, iouThreshold: 0.3, motionModel: 'kalman' });
    const times = [0, 40, 80, 120, 160, 200, 240, 480, 720, 960];
    const ids = new Set<number>();
    let last: BoxXyxy | undefined;
    for (const [i, ms] of times.entries()) {
      for (const e of ofType(t.update([det(box(0.25 * ms, 0, 30, 60))], { seq: i, timeMs: ms }), 'matched')) {
        ids.add(e.trackId);
        last = e.box;
      }
    }
    expect(ids).toEqual(new Set([1]));
    // The reported (filtered) box follows the detection: within a few px of x = 240.
    expect(Math.abs((last as BoxXyxy)[0] - 240)).toBeLessThan(3);
  });

  it('kalmanNoise: a larger measurement variance trusts the prediction more (the reported box lags a jump)', () => {
    const jumpAfter = (kalmanNoise: TrackerParams['kalmanNoise']): number => {
      const t = tracker({ minHits: 1, maxMissedMs: 1000, iouThreshold: 0.1, minScore: 0.5, minScoreToStart: 0.5, motionModel: 'kalman', ...(kalmanNoise ? { kalmanNoise } : {}) });
      for (let i = 0; i < 5; i++) t.update([det(box(0))], frameAt(i));
      // The detection jumps 10 px right; the filtered box moves part of the way.
      const [m] = ofType(t.update([det(box(10))], frameAt(5)), 'matched');
      return (m as { box: BoxXyxy }).box[0];
    };
    const sort = jumpAfter(undefined);
    const smooth = jumpAfter({ measurePositionVar: 100 });
    expect(sort).toBeGreaterThan(5);
    expect(smooth).toBeGreaterThan(0);
    expect(smooth).toBeLessThan(sort - 2);
    // Fields not given keep SORT's values: naming SORT's own value changes nothing.
    expect(jumpAfter({ measurePositionVar: 1 })).toBe(sort);
  });

  it('confirmAtStart confirms tracks in the first minHits frames at once, later ones after minHits hits, again after finish()', () => {
    const t = tracker({ minHits: 3, confirmAtStart: true });
    expect(ofType(t.update([det(box(0))], frameAt(1)), 'confirmed').map((e) => e.trackId)).toEqual([1]);
    expect(ofType(t.update([det(box(0)), det(box(300))], frameAt(2)), 'confirmed').map((e) => e.trackId)).toEqual([2]);
    // Frame 4 is past the start: a new track waits for its 3 hits.
    t.update([det(box(0)), det(box(300))], frameAt(3));
    const born = ofType(t.update([det(box(0)), det(box(300)), det(box(600))], frameAt(4)), 'matched').find((e) => e.detectionIndex === 2);
    expect(born).toMatchObject({ trackId: 3, confirmed: false });
    t.update([det(box(600))], frameAt(5));
    expect(ofType(t.update([det(box(600))], frameAt(6)), 'confirmed').map((e) => e.trackId)).toEqual([3]);
    t.finish(frameAt(7));
    expect(ofType(t.update([det(box(0))], frameAt(8)), 'matched')).toMatchObject([{ trackId: 4, confirmed: true }]);
  });

  it('minScoreToStart: a low-score detection continues a track but never starts one', () => {
    const t = tracker({ minHits: 1, minScore: 0.5, minScoreToStart: 0.9, motion: false });
    expect(t.update([det(box(0), 0.6)], frameAt(1))).toEqual([]);
    expect(ofType(t.update([det(box(0), 0.95)], frameAt(2)), 'matched').map((e) => e.trackId)).toEqual([1]);
    const events = ofType(t.update([det(box(2), 0.6), det(box(300), 0.7)], frameAt(3)), 'matched');
    expect(events.map((e) => [e.trackId, e.detectionIndex])).toEqual([[1, 0]]);
  });

  it('minScoreToStart: high-score detections are matched first', () => {
    // Two detections overlap the track; the low-score one overlaps it more, but the high-score one wins.
    const t = tracker({ minHits: 1, minScore: 0.3, minScoreToStart: 0.9, motion: false });
    t.update([det(box(0))], frameAt(1));
    const events = ofType(t.update([det(box(1), 0.5), det(box(8), 0.95)], frameAt(2)), 'matched');
    expect(events.map((e) => [e.trackId, e.detectionIndex])).toEqual([[1, 1]]);
  });
});

describe('IouTracker validation', () => {
  it('uses the documented defaults', () => {
    expect(new IouTracker().params).toEqual(DEFAULT_TRACKER_PARAMS);
  });

  it('FACE_TRACKER_PARAMS: the defaults but for the start gate, maxMissedMs, minHits and confirmAtStart; a 0.8-score face starts a track there only', () => {
    const { minScoreToStart, maxMissedMs, minHits, confirmAtStart, ...rest } = FACE_TRACKER_PARAMS;
    const { minScoreToStart: _a, maxMissedMs: _b, minHits: _c, confirmAtStart: _d, ...defaults } = DEFAULT_TRACKER_PARAMS;
    expect(rest).toEqual(defaults);
    expect([minScoreToStart, maxMissedMs, minHits, confirmAtStart]).toEqual([FACE_TRACKER_PARAMS.minScore, 1000, 3, false]);
    const face = [det(box(0), 0.8)];
    expect(ofType(new IouTracker(FACE_TRACKER_PARAMS).update(face, frameAt(0)), 'matched')).toHaveLength(1);
    expect(ofType(new IouTracker().update(face, frameAt(0)), 'matched')).toHaveLength(0);
  });

  it.each([
    [{ iouThreshold: 1.5 }, /iouThreshold.*1\.5/],
    [{ iouThreshold: -0.1 }, /iouThreshold.*-0\.1/],
    [{ minScore: NaN }, /minScore.*NaN/],
    [{ minHits: 0 }, /minHits.*0/],
    [{ minHits: 2.5 }, /minHits.*2\.5/],
    [{ maxMissedMs: -1 }, /maxMissedMs.*-1/],
    [{ maxMissedMs: Infinity }, /maxMissedMs.*Infinity/],
    [{ motion: 'yes' as unknown as boolean }, /motion.*yes/],
    [{ motionModel: 'particle' as unknown as 'kalman' }, /motionModel.*particle/],
    [{ confirmAtStart: 1 as unknown as boolean }, /confirmAtStart.*1/],
    [{ minScoreToStart: 2 }, /minScoreToStart.*2/],
    [{ kalmanNoise: { stepMs: 0 } }, /kalmanNoise\.stepMs must be a finite number > 0, got 0/],
    [{ kalmanNoise: { measureShapeVar: 0 } }, /kalmanNoise\.measureShapeVar.*> 0, got 0/],
    [{ kalmanNoise: { positionVar: -1 } }, /kalmanNoise\.positionVar.*>= 0, got -1/],
    [{ kalmanNoise: { velocityVar: NaN } }, /kalmanNoise\.velocityVar.*NaN/],
    [{ kalmanNoise: { jitter: 1 } as unknown as NonNullable<TrackerParams['kalmanNoise']> }, /kalmanNoise\.jitter is not a noise setting/],
  ])('rejects %o naming the field and value', (params, message) => {
    expect(() => new IouTracker(params)).toThrow(message);
  });

  it('rejects time going backwards and non-finite boxes', () => {
    const t = new IouTracker();
    t.update([], { seq: 5, timeMs: 500 });
    expect(() => t.update([], { seq: 4, timeMs: 400 })).toThrow(/timeMs went backwards: 400 < 500 \(seq 4\)/);
    expect(() => t.update([det([0, 0, NaN, 10])], { seq: 6, timeMs: 600 })).toThrow(/detections\[0\]/);
  });
});
