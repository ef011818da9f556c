/**
 * `crowdlens api | ingest | worker`: one role of the scale-out per process, coordinating through Redis
 * (CROWDLENS_REDIS_URL or REDIS_URL is required). Each runs until SIGTERM / SIGINT, then stops cleanly and exits 0:
 * a worker finishes its in-flight jobs, an ingest process hands its cameras back (their open tracks end first).
 */
import { parseArgs } from 'node:util';
import type { Config } from '../shared/config.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { redactText } from '../shared/redact.ts';
import { ListenPolicyError } from '../api/auth.ts';
import { commandConfig, type CommandArgs } from './command.ts';

export type RoleName = 'api' | 'ingest' | 'worker';

const COMMON = `  --config FILE           JSON config file (also CROWDLENS_CONFIG)
  -h, --help              this text

Needs CROWDLENS_REDIS_URL (or REDIS_URL); every key it writes starts with CROWDLENS_REDIS_PREFIX (default crowdlens).
Exit status: 0 after SIGTERM/SIGINT, 1 on a runtime failure, 2 on bad arguments or configuration.`;

const USAGES: Record<RoleName, string> = {
  api: `Usage: crowdlens api [options]

An API node of the scale-out: REST API, dashboard, live Socket.IO (Redis adapter: any node reaches any dashboard)
and /metrics. Cameras are registered in Redis; their numbers come from the ingest processes that own them.

  --host HOST             listen address (default 127.0.0.1, CROWDLENS_HOST); beyond loopback needs CROWDLENS_API_TOKEN
  --port N                listen port; 0 picks a free one (default 8080, CROWDLENS_PORT)
  --media-dir DIR         video files cameras may read (default ./media, CROWDLENS_MEDIA_DIR; the same files as the ingest nodes')
  --public-read           reads (GET, /metrics, Socket.IO) without the token (CROWDLENS_PUBLIC_READ)
${COMMON}`,
  ingest: `Usage: crowdlens ingest [options]

An ingest process of the scale-out: takes a fair share of the registered cameras by lease (CROWDLENS_LEASE_MS),
reads them with ffmpeg, sends their frames to the workers through Redis and tracks the results; takes over the
cameras of an ingest process that dies. /metrics on CROWDLENS_METRICS_PORT.

  --metrics-port N        /metrics port; 0 picks a free one (default 9464, CROWDLENS_METRICS_PORT)
  --metrics-host HOST     /metrics address (default 127.0.0.1, CROWDLENS_METRICS_HOST)
  --media-dir DIR         video files cameras may read (default ./media, CROWDLENS_MEDIA_DIR)
${COMMON}`,
  worker: `Usage: crowdlens worker [options]

An inference worker of the scale-out: loads the face models once and analyses frames from the queue
(CROWDLENS_WORKER_CONCURRENCY jobs at a time, one model run at a time). Stateless: start more for more throughput.
/metrics on CROWDLENS_METRICS_PORT.

  --metrics-port N        /metrics port; 0 picks a free one (default 9464, CROWDLENS_METRICS_PORT)
  --metrics-host HOST     /metrics address (default 127.0.0.1, CROWDLENS_METRICS_HOST)
${COMMON}`,
};

function parse(role: RoleName, argv: string[]): CommandArgs {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    strict: true,
    options: {
      ...(role === 'api' ? { host: { type: 'string' }, port: { type: 'string' }, 'public-read': { type: 'boolean' } } : { 'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' } }),
      ...(role !== 'worker' ? { 'media-dir': { type: 'string' } } : {}),
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const v = values as Record<string, string | boolean | undefined>;
  if (v['help']) return { help: true };
  return {
    help: false,
    config: v['config'] as string | undefined,
    flags: {
      'api.host': v['host'],
      'api.port': v['port'],
      'api.publicRead': v['public-read'] ? true : undefined,
      'service.mediaDir': v['media-dir'],
      'scale.metricsPort': v['metrics-port'],
      'scale.metricsHost': v['metrics-host'],
    },
  };
}

interface Running {
  readonly line: string;
  close(): Promise<void>;
}

async function start(role: RoleName, config: Config, logger: Logger): Promise<Running> {
  switch (role) {
    case 'api': {
      const { startApiRole } = await import('../roles/api.ts');
      const r = await startApiRole(config, { logger });
      return { line: `crowdlens api: listening on ${r.url}  (dashboard ${r.url}/, metrics ${r.url}/metrics)`, close: () => r.close() };
    }
    case 'ingest': {
      const { startIngestRole } = await import('../roles/ingest.ts');
      const r = await startIngestRole(config, { logger });
      return { line: `crowdlens ingest: owner ${r.ownerId}, metrics at ${r.metricsUrl}/metrics`, close: () => r.close() };
    }
    case 'worker': {
      const { startWorkerRole } = await import('../roles/worker.ts');
      const r = await startWorkerRole(config, { logger });
      return { line: `crowdlens worker: ${r.name} taking jobs, metrics at ${r.metricsUrl}/metrics`, close: () => r.close() };
    }
  }
}

/** Entry point of one role command. */
export async function runRole(role: RoleName, argv: string[]): Promise<number> {
  const config = commandConfig(role, USAGES[role], argv, (a) => parse(role, a));
  if (typeof config === 'number') return config;
  if (config.redisUrl === undefined) {
    process.stderr.write(`crowdlens ${role}: needs Redis: set CROWDLENS_REDIS_URL (or REDIS_URL), e.g. redis://127.0.0.1:6379 (without Redis, "crowdlens start" runs everything in one process)\n`);
    return 2;
  }
  const logger = createLogger({ level: config.log.level });
  let running: Running;
  try {
    running = await start(role, config, logger);
  } catch (err) {
    if (err instanceof ListenPolicyError) {
      process.stderr.write(`crowdlens ${role}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`crowdlens ${role}: ${redactText((err as Error).message)}\n`);
    return 1;
  }
  process.stdout.write(`${running.line}\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal: sig, role }, `stopping the ${role} role`);
      running.close().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
