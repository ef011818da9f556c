/**
 * A crowdlens inference worker in its own process, for tests that kill it. Env: REDIS_URL,
 * CROWDLENS_REDIS_PREFIX, LOCK_MS, MODE (`hang`: the analyzer announces `ANALYZING <seq>` on stdout
 * and never returns, so the process is mid-job when the test kills it; `real`: the real models).
 * Prints `READY` once the worker takes jobs; SIGTERM closes the worker (in-flight jobs finish) and exits.
 */
import { loadConfig } from '../../src/shared/config.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createAnalyzer } from '../../src/pipeline/stages.ts';
import { ScaleKeys } from '../../src/scale/keys.ts';
import { connectRedis } from '../../src/scale/redis.ts';
import { createInferWorker, type WorkerAnalyzer } from '../../src/scale/worker.ts';

const env = process.env;
const logger = createLogger({ level: 'warn' });
const redis = connectRedis(env['REDIS_URL'] as string, { name: 'crowdlens-test-worker-child', logger });
const keys = new ScaleKeys(env['CROWDLENS_REDIS_PREFIX'] as string);
const mode = env['MODE'] ?? 'real';

let analyzer: WorkerAnalyzer;
if (mode === 'hang') {
  analyzer = {
    analyze: (frame) => {
      process.stdout.write(`ANALYZING ${frame.seq}\n`);
      return new Promise(() => undefined);
    },
  };
} else {
  analyzer = (await createAnalyzer({ config: loadConfig({ env: {} }), reid: true }, { logger })).analyzer;
}
const worker = createInferWorker({ redis, keys, analyzer, inboxTtlMs: 60_000, concurrency: 1, lockMs: Number(env['LOCK_MS'] ?? 2000), workerName: `child-${mode}-${process.pid}`, logger });
await worker.worker.waitUntilReady();
process.stdout.write('READY\n');
process.on('SIGTERM', () => {
  void worker.close().then(() => {
    redis.disconnect();
    process.stdout.write(`CLOSED ok=${worker.stats.ok}\n`);
    process.exit(0);
  });
});
