/**
 * One analyzer shared by every camera of a process, with a bound on the frames analysed at once. Each camera's
 * loop has at most one frame in flight (runPipeline awaits it), so at most one call per camera waits here, in
 * arrival order; while a camera waits, its ingest queue keeps only the newest frames and counts the ones it
 * drops, so the cost of too many cameras is dropped frames, never memory or latency growing without bound.
 */
import { performance } from 'node:perf_hooks';
import type { AnalyzeHints, AnalyzeTiming, PipelineAnalyzer } from './standalone.ts';
import type { Frame, Face } from '../shared/messages.ts';

/** Options of {@link shareAnalyzer}. */
export interface AnalyzerPoolOptions {
  /** Calls running at once, integer >= 1. */
  readonly concurrency: number;
  /** Called when a call starts running, with how long it waited for a slot, ms (0 when one was free). */
  readonly onStart?: (waitMs: number) => void;
}

/**
 * A shared analyzer: what each camera's pipeline calls (through createCameraStages, whose per-camera `close` leaves
 * it open), plus the pool's state. Its own `close` closes the analyzer, once, at shutdown.
 */
export interface AnalyzerPool extends PipelineAnalyzer {
  /** Calls running now. */
  readonly inFlight: number;
  /** Calls waiting for a slot. */
  readonly waiting: number;
  /** The pool's bound. */
  readonly concurrency: number;
}

/** Wraps `analyzer` so that at most `concurrency` calls run at once, the others waiting first come first served. */
export function shareAnalyzer(analyzer: PipelineAnalyzer, options: AnalyzerPoolOptions): AnalyzerPool {
  const { concurrency } = options;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`concurrency: expected an integer >= 1 (got ${String(concurrency)})`);
  let running = 0;
  let closed = false;
  const queue: (() => void)[] = [];

  const acquire = async (): Promise<void> => {
    const t0 = performance.now();
    if (running < concurrency && queue.length === 0) {
      running++;
      options.onStart?.(0);
      return;
    }
    // The slot is handed over by release(), so `running` stays within the bound without a race.
    await new Promise<void>((resolve) => queue.push(resolve));
    options.onStart?.(performance.now() - t0);
  };
  const release = (): void => {
    const next = queue.shift();
    if (next) next();
    else running--;
  };

  const analyze = async (frame: Frame, timing: AnalyzeTiming, hints?: AnalyzeHints): Promise<readonly Face[]> => {
    if (closed) throw new Error('analyzer pool: analyze called after close()');
    await acquire();
    try {
      return await analyzer.analyze(frame, timing, hints);
    } finally {
      release();
    }
  };

  return {
    concurrency,
    get inFlight() {
      return running;
    },
    get waiting() {
      return queue.length;
    },
    analyze,
    async close() {
      closed = true;
      await analyzer.close();
    },
  };
}
