import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorSchema, cameraDemographicsSchema, cameraSchema, cameraStatusSchema, subscribeAckSchema, type ApiError, type Camera, type SubscribeAck } from '../../src/shared/api.ts';
import { loadConfig } from '../../src/shared/config.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/shared/socket-events.ts';
import { checkListenAddress, ListenPolicyError } from '../../src/api/auth.ts';
import { createApiServer, type ApiServer } from '../../src/api/server.ts';
import { CameraManager } from '../../src/service/camera-manager.ts';
import { createMetrics } from '../../src/service/metrics.ts';
import { PublisherHub } from '../../src/service/publisher.ts';
import { JsonFileRegistry, REGISTRY_FILE } from '../../src/service/registry-file.ts';
import { createUrlPolicy } from '../../src/service/url-policy.ts';
import { captureLogger } from '../ingest/helpers.ts';

const TOKEN = 'test-token-0123456789abcdef';
let root: string;
let media: string;
let n = 0;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-api-'));
  media = path.join(root, 'media');
  mkdirSync(media);
  writeFileSync(path.join(media, 'clip.mp4'), 'not decoded in these tests');
  writeFileSync(path.join(root, 'outside.mp4'), 'x');
  symlinkSync(path.join(root, 'outside.mp4'), path.join(media, 'link-out.mp4'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Harness {
  api: ApiServer;
  registry: JsonFileRegistry;
  dataDir: string;
  logs: () => string;
  close: () => Promise<void>;
}

/**
 * The real API over the real registry, URL policy and camera manager; the manager is not given an analyzer, so
 * cameras stay `pending` (no models or ffmpeg in these tests).
 */
async function harness(options: { token?: string; publicRead?: boolean; bodyLimitBytes?: number } = {}): Promise<Harness> {
  const dataDir = path.join(root, `data-${++n}`);
  const config = loadConfig({ env: {}, flags: { 'service.dataDir': dataDir, 'service.mediaDir': media } });
  const { logger, text } = captureLogger();
  const { registry } = await JsonFileRegistry.open({ dataDir, logger });
  const urlPolicy = createUrlPolicy(media);
  const metrics = createMetrics({ defaultMetrics: false });
  const hub = new PublisherHub(logger);
  const manager = new CameraManager({ registry, urlPolicy, config, publisher: hub, metrics, logger });
  await manager.load();
  const api = await createApiServer(
    {
      registry,
      reads: manager,
      urlPolicy,
      readiness: () => ({ ready: false, models: 'loading', cameras: manager.ids().length }),
      metrics: { contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() },
      logger,
    },
    { token: options.token, publicRead: options.publicRead ?? false, bodyLimitBytes: options.bodyLimitBytes ?? 4096 },
  );
  hub.attach(api.publisher);
  return {
    api,
    registry,
    dataDir,
    logs: text,
    close: async () => {
      await manager.stop();
      await api.close();
      await registry.close();
    },
  };
}

function auth(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

function expectError(res: { statusCode: number; body: string }, status: number, code: ApiError['error'], field?: string): ApiError {
  expect(res.statusCode, res.body).toBe(status);
  const body = apiErrorSchema.parse(JSON.parse(res.body));
  expect(body.error).toBe(code);
  if (field !== undefined) expect(body.field).toBe(field);
  return body;
}

describe('REST API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(() => h.close());

  it('creates, lists, reads, patches and deletes cameras', async () => {
    const created = await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: { name: 'Front door', url: 'clip.mp4', fps: 2 } });
    expect(created.statusCode, created.body).toBe(201);
    const cam = cameraSchema.parse(created.json());
    expect(cam).toMatchObject({ id: 'front-door', name: 'Front door', url: 'clip.mp4', fps: 2, maxWidth: null, enabled: true, loop: true });
    expect(created.headers.location).toBe('/api/cameras/front-door');

    const list = await h.api.app.inject({ url: '/api/cameras' });
    expect((list.json() as Camera[]).map((c) => c.id)).toEqual(['front-door']);
    expect((await h.api.app.inject({ url: '/api/cameras/front-door' })).json()).toEqual(cam);

    const patched = await h.api.app.inject({ method: 'PATCH', url: '/api/cameras/front-door', payload: { name: 'Front', fps: null, enabled: false } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ id: 'front-door', name: 'Front', fps: null, enabled: false });

    const status = cameraStatusSchema.parse((await h.api.app.inject({ url: '/api/cameras/front-door/status' })).json());
    expect(status).toMatchObject({ cameraId: 'front-door', state: 'disabled', enabled: false, frames: { read: 0, sampled: 0 }, framesDropped: { queueFull: 0, partial: 0 }, lastError: null });
    const demo = cameraDemographicsSchema.parse((await h.api.app.inject({ url: '/api/cameras/front-door/demographics' })).json());
    expect(demo.live).toBeNull();
    expect(demo.minutes).toHaveLength(60);
    expect(demo.hours).toHaveLength(24);

    const del = await h.api.app.inject({ method: 'DELETE', url: '/api/cameras/front-door' });
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expectError(await h.api.app.inject({ url: '/api/cameras/front-door' }), 404, 'NOT_FOUND', 'id');
    expectError(await h.api.app.inject({ method: 'DELETE', url: '/api/cameras/front-door' }), 404, 'NOT_FOUND', 'id');
    expectError(await h.api.app.inject({ url: '/api/cameras/front-door/status' }), 404, 'NOT_FOUND', 'id');
  });

  it('rejects bad input with 4xx errors that name the field', async () => {
    const post = (payload: unknown, headers: Record<string, string> = {}) =>
      h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: payload as string, headers: { 'content-type': 'application/json', ...headers } });
    expectError(await post({ url: 'clip.mp4' }), 400, 'VALIDATION', 'name');
    expect(expectError(await post({ name: 'a', url: 'clip.mp4', fps: 'fast' }), 400, 'VALIDATION', 'fps').message).toMatch(/fps/);
    expectError(await post({ name: 'a', url: 'clip.mp4', fps: 0 }), 400, 'VALIDATION', 'fps');
    expectError(await post({ name: 'a', url: 'clip.mp4', maxWidth: 10.5 }), 400, 'VALIDATION', 'maxWidth');
    expect(expectError(await post({ name: 'a', url: 'clip.mp4', color: 'red' }), 400, 'VALIDATION', 'color').message).toMatch(/unknown field "color"/);
    expectError(await post({ name: '   ', url: 'clip.mp4' }), 400, 'VALIDATION', 'name');
    expect(expectError(await post({ name: 'a', url: 'ftp://example.com/x' }), 400, 'VALIDATION', 'url').message).toMatch(/unsupported scheme/);
    expectError(await post('{"name": "a",', {}), 400, 'BAD_REQUEST', 'body');
    expectError(await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: 'name=a', headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE', 'body');
    expectError(await post({ name: 'a', url: `${'x'.repeat(5000)}.mp4` }), 413, 'PAYLOAD_TOO_LARGE', 'body');
    expectError(await h.api.app.inject({ url: '/api/cameras/Not_An_Id' }), 400, 'VALIDATION', 'id');
    await post({ name: 'keep', url: 'clip.mp4' });
    expect(expectError(await h.api.app.inject({ method: 'PATCH', url: '/api/cameras/keep', payload: {} }), 400, 'VALIDATION').message).toMatch(/at least one field/);
    expectError(await h.api.app.inject({ method: 'PATCH', url: '/api/cameras/keep', payload: { id: 'other' } }), 400, 'VALIDATION', 'id');
    expectError(await h.api.app.inject({ method: 'PATCH', url: '/api/cameras/nope', payload: { name: 'x' } }), 404, 'NOT_FOUND', 'id');
    expectError(await h.api.app.inject({ url: '/api/nothing-here' }), 404, 'NOT_FOUND');
  });

  it('refuses files outside the media directory: .. escapes, absolute paths, symlinks out', async () => {
    for (const url of ['../outside.mp4', path.join(root, 'outside.mp4'), `file://${path.join(root, 'outside.mp4')}`, 'link-out.mp4', 'missing.mp4']) {
      const res = await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: { name: 'x', url } });
      expectError(res, 400, 'VALIDATION', 'url');
    }
    const ok = await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: { name: 'inside', url: path.join(media, 'clip.mp4') } });
    expect(ok.statusCode).toBe(201);
    expectError(await h.api.app.inject({ method: 'PATCH', url: '/api/cameras/inside', payload: { url: '../outside.mp4' } }), 400, 'VALIDATION', 'url');
  });

  it('masks credentials in every response and log line, and keeps the real URL only in the registry file', async () => {
    const secretUrl = 'rtsp://admin:Pa55word-xyz@192.0.2.10:554/stream1?token=tok-secret-123';
    const created = await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: { name: 'Secret cam', url: secretUrl, enabled: false } });
    expect(created.statusCode, created.body).toBe(201);
    const cam = created.json() as Camera;
    expect(cam.url).toBe('rtsp://***:***@192.0.2.10:554/stream1?token=***');
    // A form sending back the masked URL keeps the stored one; a new URL replaces it.
    const roundTrip = await h.api.app.inject({ method: 'PATCH', url: `/api/cameras/${cam.id}`, payload: { url: cam.url, name: 'Secret cam 2' } });
    expect(roundTrip.statusCode, roundTrip.body).toBe(200);
    expect(readFileSync(path.join(h.dataDir, REGISTRY_FILE), 'utf8')).toContain(secretUrl);
    const bodies = [created.body, roundTrip.body];
    for (const url of ['/api/cameras', `/api/cameras/${cam.id}`, `/api/cameras/${cam.id}/status`, `/api/cameras/${cam.id}/demographics`, '/metrics']) bodies.push((await h.api.app.inject({ url })).body);
    // Errors that quote a URL mask it too.
    bodies.push((await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: { name: 'x', url: 'gopher://admin:Pa55word-xyz@192.0.2.10/' } })).body);
    for (const text of [...bodies, h.logs()]) {
      expect(text).not.toContain('Pa55word-xyz');
      expect(text).not.toContain('tok-secret-123');
      expect(text).not.toContain('admin:');
    }
  });

  it('serves the probes, OpenAPI from the same schemas, and security headers', async () => {
    expect((await h.api.app.inject({ url: '/healthz' })).json()).toMatchObject({ status: 'ok' });
    const ready = await h.api.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ ready: false, models: 'loading' });
    const res = await h.api.app.inject({ url: '/api/openapi.json' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[]; additionalProperties?: unknown }> } };
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/api/cameras', '/api/cameras/{id}', '/api/cameras/{id}/status', '/api/cameras/{id}/demographics', '/healthz', '/readyz', '/metrics']) expect(Object.keys(doc.paths)).toContain(p);
    expect(Object.keys(doc.paths['/api/cameras/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
    const create = Object.entries(doc.components.schemas).find(([k]) => k.startsWith('CameraCreate'))?.[1];
    expect(create?.required?.sort()).toEqual(['name', 'url']);
    expect(create?.additionalProperties).toBe(false);
    expect(Object.keys(create?.properties ?? {}).sort()).toEqual(['enabled', 'fps', 'loop', 'maxWidth', 'name', 'url']);
    expect(Object.keys(doc.components.schemas).some((k) => k.startsWith('DemographicsSnapshot'))).toBe(true);
    const root = await h.api.app.inject({ url: '/' });
    expect(root.statusCode).toBe(200);
    expect(root.body).toMatch(/dashboard is not built|<html/i);
  });

  it('answers only loopback Host names without a token (DNS rebinding)', async () => {
    expectError(await h.api.app.inject({ url: '/api/cameras', headers: { host: 'evil.example:8080' } }), 403, 'FORBIDDEN');
    expect((await h.api.app.inject({ url: '/api/cameras', headers: { host: '127.0.0.1:8080' } })).statusCode).toBe(200);
    expect((await h.api.app.inject({ url: '/api/cameras', headers: { host: '[::1]:8080' } })).statusCode).toBe(200);
  });
});

describe('bearer-token access', () => {
  it('needs the token for changes and reads, compares it exactly, and leaves the probes open', async () => {
    const h = await harness({ token: TOKEN });
    try {
      const body = { name: 'a', url: 'clip.mp4' };
      const noToken = await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: body });
      expectError(noToken, 401, 'UNAUTHORIZED');
      expect(noToken.headers['www-authenticate']).toMatch(/^Bearer/);
      expectError(await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: body, headers: auth(`${TOKEN}x`) }), 401, 'UNAUTHORIZED');
      expectError(await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: body, headers: auth(TOKEN.slice(0, -1)) }), 401, 'UNAUTHORIZED');
      expectError(await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: body, headers: { authorization: `Basic ${TOKEN}` } }), 401, 'UNAUTHORIZED');
      expect((await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: body, headers: auth(TOKEN) })).statusCode).toBe(201);
      expectError(await h.api.app.inject({ url: '/api/cameras' }), 401, 'UNAUTHORIZED');
      expectError(await h.api.app.inject({ url: '/metrics' }), 401, 'UNAUTHORIZED');
      expect((await h.api.app.inject({ url: '/api/cameras', headers: auth(TOKEN) })).statusCode).toBe(200);
      expectError(await h.api.app.inject({ method: 'DELETE', url: '/api/cameras/a' }), 401, 'UNAUTHORIZED');
      for (const url of ['/healthz', '/readyz', '/api/openapi.json', '/']) expect((await h.api.app.inject({ url })).statusCode, url).not.toBe(401);
      // With a token, other Host names are fine (the token is the protection).
      expect((await h.api.app.inject({ url: '/api/cameras', headers: { ...auth(TOKEN), host: 'crowdlens.example:8080' } })).statusCode).toBe(200);
      expect(h.logs()).not.toContain(TOKEN);
    } finally {
      await h.close();
    }
  });

  it('with public reads, GETs need no token but changes still do', async () => {
    const h = await harness({ token: TOKEN, publicRead: true });
    try {
      expect((await h.api.app.inject({ url: '/api/cameras' })).statusCode).toBe(200);
      expect((await h.api.app.inject({ url: '/metrics' })).statusCode).toBe(200);
      expectError(await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: { name: 'a', url: 'clip.mp4' } }), 401, 'UNAUTHORIZED');
      expect((await h.api.app.inject({ method: 'POST', url: '/api/cameras', payload: { name: 'a', url: 'clip.mp4' }, headers: auth(TOKEN) })).statusCode).toBe(201);
    } finally {
      await h.close();
    }
  });

  it('refuses to listen beyond loopback without a token, and warns once on loopback', () => {
    expect(() => checkListenAddress('0.0.0.0', false)).toThrow(ListenPolicyError);
    expect(() => checkListenAddress('192.0.2.7', false)).toThrow(/CROWDLENS_API_TOKEN/);
    expect(() => checkListenAddress('::', false)).toThrow(ListenPolicyError);
    expect(checkListenAddress('0.0.0.0', true)).toBeNull();
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.0.0.2']) expect(checkListenAddress(host, false)).toMatch(/no CROWDLENS_API_TOKEN/);
  });
});

describe('Socket.IO handshake and subscriptions', () => {
  type Client = Socket<ServerToClientEvents, ClientToServerEvents>;
  const clients: Client[] = [];
  const open = (url: string, opts: Parameters<typeof connect>[1] = {}): Client => {
    const c: Client = connect(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...opts });
    clients.push(c);
    return c;
  };
  const outcome = (c: Client): Promise<string> =>
    new Promise((resolve) => {
      c.once('connect', () => resolve('connected'));
      c.once('connect_error', (err) => resolve(`error: ${err.message}`));
    });
  afterAll(() => {
    for (const c of clients) c.close();
  });

  it('needs the token unless reads are public; acks subscribe errors for unknown cameras', async () => {
    const h = await harness({ token: TOKEN });
    const url = await h.api.listen('127.0.0.1', 0);
    try {
      expect(await outcome(open(url))).toMatch(/^error: unauthorized/);
      expect(await outcome(open(url, { auth: { token: 'wrong-token-wrong-token' } }))).toMatch(/^error: unauthorized/);
      expect(await outcome(open(url, { extraHeaders: { origin: 'http://evil.example' }, auth: { token: TOKEN } }))).toMatch(/^error/);
      const ok = open(url, { auth: { token: TOKEN } });
      expect(await outcome(ok)).toBe('connected');
      const ack = (target: unknown): Promise<SubscribeAck> => new Promise((resolve) => ok.emit('subscribe', target as string, resolve));
      const unknown = subscribeAckSchema.parse(await ack('nope'));
      expect(unknown).toMatchObject({ ok: false, error: { error: 'NOT_FOUND', field: 'target' } });
      expect(await ack('Bad Id!')).toMatchObject({ ok: false, error: { error: 'VALIDATION', field: 'target' } });
      await h.registry.create({ name: 'Cam', url: 'rtsp://u:secretpw1@192.0.2.1/s', enabled: false });
      const all = subscribeAckSchema.parse(await ack('*'));
      expect(all.ok && all.cameras.map((c) => c.id)).toEqual(['cam']);
      expect(JSON.stringify(all)).not.toContain('secretpw1');
      const changed = new Promise((resolve) => ok.once('camera.changed', resolve));
      await h.api.app.inject({ method: 'DELETE', url: '/api/cameras/cam', headers: auth(TOKEN) });
      expect(await changed).toEqual({ type: 'deleted', cameraId: 'cam', camera: null });
    } finally {
      await h.close();
    }
    const pub = await harness({ token: TOKEN, publicRead: true });
    const pubUrl = await pub.api.listen('127.0.0.1', 0);
    try {
      expect(await outcome(open(pubUrl))).toBe('connected');
    } finally {
      await pub.close();
    }
  });
});
