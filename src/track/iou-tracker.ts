/**
 * Pure IoU tracker (SORT-like): optimal IoU assignment between each track's predicted box and the frame's
 * detections, motion prediction per millisecond (SORT's Kalman filter, or an alpha-beta filter on the box
 * corners), tentative -> confirmed -> ended lifecycle driven by frame timestamps. No I/O, no clock, deterministic.
 */
import { iou } from '../shared/geometry.ts';
import type { BoxXyxy } from '../shared/messages.ts';
import { linearSumAssignment } from './hungarian.ts';
import { BoxKalman, SORT_NOISE, type KalmanNoise } from './kalman.ts';

/** Tracker parameters. */
export interface TrackerParams {
  /** Minimum IoU between a track's (predicted) box and a detection to match, 0..1. Default 0.3. */
  iouThreshold: number;
  /** Consecutive hits (no unmatched frame in between) before a track is confirmed (counts, >= 1). Default 2. */
  minHits: number;
  /** A track unmatched for longer than this (ms, by frame timestamps) ends. Default 300. */
  maxMissedMs: number;
  /** Detections below this score are ignored, 0..1. Default 0.5. */
  minScore: number;
  /**
   * Box prediction between frames with the filter chosen by {@link TrackerParams.motionModel}; the box
   * reported on a match is then the filtered box. Off: tracks stay where last seen and report raw
   * detection boxes. Default true.
   */
  motion: boolean;
  /**
   * The motion filter when `motion` is on: 'kalman' = SORT's Kalman filter on [cx, cy, area, aspect] with
   * velocities, time step from frame timestamps (src/track/kalman.ts); 'constant-velocity' = alpha-beta
   * filter on the box corners. Default 'kalman'.
   */
  motionModel?: 'kalman' | 'constant-velocity';
  /**
   * Confirm at once every track matched in the first `minHits` frames after construction (or finish()),
   * as SORT outputs every track in its first `min_hits` frames: at stream start a person in view has no
   * earlier frames in which to build up hits. Default true.
   */
  confirmAtStart?: boolean;
  /**
   * Detections scoring at least `minScore` but below this can only continue an existing track (matched
   * after the higher-scoring detections, to the tracks those left), never start one, 0..1. Default: equal
   * to `minScore` (every usable detection can start a track); DEFAULT_TRACKER_PARAMS sets 0.96.
   */
  minScoreToStart?: number;
  /**
   * Noise of the Kalman filter (motionModel 'kalman'): fields not given keep SORT's values
   * ({@link SORT_NOISE}: variances per 40 ms step; see {@link KalmanNoise} for each field's unit).
   * Without the field, SORT_NOISE; DEFAULT_TRACKER_PARAMS sets SORT's with a tenth of its process noise.
   */
  kalmanNoise?: Partial<KalmanNoise>;
}

/**
 * The defaults: chosen by `npm run bench:tracking -- --loo` on MOT15-train (SORT's public detections,
 * pedestrians at 7-30 fps), the same coordinate search as each leave-one-sequence-out fold but on all 8
 * sequences; see the README's tracking table for the held-out figures. The Kalman noise is SORT's with
 * the process noise scaled by 0.1 (the measurement noise unchanged).
 */
export const DEFAULT_TRACKER_PARAMS: TrackerParams = Object.freeze({
  iouThreshold: 0.3,
  minHits: 2,
  maxMissedMs: 300,
  minScore: 0.5,
  minScoreToStart: 0.96,
  motion: true,
  motionModel: 'kalman',
  confirmAtStart: true,
  kalmanNoise: Object.freeze({ stepMs: 40, positionVar: 0.1, velocityVar: 0.001, areaVelocityVar: 1e-5, measurePositionVar: 1, measureShapeVar: 10 }),
});

/**
 * The face pipeline's tracker (CrowdTracker): DEFAULT_TRACKER_PARAMS with four overrides measured on
 * `npm run bench:crowd` (blazeface faces sampled at 5 fps, 3 seeds; README "Crowd") and `npm run bench:real`.
 * No start gate (minScoreToStart = minScore): blazeface scores stay below MOT's 0.96 gate, so with it no face
 * ever became a person. maxMissedMs 1000 and minHits 3: MOT's 300 ms is a single missed frame at 5 fps, and
 * with MOT's 300 ms / minHits 2 the three clips had 8 ID switches and 12/9/11 unique persons for 10/10/10,
 * against 1 and 9/10/10 with these (1 and 10/9/10 with the pre-LOO defaults). confirmAtStart off: a person
 * is a count, and SORT's rule made every detection of a camera's first 3 frames one, flicker included (the
 * real clips: 16 persons for 13 people with it, 13 without; walking's 20 px faces 5 for 2); a person already
 * in view is counted 3 frames (0.6 s at 5 fps) later instead, and the crowd clips' counts do not change.
 */
export const FACE_TRACKER_PARAMS: TrackerParams = Object.freeze({
  ...DEFAULT_TRACKER_PARAMS,
  minScoreToStart: DEFAULT_TRACKER_PARAMS.minScore,
  maxMissedMs: 1000,
  minHits: 3,
  confirmAtStart: false,
});

/** One detection fed to the tracker. */
export interface TrackerDetection {
  readonly box: BoxXyxy;
  readonly score: number;
}

/** The frame a batch of detections belongs to. */
export interface TrackerFrame {
  readonly seq: number;
  /** Frame timestamp, ms; must not decrease between calls. */
  readonly timeMs: number;
}

export type TrackerEvent =
  /** Every track matched this frame (tentative too, and tracks born this frame); detectionIndex indexes the input array. */
  | { type: 'matched'; trackId: number; detectionIndex: number; confirmed: boolean; box: BoxXyxy; timeMs: number }
  /** Once, when a track becomes confirmed (emitted before its 'matched' of that frame). */
  | { type: 'confirmed'; trackId: number; timeMs: number }
  | { type: 'ended'; trackId: number; confirmed: boolean; firstSeenMs: number; lastSeenMs: number; hits: number; timeMs: number };

interface Track {
  readonly id: number;
  box: BoxXyxy;
  /** Box velocity, px per ms, per coordinate (alpha-beta filter). */
  velocity: [number, number, number, number];
  /** Kalman filter (motionModel 'kalman'), else null. */
  readonly kalman: BoxKalman | null;
  /** Time the Kalman state was last predicted to, ms. */
  stateMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  hits: number;
  hitStreak: number;
  confirmed: boolean;
}

/**
 * Alpha-beta filter gains: the share of the residual (detection - prediction) taken into the box and into
 * the velocity. Chosen on MOT15-train (bench/tracking.ts); raw detection boxes (gain 1) scored lower.
 */
const POSITION_GAIN = 0.6;
const VELOCITY_GAIN = 0.2;

export class IouTracker {
  readonly params: Readonly<TrackerParams>;
  private tracks: Track[] = [];
  private nextId = 1;
  private lastTimeMs = -Infinity;
  /** Frames fed since construction or finish(), for confirmAtStart. */
  private framesSinceStart = 0;
  private readonly model: 'kalman' | 'constant-velocity';
  private readonly noise: KalmanNoise;

  constructor(params: Partial<TrackerParams> = {}) {
    this.params = Object.freeze(validateParams({ ...DEFAULT_TRACKER_PARAMS, ...params }));
    this.model = this.params.motionModel ?? 'kalman';
    this.noise = Object.freeze({ ...SORT_NOISE, ...this.params.kalmanNoise });
  }

  /** Feeds one frame's detections; returns this frame's events in order (ended, confirmed, matched). */
  update(detections: readonly TrackerDetection[], frame: TrackerFrame): TrackerEvent[] {
    this.checkFrame(frame);
    const { timeMs } = frame;
    const p = this.params;
    this.framesSinceStart++;
    const events: TrackerEvent[] = [];
    const minStart = p.minScoreToStart ?? p.minScore;
    const high: number[] = [];
    const low: number[] = [];
    for (let i = 0; i < detections.length; i++) {
      const d = detections[i] as TrackerDetection;
      if (!d.box.every(Number.isFinite) || !Number.isFinite(d.score)) throw new Error(`detections[${i}]: box and score must be finite, got box=[${d.box.join(',')}] score=${d.score}`);
      if (d.score >= p.minScore && d.box[2] > d.box[0] && d.box[3] > d.box[1]) (d.score >= minStart ? high : low).push(i);
    }
    // Tracks unmatched for too long end before matching, so that a long gap cannot revive them.
    this.tracks = this.tracks.filter((t) => {
      if (timeMs - t.lastSeenMs <= p.maxMissedMs) return true;
      events.push(endEvent(t, timeMs));
      return false;
    });
    const predicted = this.tracks.map((t) => this.predict(t, timeMs));
    const trackToDet = new Map<number, number>();
    const assign = (rows: readonly number[], cols: readonly number[]): void => {
      const cost = rows.map((k) => cols.map((i) => {
        const v = iou(predicted[k] as BoxXyxy, (detections[i] as TrackerDetection).box);
        return v >= p.iouThreshold && v > 0 ? 1 - v : NaN;
      }));
      for (const { row, col } of linearSumAssignment(cost)) trackToDet.set(rows[row] as number, cols[col] as number);
    };
    assign(this.tracks.map((_, k) => k), high);
    if (low.length > 0) assign(this.tracks.map((_, k) => k).filter((k) => !trackToDet.has(k)), low);

    const survivors: Track[] = [];
    const matchedEvents: TrackerEvent[] = [];
    const confirmedEvents: TrackerEvent[] = [];
    for (let k = 0; k < this.tracks.length; k++) {
      const t = this.tracks[k] as Track;
      const di = trackToDet.get(k);
      if (di === undefined) {
        t.hitStreak = 0;
        survivors.push(t);
        continue;
      }
      const det = (detections[di] as TrackerDetection).box;
      const box = p.motion ? this.correct(t, det, predicted[k] as BoxXyxy, timeMs - t.lastSeenMs) : det;
      t.box = box;
      t.lastSeenMs = timeMs;
      t.hits++;
      t.hitStreak++;
      this.confirmIfDue(t, timeMs, confirmedEvents);
      matchedEvents.push({ type: 'matched', trackId: t.id, detectionIndex: di, confirmed: t.confirmed, box, timeMs });
      survivors.push(t);
    }
    const taken = new Set(trackToDet.values());
    for (const i of high) {
      if (taken.has(i)) continue;
      const box = (detections[i] as TrackerDetection).box;
      const kalman = p.motion && this.model === 'kalman' ? new BoxKalman(box, this.noise) : null;
      const t: Track = { id: this.nextId++, box, velocity: [0, 0, 0, 0], kalman, stateMs: timeMs, firstSeenMs: timeMs, lastSeenMs: timeMs, hits: 1, hitStreak: 1, confirmed: false };
      this.confirmIfDue(t, timeMs, confirmedEvents);
      matchedEvents.push({ type: 'matched', trackId: t.id, detectionIndex: i, confirmed: t.confirmed, box, timeMs });
      survivors.push(t);
    }
    this.tracks = survivors;
    events.push(...confirmedEvents, ...matchedEvents);
    return events;
  }

  /** Ends every live track (end of stream); the tracker can be fed again afterwards with new ids. */
  finish(frame: TrackerFrame): TrackerEvent[] {
    this.checkFrame(frame);
    const events = this.tracks.map((t) => endEvent(t, frame.timeMs));
    this.tracks = [];
    this.framesSinceStart = 0;
    return events;
  }

  /** Live tracks with their last matched box. */
  activeTracks(): readonly { id: number; box: BoxXyxy; confirmed: boolean; hits: number }[] {
    return this.tracks.map((t) => ({ id: t.id, box: t.box, confirmed: t.confirmed, hits: t.hits }));
  }

  /**
   * Where each live track's box is expected at `timeMs` (>= the last frame's time): the motion filter's
   * prediction, or the last box with motion off. Tracks that will have ended by then (unmatched for more
   * than maxMissedMs) are left out. Changes nothing: the next {@link update} predicts the same way.
   */
  expectedBoxes(timeMs: number): { id: number; box: BoxXyxy; confirmed: boolean }[] {
    const out: { id: number; box: BoxXyxy; confirmed: boolean }[] = [];
    for (const t of this.tracks) {
      if (timeMs - t.lastSeenMs > this.params.maxMissedMs) continue;
      out.push({ id: t.id, box: this.peek(t, timeMs), confirmed: t.confirmed });
    }
    return out;
  }

  private peek(t: Track, timeMs: number): BoxXyxy {
    if (!this.params.motion) return t.box;
    if (t.kalman) return t.kalman.peek(timeMs - t.stateMs) ?? t.box;
    const dt = timeMs - t.lastSeenMs;
    const b: [number, number, number, number] = [0, 0, 0, 0];
    for (let c = 0; c < 4; c++) b[c] = (t.box[c] as number) + (t.velocity[c] as number) * dt;
    return b[2] > b[0] && b[3] > b[1] ? b : t.box;
  }

  /** Whether the next frame is within the first minHits frames since construction or finish() (a run's start). Pure. */
  atStart(): boolean {
    return this.framesSinceStart + 1 <= this.params.minHits;
  }

  /** Whether a track that the next frame starts is confirmed at once (confirmAtStart, within the first minHits frames). Pure. */
  confirmsAtOnce(): boolean {
    return this.params.confirmAtStart === true && this.atStart();
  }

  private confirmIfDue(t: Track, timeMs: number, out: TrackerEvent[]): void {
    if (t.confirmed) return;
    const atStart = this.params.confirmAtStart === true && this.framesSinceStart <= this.params.minHits;
    if (!atStart && t.hitStreak < this.params.minHits) return;
    t.confirmed = true;
    out.push({ type: 'confirmed', trackId: t.id, timeMs });
  }

  /** Filter step: blends prediction and measurement; returns the box to report. */
  private correct(t: Track, det: BoxXyxy, pred: BoxXyxy, dt: number): BoxXyxy {
    if (t.kalman) {
      t.kalman.update(det);
      return t.kalman.box() ?? det;
    }
    // Alpha-beta: updates the velocity from the residual.
    if (dt <= 0) return det;
    const out: [number, number, number, number] = [0, 0, 0, 0];
    for (let c = 0; c < 4; c++) {
      if (t.hits === 1) {
        t.velocity[c] = ((det[c] as number) - (t.box[c] as number)) / dt;
        out[c] = det[c] as number;
        continue;
      }
      const r = (det[c] as number) - (pred[c] as number);
      out[c] = (pred[c] as number) + POSITION_GAIN * r;
      t.velocity[c] = (t.velocity[c] as number) + (VELOCITY_GAIN * r) / dt;
    }
    return out[2] > out[0] && out[3] > out[1] ? out : det;
  }

  private predict(t: Track, timeMs: number): BoxXyxy {
    if (!this.params.motion) return t.box;
    if (t.kalman) {
      // Stepped every frame (not once from the last hit), as SORT does, so a miss grows the uncertainty.
      t.kalman.predict(timeMs - t.stateMs);
      t.stateMs = timeMs;
      return t.kalman.box() ?? t.box;
    }
    const dt = timeMs - t.lastSeenMs;
    const b: [number, number, number, number] = [0, 0, 0, 0];
    for (let c = 0; c < 4; c++) b[c] = (t.box[c] as number) + (t.velocity[c] as number) * dt;
    // A shrinking box must not invert; keep the last box's size in that case.
    return b[2] > b[0] && b[3] > b[1] ? b : t.box;
  }

  private checkFrame(frame: TrackerFrame): void {
    if (!Number.isFinite(frame.timeMs)) throw new Error(`frame.timeMs must be finite, got ${frame.timeMs} (seq ${frame.seq})`);
    if (frame.timeMs < this.lastTimeMs) throw new Error(`frame.timeMs went backwards: ${frame.timeMs} < ${this.lastTimeMs} (seq ${frame.seq})`);
    this.lastTimeMs = frame.timeMs;
  }
}

function endEvent(t: Track, timeMs: number): TrackerEvent {
  return { type: 'ended', trackId: t.id, confirmed: t.confirmed, firstSeenMs: t.firstSeenMs, lastSeenMs: t.lastSeenMs, hits: t.hits, timeMs };
}

/** Throws on an invalid parameter, naming the field and the value. */
export function validateParams(p: TrackerParams): TrackerParams {
  const unit = (name: keyof TrackerParams, v: unknown): void => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`tracker param ${name} must be a number within 0..1, got ${String(v)}`);
  };
  unit('iouThreshold', p.iouThreshold);
  unit('minScore', p.minScore);
  if (typeof p.minHits !== 'number' || !Number.isInteger(p.minHits) || p.minHits < 1) throw new Error(`tracker param minHits must be an integer >= 1, got ${String(p.minHits)}`);
  if (typeof p.maxMissedMs !== 'number' || !Number.isFinite(p.maxMissedMs) || p.maxMissedMs < 0) throw new Error(`tracker param maxMissedMs must be a finite number >= 0, got ${String(p.maxMissedMs)}`);
  if (typeof p.motion !== 'boolean') throw new Error(`tracker param motion must be a boolean, got ${String(p.motion)}`);
  if (p.motionModel !== undefined && p.motionModel !== 'kalman' && p.motionModel !== 'constant-velocity') throw new Error(`tracker param motionModel must be 'kalman' or 'constant-velocity', got ${String(p.motionModel)}`);
  if (p.confirmAtStart !== undefined && typeof p.confirmAtStart !== 'boolean') throw new Error(`tracker param confirmAtStart must be a boolean, got ${String(p.confirmAtStart)}`);
  if (p.minScoreToStart !== undefined) unit('minScoreToStart', p.minScoreToStart);
  if (p.kalmanNoise !== undefined) {
    if (typeof p.kalmanNoise !== 'object' || p.kalmanNoise === null) throw new Error(`tracker param kalmanNoise must be an object, got ${String(p.kalmanNoise)}`);
    for (const [k, v] of Object.entries(p.kalmanNoise)) {
      if (!(k in SORT_NOISE)) throw new Error(`tracker param kalmanNoise.${k} is not a noise setting (expected one of ${Object.keys(SORT_NOISE).join(', ')})`);
      // stepMs and the measurement variances must be > 0 (a zero measurement variance can make the innovation singular); process noise may be 0.
      const positive = k === 'stepMs' || k.startsWith('measure');
      if (typeof v !== 'number' || !Number.isFinite(v) || (positive ? !(v > 0) : !(v >= 0))) throw new Error(`tracker param kalmanNoise.${k} must be a finite number ${positive ? '> 0' : '>= 0'}, got ${String(v)}`);
    }
  }
  return p;
}
