import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { BoxXyxy, FrameDetections, TrackEvent } from '../shared/messages.ts';
import { formatMot, motRowFromBox } from '../track/mot.ts';

/** One confirmed track in one processed frame. */
export interface TrackRow {
  /** Stable id written to MOT files: the person id (kept across re-entries) when known, else the tracker's track id. */
  readonly trackId: number;
  /** Box in source-frame pixels. */
  readonly box: BoxXyxy;
  /** Detector score of the matched detection, 0..1. */
  readonly score: number;
}

/** Confirmed tracks of one processed frame. */
export interface FrameTracks {
  readonly sourceId: string;
  /** 0-based sequence number at the sampled rate (the frame's `seq`). */
  readonly seq: number;
  /** Capture time of the frame, ms. */
  readonly capturedAtMs: number;
  readonly tracks: readonly TrackRow[];
}

/**
 * Receives pipeline output. Every method is optional; the pipeline awaits each call, so a sink that
 * writes to disk applies back-pressure instead of buffering without bound.
 */
export interface PipelineSink {
  /** Every frame's raw detections (with single-frame age/gender), before tracking. */
  onDetections?(detections: FrameDetections): void | Promise<void>;
  onEvents?(events: readonly TrackEvent[]): void | Promise<void>;
  onFrameTracks?(frame: FrameTracks): void | Promise<void>;
  /** Called once when the pipeline stops (also after an abort or an error). */
  close?(): void | Promise<void>;
}

/** Writes lines to a file, waiting for `drain` when the OS buffer is full. */
class LineWriter {
  private readonly stream: WriteStream;
  private failure: Error | null = null;

  constructor(readonly file: string) {
    this.stream = createWriteStream(file, { flags: 'w' });
    this.stream.on('error', (err) => {
      this.failure = err;
    });
  }

  async write(text: string): Promise<void> {
    if (this.failure) throw new Error(`cannot write ${this.file}: ${this.failure.message}`);
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (this.stream.closed || this.stream.destroyed) return;
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failure) throw new Error(`cannot write ${this.file}: ${this.failure.message}`);
  }
}

/** `--events FILE`: one JSON object per TrackEvent per line. */
export function jsonlEventSink(file: string): PipelineSink {
  const out = new LineWriter(file);
  return {
    async onEvents(events) {
      if (events.length === 0) return;
      await out.write(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    },
    close: () => out.close(),
  };
}


/** `--tracks FILE`: MOT lines of confirmed tracks, frame number = `seq + 1` (sampled rate). */
export function motTrackSink(file: string): PipelineSink {
  const out = new LineWriter(file);
  return {
    async onFrameTracks(frame) {
      if (frame.tracks.length === 0) return;
      await out.write(formatMot(frame.tracks.map((t) => motRowFromBox(frame.seq + 1, t.trackId, t.box, t.score))));
    },
    close: () => out.close(),
  };
}
