/**
 * The HTTP API: Fastify 5 with zod schemas from src/shared/api.ts (validation, response serialisation and the
 * OpenAPI document all come from the same schemas through fastify-type-provider-zod + @fastify/swagger),
 * @fastify/helmet's security headers, bearer-token access (./auth.ts), `/metrics`, the health probes, the
 * dashboard's static files when built, and the Socket.IO live API (./socket.ts) on the same port.
 * Depends only on src/shared: the registry, reads and URL policy are injected.
 */
import fastifyHelmet from '@fastify/helmet';
import fastifySwagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError, jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { apiErrorSchema, cameraCreateSchema, cameraDemographicsSchema, cameraIdSchema, cameraPatchSchema, cameraSchema, cameraStatusSchema, healthSchema, readySchema, type ApiError, type Ready } from '../shared/api.ts';
import type { Logger } from '../shared/logger.ts';
import { maskUrl, redactText } from '../shared/redact.ts';
import { FieldError, toPublicCamera, type CameraReads, type CameraRegistry, type PreviewReads, type UrlPolicy } from '../shared/service.ts';
import { SOCKET_PATH } from '../shared/socket-events.ts';
import { bearerToken, createAccessPolicy, hostOfHeader, isLoopbackHost, type AccessPolicy } from './auth.ts';
import { DASHBOARD_DIR, hasDashboard, registerDashboard } from './dashboard/bundle.ts';
import { attachLiveServer, SocketIoPublisher, type LiveServer } from './socket.ts';

/** Where the dashboard's files and page sources are (served at `/`, the page bundled in memory). */
export { DASHBOARD_DIR };

/** What the API serves from. */
export interface ApiDeps {
  readonly registry: CameraRegistry;
  readonly reads: CameraReads;
  readonly urlPolicy: UrlPolicy;
  /** Readiness for `/readyz` (ready once the models are loaded). */
  readonly readiness: () => Ready;
  /** The Prometheus exposition for `/metrics`. */
  readonly metrics: { readonly contentType: string; render(): Promise<string> };
  readonly logger: Logger;
  /** The annotated preview, when it is on (`CROWDLENS_PREVIEW`); absent: `preview.jpg` answers 404. */
  readonly preview?: PreviewReads;
}

/** API options (from the config's `api` section). */
export interface ApiOptions {
  /** Bearer token; undefined: open, loopback only (the caller checks the listen address). */
  readonly token?: string | undefined;
  readonly publicRead?: boolean;
  /** Largest request body, bytes. Default 65536. */
  readonly bodyLimitBytes?: number;
  /** Dashboard files; default {@link DASHBOARD_DIR}; served only when it holds an index.html and page/main.ts. */
  readonly dashboardDir?: string;
  /** Bundle the dashboard's script now rather than on the first page load. Default false. */
  readonly prebuildDashboard?: boolean;
}

/** A built API server. */
export interface ApiServer {
  readonly app: FastifyInstance;
  readonly io: LiveServer;
  /** Live events straight to the Socket.IO rooms. */
  readonly publisher: SocketIoPublisher;
  readonly policy: AccessPolicy;
  /** Listens; resolves with the base URL (`http://host:port`). */
  listen(host: string, port: number): Promise<string>;
  /** Closes Socket.IO (disconnecting clients) and the HTTP server. */
  close(): Promise<void>;
}

type Access = 'public' | 'read' | 'write';

function accessOf(method: string, url: string): Access {
  const p = url.split('?')[0] ?? url;
  if (p === '/healthz' || p === '/readyz' || p === '/api/openapi.json') return 'public';
  const reading = method === 'GET' || method === 'HEAD';
  if (p === '/metrics') return 'read';
  if (p === '/api' || p.startsWith('/api/')) return reading ? 'read' : 'write';
  // The dashboard's files hold no data; its API calls carry the token.
  return reading ? 'public' : 'write';
}

function sendError(reply: FastifyReply, status: number, body: ApiError): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Turns a zod issue path plus the validation context into the field name errors report (`fps`, `id`). */
function fieldOf(instancePath: string, params: Record<string, unknown>): string {
  const base = instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  const keys = params['keys'];
  if (Array.isArray(keys) && keys.length > 0) return [base, String(keys[0])].filter(Boolean).join('.');
  return base;
}

/** Builds the API (routes registered, not listening). */
export async function createApiServer(deps: ApiDeps, options: ApiOptions = {}): Promise<ApiServer> {
  const policy = createAccessPolicy({ token: options.token, publicRead: options.publicRead ?? false });
  const log = deps.logger.child({ component: 'api' });
  const app = Fastify({
    loggerInstance: log,
    // One debug line per request from the onResponse hook below instead of Fastify's two info lines.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 65_536,
    // Camera ids and paths are matched exactly; no trailing-slash aliases.
    routerOptions: { ignoreTrailingSlash: false },
  });
  // JSON bodies only: without this, Fastify parses text/plain too and a form post would reach validation as a string.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(fastifyHelmet, {
    // Plain http on a LAN address must keep working: no forced upgrade of the page's own requests to https.
    // blob: images: the dashboard shows the preview JPEG it fetched with the token (an <img src> cannot send one).
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null, imgSrc: ["'self'", 'data:', 'blob:'] } },
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'crowdlens', description: 'Cameras, live demographics and status of a crowdlens service. Live events: Socket.IO at ' + SOCKET_PATH + ' (see src/shared/socket-events.ts).', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'CROWDLENS_API_TOKEN' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!policy.tokenRequired && !isLoopbackHost(hostOfHeader(req.headers.host))) {
      return sendError(reply, 403, { error: 'FORBIDDEN', message: `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name: without CROWDLENS_API_TOKEN the API answers loopback requests only` });
    }
    const access = accessOf(req.method, req.url);
    if (access === 'public') return undefined;
    const presented = bearerToken(req.headers.authorization);
    const allowed = access === 'write' ? policy.canWrite(presented) : policy.canRead(presented);
    if (allowed) return undefined;
    reply.header('www-authenticate', 'Bearer realm="crowdlens"');
    return sendError(reply, 401, { error: 'UNAUTHORIZED', message: `${access === 'write' ? 'changes' : 'reads'} need the API token: Authorization: Bearer <CROWDLENS_API_TOKEN>` });
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: redactText(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'body';
      const issues = err.validation.map((v) => {
        const field = fieldOf(v.instancePath, v.params as Record<string, unknown>);
        const message = v.keyword === 'unrecognized_keys' ? `unknown field${field ? ` "${field}"` : ''} (allowed fields are listed in /api/openapi.json)` : (v.message ?? 'invalid');
        return { field: field || where, message: field ? `${field}: ${message}` : message };
      });
      const first = issues[0] as { field: string; message: string };
      return sendError(reply, 400, { error: 'VALIDATION', message: `${where}: ${issues.map((i) => i.message).join('; ')}`, field: first.field, issues });
    }
    if (err instanceof FieldError) return sendError(reply, err.status, { error: err.code, message: err.message, field: err.field });
    if (isResponseSerializationError(err)) {
      req.log.error({ err: err.cause }, 'response did not match its schema');
      return sendError(reply, 500, { error: 'INTERNAL', message: 'internal error (response did not match its schema)' });
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendError(reply, 413, { error: 'PAYLOAD_TOO_LARGE', message: `body: larger than ${options.bodyLimitBytes ?? 65_536} bytes (CROWDLENS_BODY_LIMIT_BYTES)`, field: 'body' });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendError(reply, 415, { error: 'UNSUPPORTED_MEDIA_TYPE', message: `body: expected Content-Type application/json (got ${JSON.stringify(req.headers['content-type'] ?? '')})`, field: 'body' });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendError(reply, 400, { error: 'BAD_REQUEST', message: 'body: empty, expected a JSON object', field: 'body' });
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendError(reply, 400, { error: 'BAD_REQUEST', message: `body: not valid JSON (${redactText(err.message)})`, field: 'body' });
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, err.statusCode, { error: 'BAD_REQUEST', message: redactText(err.message) });
    }
    req.log.error({ err }, 'request failed');
    return sendError(reply, 500, { error: 'INTERNAL', message: 'internal error' });
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, { error: 'NOT_FOUND', message: `no route ${req.method} ${redactText(req.url.split('?')[0] ?? '')}` }));

  const api = app.withTypeProvider<ZodTypeProvider>();
  const idParams = z.strictObject({ id: cameraIdSchema });
  const errors = { 400: apiErrorSchema, 401: apiErrorSchema, 404: apiErrorSchema };
  const notFound = (id: string): FieldError => new FieldError('id', `no camera ${JSON.stringify(id)}`, 404, 'NOT_FOUND');

  api.get('/healthz', { schema: { tags: ['health'], summary: 'The process is up', security: [], response: { 200: healthSchema } } }, async () => ({ status: 'ok' as const, uptimeS: Math.round(process.uptime()) }));
  api.get('/readyz', { schema: { tags: ['health'], summary: 'Ready once the face models are loaded (503 before)', security: [], response: { 200: readySchema, 503: readySchema } } }, async (_req, reply) => {
    const r = deps.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  api.get('/metrics', { schema: { tags: ['metrics'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } }, async (_req, reply) => {
    const body = await deps.metrics.render();
    return reply.type(deps.metrics.contentType).send(body);
  });

  api.get('/api/cameras', { schema: { tags: ['cameras'], summary: 'Registered cameras (URLs masked)', response: { 200: z.array(cameraSchema), 401: apiErrorSchema } } }, async () => (await deps.registry.list()).map(toPublicCamera));
  api.post('/api/cameras', { schema: { tags: ['cameras'], summary: 'Register a camera; it starts within a second or two', body: cameraCreateSchema, response: { 201: cameraSchema, ...errors, 409: apiErrorSchema } } }, async (req, reply) => {
    await deps.urlPolicy.check(req.body.url, 'url');
    const record = await deps.registry.create(req.body);
    return reply.code(201).header('location', `/api/cameras/${record.id}`).send(toPublicCamera(record));
  });
  api.get('/api/cameras/:id', { schema: { tags: ['cameras'], summary: 'One camera (URL masked)', params: idParams, response: { 200: cameraSchema, ...errors } } }, async (req) => {
    const record = await deps.registry.get(req.params.id);
    if (!record) throw notFound(req.params.id);
    return toPublicCamera(record);
  });
  api.patch('/api/cameras/:id', { schema: { tags: ['cameras'], summary: 'Change a camera; a changed source, fps, size or enabled flag restarts or stops its ingest', params: idParams, body: cameraPatchSchema, response: { 200: cameraSchema, ...errors } } }, async (req) => {
    const current = await deps.registry.get(req.params.id);
    if (!current) throw notFound(req.params.id);
    const patch = { ...req.body };
    // A form that shows the masked URL sends it back unchanged: keep the stored one (with its credentials).
    if (patch.url !== undefined && (patch.url === maskUrl(current.url) || patch.url === current.url)) delete patch.url;
    if (patch.url !== undefined) await deps.urlPolicy.check(patch.url, 'url');
    const next = await deps.registry.update(req.params.id, patch);
    if (!next) throw notFound(req.params.id);
    return toPublicCamera(next);
  });
  api.delete('/api/cameras/:id', { schema: { tags: ['cameras'], summary: 'Remove a camera; its ingest stops', params: idParams, response: { 204: z.undefined(), ...errors } } }, async (req, reply) => {
    if (!(await deps.registry.remove(req.params.id))) throw notFound(req.params.id);
    return reply.code(204).send();
  });
  api.get('/api/cameras/:id/status', { schema: { tags: ['cameras'], summary: 'State, fps in and out, frames dropped by reason, restarts, last error', params: idParams, response: { 200: cameraStatusSchema, ...errors } } }, async (req) => {
    const s = await deps.reads.status(req.params.id);
    if (!s) throw notFound(req.params.id);
    return s;
  });
  api.get(
    '/api/cameras/:id/demographics',
    { schema: { tags: ['cameras'], summary: 'Live snapshot, per-minute buckets of the last hour and per-hour buckets of the last day (aggregates only)', params: idParams, response: { 200: cameraDemographicsSchema, ...errors } } },
    async (req) => {
      const d = await deps.reads.demographics(req.params.id);
      if (!d) throw notFound(req.params.id);
      return d;
    },
  );
  api.get(
    '/api/cameras/:id/preview.jpg',
    {
      schema: {
        tags: ['cameras'],
        summary: 'The latest analysed frame with face boxes and labels, faces blurred unless CROWDLENS_PREVIEW_BLUR=false (only with CROWDLENS_PREVIEW=true; kept in memory only)',
        params: idParams,
        produces: ['image/jpeg'],
        response: { 404: apiErrorSchema, 401: apiErrorSchema, 400: apiErrorSchema, 503: apiErrorSchema },
      },
    },
    async (req, reply) => {
      if (!(await deps.registry.get(req.params.id))) throw notFound(req.params.id);
      if (!deps.preview) return sendError(reply, 404, { error: 'NOT_FOUND', message: 'preview: the annotated preview is off (start with CROWDLENS_PREVIEW=true to turn it on)', field: 'preview' });
      const image = await deps.preview.latest(req.params.id);
      if (!image) return sendError(reply, 503, { error: 'NOT_READY', message: `preview: no analysed frame of camera ${JSON.stringify(req.params.id)} in the last seconds (starting, down or disabled; see /api/cameras/${req.params.id}/status)`, field: 'preview' });
      // A Buffer is sent as is (Fastify serialises objects only); the zod-typed reply knows only the JSON bodies.
      return (reply as FastifyReply)
        .type('image/jpeg')
        .header('cache-control', 'no-store')
        .header('x-crowdlens-captured-at-ms', String(image.capturedAtMs))
        .header('x-crowdlens-faces', String(image.faces))
        .header('x-crowdlens-blurred', String(image.blurred))
        .send(Buffer.from(image.jpeg.buffer, image.jpeg.byteOffset, image.jpeg.byteLength));
    },
  );
  app.get('/api/openapi.json', { schema: { hide: true } as object }, async () => app.swagger());

  const dashboardDir = options.dashboardDir ?? DASHBOARD_DIR;
  if (hasDashboard(dashboardDir)) {
    registerDashboard(app as unknown as FastifyInstance, dashboardDir, log, { prebuild: options.prebuildDashboard ?? false });
  } else {
    app.get('/', { schema: { hide: true } as object }, async (_req, reply) =>
      reply.type('text/plain; charset=utf-8').send('crowdlens: the dashboard is not built in this checkout (src/api/dashboard/ is missing).\nAPI: /api/openapi.json, /api/cameras, live events over Socket.IO at /socket.io, metrics at /metrics.\n'),
    );
  }

  await app.ready();
  const io = attachLiveServer(app.server, { registry: deps.registry, reads: deps.reads, policy, logger: deps.logger });
  const publisher = new SocketIoPublisher(io);

  return {
    // The pino logger type is narrower than Fastify's base logger type; the instance is the same.
    app: app as unknown as FastifyInstance,
    io,
    publisher,
    policy,
    async listen(host, port) {
      await app.listen({ host, port });
      const addr = app.server.address();
      const actualPort = typeof addr === 'object' && addr ? addr.port : port;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      return `http://${shown}:${actualPort}`;
    },
    async close() {
      // io.close() also closes the HTTP server; Fastify's close then finishes its own hooks.
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
      });
      await app.close();
    },
  };
}
