/**
 * CrowdTracker: one per source. Turns per-frame face detections into people: IoU tracks become
 * persons when confirmed (or re-identified as a returning person by descriptor), each person's age
 * and gender are fused over all their observations, and per-camera demographics are kept and
 * snapshotted on frame time. Pure: no I/O, no clock; deterministic; memory bounded.
 */
import { iou } from '../shared/geometry.ts';
import type { AttributePlan, AttributePlanTrack, AttributeRequest, BoxXyxy, DemographicsSnapshot, DescriptorPlan, FaceQuality, FrameDetections, GenderLabel, PersonEstimate, TrackEvent, TrackGates } from '../shared/messages.ts';
import { Demographics } from './demographics.ts';
import type { DemographicsParams } from './demographics.ts';
import { PersonFusion, fusionParams } from './fusion.ts';
import type { FusionParams, FusionState } from './fusion.ts';
import { FACE_TRACKER_PARAMS, IouTracker } from './iou-tracker.ts';
import type { TrackerEvent, TrackerParams } from './iou-tracker.ts';
import { ReidMemory } from './reid.ts';
import type { ReidParams, ReidStats } from './reid.ts';

/** CrowdTracker options. */
export interface CrowdTrackerOptions {
  /** Source whose frames this tracker receives; frames of another source are rejected. */
  readonly sourceId: string;
  /** IoU tracker parameters on top of FACE_TRACKER_PARAMS (src/track/iou-tracker.ts). */
  readonly tracker?: Partial<TrackerParams>;
  /** Age/gender fusion parameters (see DEFAULT_FUSION_PARAMS). */
  readonly fusion?: Partial<FusionParams>;
  /** Re-identification parameters (see DEFAULT_REID_PARAMS); only used when faces carry descriptors. */
  readonly reid?: Partial<ReidParams>;
  /** Demographics windows and bounds (see DEFAULT_DEMOGRAPHICS_PARAMS). */
  readonly demographics?: Partial<DemographicsParams>;
  /** A demographics snapshot is emitted every this many ms of frame time, from the first frame; 0 disables. Default 10000. */
  readonly snapshotEveryMs?: number;
  /** Person summaries kept for {@link CrowdTracker.persons}; beyond it the earliest-seen person not in view is dropped (counted). Default 100000. */
  readonly maxPersons?: number;
  /**
   * Face descriptors a track keeps, counting those taken over from a re-identified person: its
   * re-id descriptor is the mean of its first this many (valid) descriptors, and later ones are
   * ignored (counted), so {@link CrowdTracker.wantsDescriptor} can spare computing them. With the
   * tracker's default minHits (3) a track usually has its 3 when it is confirmed, which is when re-id
   * is decided. Integer >= 1, or Infinity to average every descriptor of the track. Default {@link DEFAULT_DESCRIPTORS_PER_TRACK}.
   */
  readonly descriptorsPerTrack?: number;
  /** Id of the first new person (integer >= 1): a tracker that takes over a camera starts above the ids its predecessor gave. Default 1. */
  readonly firstPersonId?: number;
  /**
   * Record people with descriptors for {@link CrowdTracker.takeCarried} (when confirmed, and when they leave), so
   * another tracker of the same camera can recognise them ({@link CrowdTracker.importCarried}). Default false.
   */
  readonly carry?: boolean;
  /**
   * When tracks stop getting age/gender ({@link CrowdTracker.wantsAttributes}); `false` gives every
   * face attributes (as before this schedule existed). Default {@link DEFAULT_ATTRIBUTE_SCHEDULE}.
   */
  readonly attributes?: Partial<AttributeSchedule> | false;
}

/**
 * A person as carried to another tracker of the same camera (e.g. a new owner process) so that a return within
 * the re-identification window is recognised: their descriptor evidence and age/gender evidence. Plain data.
 */
export interface CarriedPerson {
  readonly personId: number;
  /** Last sighting, ms of frame time. */
  readonly lastSeenMs: number;
  /** Recorded while the person was in view (at confirmation) rather than when they left. */
  readonly inView: boolean;
  /** Mean of the person's (first few) face descriptors. */
  readonly descriptor: Float32Array;
  /** Descriptors behind the mean. */
  readonly descriptorCount: number;
  readonly fusion: FusionState;
  /** The estimate last reported in a person event, or null. */
  readonly lastReported: PersonEstimate | null;
}

/** Carried records queued at most (oldest dropped first, counted) when nobody takes them. */
const MAX_CARRY_QUEUE = 10_000;

/** Default {@link CrowdTrackerOptions.descriptorsPerTrack}. */
export const DEFAULT_DESCRIPTORS_PER_TRACK = 3;

/**
 * Which faces of a track still need age/gender inference. A track is settled once its fused estimate
 * has held (same gender label, age within the fusion's `stableAgeYears`) for `settleSamples` fused
 * observations and either its gender is answered or it has `maxSamples` fused observations (more of
 * the same will not decide it). A settled track gets attributes again only every `recheckMs`, or for
 * a face whose quality is at least `improveFactor` x the best fused so far (much larger or more
 * frontal). Faces below the fusion's quality floor never get attributes (fusion would ignore them)
 * nor, while the schedule is on, a re-id descriptor. Defaults measured with bench:pipeline and
 * bench:crowd (README): fused age and gender as with every face, at far fewer model runs.
 */
export interface AttributeSchedule {
  /** Fused observations the estimate must hold for, count >= 1. Default 3. */
  readonly settleSamples: number;
  /** A track whose gender stays `unknown` settles after this many fused observations, count. Default 15. */
  readonly maxSamples: number;
  /** Re-check period of a settled track, ms of frame time. Default 3000. */
  readonly recheckMs: number;
  /** Quality ratio over the best fused observation that triggers a re-check, > 1. Default 1.3. */
  readonly improveFactor: number;
}

export const DEFAULT_ATTRIBUTE_SCHEDULE: AttributeSchedule = Object.freeze({ settleSamples: 3, maxSamples: 15, recheckMs: 3000, improveFactor: 1.3 });

function attributeSchedule(partial: Partial<AttributeSchedule> | false | undefined): AttributeSchedule | null {
  if (partial === false) return null;
  const s = { ...DEFAULT_ATTRIBUTE_SCHEDULE, ...partial };
  if (!(Number.isInteger(s.settleSamples) && s.settleSamples >= 1)) throw new Error(`crowd option attributes.settleSamples must be an integer >= 1, got ${String(s.settleSamples)}`);
  if (!(Number.isInteger(s.maxSamples) && s.maxSamples >= s.settleSamples)) throw new Error(`crowd option attributes.maxSamples must be an integer >= settleSamples, got ${String(s.maxSamples)}`);
  if (!(Number.isFinite(s.recheckMs) && s.recheckMs >= 0)) throw new Error(`crowd option attributes.recheckMs must be a finite number >= 0, got ${String(s.recheckMs)}`);
  if (!(s.improveFactor > 1 && Number.isFinite(s.improveFactor))) throw new Error(`crowd option attributes.improveFactor must be a finite number > 1, got ${String(s.improveFactor)}`);
  return Object.freeze(s);
}

/** A face as {@link CrowdTracker.wantsDescriptor} and {@link CrowdTracker.wantsAttributes} see it: before age/gender and descriptor. */
export interface DescriptorCandidate {
  /** Face box, source pixels. */
  readonly box: BoxXyxy;
  /** Detector score, 0..1; without it the score gates of the tracker are not applied. */
  readonly score?: number;
  /** Observation quality (src/infer computes it right after detection); without it the quality rules are not applied. */
  readonly quality?: FaceQuality;
}

/** One person, for `crowdlens run --summary`. */
export interface PersonSummary {
  /** Stable person id within the source. */
  readonly id: number;
  /** First and last sighting over all appearances, ms. */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Times the person came into view (1 + returns). */
  readonly appearances: number;
  /** Total time in view over finished appearances, ms. */
  readonly dwellMs: number;
  /** Fused age, years, or null while the person has no estimate (too few good observations). */
  readonly ageYears: number | null;
  /** Gender label (`unknown` below the fusion's reporting threshold), or null without an estimate. */
  readonly gender: GenderLabel | null;
  /** Confidence of the more likely gender, 0.5..1, or null without an estimate. */
  readonly genderScore: number | null;
  /** Fused, calibrated P(male), or null without an estimate. */
  readonly maleProbability: number | null;
  /** 80% interval of the true age, years, when an age error model is configured. */
  readonly ageRangeYears: readonly [number, number] | null;
  /** Observations fused. */
  readonly samples: number;
}

/** Counters of what was dropped or matched. */
export interface CrowdStats {
  readonly frames: number;
  readonly persons: number;
  readonly returning: number;
  /** Person summaries dropped by `maxPersons`. */
  readonly personsEvicted: number;
  /** Tracks that ended before confirmation (their observations were discarded). */
  readonly tentativeDiscarded: number;
  /** Face descriptors ignored because they had non-finite values. */
  readonly descriptorsRejected: number;
  /** Face descriptors ignored because their track already had `descriptorsPerTrack`. */
  readonly descriptorsIgnored: number;
  /** Carried records dropped because nobody took them (queue bound). */
  readonly carryDropped: number;
  /** Carried people imported into the re-identification memory. */
  readonly carryImported: number;
  /** Faces of confirmed or tentative tracks that arrived without age/gender (the schedule said they need none). */
  readonly facesWithoutAttributes: number;
  readonly reid: ReidStats;
  /** People dropped from the demographics window table by its bound. */
  readonly demographicsEvicted: number;
}

interface TrackState {
  readonly fusion: PersonFusion;
  descriptorSum: Float64Array | null;
  descriptorCount: number;
  readonly firstSeenMs: number;
  lastSeenMs: number;
  box: BoxXyxy;
  /** Detector score of the latest matched face. */
  score: number;
  personId: number | null;
  lastReported: PersonEstimate | null;
  /** Frame time of the latest face with attributes, ms (-Infinity before one). */
  lastAttributesMs: number;
}

interface PersonRecord {
  readonly id: number;
  readonly firstSeenMs: number;
  lastSeenMs: number;
  appearances: number;
  dwellMs: number;
  estimate: PersonEstimate | null;
  samples: number;
}

/** What the re-id memory keeps for a departed person: their evidence, so a return continues it. */
interface DepartedPerson {
  readonly fusion: PersonFusion;
  readonly descriptorSum: Float64Array;
  readonly descriptorCount: number;
  readonly lastReported: PersonEstimate | null;
}

/** Not ignored by the tracker outright: a non-empty box and a score at or above its minScore. */
function trackable(gates: TrackGates, face: DescriptorCandidate): boolean {
  const { box, score } = face;
  if (score !== undefined && !(score >= gates.minScore)) return false;
  return box[2] > box[0] && box[3] > box[1];
}

/** Whether a face with box `box` continues a track whose last box is `track` (IoU at or above the gate, and > 0). */
function continues(gates: TrackGates, track: BoxXyxy, box: BoxXyxy): boolean {
  const overlap = iou(track, box);
  return overlap >= gates.iouThreshold && overlap > 0;
}

/** A face that continues no track starts one only at or above minScoreToStart. */
function canStart(gates: TrackGates, face: DescriptorCandidate): boolean {
  return face.score === undefined || face.score >= gates.minScoreToStart;
}

/**
 * Whether a face gets a descriptor under `plan` (see {@link CrowdTracker.wantsDescriptor}, which is
 * this on the tracker's current plan): false below the tracker's minScore or for an empty box; true
 * when it continues a track that still wants descriptors; false when it continues only satisfied
 * tracks; otherwise (a new face) true when it scores at least minScoreToStart. Pure.
 */
export function planWantsDescriptor(plan: DescriptorPlan, face: DescriptorCandidate): boolean {
  if (!trackable(plan, face)) return false;
  const q = face.quality?.score;
  if (plan.qualityFloor !== undefined && q !== undefined && q < plan.qualityFloor) return false;
  if (plan.wanting.some((b) => continues(plan, b, face.box))) return true;
  if (plan.satisfied.some((b) => continues(plan, b, face.box))) return false;
  if (plan.newTracksWait) return false;
  return canStart(plan, face);
}

/**
 * Whether a face gets age/gender under `request` (see {@link CrowdTracker.wantsAttributes}, which is
 * this on the tracker's current plan): always with `all`; else false when the tracker will ignore the
 * face or its quality is below the floor; for a face that continues no live track, whether it may start
 * one; otherwise true when a track it continues needs attributes now, or the face's quality reaches
 * that track's `improvedQuality`. Pure.
 */
export function planWantsAttributes(request: AttributeRequest, face: DescriptorCandidate): boolean {
  if (request === 'all') return true;
  if (!trackable(request, face)) return false;
  const q = face.quality?.score;
  if (q !== undefined && q < request.qualityFloor) return false;
  const continued = request.tracks.filter((t) => continues(request, t.box, face.box));
  if (continued.length === 0) return canStart(request, face);
  return continued.some((t) => t.needs || (q !== undefined && q >= t.improvedQuality));
}

export class CrowdTracker {
  readonly sourceId: string;
  readonly snapshotEveryMs: number;
  private readonly tracker: IouTracker;
  private readonly fusionParams: Readonly<FusionParams>;
  private readonly reid: ReidMemory<DepartedPerson>;
  private readonly demographics: Demographics;
  private readonly maxPersons: number;
  readonly descriptorsPerTrack: number;
  private readonly tracks = new Map<number, TrackState>();
  /** Insertion order = first sighting. */
  private readonly people = new Map<number, PersonRecord>();
  private readonly inView = new Set<number>();
  private nextPersonId = 1;
  private lastSeq = -1;
  private lastTimeMs = -Infinity;
  private nextSnapshotMs: number | null = null;
  private descriptorSize: number | null = null;
  private readonly carry: boolean;
  private carried: CarriedPerson[] = [];
  private readonly schedule: AttributeSchedule | null;
  private counters = { frames: 0, persons: 0, returning: 0, personsEvicted: 0, tentativeDiscarded: 0, descriptorsRejected: 0, descriptorsIgnored: 0, carryDropped: 0, carryImported: 0, facesWithoutAttributes: 0 };

  constructor(options: CrowdTrackerOptions) {
    if (typeof options.sourceId !== 'string' || options.sourceId === '') throw new Error(`crowd option sourceId must be a non-empty string, got ${JSON.stringify(options.sourceId)}`);
    const every = options.snapshotEveryMs ?? 10_000;
    if (!(Number.isFinite(every) && every >= 0)) throw new Error(`crowd option snapshotEveryMs must be a finite number >= 0, got ${String(every)}`);
    const maxPersons = options.maxPersons ?? 100_000;
    if (!(Number.isInteger(maxPersons) && maxPersons >= 1)) throw new Error(`crowd option maxPersons must be an integer >= 1, got ${String(maxPersons)}`);
    const perTrack = options.descriptorsPerTrack ?? DEFAULT_DESCRIPTORS_PER_TRACK;
    if (!((Number.isInteger(perTrack) && perTrack >= 1) || perTrack === Infinity)) throw new Error(`crowd option descriptorsPerTrack must be an integer >= 1 or Infinity, got ${String(perTrack)}`);
    this.descriptorsPerTrack = perTrack;
    const first = options.firstPersonId ?? 1;
    if (!(Number.isSafeInteger(first) && first >= 1)) throw new Error(`crowd option firstPersonId must be a safe integer >= 1, got ${String(first)}`);
    this.nextPersonId = first;
    this.carry = options.carry ?? false;
    this.sourceId = options.sourceId;
    this.snapshotEveryMs = every;
    this.maxPersons = maxPersons;
    this.tracker = new IouTracker({ ...FACE_TRACKER_PARAMS, ...options.tracker });
    this.fusionParams = fusionParams(options.fusion ?? {});
    this.schedule = attributeSchedule(options.attributes);
    this.reid = new ReidMemory<DepartedPerson>(options.reid ?? {});
    // The soft age split of the table uses the fusion's age error model unless the demographics have their own.
    this.demographics = new Demographics(options.sourceId, { ageError: this.fusionParams.ageError, ...options.demographics });
  }

  /** Feeds one frame; returns its events: person.left, person.entered, person.updated, then any demographics snapshot. */
  update(frame: FrameDetections): TrackEvent[] {
    if (frame.sourceId !== this.sourceId) throw new Error(`frame.sourceId ${JSON.stringify(frame.sourceId)} does not match this tracker's sourceId ${JSON.stringify(this.sourceId)} (seq ${frame.seq})`);
    const atMs = frame.capturedAtMs;
    const trackerEvents = this.tracker.update(frame.faces, { seq: frame.seq, timeMs: atMs });
    this.lastSeq = frame.seq;
    this.lastTimeMs = atMs;
    this.counters.frames++;
    const out: TrackEvent[] = [];
    const confirmedNow: number[] = [];
    const matchedPersons: TrackState[] = [];
    for (const e of trackerEvents) {
      if (e.type === 'ended') this.onEnded(e, out);
      else if (e.type === 'confirmed') confirmedNow.push(e.trackId);
    }
    for (const e of trackerEvents) {
      if (e.type !== 'matched') continue;
      const face = frame.faces[e.detectionIndex];
      if (face === undefined) throw new Error(`tracker matched detectionIndex ${e.detectionIndex} outside frame.faces (length ${frame.faces.length}, seq ${frame.seq})`);
      let t = this.tracks.get(e.trackId);
      if (t === undefined) {
        t = { fusion: new PersonFusion(this.fusionParams), descriptorSum: null, descriptorCount: 0, firstSeenMs: atMs, lastSeenMs: atMs, box: face.box, score: face.score, personId: null, lastReported: null, lastAttributesMs: -Infinity };
        this.tracks.set(e.trackId, t);
      }
      t.lastSeenMs = atMs;
      t.box = face.box;
      t.score = face.score;
      if (face.ageYears !== undefined) t.lastAttributesMs = atMs;
      else this.counters.facesWithoutAttributes++;
      t.fusion.add(face);
      if (face.descriptor !== undefined) {
        const before = t.descriptorCount;
        this.addDescriptor(t, face.descriptor, frame.seq);
        // A person whose descriptors came after confirmation (confirmed at a run's start, or their first faces were
        // poor) is recorded for carrying once they have one and once their set is complete: a new owner of the camera
        // can then recognise them although they never left.
        const n = t.descriptorCount;
        if (t.personId !== null && n > before && (n === 1 || n === this.descriptorsPerTrack)) this.record(t, t.personId, atMs, true);
      }
      if (t.personId !== null) {
        this.demographics.seen(t.personId, atMs);
        const rec = this.people.get(t.personId);
        if (rec !== undefined) rec.lastSeenMs = atMs;
        matchedPersons.push(t);
      }
    }
    for (const trackId of confirmedNow) {
      const t = this.tracks.get(trackId);
      if (t === undefined) continue;
      out.push(this.onConfirmed(t, atMs));
      matchedPersons.push(t);
    }
    for (const t of matchedPersons) this.reportEstimate(t, atMs, out);
    this.reid.expire(atMs);
    this.maybeSnapshot(atMs, out);
    return out;
  }

  /**
   * Whether a descriptor of this face would be used by the next {@link update}: false when the face
   * continues (IoU with the track's last box >= the tracker's iouThreshold) only tracks that already
   * have `descriptorsPerTrack` descriptors, or when the tracker will ignore it (score below minScore,
   * empty box, or below minScoreToStart with no track to continue); true otherwise, so new and
   * tentative faces always get one. The tracker matches predicted boxes and assigns faces jointly,
   * so this is an estimate; a missed or extra descriptor changes nothing but which descriptors make
   * up a track's first few. With the attribute schedule on, faces below the fusion's quality floor
   * get none, nor does the first face of a new track (most one-frame tracks are false detections;
   * the track's next good faces fill its set), except in a run's first frames while departed people
   * could be recognised (re-id decides at confirmation on the track's first faces). Pure: reads state,
   * changes nothing.
   * @param atMs capture time of the frame the face is from, ms; tracks that will have ended by then
   *   (unmatched for more than maxMissedMs) are not continued. Default: no track counts as ended.
   */
  wantsDescriptor(face: DescriptorCandidate, atMs?: number): boolean {
    return planWantsDescriptor(this.descriptorPlan(atMs), face);
  }

  /**
   * The inputs of {@link wantsDescriptor} as plain data, for an analyzer in another process
   * (src/scale sends it with the frame; {@link planWantsDescriptor} evaluates it there).
   * @param atMs capture time of the frame the plan is for, ms; as in {@link wantsDescriptor}.
   * @param framesAhead frames submitted before this one whose results this tracker has not seen yet (a pipelined
   *   analyzer's frames in flight). A face that continues no track in the plan may continue one that those frames
   *   start, so it is not made to wait for a second sighting: a stale plan errs towards a descriptor too many (ignored,
   *   counted), never one too few for a new person, whose re-identification at confirmation needs them. Default 0
   *   (as {@link wantsDescriptor} decides).
   */
  descriptorPlan(atMs?: number, framesAhead = 0): DescriptorPlan {
    const p = this.tracker.params;
    const wanting: BoxXyxy[] = [];
    const satisfied: BoxXyxy[] = [];
    for (const active of this.tracker.activeTracks()) {
      const t = this.tracks.get(active.id);
      if (t === undefined || (atMs !== undefined && atMs - t.lastSeenMs > p.maxMissedMs)) continue;
      (t.descriptorCount < this.descriptorsPerTrack ? wanting : satisfied).push(active.box);
    }
    const plan: DescriptorPlan = { iouThreshold: p.iouThreshold, minScore: p.minScore, minScoreToStart: p.minScoreToStart ?? p.minScore, wanting, satisfied };
    // With the attribute schedule on, faces below the quality floor get no descriptor (a poor crop makes a poor
    // re-id descriptor; the track's next good faces fill its descriptorsPerTrack), and a face that starts a track
    // waits for its second sighting (most one-frame tracks are detector false positives) - except in a run's first
    // frames while departed people could be recognised (e.g. carried over from a camera's previous owner, and likely
    // still in view: re-id decides at confirmation on the descriptors of the track's first faces, so every one of
    // them counts; with confirmAtStart a track is even confirmed on its first face) and in a stale plan.
    if (this.schedule === null) return plan;
    const recognisable = this.tracker.atStart() && this.reid.stats().entries > 0;
    return { ...plan, qualityFloor: this.fusionParams.qualityFloor, newTracksWait: framesAhead === 0 && !recognisable };
  }

  /**
   * Where the faces of live tracks (tentative ones too) are expected in the frame captured at `atMs`
   * (the tracker's motion prediction): the detector's regions between full scans
   * (src/track/detect-schedule.ts). Pure: reads state, changes nothing.
   */
  expectedBoxes(atMs: number): BoxXyxy[] {
    return this.tracker.expectedBoxes(atMs).map((t) => t.box);
  }

  /**
   * Whether age/gender of this face would change what the next {@link update} reports, so that the
   * analyzer can skip the age/gender model for the others (see {@link AttributeSchedule}): false for
   * faces the tracker will ignore, for faces below the fusion's quality floor, and for faces that only
   * continue settled tracks, unless a track is due for its periodic re-check or the face's quality is
   * `improveFactor` x the best fused so far; true otherwise (new and tentative faces, unsettled tracks).
   * With the schedule off (`attributes: false`) true for every face. Like {@link wantsDescriptor} this
   * is an estimate made before the tracker assigns faces; a wrong guess costs one skipped or one extra
   * observation. Pure: reads state, changes nothing.
   * @param atMs capture time of the frame the face is from, ms (for the re-check period and ended tracks).
   */
  wantsAttributes(face: DescriptorCandidate, atMs: number): boolean {
    return planWantsAttributes(this.attributePlan(atMs), face);
  }

  /**
   * The inputs of {@link wantsAttributes} for the frame captured at `atMs` as plain data, for an analyzer in
   * another process (src/scale sends it with the frame; {@link planWantsAttributes} evaluates it there): `all`
   * with the schedule off; else the tracker's gates, the fusion's quality floor and, per live track, its box,
   * whether it needs attributes now (not settled, or its re-check is due at `atMs`) and the quality above which
   * a face of it is much better than any fused so far. Pure: reads state, changes nothing.
   */
  attributePlan(atMs: number): AttributeRequest {
    const s = this.schedule;
    if (s === null) return 'all';
    const p = this.tracker.params;
    const tracks: AttributePlanTrack[] = [];
    for (const active of this.tracker.activeTracks()) {
      const t = this.tracks.get(active.id);
      if (t === undefined || atMs - t.lastSeenMs > p.maxMissedMs) continue;
      const f = t.fusion;
      const settled = f.stableSamples() >= s.settleSamples && (f.genderLabel() !== 'unknown' || f.samples >= s.maxSamples);
      tracks.push({ box: active.box, needs: !settled || atMs - t.lastAttributesMs >= s.recheckMs, improvedQuality: f.bestQuality * s.improveFactor });
    }
    const plan: AttributePlan = { iouThreshold: p.iouThreshold, minScore: p.minScore, minScoreToStart: p.minScoreToStart ?? p.minScore, qualityFloor: this.fusionParams.qualityFloor, tracks };
    return plan;
  }

  /**
   * The latest fused estimate of each person in view that has one (what the demographics table counts them as
   * now): for aggregates kept outside the tracker, e.g. by the scale-out's camera reporter. Pure: reads state.
   */
  estimatesInView(): { personId: number; estimate: PersonEstimate }[] {
    const out: { personId: number; estimate: PersonEstimate }[] = [];
    for (const t of this.tracks.values()) {
      if (t.personId === null || !this.inView.has(t.personId)) continue;
      const estimate = this.people.get(t.personId)?.estimate ?? t.fusion.estimate();
      if (estimate !== null) out.push({ personId: t.personId, estimate });
    }
    return out;
  }

  /** Ends every track at `atMs` (end of stream) and returns their person.left events and a final snapshot. */
  finish(atMs: number): TrackEvent[] {
    const out: TrackEvent[] = [];
    for (const e of this.tracker.finish({ seq: this.lastSeq + 1, timeMs: atMs })) if (e.type === 'ended') this.onEnded(e, out);
    out.push(this.snapshot(atMs));
    return out;
  }

  /** Demographics of this source at `atMs`. */
  snapshot(atMs: number): DemographicsSnapshot {
    return this.demographics.snapshot(atMs);
  }

  /** Every person seen (up to `maxPersons`), in order of first sighting. */
  persons(): PersonSummary[] {
    return [...this.people.values()].map((r) => ({
      id: r.id,
      firstSeenMs: r.firstSeenMs,
      lastSeenMs: r.lastSeenMs,
      appearances: r.appearances,
      dwellMs: r.dwellMs,
      ageYears: r.estimate?.ageYears ?? null,
      gender: r.estimate?.gender ?? null,
      genderScore: r.estimate?.genderScore ?? null,
      maleProbability: r.estimate?.maleProbability ?? null,
      ageRangeYears: r.estimate?.ageRangeYears ?? null,
      samples: r.samples,
    }));
  }

  /** People whose face was matched in the latest frame (MOT rows for `--tracks`): person id, that face's box and score. */
  confirmedTracks(): { personId: number; box: BoxXyxy; score: number }[] {
    const rows: { personId: number; box: BoxXyxy; score: number }[] = [];
    for (const t of this.tracks.values()) if (t.personId !== null && t.lastSeenMs === this.lastTimeMs) rows.push({ personId: t.personId, box: t.box, score: t.score });
    return rows;
  }

  /** The people recorded for carrying since the last call (option `carry`), oldest first; the queue is emptied. */
  takeCarried(): CarriedPerson[] {
    const out = this.carried;
    this.carried = [];
    return out;
  }

  /**
   * Remembers people carried from another tracker of this camera as departed at their `lastSeenMs`, so a
   * return within the re-identification window keeps their id (person.entered `returning: true`) and their
   * age/gender evidence. The latest record per person wins; people known here already are skipped. New
   * ids continue above the highest carried id. Throws naming the field on a malformed record.
   */
  importCarried(records: readonly CarriedPerson[]): void {
    for (const r of [...records].sort((a, b) => a.lastSeenMs - b.lastSeenMs)) {
      if (!(Number.isSafeInteger(r.personId) && r.personId >= 1)) throw new Error(`carried personId must be a safe integer >= 1, got ${String(r.personId)}`);
      if (!Number.isFinite(r.lastSeenMs)) throw new Error(`carried person ${r.personId}: lastSeenMs must be finite, got ${String(r.lastSeenMs)}`);
      if (!(Number.isInteger(r.descriptorCount) && r.descriptorCount >= 1)) throw new Error(`carried person ${r.personId}: descriptorCount must be an integer >= 1, got ${String(r.descriptorCount)}`);
      if (this.descriptorSize === null) this.descriptorSize = r.descriptor.length;
      if (r.descriptor.length !== this.descriptorSize || !r.descriptor.every((v) => Number.isFinite(v))) throw new Error(`carried person ${r.personId}: descriptor must be ${this.descriptorSize} finite values`);
      if (this.inView.has(r.personId) || this.people.has(r.personId)) continue;
      const descriptorSum = Float64Array.from(r.descriptor, (v) => v * r.descriptorCount);
      this.reid.depart(r.personId, Float32Array.from(r.descriptor), r.lastSeenMs, { fusion: PersonFusion.fromState(r.fusion, this.fusionParams), descriptorSum, descriptorCount: r.descriptorCount, lastReported: r.lastReported });
      this.nextPersonId = Math.max(this.nextPersonId, r.personId + 1);
      this.counters.carryImported++;
    }
  }

  stats(): CrowdStats {
    return { ...this.counters, reid: this.reid.stats(), demographicsEvicted: this.demographics.evicted };
  }

  private addDescriptor(t: TrackState, d: Float32Array, seq: number): void {
    if (this.descriptorSize === null) this.descriptorSize = d.length;
    if (d.length !== this.descriptorSize) throw new Error(`face.descriptor length ${d.length} differs from earlier descriptors (${this.descriptorSize}) (seq ${seq})`);
    if (t.descriptorCount >= this.descriptorsPerTrack) {
      this.counters.descriptorsIgnored++;
      return;
    }
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) {
        this.counters.descriptorsRejected++;
        return;
      }
    }
    t.descriptorSum ??= new Float64Array(d.length);
    for (let i = 0; i < d.length; i++) t.descriptorSum[i] = (t.descriptorSum[i] as number) + (d[i] as number);
    t.descriptorCount++;
  }

  private onConfirmed(t: TrackState, atMs: number): TrackEvent {
    // Descriptors so far are those of the tentative phase: the mean of the track's first few faces.
    const match = t.descriptorSum !== null ? this.reid.match(Float32Array.from(t.descriptorSum), t.firstSeenMs, atMs) : null;
    let personId: number;
    if (match !== null) {
      personId = match.personId;
      const before = match.payload;
      t.fusion.absorb(before.fusion);
      const sum = t.descriptorSum as Float64Array;
      // Weight the remembered mean by its count so the person's descriptor stays the mean of all sightings.
      for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + (before.descriptorSum[i] as number);
      t.descriptorCount += before.descriptorCount;
      t.lastReported = before.lastReported;
      this.counters.returning++;
      const rec = this.people.get(personId);
      if (rec !== undefined) {
        rec.appearances++;
        rec.lastSeenMs = atMs;
      } else this.addPerson(personId, t.firstSeenMs, atMs);
    } else {
      personId = this.nextPersonId++;
      this.counters.persons++;
      this.addPerson(personId, t.firstSeenMs, atMs);
    }
    t.personId = personId;
    this.inView.add(personId);
    this.demographics.enter(personId, atMs, match !== null);
    this.record(t, personId, atMs, true);
    return { type: 'person.entered', sourceId: this.sourceId, personId, atMs, box: t.box, returning: match !== null };
  }

  private reportEstimate(t: TrackState, atMs: number, out: TrackEvent[]): void {
    if (t.personId === null) return;
    const est = t.fusion.estimate();
    const rec = this.people.get(t.personId);
    if (rec !== undefined) {
      rec.samples = t.fusion.samples;
      if (est !== null) rec.estimate = est;
    }
    if (est === null) return;
    this.demographics.estimate(t.personId, est);
    const prev = t.lastReported;
    if (prev !== null && prev.gender === est.gender && Math.abs(prev.ageYears - est.ageYears) < 1) return;
    t.lastReported = est;
    out.push({ type: 'person.updated', sourceId: this.sourceId, personId: t.personId, atMs, box: t.box, estimate: est });
  }

  private onEnded(e: Extract<TrackerEvent, { type: 'ended' }>, out: TrackEvent[]): void {
    const t = this.tracks.get(e.trackId);
    this.tracks.delete(e.trackId);
    if (t === undefined) return;
    if (t.personId === null) {
      this.counters.tentativeDiscarded++;
      return;
    }
    const personId = t.personId;
    const dwellMs = t.lastSeenMs - t.firstSeenMs;
    const estimate = t.fusion.estimate();
    this.inView.delete(personId);
    this.demographics.leave(personId, t.lastSeenMs, dwellMs);
    const rec = this.people.get(personId);
    if (rec !== undefined) {
      rec.dwellMs += dwellMs;
      rec.lastSeenMs = t.lastSeenMs;
      rec.samples = t.fusion.samples;
      if (estimate !== null) rec.estimate = estimate;
    }
    if (t.descriptorSum !== null) this.reid.depart(personId, Float32Array.from(t.descriptorSum), t.lastSeenMs, { fusion: t.fusion, descriptorSum: t.descriptorSum, descriptorCount: t.descriptorCount, lastReported: t.lastReported });
    this.record(t, personId, t.lastSeenMs, false);
    out.push({ type: 'person.left', sourceId: this.sourceId, personId, atMs: e.timeMs, box: t.box, firstSeenMs: t.firstSeenMs, lastSeenMs: t.lastSeenMs, dwellMs, estimate });
  }

  private record(t: TrackState, personId: number, lastSeenMs: number, inView: boolean): void {
    if (!this.carry || t.descriptorSum === null || t.descriptorCount === 0) return;
    const n = t.descriptorCount;
    this.carried.push({ personId, lastSeenMs, inView, descriptor: Float32Array.from(t.descriptorSum, (v) => v / n), descriptorCount: n, fusion: t.fusion.toState(), lastReported: t.lastReported });
    if (this.carried.length > MAX_CARRY_QUEUE) {
      this.carried.shift();
      this.counters.carryDropped++;
    }
  }

  private addPerson(id: number, firstSeenMs: number, atMs: number): void {
    this.people.set(id, { id, firstSeenMs, lastSeenMs: atMs, appearances: 1, dwellMs: 0, estimate: null, samples: 0 });
    if (this.people.size <= this.maxPersons) return;
    for (const pid of this.people.keys()) {
      if (!this.inView.has(pid) && pid !== id) {
        this.people.delete(pid);
        this.counters.personsEvicted++;
        return;
      }
    }
  }

  private maybeSnapshot(atMs: number, out: TrackEvent[]): void {
    if (this.snapshotEveryMs === 0) return;
    if (this.nextSnapshotMs === null) {
      this.nextSnapshotMs = atMs + this.snapshotEveryMs;
      return;
    }
    if (atMs < this.nextSnapshotMs) return;
    out.push(this.snapshot(atMs));
    // Stay on the grid anchored at the first frame; a gap in frames yields one snapshot, not a burst.
    while (this.nextSnapshotMs <= atMs) this.nextSnapshotMs += this.snapshotEveryMs;
  }
}
