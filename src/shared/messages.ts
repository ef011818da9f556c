/**
 * Typed messages that flow one way through crowdlens:
 * Frame -> FrameDetections -> TrackEvent -> DemographicsSnapshot.
 * Defined once here; stage folders (ingest, infer, track, api) import these and never each other.
 */

/** Axis-aligned box as [x1, y1, x2, y2] in source-frame pixels (x2 > x1, y2 > y1). */
export type BoxXyxy = readonly [x1: number, y1: number, x2: number, y2: number];

export type Gender = 'female' | 'male';

/** A per-person gender label: `unknown` when the fused evidence is below the reporting threshold (abstention). */
export type GenderLabel = Gender | 'unknown';

/** A point as [x, y] in source-frame pixels. */
export type PointXy = readonly [x: number, y: number];

/**
 * Face keypoints from the detector (blazeface's six), source-frame pixels. `right`/`left` are the
 * subject's: the right eye appears on the image's left in a frontal, unmirrored face.
 */
export interface FaceLandmarks {
  readonly rightEye: PointXy;
  readonly leftEye: PointXy;
  /** Nose tip. */
  readonly nose: PointXy;
  /** Mouth centre. */
  readonly mouth: PointXy;
  /** Ear tragions: unreliable when that side of the head is turned away. */
  readonly rightEar: PointXy;
  readonly leftEar: PointXy;
}

/**
 * How much one face observation can be trusted for age and gender, from what the detector gives
 * (src/infer/quality.ts). Present on faces from the analyzer; absent on detections from elsewhere.
 */
export interface FaceQuality {
  /** Overall quality 0..1 (from size, detector score and pose; src/infer/quality.ts); fusion weights by it and ignores faces below its floor. */
  readonly score: number;
  /** Face side, sqrt of box area, source pixels. */
  readonly sidePx: number;
  /** In-plane rotation of the eye line, degrees (positive: clockwise in the image); 0 without landmarks. */
  readonly rollDeg: number;
  /**
   * Head turn from the nose's horizontal offset from the eyes' midpoint, as a fraction of the eye
   * distance measured along the eye line (0 frontal, about +-0.5 at a strong turn); 0 without landmarks.
   */
  readonly yaw: number;
  /** Mean absolute Laplacian of the face's grey crop resampled to 32x32, grey levels (higher is sharper); absent when not measured. */
  readonly sharpness?: number;
}

/** One decoded video frame, raw RGB24 (3 bytes per pixel, row-major, no padding). */
export interface Frame {
  /** Source this frame came from (camera id, or the file path for `analyze`/`run`). */
  readonly sourceId: string;
  /** 0-based sequence number at the sampled rate; gaps are never reused after reconnects. */
  readonly seq: number;
  /** Capture time in ms since the Unix epoch: the stream's pts anchored to wall clock for live sources, pts from 0 for files. */
  readonly capturedAtMs: number;
  /** Presentation time in ms from the start of the current ffmpeg session. */
  readonly ptsMs: number;
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** RGB24 bytes, `width * height * 3` long. May be a view into a reused buffer: copy to keep it. */
  readonly rgb: Uint8Array;
}

/** A face found by the detector. */
export interface FaceDetection {
  /** Face box in source-frame pixels. */
  readonly box: BoxXyxy;
  /** Detector confidence, 0..1. */
  readonly score: number;
  /** Keypoints when the detector gives them (blazeface does), source-frame pixels. */
  readonly landmarks?: FaceLandmarks;
  /** Observation quality, computed by the analyzer right after detection (before age/gender). */
  readonly quality?: FaceQuality;
}

/** Age and gender estimated from one face crop. */
export interface FaceAttributes {
  /** Estimated age in years. */
  readonly ageYears: number;
  readonly gender: Gender;
  /** Confidence of `gender` as the model gives it, 0.5..1 (not calibrated). */
  readonly genderScore: number;
  /**
   * P(male), 0..1, calibrated so that among faces given 0.8 about 80% are male: for the `age_gender`
   * model from its logit, faceres' logit when the face also got a faceres pass, and the face size
   * (src/infer/heads/trust.json, fitted by `npm run fit:trust`); for `fused` its CV-fitted head's;
   * for `faceres` that model's own (uncalibrated) sigmoid. Absent when the analyzer has no calibration.
   */
  readonly maleProbability?: number;
}

/** The attribute fields of a face whose age/gender was not computed (the tracker said it needs none). */
export interface NoFaceAttributes {
  readonly ageYears?: undefined;
  readonly gender?: undefined;
  readonly genderScore?: undefined;
  readonly maleProbability?: undefined;
}

/**
 * A detected face with its estimated attributes and, when requested, its face descriptor. Attributes
 * are absent (all four fields undefined) only when the caller's `wantAttributes` hint declined them;
 * test `face.ageYears !== undefined` (or {@link hasAttributes}) before reading them.
 */
export type Face = FaceDetection &
  (FaceAttributes | NoFaceAttributes) & {
    /** L2-normalised face descriptor (1024-d, faceres) when requested; held in memory only. */
    readonly descriptor?: Float32Array;
  };

/** Whether a face carries age/gender. */
export function hasAttributes<F extends Face>(face: F): face is F & FaceAttributes {
  return face.ageYears !== undefined;
}

/** All faces found in one frame. */
export interface FrameDetections {
  readonly sourceId: string;
  readonly seq: number;
  /** Capture time of the frame, ms since the Unix epoch (or since file start). */
  readonly capturedAtMs: number;
  readonly width: number;
  readonly height: number;
  readonly faces: readonly Face[];
}

/** Age buckets used by demographics, inclusive lower bounds in years. */
export const AGE_BUCKETS = ['0-12', '13-17', '18-24', '25-34', '35-44', '45-54', '55-64', '65+'] as const;
export type AgeBucket = (typeof AGE_BUCKETS)[number];

/** Maps an age in years to its demographics bucket. */
export function ageBucketOf(ageYears: number): AgeBucket {
  if (ageYears < 13) return '0-12';
  if (ageYears < 18) return '13-17';
  if (ageYears < 25) return '18-24';
  if (ageYears < 35) return '25-34';
  if (ageYears < 45) return '35-44';
  if (ageYears < 55) return '45-54';
  if (ageYears < 65) return '55-64';
  return '65+';
}

/** Key of a demographics cell, e.g. `"25-34/female"`. */
export type DemographicsKey = `${AgeBucket}/${Gender}`;

/** Key of a cell counted by per-person labels, abstention included, e.g. `"25-34/unknown"`. */
export type DemographicsLabelKey = `${AgeBucket}/${GenderLabel}`;

/** A person's fused estimate, reported once enough good observations exist. */
export interface PersonEstimate {
  /** Fused age (quality-weighted median of the observations), years. */
  readonly ageYears: number;
  /**
   * The gender label: `unknown` while the fused confidence ({@link genderScore}) is below the
   * reporting threshold chosen by measurement (src/track's FusionParams.minGenderConfidence).
   */
  readonly gender: GenderLabel;
  /** Confidence of the more likely gender after fusion, 0.5..1 (calibrated: max(maleProbability, 1 - maleProbability)). */
  readonly genderScore: number;
  /** Fused, calibrated P(male), 0..1: what the demographics table counts this person as (e.g. 0.6 male, 0.4 female). */
  readonly maleProbability: number;
  /** Age interval the true age lies in with 80% probability (10th..90th percentile of the measured age error), years; absent without an age error model. */
  readonly ageRangeYears?: readonly [low: number, high: number] | undefined;
  /** Observations fused into this estimate (those above the quality floor that carried attributes). */
  readonly samples: number;
}

interface PersonEventBase {
  readonly sourceId: string;
  /** Stable person id within a source (a returning person keeps their id). */
  readonly personId: number;
  /** Time of the frame that caused the event, ms. */
  readonly atMs: number;
  /** Latest face box, source pixels. */
  readonly box: BoxXyxy;
}

export interface PersonEnteredEvent extends PersonEventBase {
  readonly type: 'person.entered';
  /** True when the descriptor matched a person who left earlier within the re-identification window. */
  readonly returning: boolean;
}

export interface PersonUpdatedEvent extends PersonEventBase {
  readonly type: 'person.updated';
  readonly estimate: PersonEstimate;
}

export interface PersonLeftEvent extends PersonEventBase {
  readonly type: 'person.left';
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Time in view for this appearance, ms. */
  readonly dwellMs: number;
  readonly estimate: PersonEstimate | null;
}

/** An interval of a count, [low, high] people. */
export type CountInterval = readonly [low: number, high: number];

/** Per-source crowd demographics at one moment. */
export interface DemographicsSnapshot {
  readonly type: 'demographics';
  readonly sourceId: string;
  readonly atMs: number;
  /** Confirmed people in view now. */
  readonly peopleNow: number;
  /** Unique people seen in trailing windows and since start. */
  readonly unique: { readonly lastMinute: number; readonly lastHour: number; readonly lastDay: number; readonly sinceStart: number };
  /**
   * Unique people since start with an estimate, by age bucket x gender, counted by their fused
   * distributions (soft counts, not integers): a person with P(male) 0.6 adds 0.6 to a male cell and
   * 0.4 to a female one, spread over age buckets by the age model's measured error. Sums to `estimated`.
   */
  readonly byAgeGender: Readonly<Record<DemographicsKey, number>>;
  /**
   * 90% interval per cell of `byAgeGender` from the fused distributions (each person's share of a
   * cell is an independent Bernoulli; normal approximation of the sum, clamped to [0, estimated]), people.
   */
  readonly byAgeGenderInterval: Readonly<Record<DemographicsKey, CountInterval>>;
  /** Unique people since start with an estimate (the total of `byAgeGender`). */
  readonly estimated: number;
  /** Unique people since start without one yet (no observation good enough): in no cell. */
  readonly withoutEstimate: number;
  /** Unique people with an estimate by their per-person gender label; `unknown` is the explicit abstention share. */
  readonly byGenderLabel: { readonly female: number; readonly male: number; readonly unknown: number };
  /** Mean dwell of people who left, ms (0 when none yet). */
  readonly averageDwellMs: number;
}

export type TrackEvent = PersonEnteredEvent | PersonUpdatedEvent | PersonLeftEvent | DemographicsSnapshot;

// ---- Scale-out messages (src/scale): frames by reference, the inference job, its result. ----

/** How a frame's pixels are held in Redis between the camera owner and a worker. */
export type FrameEncoding = 'jpeg' | 'rgb';

/**
 * A sampled frame by reference: its bytes sit in Redis under `key` for a short TTL; job JSON carries
 * this, never pixels.
 */
export interface FrameRef {
  /** Camera id (the Frame's sourceId). */
  readonly sourceId: string;
  /** The Frame's seq: 0-based at the sampled rate, increasing within one `epoch`. */
  readonly seq: number;
  /** Capture time, ms since the Unix epoch. */
  readonly capturedAtMs: number;
  /** Redis key of the bytes, under the deployment's prefix; deleted once analysed, else expires. */
  readonly key: string;
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** `jpeg` (sharp, quality in the store's options) or `rgb` (RGB24, `width * height * 3` bytes). */
  readonly encoding: FrameEncoding;
  /** Stored size, bytes. */
  readonly byteLength: number;
  /**
   * Fencing token of the camera lease under which the frame was sampled. Seqs restart with a new
   * owner, so (sourceId, epoch, seq) names a frame; results for another epoch are ignored.
   */
  readonly epoch: number;
}

/** The tracker's gates that a face plan (descriptors, attributes) carries: how a face is matched to a live track. */
export interface TrackGates {
  /** Tracker IoU gate: a face continues a track when IoU with its box >= this (and > 0). */
  readonly iouThreshold: number;
  /** Faces scoring below this are ignored by the tracker: no model runs for them. */
  readonly minScore: number;
  /** A face that continues no track is worth a model run only when it scores at least this (it may start one). */
  readonly minScoreToStart: number;
}

/**
 * What a camera's tracker tells a remote analyzer about which faces need a face descriptor: the
 * inputs of src/track's CrowdTracker.wantsDescriptor, taken when the frame is submitted (a callback
 * cannot cross processes). Boxes are the live tracks' last boxes, source pixels.
 */
export interface DescriptorPlan extends TrackGates {
  /** Boxes of live tracks that still want descriptors. */
  readonly wanting: readonly BoxXyxy[];
  /** Boxes of live tracks that have all the descriptors they keep. */
  readonly satisfied: readonly BoxXyxy[];
  /** Faces whose quality score (0..1) is below this get no descriptor. Absent: no quality gate. */
  readonly qualityFloor?: number | undefined;
  /** A face that continues no live track gets no descriptor (it waits for its second sighting). Default false. */
  readonly newTracksWait?: boolean | undefined;
}

/** Which faces of a frame get a descriptor: none, every face, or as the tracker's plan says. */
export type DescriptorRequest = 'none' | 'all' | DescriptorPlan;

/** A live track as an {@link AttributePlan} carries it. */
export interface AttributePlanTrack {
  /** The track's last face box, source pixels. */
  readonly box: BoxXyxy;
  /** The track needs age/gender now: its estimate is not settled yet, or its periodic re-check is due. */
  readonly needs: boolean;
  /** A face continuing it gets age/gender anyway when its quality score is at least this ("much better" than any fused so far). */
  readonly improvedQuality: number;
}

/**
 * What a camera's tracker tells a remote analyzer about which faces need age/gender: the inputs of
 * src/track's CrowdTracker.wantsAttributes (its attribute schedule) for one frame, taken when the frame
 * is submitted, evaluated per face by src/track's planWantsAttributes.
 */
export interface AttributePlan extends TrackGates {
  /** Faces whose quality score (0..1) is below this get no age/gender (fusion would ignore them). */
  readonly qualityFloor: number;
  /** The live tracks (those not ended by the frame's capture time). */
  readonly tracks: readonly AttributePlanTrack[];
}

/** Which faces of a frame get age/gender: every face (no schedule), or as the tracker's plan says. */
export type AttributeRequest = 'all' | AttributePlan;

/**
 * Where a worker's detector looks in a frame: the camera's detect schedule plan taken when the frame was
 * submitted (src/track's DetectionPlan; `skip` frames are never submitted). Boxes are source pixels: `tracks`
 * where live tracks' faces are expected, `motion` the moving areas.
 */
export type DetectInstruction =
  | { readonly mode: 'scan'; readonly tracks?: readonly BoxXyxy[]; readonly motion?: readonly BoxXyxy[] }
  | { readonly mode: 'regions'; readonly tracks: readonly BoxXyxy[]; readonly motion: readonly BoxXyxy[] };

/** An inference job's data: a frame reference, where to send the result, and the tracker's hints. */
export interface InferJob {
  readonly frame: FrameRef;
  /** Redis list (under the prefix) the worker pushes the result to: the camera owner's inbox. */
  readonly replyTo: string;
  readonly descriptors: DescriptorRequest;
  /** Where to detect; absent: a full scan. */
  readonly detect?: DetectInstruction;
  /** Which faces get age/gender; absent: every face. */
  readonly attributes?: AttributeRequest;
}

/** Why a frame's result never reached the tracker. */
export type FrameLostReason =
  /** No result within the result deadline. */
  | 'deadline'
  /** The worker found the bytes gone (TTL passed before it got to the frame). */
  | 'expired'
  /** The job failed for good (bad data, or transient faults past the attempts). */
  | 'failed';
