/**
 * The small HTTP endpoint of the `ingest` and `worker` roles (Fastify, as the API): `/metrics` (Prometheus text),
 * `/healthz` (up) and `/readyz` (ready: models loaded / taking jobs, or following the registry). `/metrics` needs
 * the API token when one is configured and reads are not public, like the API's; the other two are open.
 */
import Fastify, { LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/logger.ts';
import { bearerToken, createAccessPolicy } from '../api/auth.ts';

/** A running metrics endpoint. */
export interface MetricsServer {
  /** `http://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** Brings gauges up to date before each scrape. */
  readonly collect?: () => Promise<void> | void;
  readonly ready: () => boolean;
  readonly token?: string | undefined;
  readonly publicRead?: boolean;
  readonly logger: Logger;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const policy = createAccessPolicy({ token: options.token, publicRead: options.publicRead ?? false });
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'metrics' }),
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.get('/healthz', async () => ({ status: 'ok', uptimeS: Math.round(process.uptime()) }));
  app.get('/readyz', async (_req, reply) => reply.code(options.ready() ? 200 : 503).send({ ready: options.ready() }));
  app.get('/metrics', async (req, reply) => {
    if (!policy.canRead(bearerToken(req.headers.authorization))) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="crowdlens"')
        .send({ error: 'UNAUTHORIZED', message: 'reads need the API token: Authorization: Bearer <CROWDLENS_API_TOKEN>' });
    }
    await options.collect?.();
    return reply.type(options.registry.contentType).send(await options.registry.metrics());
  });
  await app.listen({ host: options.host, port: options.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const shown =
    options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
  return { url: `http://${shown}:${port}`, close: () => app.close() };
}
