/**
 * The analyzer of a camera whose frames are analysed by the worker processes: src/pipeline's PipelinedAnalyzer
 * over the camera's {@link CameraLink}. runPipeline submits each frame it wants analysed (bytes to Redis, a BullMQ
 * job with the frame reference and the tracker's hints as data) and gets the results back in seq order from the
 * link's reorder window; a frame the link refuses (its in-flight bound, a Redis error) or loses (deadline, bytes
 * expired, job failed) is counted, never waited for for ever. So `crowdlens run`, the one-process service and the
 * ingest role all run the same loop.
 */
import type {
  AnalyzeTiming,
  PipelinedAnalyzer,
  PipelinedCounters,
  RemoteAnalyzeRequest,
  RemoteOutcome,
  SubmitResult,
} from '../pipeline/standalone.ts';
import type { Frame } from '../shared/messages.ts';
import type { CameraHandlers, CameraLink, ResultInfo } from './queue.ts';

/** A settled-later outcome of one submitted frame. */
interface Deferred {
  resolve(outcome: RemoteOutcome): void;
}

/** Options of {@link RemoteAnalyzer}. */
export interface RemoteAnalyzerOptions {
  /** Opens the camera's link with the handlers given (InferenceClient.camera(sourceId, epoch, handlers)). */
  readonly open: (handlers: CameraHandlers) => CameraLink;
  /** Called for every result released (metrics: round trip, queue wait, worker timings). */
  readonly onResult?: (info: ResultInfo) => void;
}

export class RemoteAnalyzer implements PipelinedAnalyzer {
  readonly link: CameraLink;
  private readonly pending = new Map<number, Deferred>();
  private closed = false;

  constructor(private readonly options: RemoteAnalyzerOptions) {
    this.link = options.open({
      onResult: (detections, info) => {
        const d = this.pending.get(detections.seq);
        this.pending.delete(detections.seq);
        const t = info.timing;
        const timing: AnalyzeTiming = { detectMs: t.detectMs, ageGenderMs: t.ageGenderMs, descriptorMs: t.descriptorMs };
        options.onResult?.(info);
        d?.resolve({ ok: true, faces: detections.faces, timing });
      },
      onLost: (seq, reason) => {
        const d = this.pending.get(seq);
        this.pending.delete(seq);
        d?.resolve({ ok: false, reason });
      },
    });
  }

  async submit(frame: Frame, request: RemoteAnalyzeRequest): Promise<SubmitResult> {
    if (this.closed) return { accepted: false, reason: 'closed' };
    // Registered before submitting: a fast worker's result may be released before submit() returns.
    let resolve!: (o: RemoteOutcome) => void;
    const result = new Promise<RemoteOutcome>((r) => (resolve = r));
    this.pending.set(frame.seq, { resolve });
    const outcome = await this.link.submit(frame, request);
    if (!outcome.submitted) {
      this.pending.delete(frame.seq);
      return { accepted: false, reason: outcome.reason };
    }
    return { accepted: true, result };
  }

  counters(): PipelinedCounters {
    const s = this.link.stats();
    return { refused: { ...s.skipped }, lost: { ...s.window.lost }, duplicates: s.window.duplicates };
  }

  /** Closes the link (frames in flight are dropped there, bytes deleted) and resolves their outcomes as `closed`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.link.close();
    for (const d of this.pending.values()) d.resolve({ ok: false, reason: 'closed' });
    this.pending.clear();
  }
}
