/** Lua scripts run atomically in Redis (EVALSHA, loading the script on NOSCRIPT). */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

const ALL = new Set<LuaScript>();

/**
 * Loads every script into Redis (SCRIPT LOAD), so that their first runs are EVALSHA calls that keep their order on
 * a connection (a NOSCRIPT fallback would run after commands issued later).
 */
export async function preloadScripts(redis: Redis): Promise<void> {
  for (const s of ALL) await redis.script('LOAD', s.lua);
}

/** A Lua script bound to its SHA1; `run` uses EVALSHA and falls back to EVAL once when Redis lacks it. */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly lua: string,
    /** Keys the script takes; -1: any number (run's `keys` decide). */
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
    ALL.add(this);
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    if (this.numberOfKeys >= 0 && keys.length !== this.numberOfKeys)
      throw new Error(`script ${this.name}: expected ${this.numberOfKeys} keys, got ${keys.length}`);
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
