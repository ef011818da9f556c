import { afterAll, describe, expect, it } from 'vitest';
import type { RegistryChange } from '../../src/shared/service.ts';
import { FieldError } from '../../src/shared/service.ts';
import { RedisCameraRegistry } from '../../src/scale/registry-redis.ts';
import { testRedis, waitUntil } from '../support/redis.ts';

const r = testRedis('crowdlens-test-registry');
afterAll(() => r.cleanup());

describe('RedisCameraRegistry (real Redis)', () => {
  it('stores cameras, tells another instance of every change within a second or two, and never publishes a URL', async () => {
    const a = new RedisCameraRegistry({ redis: r.redis, keys: r.keys, maxCameras: 3 });
    const bRedis = r.redis.duplicate();
    const b = new RedisCameraRegistry({ redis: bRedis, keys: r.keys, maxCameras: 3, pollMs: 200 });
    const seen: RegistryChange[] = [];
    b.subscribe((c) => void seen.push(c));
    await b.ready();
    // What goes over the change channel, as any subscriber sees it.
    const spy = r.redis.duplicate();
    const messages: string[] = [];
    spy.on('message', (_ch: string, m: string) => void messages.push(m));
    await spy.subscribe(r.keys.camerasChannel());
    try {
      const secret = 'rtsp://admin:hunter2secret@192.0.2.7:554/live';
      const cam = await a.create({ name: 'Front Door', url: secret, fps: 5 });
      expect(cam).toMatchObject({ id: 'front-door', url: secret, fps: 5, maxWidth: null, enabled: true, loop: true });
      const second = await a.create({ name: 'Front Door', url: 'rtsp://192.0.2.8/live' });
      expect(second.id).toBe('front-door-2');
      await expect(a.create({ name: 'x', url: 'rtsp://192.0.2.9/live' }, { id: 'front-door' })).rejects.toMatchObject({
        status: 409,
        field: 'id',
      });
      await a.create({ name: 'Third', url: 'rtsp://192.0.2.10/live' });
      const full = await a.create({ name: 'Fourth', url: 'rtsp://192.0.2.11/live' }).catch((e: unknown) => e);
      expect(full).toBeInstanceOf(FieldError);
      expect((full as FieldError).message).toMatch(/full: 3 cameras/);

      await waitUntil('b sees the three cameras', () => seen.filter((c) => c.type === 'created').length === 3, 5000);
      expect(seen.find((c) => c.id === 'front-door')?.camera?.url).toBe(secret);

      const updated = await a.update('front-door', { enabled: false, fps: null });
      expect(updated).toMatchObject({ enabled: false, fps: null });
      expect(await a.update('nope', { enabled: false })).toBeNull();
      await waitUntil(
        'b sees the update',
        () =>
          seen.some((c) => c.type === 'updated' && c.id === 'front-door' && c.previous?.enabled === true && c.camera?.enabled === false),
        5000,
      );

      expect(await a.remove('front-door-2')).toBe(true);
      expect(await a.remove('front-door-2')).toBe(false);
      await waitUntil(
        'b sees the deletion',
        () => seen.some((c) => c.type === 'deleted' && c.id === 'front-door-2' && c.camera === null),
        5000,
      );
      expect((await b.list()).map((c) => c.id)).toEqual(['front-door', 'third']);
      expect(await b.get('front-door')).toMatchObject({ url: secret, enabled: false });

      // A change made while b's subscriber was away still reaches it (version poll).
      b['subscriber']?.disconnect();
      await a.update('third', { name: 'Third floor' });
      await waitUntil('b catches up by polling', () => seen.some((c) => c.id === 'third' && c.camera?.name === 'Third floor'), 5000);

      // Change messages carry the type, id and version only.
      expect(messages.length).toBeGreaterThanOrEqual(5);
      for (const m of messages) {
        expect(Object.keys(JSON.parse(m) as object).sort()).toEqual(['id', 'type', 'version']);
        expect(m).not.toContain('hunter2');
      }
    } finally {
      spy.disconnect();
      await a.close();
      await b.close();
      bRedis.disconnect();
    }
  });

  it('skips a stored record that fails validation, naming the camera in the log', async () => {
    const reg = new RedisCameraRegistry({ redis: r.redis, keys: r.keys });
    await r.redis.hset(r.keys.cameras(), 'broken', '{"id":"broken","name":""}');
    const ids = (await reg.list()).map((c) => c.id);
    expect(ids).not.toContain('broken');
    expect(await reg.get('broken')).toBeNull();
    expect(reg.stats().invalid).toBe(2);
    await reg.close();
  });
});
