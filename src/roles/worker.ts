/**
 * The `crowdlens worker` role: a stateless inference worker over Redis. Loads the models once,
 * takes inference jobs from the BullMQ queue (`scale.workerConcurrency` at a time), and sends each
 * result to its camera owner (src/scale). Start more for more throughput. The CLI entry calls
 * {@link startWorkerRole} and, on SIGTERM/SIGINT, `close()` (in-flight jobs finish, then it exits).
 */
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import { createAnalyzer } from '../pipeline/stages.ts';
import { newOwnerId, openScale, type InferWorkerStats, type WorkerAnalyzer } from '../scale/index.ts';

/** A running worker role. */
export interface WorkerRole {
  /** This worker's name (in results and BullMQ's job records). */
  readonly name: string;
  readonly stats: () => InferWorkerStats;
  /** Redis connection errors so far. */
  readonly redisErrors: () => number;
  /** Stops taking jobs, finishes those in flight, releases the models and disconnects. */
  close(): Promise<void>;
}

/** Starts the worker role; resolves once it takes jobs. `analyzer` replaces the real models (for tests of faults). */
export async function startWorkerRole(
  config: Config,
  deps: { logger?: Logger; name?: string; analyzer?: WorkerAnalyzer & { close?: () => unknown } } = {},
): Promise<WorkerRole> {
  const name = deps.name ?? `worker-${newOwnerId()}`;
  const scale = openScale(config, { name: 'crowdlens-worker', ...(deps.logger ? { logger: deps.logger } : {}) });
  try {
    const analyzer = deps.analyzer ?? (await createAnalyzer({ config, reid: true }, deps.logger ? { logger: deps.logger } : {}));
    const worker = scale.worker(analyzer, name);
    await worker.worker.waitUntilReady();
    deps.logger?.info(
      { worker: name, concurrency: config.scale.workerConcurrency, prefix: config.scale.prefix },
      'crowdlens worker: taking inference jobs',
    );
    let closing: Promise<void> | null = null;
    return {
      name,
      stats: () => worker.stats,
      redisErrors: scale.redisErrors,
      close: () =>
        (closing ??= (async () => {
          await worker.close();
          await analyzer.close?.();
          scale.close();
          deps.logger?.info({ worker: name, ...worker.stats }, 'crowdlens worker: stopped');
        })()),
    };
  } catch (err) {
    scale.close();
    throw err;
  }
}
