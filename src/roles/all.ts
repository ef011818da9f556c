/**
 * `crowdlens start` with a Redis URL: every role in one process, coordinating through Redis exactly as separate
 * processes do (an API node, an ingest process and a worker), so that more ingest and worker processes can join
 * it on other machines. /metrics on the API port shows every role's metrics.
 */
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import { createMetrics } from '../service/metrics.ts';
import { startApiRole, type ApiRole } from './api.ts';
import { startIngestRole, type IngestRole } from './ingest.ts';
import { startWorkerRole, type WorkerRole } from './worker.ts';

/** The roles running in this process. */
export interface ScaledService {
  readonly url: string;
  readonly api: ApiRole;
  /** Resolves once the worker took jobs and the ingest shares the cameras; rejects when the models cannot load. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export async function startScaledService(config: Config, deps: { logger: Logger; dashboardDir?: string }): Promise<ScaledService> {
  const metrics = createMetrics({ role: 'all' });
  let worker: WorkerRole | null = null;
  let ingest: IngestRole | null = null;
  const api = await startApiRole(config, {
    logger: deps.logger,
    metrics: {
      metrics,
      async collect() {
        await worker?.collect();
        await ingest?.collect();
      },
    },
    ready: () => worker !== null && ingest !== null,
    ...(deps.dashboardDir !== undefined ? { dashboardDir: deps.dashboardDir } : {}),
  });
  let closing: Promise<void> | null = null;
  const ready = (async () => {
    const w = await startWorkerRole(config, { logger: deps.logger, metrics, serveMetrics: false });
    if (closing) return void (await w.close());
    worker = w;
    const i = await startIngestRole(config, { logger: deps.logger, metrics, serveMetrics: false });
    if (closing) return void (await i.close());
    ingest = i;
  })();
  ready.catch(() => undefined);
  return {
    url: api.url,
    api,
    ready,
    close: () =>
      (closing ??= (async () => {
        await ready.catch(() => undefined);
        await ingest?.close();
        await worker?.close();
        await api.close();
      })()),
  };
}
