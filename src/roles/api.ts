/**
 * The `crowdlens api` role: the REST API, the dashboard and Socket.IO over Redis. Any number of API nodes may run
 * behind a load balancer; they share nothing but Redis.
 * - The camera registry is src/scale's RedisCameraRegistry (same validation and URL policy as in one process;
 *   changes reach every ingest process within a second or two).
 * - Reads (status, live snapshot, history) come from what each camera's owner stores in Redis (RedisCameraReads).
 * - Socket.IO runs on @socket.io/redis-adapter (key `<prefix>:socket.io`): a camera's live events are published by
 *   its ingest owner, fenced by the camera lease, in the adapter's wire format, and every API node delivers them to
 *   its own subscribers, whichever process owns the camera. The API nodes themselves publish no camera event into
 *   Redis: `camera.changed` and the `demographics` of a camera that no ingest runs (state `pending`/`disabled`) go
 *   to each node's own clients only, from what that node reads.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import { toPublicCamera } from '../shared/service.ts';
import { checkListenAddress } from '../api/auth.ts';
import { createApiServer, type ApiServer } from '../api/server.ts';
import { SocketIoPublisher } from '../api/socket.ts';
import { createMetrics, type CrowdlensMetrics } from '../service/metrics.ts';
import { createUrlPolicy } from '../service/url-policy.ts';
import { CameraStateStore, RedisCameraReads, RedisCameraRegistry, openScale } from '../scale/index.ts';

/** A running API role. */
export interface ApiRole {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly api: ApiServer;
  readonly registry: RedisCameraRegistry;
  close(): Promise<void>;
}

/** Options of {@link startApiRole}. */
export interface ApiRoleDeps {
  readonly logger: Logger;
  /** Metrics served at /metrics (`crowdlens start` with Redis: every role's); default the API node's own. */
  readonly metrics?: { readonly metrics: CrowdlensMetrics; collect(): Promise<void> };
  /** Readiness beyond Redis (`crowdlens start`: the models loaded). */
  readonly ready?: () => boolean;
  /** Dashboard files to serve at `/` (default: src/api/dashboard when built). */
  readonly dashboardDir?: string;
}

/** Starts an API node; resolves once it listens. */
export async function startApiRole(config: Config, deps: ApiRoleDeps): Promise<ApiRole> {
  const log = deps.logger;
  const warning = checkListenAddress(config.api.host, config.api.token !== undefined);
  if (warning) log.warn(warning);
  const scale = openScale(config, { name: 'crowdlens-api', logger: log });
  const { keys, redis } = scale;
  const mediaDir = path.resolve(config.service.mediaDir);
  await mkdir(mediaDir, { recursive: true });
  const urlPolicy = createUrlPolicy(mediaDir);
  const registry = new RedisCameraRegistry({ redis, keys, maxCameras: config.service.maxCameras, logger: log });
  const state = new CameraStateStore({ redis, keys, statusTtlMs: Math.max(5000, 4 * config.service.liveIntervalMs) });
  const reads = new RedisCameraReads(state, registry);
  const own = deps.metrics ?? { metrics: createMetrics({ role: 'api' }), collect: async () => undefined };
  let redisErrorsReported = 0;
  const api = await createApiServer(
    {
      registry,
      reads,
      urlPolicy,
      readiness: () => ({
        ready: redis.status === 'ready' && (deps.ready?.() ?? true),
        models: deps.ready ? (deps.ready() ? 'loaded' : 'loading') : 'remote',
        cameras: knownCameras,
      }),
      metrics: {
        contentType: own.metrics.registry.contentType,
        async render() {
          await own.collect();
          const errors = scale.redisErrors();
          if (errors > redisErrorsReported) own.metrics.redisErrors.inc(errors - redisErrorsReported);
          redisErrorsReported = errors;
          return own.metrics.registry.metrics();
        },
      },
      logger: log,
    },
    {
      token: config.api.token,
      publicRead: config.api.publicRead,
      bodyLimitBytes: config.api.bodyLimitBytes,
      ...(deps.dashboardDir !== undefined ? { dashboardDir: deps.dashboardDir } : {}),
    },
  );
  const pub = redis.duplicate();
  const sub = redis.duplicate();
  for (const c of [pub, sub]) c.on('error', (err: Error) => log.debug({ err }, 'socket.io adapter redis error'));
  api.io.adapter(createAdapter(pub, sub, { key: keys.socketIo() }));
  const local = new SocketIoPublisher(api.io, { local: true });

  let knownCameras = 0;
  registry.subscribe((change) =>
    local.cameraChanged({ type: change.type, cameraId: change.id, camera: change.camera ? toPublicCamera(change.camera) : null }),
  );
  await registry.ready();

  // Cameras no ingest runs get their 1 Hz `demographics` from here (their state and last snapshot), to this node's clients.
  const tick = async (): Promise<void> => {
    const records = await registry.list();
    knownCameras = records.length;
    if (records.length === 0) return;
    const present = await redis.mget(...records.map((r) => keys.cameraStatus(r.id)));
    const now = Date.now();
    for (const [i, r] of records.entries()) {
      if (present[i] !== null) continue;
      const live = await state.live(r.id);
      local.demographics({ cameraId: r.id, atMs: now, state: r.enabled ? 'pending' : 'disabled', snapshot: live?.snapshot ?? null });
    }
  };
  const timer = setInterval(
    () => void tick().catch((err: unknown) => log.debug({ err }, 'api tick failed')),
    config.service.liveIntervalMs,
  );
  timer.unref();
  await tick().catch(() => undefined);

  let url: string;
  try {
    url = await api.listen(config.api.host, config.api.port);
  } catch (err) {
    clearInterval(timer);
    await api.close().catch(() => undefined);
    await registry.close();
    pub.disconnect();
    sub.disconnect();
    scale.close();
    throw err;
  }
  log.info(
    { url, prefix: config.scale.prefix, tokenRequired: api.policy.tokenRequired, publicRead: api.policy.publicRead },
    `crowdlens api: listening on ${url}`,
  );
  let closing: Promise<void> | null = null;
  return {
    url,
    api,
    registry,
    close: () =>
      (closing ??= (async () => {
        clearInterval(timer);
        await api.close();
        await registry.close();
        pub.disconnect();
        sub.disconnect();
        scale.close();
      })()),
  };
}
