import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/shared/config.ts';
import { openScale } from '../../src/scale/index.ts';
import { TEST_REDIS_URL, testPrefix } from '../support/redis.ts';

describe('scale-out configuration', () => {
  it('has documented defaults', () => {
    expect(loadConfig({ env: {} }).scale).toEqual({
      prefix: 'crowdlens',
      leaseMs: 10_000,
      workerConcurrency: 2,
      maxInFlightPerCamera: 3,
      frameTtlMs: 30_000,
      resultDeadlineMs: 15_000,
      jobLockMs: 4000,
      frameEncoding: 'jpeg',
      jpegQuality: 95,
      jobAttempts: 3,
      keepCompletedJobs: 100,
      keepFailedJobs: 1000,
      reidCarry: false,
      metricsPort: 9464,
      metricsHost: '127.0.0.1',
    });
  });

  it('reads REDIS_URL, with CROWDLENS_REDIS_URL winning, and the CROWDLENS_* scale keys', () => {
    expect(loadConfig({ env: { REDIS_URL: 'redis://a:6379' } }).redisUrl).toBe('redis://a:6379');
    const c = loadConfig({
      env: {
        REDIS_URL: 'redis://a:6379',
        CROWDLENS_REDIS_URL: 'redis://b:6380/2',
        CROWDLENS_REDIS_PREFIX: 'site-1',
        CROWDLENS_LEASE_MS: '4000',
        CROWDLENS_MAX_IN_FLIGHT: '5',
        CROWDLENS_REID_CARRY: 'yes',
        CROWDLENS_FRAME_ENCODING: 'rgb',
        CROWDLENS_METRICS_PORT: '0',
        CROWDLENS_METRICS_HOST: '0.0.0.0',
      },
    });
    expect(c.redisUrl).toBe('redis://b:6380/2');
    expect(c.scale).toMatchObject({ prefix: 'site-1', leaseMs: 4000, maxInFlightPerCamera: 5, reidCarry: true, frameEncoding: 'rgb', metricsPort: 0, metricsHost: '0.0.0.0' });
    expect(loadConfig({ env: { CROWDLENS_REID_CARRY: 'off' } }).scale.reidCarry).toBe(false);
  });

  it('names the field and the value of bad settings', () => {
    const bad = (env: Record<string, string>): string => {
      try {
        loadConfig({ env });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(bad({ CROWDLENS_REID_CARRY: 'maybe' })).toMatch(/scale\.reidCarry: .*\(got "maybe"\)/);
    expect(bad({ CROWDLENS_REDIS_PREFIX: 'a b' })).toMatch(/scale\.prefix: .*\(got "a b"\)/);
    expect(bad({ CROWDLENS_LEASE_MS: '50' })).toMatch(/scale\.leaseMs: .*\(got "50"\)/);
    expect(bad({ CROWDLENS_FRAME_TTL_MS: '5000' })).toMatch(/scale\.frameTtlMs: frameTtlMs must exceed resultDeadlineMs/);
  });

  it('openScale builds the parts from the configuration, every key under the prefix', async () => {
    const prefix = testPrefix();
    expect(() => openScale(loadConfig({ env: {} }))).toThrow(/redisUrl/);
    const scale = openScale(
      loadConfig({ env: { REDIS_URL: TEST_REDIS_URL, CROWDLENS_REDIS_PREFIX: prefix, CROWDLENS_JPEG_QUALITY: '80' } }),
    );
    try {
      expect(scale.keys.bullPrefix).toBe(`${prefix}:bull`);
      expect(scale.frames).toMatchObject({ encoding: 'jpeg', jpegQuality: 80, ttlMs: 30_000 });
      expect(scale.reidCarry(600_000)).toBeNull();
      const leases = scale.leases('owner-x', ['c1']);
      expect(leases).toMatchObject({ leaseMs: 10_000, ttlMs: 5000, roundMs: 1250 });
      const client = await scale.inference('owner-x');
      expect(client.inboxKey).toBe(`${prefix}:inbox:owner-x`);
      await client.close();
    } finally {
      let cursor = '0';
      do {
        const [next, keys] = await scale.redis.scan(cursor, 'MATCH', `${prefix}:*`);
        cursor = next;
        if (keys.length) await scale.redis.unlink(...keys);
      } while (cursor !== '0');
      scale.close();
    }
  });
});
