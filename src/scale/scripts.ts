/** Lua scripts run atomically in Redis (EVALSHA, loading the script on NOSCRIPT). */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A Lua script bound to its SHA1; `run` uses EVALSHA and falls back to EVAL once when Redis lacks it. */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly lua: string,
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (keys.length !== this.numberOfKeys) throw new Error(`script ${this.name}: expected ${this.numberOfKeys} keys, got ${keys.length}`);
    try {
      return await redis.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, this.numberOfKeys, ...keys, ...args);
    }
  }
}
