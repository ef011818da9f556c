/**
 * The `crowdlens worker` role (src/roles/worker.ts) in its own process, for tests that kill it. Env: the
 * role's own configuration (REDIS_URL, CROWDLENS_REDIS_PREFIX, CROWDLENS_JOB_LOCK_MS, ...) and MODE
 * (`hang`: the analyzer announces `ANALYZING <seq>` on stdout and never returns, so the process is
 * mid-job when the test kills it; `slow`: the real models after a 1.5 s wait, so a SIGTERM lands mid-job;
 * `real`: the real models). Prints `READY` once the worker takes jobs;
 * SIGTERM closes it (in-flight jobs finish), prints `CLOSED ok=<jobs>` and exits 0.
 */
import { loadConfig } from '../../src/shared/config.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createAnalyzer } from '../../src/pipeline/stages.ts';
import { startWorkerRole } from '../../src/roles/worker.ts';
import type { WorkerAnalyzer } from '../../src/scale/worker.ts';

const mode = process.env['MODE'] ?? 'real';
const hang: WorkerAnalyzer = {
  analyze: (frame) => {
    process.stdout.write(`ANALYZING ${frame.seq}\n`);
    return new Promise(() => undefined);
  },
};
const config = loadConfig();
const logger = createLogger({ level: 'warn' });
let analyzer: WorkerAnalyzer | undefined;
if (mode === 'hang') analyzer = hang;
if (mode === 'slow') {
  const real = await createAnalyzer({ config, reid: true }, { logger });
  analyzer = {
    analyze: async (frame, timing, hints) => {
      process.stdout.write(`ANALYZING ${frame.seq}\n`);
      await new Promise((r) => setTimeout(r, 1500));
      return real.analyze(frame, timing, hints);
    },
  };
}
const role = await startWorkerRole(config, { logger, name: `child-${mode}-${process.pid}`, ...(analyzer ? { analyzer } : {}) });
process.stdout.write('READY\n');
process.on('SIGTERM', () => {
  void role.close().then(() => {
    process.stdout.write(`CLOSED ok=${role.stats().ok}\n`);
    process.exit(0);
  });
});
