import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../../src/shared/messages.ts';
import { FrameDecodeError, FrameStore, decodeFrame, encodeFrame } from '../../src/scale/frame-store.ts';
import { ScaleKeys } from '../../src/scale/keys.ts';
import { clipFrames } from '../support/frames.ts';
import { testRedis, waitUntil } from '../support/redis.ts';

const r = testRedis('crowdlens-test-frame-store');
let frame: Frame;

beforeAll(async () => {
  [frame] = (await clipFrames('face-demographics-walking.mp4', 1, { sourceId: 'door:1' })) as [Frame];
});
afterAll(() => r.cleanup());

describe('FrameStore on real Redis', () => {
  it('stores a JPEG under a prefixed key with a TTL; the reference carries no pixels; it decodes to the frame', async () => {
    const store = new FrameStore({ redis: r.redis, keys: r.keys, ttlMs: 20_000 });
    const ref = await store.put(frame, 7);
    expect(ref).toMatchObject({
      sourceId: 'door:1',
      seq: frame.seq,
      capturedAtMs: frame.capturedAtMs,
      width: frame.width,
      height: frame.height,
      encoding: 'jpeg',
      epoch: 7,
    });
    // The camera id is percent-encoded, so an id with ':' cannot reach another key.
    expect(ref.key).toBe(`${r.keys.prefix}:frame:door%3A1:7:${frame.seq}`);
    expect(JSON.stringify(ref).length).toBeLessThan(400);
    const pttl = await r.redis.pttl(ref.key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(20_000);
    const bytes = await store.fetch(ref);
    expect(bytes?.length).toBe(ref.byteLength);
    // JPEG at the default quality is far smaller than the raw frame ...
    expect(ref.byteLength).toBeLessThan(frame.rgb.length / 5);
    const rgb = await decodeFrame(bytes as Buffer, ref);
    expect(rgb.length).toBe(frame.rgb.length);
    // ... and close to it pixel by pixel.
    let diff = 0;
    for (let i = 0; i < rgb.length; i++) diff += Math.abs((rgb[i] as number) - (frame.rgb[i] as number));
    expect(diff / rgb.length).toBeLessThan(4);
    await store.delete(ref);
    expect(await store.fetch(ref)).toBeNull();
  });

  it('stores raw RGB exactly', async () => {
    const store = new FrameStore({ redis: r.redis, keys: r.keys, ttlMs: 20_000, encoding: 'rgb' });
    const ref = await store.put(frame, 1);
    expect(ref.byteLength).toBe(frame.width * frame.height * 3);
    const rgb = await decodeFrame((await store.fetch(ref)) as Buffer, ref);
    expect(Buffer.compare(Buffer.from(rgb), Buffer.from(frame.rgb))).toBe(0);
    await store.delete(ref);
  });

  it('lets Redis expire bytes nobody fetched (PX)', async () => {
    const store = new FrameStore({ redis: r.redis, keys: r.keys, ttlMs: 300 });
    const ref = await store.put({ ...frame, seq: 99 }, 1);
    expect(await store.fetch(ref)).not.toBeNull();
    await waitUntil('the frame bytes to expire', async () => (await r.redis.exists(ref.key)) === 0, 10_000);
    expect(await store.fetch(ref)).toBeNull();
  });

  it('refuses bytes that do not match the reference (bad data, not a transient fault)', async () => {
    const ref = { key: 'k', width: frame.width, height: frame.height, encoding: 'jpeg' as const };
    await expect(decodeFrame(Buffer.from('not a jpeg at all'), ref)).rejects.toBeInstanceOf(FrameDecodeError);
    const other = await encodeFrame({ rgb: new Uint8Array(32 * 16 * 3), width: 32, height: 16 }, { encoding: 'jpeg' });
    await expect(decodeFrame(other, ref)).rejects.toThrow(/jpeg is 32x16x3, reference says 480x270x3/);
    await expect(decodeFrame(new Uint8Array(10), { ...ref, encoding: 'rgb' })).rejects.toThrow(/rgb bytes 10, expected 480x270x3/);
    await expect(encodeFrame({ rgb: new Uint8Array(5), width: 2, height: 2 }, { encoding: 'jpeg' })).rejects.toThrow(
      /expected 2x2x3 = 12 bytes, got 5/,
    );
    expect(() => new ScaleKeys('a b')).toThrow(/redis prefix/);
  });
});
