/**
 * The `crowdlens worker` role: a stateless inference worker over Redis. Loads the models once,
 * takes inference jobs from the BullMQ queue (`scale.workerConcurrency` at a time), and sends each
 * result to its camera owner (src/scale). Start more for more throughput. The CLI entry calls
 * {@link startWorkerRole} and, on SIGTERM/SIGINT, `close()` (in-flight jobs finish, then it exits).
 * It serves `/metrics` on `CROWDLENS_METRICS_PORT` (unless `serveMetrics` is false: `crowdlens start` with Redis
 * serves every role's metrics on the API port).
 */
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import { createAnalyzer } from '../pipeline/stages.ts';
import { INFER_QUEUE, newOwnerId, openScale, type InferWorkerStats, type WorkerAnalyzer } from '../scale/index.ts';
import { createMetrics, type CrowdlensMetrics } from '../service/metrics.ts';
import { startMetricsServer, type MetricsServer } from './metrics-server.ts';

/** A running worker role. */
export interface WorkerRole {
  /** This worker's name (in results and BullMQ's job records). */
  readonly name: string;
  readonly stats: () => InferWorkerStats;
  /** Redis connection errors so far. */
  readonly redisErrors: () => number;
  readonly metrics: CrowdlensMetrics;
  /** Brings the scraped gauges up to date (called before each scrape). */
  collect(): Promise<void>;
  /** The /metrics endpoint's base URL, when it serves one. */
  readonly metricsUrl: string | null;
  /** Stops taking jobs, finishes those in flight, releases the models and disconnects. */
  close(): Promise<void>;
}

/** Options of {@link startWorkerRole}. */
export interface WorkerRoleDeps {
  logger?: Logger;
  name?: string;
  /** Replaces the real models (for tests of faults). */
  analyzer?: WorkerAnalyzer & { close?: () => unknown };
  /** Metrics to update (a shared registry in `crowdlens start`); default a worker registry of its own. */
  metrics?: CrowdlensMetrics;
  /** Serve /metrics on `scale.metricsPort`. Default true. */
  serveMetrics?: boolean;
}

/** Starts the worker role; resolves once it takes jobs. */
export async function startWorkerRole(config: Config, deps: WorkerRoleDeps = {}): Promise<WorkerRole> {
  const name = deps.name ?? `worker-${newOwnerId()}`;
  const scale = openScale(config, { name: 'crowdlens-worker', ...(deps.logger ? { logger: deps.logger } : {}) });
  const metrics = deps.metrics ?? createMetrics({ role: 'worker' });
  let server: MetricsServer | null = null;
  try {
    const analyzer = deps.analyzer ?? (await createAnalyzer({ config, reid: true }, deps.logger ? { logger: deps.logger } : {}));
    metrics.modelsReady.set(1);
    const worker = scale.worker(analyzer, name, (t) => {
      metrics.queueWaitSeconds.observe(t.queueWaitMs / 1000);
      metrics.inferenceSeconds.observe({ model: config.infer.detector }, t.detectMs / 1000);
      if (t.ageGenderMs > 0) metrics.inferenceSeconds.observe({ model: 'age_gender' }, t.ageGenderMs / 1000);
      if (t.descriptorMs > 0) metrics.inferenceSeconds.observe({ model: 'faceres' }, t.descriptorMs / 1000);
    });
    await worker.worker.waitUntilReady();
    // Job counts for the gauges (a Queue object only reads here).
    const queue = new Queue(INFER_QUEUE, { connection: scale.redis, prefix: scale.keys.bullPrefix });
    queue.on('error', (err) => deps.logger?.debug({ err }, 'worker metrics queue error'));
    const reported = { ok: 0, expired: 0, badData: 0, transientErrors: 0, failedFinal: 0, analyzeMs: 0, redisErrors: 0 };
    let lastScrape = { atMs: performance.now(), analyzeMs: 0 };
    const collect = async (): Promise<void> => {
      const s = worker.stats;
      const inc = (outcome: string, now: number, was: number): void => {
        if (now > was) metrics.workerJobs.inc({ outcome }, now - was);
      };
      inc('ok', s.ok, reported.ok);
      inc('expired', s.expired, reported.expired);
      inc('bad_data', s.badData, reported.badData);
      inc('retried', s.transientErrors, reported.transientErrors);
      inc('failed', s.failedFinal, reported.failedFinal);
      if (s.analyzeMs > reported.analyzeMs) metrics.workerBusySeconds.inc((s.analyzeMs - reported.analyzeMs) / 1000);
      Object.assign(reported, {
        ok: s.ok,
        expired: s.expired,
        badData: s.badData,
        transientErrors: s.transientErrors,
        failedFinal: s.failedFinal,
        analyzeMs: s.analyzeMs,
      });
      const errors = scale.redisErrors();
      if (errors > reported.redisErrors) metrics.redisErrors.inc(errors - reported.redisErrors);
      reported.redisErrors = errors;
      const now = performance.now();
      const wall = now - lastScrape.atMs;
      if (wall > 0) metrics.workerBusyRatio.set(Math.min(1, Math.max(0, (s.analyzeMs - lastScrape.analyzeMs) / wall)));
      lastScrape = { atMs: now, analyzeMs: s.analyzeMs };
      try {
        const counts = await queue.getJobCounts('waiting', 'active');
        metrics.jobsWaiting.set(counts['waiting'] ?? 0);
        metrics.jobsActive.set(counts['active'] ?? 0);
      } catch (err) {
        deps.logger?.debug({ err }, 'reading the job counts failed');
      }
    };
    if (deps.serveMetrics ?? true) {
      server = await startMetricsServer({
        host: config.scale.metricsHost,
        port: config.scale.metricsPort,
        registry: metrics.registry,
        collect,
        ready: () => !worker.worker.closing,
        token: config.api.token,
        publicRead: config.api.publicRead,
        logger: deps.logger ?? (await import('../shared/logger.ts')).createLogger({ level: 'silent' }),
      });
    }
    deps.logger?.info(
      { worker: name, concurrency: config.scale.workerConcurrency, prefix: config.scale.prefix, metrics: server?.url },
      'crowdlens worker: taking inference jobs',
    );
    let closing: Promise<void> | null = null;
    return {
      name,
      stats: () => worker.stats,
      redisErrors: scale.redisErrors,
      metrics,
      collect,
      metricsUrl: server?.url ?? null,
      close: () =>
        (closing ??= (async () => {
          await worker.close();
          await queue.close();
          await server?.close();
          await analyzer.close?.();
          scale.close();
          deps.logger?.info({ worker: name, ...worker.stats }, 'crowdlens worker: stopped');
        })()),
    };
  } catch (err) {
    await server?.close();
    scale.close();
    throw err;
  }
}
