/**
 * The annotated preview: frames are kept only while watched and at most maxFps a second, rendered (real sharp)
 * on request once per kept frame, faces blurred unless turned off; and the API route around it (off by default,
 * auth like other reads, 503 before a frame, a JPEG after).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { apiErrorSchema } from '../../src/shared/api.ts';
import { loadConfig } from '../../src/shared/config.ts';
import type { Face, Frame } from '../../src/shared/messages.ts';
import { createApiServer } from '../../src/api/server.ts';
import { CameraManager } from '../../src/service/camera-manager.ts';
import { createMetrics } from '../../src/service/metrics.ts';
import { blurRegion, PreviewStore } from '../../src/service/preview.ts';
import { PublisherHub } from '../../src/service/publisher.ts';
import { JsonFileRegistry } from '../../src/service/registry-file.ts';
import { createUrlPolicy } from '../../src/service/url-policy.ts';
import { captureLogger } from '../ingest/helpers.ts';

const W = 160;
const H = 120;
const FACE: Face = { box: [40, 30, 100, 90], score: 0.97, ageYears: 31, gender: 'female', genderScore: 0.9 };

/** A frame with a fine checkerboard (high contrast everywhere, so a blur shows as lost variance). */
function frame(seq: number, capturedAtMs = 1000 + seq * 200): Frame {
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) rgb.fill(((x >> 1) + (y >> 1)) % 2 ? 230 : 20, (y * W + x) * 3, (y * W + x) * 3 + 3);
  return { sourceId: 'cam', seq, capturedAtMs, ptsMs: seq * 200, width: W, height: H, rgb };
}

/** Standard deviation of the grey values inside a rectangle of a decoded JPEG. */
async function spread(jpeg: Uint8Array, r: { left: number; top: number; width: number; height: number }): Promise<number> {
  const { data } = await sharp(jpeg).extract(r).greyscale().raw().toBuffer({ resolveWithObject: true });
  const mean = data.reduce((a, v) => a + v, 0) / data.length;
  return Math.sqrt(data.reduce((a, v) => a + (v - mean) ** 2, 0) / data.length);
}

describe('PreviewStore', () => {
  it('keeps nothing until someone asks, then renders the latest frame with the faces blurred', async () => {
    let now = 10_000;
    const store = new PreviewStore({ maxFps: 2, watchMs: 5000, waitMs: 2000, now: () => now });
    store.offer('cam', frame(1), [FACE]);
    expect(store.keptCount()).toBe(0);
    const pending = store.latest('cam');
    store.offer('cam', frame(2), [FACE]);
    const image = await pending;
    expect(image).not.toBeNull();
    expect(image).toMatchObject({ width: W, height: H, faces: 1, blurred: true, capturedAtMs: frame(2).capturedAtMs });
    const meta = await sharp(image?.jpeg).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', W, H]);
    // Inside the face (below the label) the checkerboard is gone; away from it, it is intact.
    expect(await spread(image?.jpeg as Uint8Array, { left: 50, top: 45, width: 40, height: 35 })).toBeLessThan(20);
    expect(await spread(image?.jpeg as Uint8Array, { left: 115, top: 95, width: 40, height: 20 })).toBeGreaterThan(60);
    // Rendered once per kept frame.
    expect(await store.latest('cam')).toBe(image);

    // At most maxFps frames a second are kept.
    now += 100;
    store.offer('cam', frame(3), [FACE]);
    expect((await store.latest('cam'))?.capturedAtMs).toBe(frame(2).capturedAtMs);
    now += 500;
    store.offer('cam', frame(4), []);
    const next = await store.latest('cam');
    expect(next).toMatchObject({ capturedAtMs: frame(4).capturedAtMs, faces: 0 });

    // Nobody watching for watchMs: the frame is dropped.
    now += 6000;
    store.sweep();
    expect(store.keptCount()).toBe(0);
    store.offer('cam', frame(5), [FACE]);
    expect(store.keptCount()).toBe(0);
  });

  it('leaves faces sharp only when blurring is turned off, and answers null when no frame comes', async () => {
    const store = new PreviewStore({ blur: false, waitMs: 200 });
    const pending = store.latest('cam');
    store.offer('cam', frame(1), [FACE]);
    const image = await pending;
    expect(image?.blurred).toBe(false);
    expect(await spread(image?.jpeg as Uint8Array, { left: 50, top: 45, width: 40, height: 35 })).toBeGreaterThan(60);
    expect(await new PreviewStore({ waitMs: 100 }).latest('other')).toBeNull();
    expect(blurRegion([150, 110, 170, 130], W, H)).toEqual({ left: 146, top: 106, width: 14, height: 14 });
    expect(blurRegion([-5, -5, 0, 0], W, H)).toBeNull();
  });
});

const TOKEN = 'preview-test-token-0123456789';
const root = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-preview-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function apiWith(preview: PreviewStore | undefined, n: number) {
  const dataDir = path.join(root, `data-${n}`);
  const config = loadConfig({ env: {}, flags: { 'service.dataDir': dataDir, 'service.mediaDir': root } });
  const { logger } = captureLogger();
  const { registry } = await JsonFileRegistry.open({ dataDir, logger });
  const metrics = createMetrics({ defaultMetrics: false });
  const manager = new CameraManager({ registry, urlPolicy: createUrlPolicy(root), config, publisher: new PublisherHub(logger), metrics, logger });
  await manager.load();
  await registry.create({ name: 'Cam', url: 'rtsp://192.0.2.1/live', enabled: false });
  const api = await createApiServer(
    { registry, reads: manager, urlPolicy: createUrlPolicy(root), readiness: () => ({ ready: true, models: 'loaded', cameras: 1 }), metrics: { contentType: 'text/plain', render: async () => '' }, logger, ...(preview ? { preview } : {}) },
    { token: TOKEN },
  );
  return {
    get: (url: string, token: string | null = TOKEN) => api.app.inject({ url, headers: token ? { authorization: `Bearer ${token}` } : {} }),
    close: async () => {
      await manager.stop();
      await api.close();
      await registry.close();
    },
  };
}

describe('preview configuration', () => {
  it('is off by default and read from CROWDLENS_PREVIEW, CROWDLENS_PREVIEW_BLUR and CROWDLENS_PREVIEW_MAX_FPS', () => {
    expect(loadConfig({ env: {} }).preview).toEqual({ enabled: false, blur: true, maxFps: 2 });
    expect(loadConfig({ env: { CROWDLENS_PREVIEW: 'true', CROWDLENS_PREVIEW_BLUR: 'false', CROWDLENS_PREVIEW_MAX_FPS: '0.5' } }).preview).toEqual({ enabled: true, blur: false, maxFps: 0.5 });
    expect(() => loadConfig({ env: { CROWDLENS_PREVIEW: 'maybe' } })).toThrow(/preview\.enabled.*"maybe"/);
    expect(() => loadConfig({ env: { CROWDLENS_PREVIEW_MAX_FPS: '0' } })).toThrow(/preview\.maxFps/);
  });
});

describe('GET /api/cameras/:id/preview.jpg', () => {
  it('is off by default, with an error that says how to turn it on', async () => {
    const h = await apiWith(undefined, 1);
    try {
      const res = await h.get('/api/cameras/cam/preview.jpg');
      expect(res.statusCode).toBe(404);
      const body = apiErrorSchema.parse(res.json());
      expect(body).toMatchObject({ error: 'NOT_FOUND', field: 'preview' });
      expect(body.message).toContain('CROWDLENS_PREVIEW=true');
    } finally {
      await h.close();
    }
  });

  it('needs the token like other reads, answers 503 before a frame and a JPEG after', async () => {
    const store = new PreviewStore({ waitMs: 150 });
    const h = await apiWith(store, 2);
    try {
      expect((await h.get('/api/cameras/cam/preview.jpg', null)).statusCode).toBe(401);
      expect((await h.get('/api/cameras/nope/preview.jpg')).statusCode).toBe(404);
      const none = await h.get('/api/cameras/cam/preview.jpg');
      expect(none.statusCode).toBe(503);
      expect(apiErrorSchema.parse(none.json())).toMatchObject({ error: 'NOT_READY', field: 'preview' });
      // The camera is watched now: the next analysed frame is kept.
      store.offer('cam', frame(7, 1_700_000_000_000), [FACE]);
      const res = await h.get('/api/cameras/cam/preview.jpg');
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('image/jpeg');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-crowdlens-captured-at-ms']).toBe('1700000000000');
      expect(res.headers['x-crowdlens-blurred']).toBe('true');
      expect((await sharp(res.rawPayload).metadata()).width).toBe(W);
    } finally {
      await h.close();
    }
  });
});
