/**
 * Redis connections for scale-out, through ioredis (the client BullMQ is built on; one library for
 * both, with Lua scripting, pipelines and reconnects).
 */
import { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.ts';
import { maskUrl } from '../shared/redact.ts';

/** Options of {@link connectRedis}. */
export interface ConnectOptions {
  /** Shown in `CLIENT LIST` (e.g. `crowdlens-worker`). */
  readonly name?: string;
  readonly logger?: Logger;
  /**
   * Fail commands after this many reconnect attempts instead of queueing them for ever. `null` (BullMQ
   * workers and blocking readers need it) waits for the connection. Default null.
   */
  readonly maxRetriesPerRequest?: number | null;
  /** Called on every connection error (for a Redis-errors metric); logging is throttled, this is not. */
  readonly onError?: (err: Error) => void;
}

/**
 * Opens a connection to `url` (`redis://` or `rediss://`). It reconnects with capped backoff; errors
 * are logged (URL masked) rather than thrown, so a Redis restart does not crash the process, and
 * commands issued meanwhile fail or wait per `maxRetriesPerRequest`.
 */
export function connectRedis(url: string, options: ConnectOptions = {}): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`redisUrl: not a URL: ${maskUrl(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new Error(`redisUrl: expected redis:// or rediss://, got ${maskUrl(url)}`);
  const redis = new Redis(url, {
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? null : options.maxRetriesPerRequest,
    // Capped exponential backoff: 50 ms, 100 ms, ... 2 s.
    retryStrategy: (times: number) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
    ...(options.name !== undefined ? { connectionName: options.name } : {}),
  });
  let lastLogged = 0;
  redis.on('error', (err: Error) => {
    options.onError?.(err);
    // One line per 5 s at most while Redis is down.
    const now = Date.now();
    if (now - lastLogged < 5000) return;
    lastLogged = now;
    options.logger?.warn({ err, redis: maskUrl(url), name: options.name }, 'redis connection error');
  });
  return redis;
}

/** Deletes every key matching `pattern` with SCAN + UNLINK (never KEYS, never FLUSH); returns how many. */
export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) n += await redis.unlink(...keys);
  } while (cursor !== '0');
  return n;
}

/** Keys matching `pattern` (SCAN), for tests and diagnostics. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}
