/**
 * `crowdlens start`: the service in one process (API, dashboard, Socket.IO, metrics, every enabled camera's
 * ingest + inference + tracking) until Ctrl-C / SIGTERM, which stops every camera and exits 0.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../shared/logger.ts';
import { redactText } from '../shared/redact.ts';
import { ListenPolicyError } from '../api/auth.ts';
import { RegistryFileError } from '../service/registry-file.ts';
import { commandConfig, type CommandArgs } from './command.ts';

const USAGE = `Usage: crowdlens start [options]

Runs the service in one process: the REST API and dashboard, live demographics over Socket.IO, Prometheus
/metrics, and ingest + inference + tracking for every enabled camera. Cameras are registered over the API
(POST /api/cameras) and kept in DATA_DIR/cameras.json; the first start registers a demo camera.
With CROWDLENS_REDIS_URL (or REDIS_URL) set, every role (api, ingest, worker) runs in this process over Redis
(the registry in Redis, no demo camera), and more "crowdlens ingest" / "crowdlens worker" processes may join.

  --host HOST             listen address (default 127.0.0.1, CROWDLENS_HOST); beyond loopback needs CROWDLENS_API_TOKEN
  --port N                listen port; 0 picks a free one (default 8080, CROWDLENS_PORT)
  --data-dir DIR          state directory: the camera registry (default ./data, CROWDLENS_DATA_DIR)
  --media-dir DIR         video files cameras may read (default ./media, CROWDLENS_MEDIA_DIR)
  --no-demo               do not register the demo camera on first start (CROWDLENS_DEMO=false)
  --public-read           reads (GET, /metrics, Socket.IO) without the token (CROWDLENS_PUBLIC_READ)
  --preview               serve the annotated preview /api/cameras/:id/preview.jpg, faces blurred
                          (CROWDLENS_PREVIEW; CROWDLENS_PREVIEW_BLUR=false shows faces)
  --fps N                 default frames per second per camera (CROWDLENS_FPS)
  --max-width PX          default maximum frame width (CROWDLENS_MAX_WIDTH)
  --detector NAME         blazeface | ssd_mobilenetv1 | tiny_face_detector (CROWDLENS_DETECTOR)
  --config FILE           JSON config file (also CROWDLENS_CONFIG)
  -h, --help              this text

The API token is read from CROWDLENS_API_TOKEN (or the config file), never from a flag.
Exit status: 0 after Ctrl-C/SIGTERM, 1 on a runtime failure, 2 on bad arguments or configuration.`;

function parse(argv: string[]): CommandArgs {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'media-dir': { type: 'string' },
      'no-demo': { type: 'boolean' },
      'public-read': { type: 'boolean' },
      preview: { type: 'boolean' },
      fps: { type: 'string' },
      'max-width': { type: 'string' },
      detector: { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true };
  return {
    help: false,
    config: values.config,
    // Validation is the config schema's job, so its errors name the field.
    flags: {
      'api.host': values.host,
      'api.port': values.port,
      'service.dataDir': values['data-dir'],
      'service.mediaDir': values['media-dir'],
      'service.demo': values['no-demo'] ? false : undefined,
      'api.publicRead': values['public-read'] ? true : undefined,
      'preview.enabled': values.preview ? true : undefined,
      'ingest.fps': values.fps,
      'ingest.maxWidth': values['max-width'],
      'infer.detector': values.detector,
    },
  };
}

/** Entry point for `crowdlens start`; resolves with the exit status once the service has stopped. */
export async function main(argv: string[]): Promise<number> {
  const config = commandConfig('start', USAGE, argv, parse);
  if (typeof config === 'number') return config;
  const logger = createLogger({ level: config.log.level });
  let service: { readonly url: string; readonly ready: Promise<void>; close(): Promise<void> };
  try {
    if (config.redisUrl !== undefined) {
      // With Redis: every role in this process, coordinating through Redis like separate processes.
      const { startScaledService } = await import('../roles/all.ts');
      service = await startScaledService(config, { logger });
    } else {
      // Imported here so that `crowdlens start --help` and bad flags answer without loading the service.
      const { startEmbeddedService } = await import('../service/embedded.ts');
      service = await startEmbeddedService({ config, logger });
    }
  } catch (err) {
    if (err instanceof ListenPolicyError || err instanceof RegistryFileError) {
      process.stderr.write(`crowdlens start: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`crowdlens start: ${redactText((err as Error).message)}\n`);
    return 1;
  }
  process.stdout.write(`crowdlens: dashboard at ${service.url}/  (API ${service.url}/api/openapi.json, metrics ${service.url}/metrics; Ctrl-C stops)\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    let signalledAt = 0;
    const stop = (code: number): void => {
      if (stopping) return;
      stopping = true;
      service.close().then(
        () => resolve(code),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    const onSignal = (sig: NodeJS.Signals): void => {
      // npm and the terminal may both deliver the same Ctrl-C: a repeat within a second is that echo.
      if (stopping && Date.now() - signalledAt < 1000) return;
      if (stopping) {
        process.stderr.write(`crowdlens start: ${sig} again, exiting without cleanup\n`);
        process.exit(130);
      }
      signalledAt = Date.now();
      logger.info({ signal: sig }, 'stopping: closing cameras and connections');
      stop(0);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    service.ready.catch((err: unknown) => {
      process.stderr.write(`crowdlens start: the face models could not be loaded: ${redactText((err as Error).message)}\n`);
      stop(1);
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`crowdlens start: ${redactText((err as Error).stack ?? String(err))}\n`);
      process.exit(1);
    },
  );
}
