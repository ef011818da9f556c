/** Names of the timed pipeline stages. */
export const STAGES = ['decode', 'motion', 'detect', 'ageGender', 'descriptor', 'track', 'sink'] as const;
export type StageName = (typeof STAGES)[number];

/** Accumulated time of one stage. */
export interface StageTiming {
  /** Frames (calls) timed. */
  readonly count: number;
  /** Total time, ms. */
  readonly totalMs: number;
  /** Mean time per call, ms (0 when count is 0). */
  readonly meanMs: number;
  /** Longest single call, ms. */
  readonly maxMs: number;
  /**
   * CPU time of this process during the stage (all threads, so onnxruntime's too), ms: unlike wall time
   * it does not grow while other programs hold the cores. 0 where a stage does not report it.
   */
  readonly cpuMs: number;
}

/** Counters and timings of one pipeline run. */
export interface PipelineStats {
  /** Frames pulled from the source and fully processed. */
  readonly frames: number;
  /** Faces detected over all processed frames. */
  readonly faces: number;
  /** Faces that got a re-id descriptor (the tracker asks for a few per person, not one per face). */
  readonly descriptors: number;
  /** Faces that got age/gender (the tracker stops asking once a person's estimate is settled). */
  readonly attributes: number;
  /** Frames the ingest queue dropped because inference was slower than the source (newest frame wins). */
  readonly droppedFrames: number;
  /** Frames on which no model ran: nothing moved and nothing was tracked (motion gate; counted in `frames`). */
  readonly skippedFrames: number;
  /** Frames detected only in zoomed regions around live tracks and moving areas (detect schedule `adaptive`). */
  readonly regionFrames: number;
  /** Pipelined analyzer only: frames it refused (not analysed, not tracked), by reason (e.g. `in_flight`). */
  readonly refused: Readonly<Record<string, number>>;
  /** Pipelined analyzer only: frames submitted whose result never came (skipped, not tracked), by reason (e.g. `deadline`). */
  readonly lost: Readonly<Record<string, number>>;
  /** Pipelined analyzer only: frames in flight when the run was aborted (not tracked). */
  readonly droppedInFlight: number;
  /** Wall time from start to stop, ms. */
  readonly wallMs: number;
  /** Processed frames per second of wall time. */
  readonly fps: number;
  /**
   * Per-stage timings: `decode` is time spent waiting for the next frame (ffmpeg decodes in parallel),
   * `motion` the motion gate, `detect` the detector incl. pre/post-processing, `ageGender` and `descriptor` (re-id) those models' runs,
   * `track` the CrowdTracker, `sink` writing outputs.
   */
  readonly stages: Readonly<Record<StageName, StageTiming>>;
}

/** Mutable accumulator behind {@link PipelineStats}. */
export class StatsRecorder {
  frames = 0;
  faces = 0;
  descriptors = 0;
  attributes = 0;
  droppedFrames = 0;
  skippedFrames = 0;
  regionFrames = 0;
  refused: Record<string, number> = {};
  lost: Record<string, number> = {};
  droppedInFlight = 0;
  private readonly acc = new Map<StageName, { count: number; totalMs: number; maxMs: number; cpuMs: number }>(STAGES.map((s) => [s, { count: 0, totalMs: 0, maxMs: 0, cpuMs: 0 }]));

  constructor(private readonly startMs: number) {}

  /** Adds one call of `stage`: `ms` wall time, `cpuMs` CPU time when measured. */
  add(stage: StageName, ms: number, cpuMs = 0): void {
    const a = this.acc.get(stage);
    if (!a) return;
    a.count += 1;
    a.totalMs += ms;
    a.cpuMs += cpuMs;
    if (ms > a.maxMs) a.maxMs = ms;
  }

  snapshot(nowMs: number): PipelineStats {
    const wallMs = Math.max(0, nowMs - this.startMs);
    const stages = {} as Record<StageName, StageTiming>;
    for (const s of STAGES) {
      const a = this.acc.get(s) ?? { count: 0, totalMs: 0, maxMs: 0, cpuMs: 0 };
      stages[s] = { count: a.count, totalMs: round(a.totalMs), meanMs: a.count ? round(a.totalMs / a.count) : 0, maxMs: round(a.maxMs), cpuMs: round(a.cpuMs) };
    }
    return { frames: this.frames, faces: this.faces, descriptors: this.descriptors, attributes: this.attributes, droppedFrames: this.droppedFrames, skippedFrames: this.skippedFrames, regionFrames: this.regionFrames, refused: { ...this.refused }, lost: { ...this.lost }, droppedInFlight: this.droppedInFlight, wallMs: round(wallMs), fps: wallMs > 0 ? round((this.frames * 1000) / wallMs) : 0, stages };
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
