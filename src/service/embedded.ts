/**
 * The one-process service (`crowdlens start` without Redis): the HTTP + Socket.IO API, the JSON-file camera
 * registry, the camera manager running one pipeline per enabled camera on one shared analyzer, and the metrics.
 * It listens first (so /healthz answers and /readyz says "loading" while the models load), then loads the
 * models once and starts the cameras. On a first start (no registry file yet) it registers the built-in demo
 * camera, a looping clip copied into the media directory.
 */
import { constants } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Ready } from '../shared/api.ts';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import { checkListenAddress } from '../api/auth.ts';
import { createApiServer, type ApiServer } from '../api/server.ts';
import { shareAnalyzer, type AnalyzerPool } from '../pipeline/analyzer-pool.ts';
import { createAnalyzer } from '../pipeline/stages.ts';
import { CameraManager } from './camera-manager.ts';
import { createMetrics, type CrowdlensMetrics } from './metrics.ts';
import { PreviewStore } from './preview.ts';
import { PublisherHub } from './publisher.ts';
import { JsonFileRegistry } from './registry-file.ts';
import { createUrlPolicy } from './url-policy.ts';

/** The demo clip shipped in the repo (see samples/demo/ATTRIBUTION.md). */
export const DEMO_CLIP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'samples', 'demo', 'demo.mp4');
/** Its name in the media directory, and the demo camera's id. */
export const DEMO_MEDIA_NAME = 'crowdlens-demo.mp4';
export const DEMO_CAMERA_ID = 'demo';

/** Options of {@link startEmbeddedService}. */
export interface EmbeddedOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Dashboard files to serve at `/` (default: src/api/dashboard when built). */
  readonly dashboardDir?: string;
  /** The demo clip to copy on first start. Default {@link DEMO_CLIP}. */
  readonly demoClip?: string;
}

/** A running service. */
export interface EmbeddedService {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly api: ApiServer;
  readonly registry: JsonFileRegistry;
  readonly manager: CameraManager;
  readonly metrics: CrowdlensMetrics;
  readonly hub: PublisherHub;
  /** Resolves once the models are loaded and the cameras started; rejects when the models cannot load. */
  readonly ready: Promise<void>;
  /** Stops the cameras (ffmpeg killed), closes Socket.IO and HTTP, releases the models. Idempotent. */
  close(): Promise<void>;
}

async function seedDemo(registry: JsonFileRegistry, mediaDir: string, clip: string, log: Logger): Promise<void> {
  const target = path.join(mediaDir, DEMO_MEDIA_NAME);
  try {
    await copyFile(clip, target, constants.COPYFILE_EXCL);
  } catch (err) {
    // A file of that name already in the media directory is kept (it may be the user's).
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot copy the demo clip ${clip} to ${target}: ${(err as Error).message}`);
  }
  await registry.create({ name: 'Demo (built-in clip)', url: DEMO_MEDIA_NAME, loop: true }, { id: DEMO_CAMERA_ID });
  log.info({ cameraId: DEMO_CAMERA_ID, file: target }, 'first start: registered the demo camera (delete it with DELETE /api/cameras/demo; CROWDLENS_DEMO=false skips it)');
}

/** Starts the service; resolves once it listens (models still loading: await `ready`). */
export async function startEmbeddedService(options: EmbeddedOptions): Promise<EmbeddedService> {
  const { config, logger } = options;
  const warning = checkListenAddress(config.api.host, config.api.token !== undefined);
  if (warning) logger.warn(warning);

  const mediaDir = path.resolve(config.service.mediaDir);
  await mkdir(mediaDir, { recursive: true });
  const urlPolicy = createUrlPolicy(mediaDir);
  const { registry, created } = await JsonFileRegistry.open({ dataDir: config.service.dataDir, maxCameras: config.service.maxCameras, logger });
  if (created && config.service.demo) await seedDemo(registry, mediaDir, options.demoClip ?? DEMO_CLIP, logger);

  const metrics = createMetrics();
  const hub = new PublisherHub(logger);
  const preview = config.preview.enabled ? new PreviewStore({ blur: config.preview.blur, maxFps: config.preview.maxFps }) : undefined;
  if (preview) {
    if (preview.blur) logger.info({ maxFps: preview.maxFps }, 'annotated preview on (faces blurred): GET /api/cameras/:id/preview.jpg; frames are kept in memory only, while someone watches');
    else logger.warn({ maxFps: preview.maxFps }, 'annotated preview on with faces NOT blurred (CROWDLENS_PREVIEW_BLUR=false): anyone with read access sees faces');
  }
  const manager = new CameraManager({ registry, urlPolicy, config, publisher: hub, metrics, logger, ...(preview ? { preview } : {}) });
  await manager.load();

  let models: Ready['models'] = 'loading';
  let modelError: string | undefined;
  let pool: AnalyzerPool | null = null;
  const api = await createApiServer(
    {
      registry,
      reads: manager,
      urlPolicy,
      readiness: () => ({ ready: models === 'loaded', models, cameras: manager.ids().length, ...(modelError !== undefined ? { error: modelError } : {}) }),
      metrics: {
        contentType: metrics.registry.contentType,
        async render() {
          manager.syncMetrics();
          metrics.analyzerInFlight.set(pool?.inFlight ?? 0);
          return metrics.registry.metrics();
        },
      },
      logger,
      ...(preview ? { preview } : {}),
    },
    { prebuildDashboard: true, token: config.api.token, publicRead: config.api.publicRead, bodyLimitBytes: config.api.bodyLimitBytes, ...(options.dashboardDir !== undefined ? { dashboardDir: options.dashboardDir } : {}) },
  );
  const detach = hub.attach(api.publisher);
  let url: string;
  try {
    url = await api.listen(config.api.host, config.api.port);
  } catch (err) {
    await manager.stop();
    await api.close().catch(() => undefined);
    await registry.close();
    throw err;
  }
  logger.info({ url, dataDir: path.resolve(config.service.dataDir), mediaDir, cameras: manager.ids().length, tokenRequired: api.policy.tokenRequired, publicRead: api.policy.publicRead }, `crowdlens: listening on ${url}`);

  let closing: Promise<void> | null = null;
  const ready = (async () => {
    const t0 = performance.now();
    try {
      const analyzer = await createAnalyzer({ config, reid: true }, { logger });
      pool = shareAnalyzer(analyzer, { concurrency: config.service.analyzerConcurrency, onStart: (waitMs) => metrics.analyzerWaitSeconds.observe(waitMs / 1000) });
      const { provider, detector, ageGender, descriptor } = analyzer.info;
      logger.info({ provider, detector, ageGender, descriptor, loadMs: Math.round(performance.now() - t0), concurrency: pool.concurrency }, `models loaded: onnxruntime ${provider} execution provider`);
    } catch (err) {
      models = 'failed';
      modelError = (err as Error).message;
      logger.error({ err }, 'the face models could not be loaded');
      throw err;
    }
    models = 'loaded';
    metrics.modelsReady.set(1);
    if (closing === null) await manager.start(pool);
  })();
  // Observed by callers through `ready`; the rejection is also logged above.
  ready.catch(() => undefined);

  return {
    url,
    api,
    registry,
    manager,
    metrics,
    hub,
    ready,
    close() {
      closing ??= (async () => {
        await ready.catch(() => undefined);
        await manager.stop();
        detach();
        await api.close();
        await pool?.close();
        await registry.close();
        logger.info('crowdlens: stopped');
      })();
      return closing;
    },
  };
}
