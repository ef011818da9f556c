/**
 * Typed messages that flow one way through crowdlens:
 * Frame -> FrameDetections -> TrackEvent -> DemographicsSnapshot.
 * Defined once here; stage folders (ingest, infer, track, api) import these and never each other.
 */

/** Axis-aligned box as [x1, y1, x2, y2] in source-frame pixels (x2 > x1, y2 > y1). */
export type BoxXyxy = readonly [x1: number, y1: number, x2: number, y2: number];

export type Gender = 'female' | 'male';

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
}

/** Age and gender estimated from one face crop. */
export interface FaceAttributes {
  /** Estimated age in years. */
  readonly ageYears: number;
  readonly gender: Gender;
  /** Confidence of `gender`, 0.5..1. */
  readonly genderScore: number;
}

/** A detected face with its estimated attributes and, when requested, its face descriptor. */
export interface Face extends FaceDetection, FaceAttributes {
  /** L2-normalised face descriptor (1024-d, faceres) when requested; held in memory only. */
  readonly descriptor?: Float32Array;
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

/** A person's fused estimate, reported once enough samples agree. */
export interface PersonEstimate {
  readonly ageYears: number;
  readonly gender: Gender;
  /** Confidence of `gender` after fusion, 0.5..1. */
  readonly genderScore: number;
  /** Observations fused into this estimate. */
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

/** Per-source crowd demographics at one moment. */
export interface DemographicsSnapshot {
  readonly type: 'demographics';
  readonly sourceId: string;
  readonly atMs: number;
  /** Confirmed people in view now. */
  readonly peopleNow: number;
  /** Unique people seen in trailing windows and since start. */
  readonly unique: { readonly lastMinute: number; readonly lastHour: number; readonly lastDay: number; readonly sinceStart: number };
  /** Unique people since start by age bucket x gender (only people with an estimate). */
  readonly byAgeGender: Readonly<Record<DemographicsKey, number>>;
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

/**
 * What a camera's tracker tells a remote analyzer about which faces need a face descriptor: the
 * inputs of src/track's CrowdTracker.wantsDescriptor, taken when the frame is submitted (a callback
 * cannot cross processes). Boxes are the live tracks' last boxes, source pixels.
 */
export interface DescriptorPlan {
  /** Tracker IoU gate: a face continues a track when IoU with its box >= this (and > 0). */
  readonly iouThreshold: number;
  /** Faces scoring below this are ignored by the tracker: no descriptor. */
  readonly minScore: number;
  /** A face that continues no track gets a descriptor only when it scores at least this (it may start one). */
  readonly minScoreToStart: number;
  /** Boxes of live tracks that still want descriptors. */
  readonly wanting: readonly BoxXyxy[];
  /** Boxes of live tracks that have all the descriptors they keep. */
  readonly satisfied: readonly BoxXyxy[];
}

/** Which faces of a frame get a descriptor: none, every face, or as the tracker's plan says. */
export type DescriptorRequest = 'none' | 'all' | DescriptorPlan;

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
}

/** Why a frame's result never reached the tracker. */
export type FrameLostReason =
  /** No result within the result deadline. */
  | 'deadline'
  /** The worker found the bytes gone (TTL passed before it got to the frame). */
  | 'expired'
  /** The job failed for good (bad data, or transient faults past the attempts). */
  | 'failed';
