/**
 * Real Redis for tests: every test file gets its own random key prefix and deletes its keys at the
 * end (SCAN + UNLINK under the prefix; never FLUSH: the Redis is shared).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ScaleKeys } from '../../src/scale/keys.ts';
import { connectRedis, deleteKeys, scanKeys } from '../../src/scale/redis.ts';

/** Redis for tests: `CROWDLENS_TEST_REDIS_URL`, default the local one CI provides. */
export const TEST_REDIS_URL = process.env['CROWDLENS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A fresh `crowdlens-test-<random>` prefix. */
export function testPrefix(): string {
  return `crowdlens-test-${randomBytes(5).toString('hex')}`;
}

/** A connection, keys under a fresh prefix, and a cleanup that deletes them and disconnects. */
export function testRedis(name = 'crowdlens-test'): {
  redis: Redis;
  keys: ScaleKeys;
  cleanup: () => Promise<void>;
  keyList: () => Promise<string[]>;
} {
  const redis = connectRedis(TEST_REDIS_URL, { name });
  const keys = new ScaleKeys(testPrefix());
  return {
    redis,
    keys,
    keyList: () => scanKeys(redis, keys.pattern()),
    cleanup: async () => {
      await deleteKeys(redis, keys.pattern());
      redis.disconnect();
    },
  };
}

export async function waitUntil(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 25): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
