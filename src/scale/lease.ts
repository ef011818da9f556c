/**
 * Camera ownership among ingest processes through leases in Redis, with fencing.
 *
 * A camera's lease is one key, `<prefix>:lease:<camera>` = `<token>:<ownerId>`, set with PX. Taking a
 * free lease INCRs the camera's fencing counter, so every acquisition gets a larger token. Renewal,
 * release and every publish by the owner are Lua scripts that first check the key still holds the
 * caller's exact value: an owner that stalled (GC, SIGSTOP, a partition) past its lease and was
 * replaced can neither renew nor publish, whatever its own clock says.
 *
 * Timing, for lease time L (`CROWDLENS_LEASE_MS`): the key lives L/2 and is renewed every L/8 (4
 * renewals per life); every L/8 each manager also looks for free cameras. An owner that dies leaves
 * its cameras free after at most L/2, and another takes them within L/8 more: a camera is without
 * owner for at most ~5/8 L. An owner that cannot renew for L/2 (Redis unreachable) drops the camera
 * itself (`lost`, reason `expired`), since another process may have it by then.
 *
 * Fair spread: live managers heartbeat into a sorted set scored by Redis server time; each aims at
 * ceil(cameras / live managers), takes free cameras in rendezvous-hash order (so managers prefer
 * different cameras) and, above its share, hands one camera back per round.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.ts';
import type { ScaleKeys } from './keys.ts';
import { LuaScript } from './scripts.ts';

const ACQUIRE = new LuaScript(
  'acquire',
  `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
return token`,
  2,
);

const RENEW = new LuaScript(
  'renew',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
  1,
);

const RELEASE = new LuaScript(
  'release',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  1,
);

/** Publishes ARGV[3] on channel ARGV[2] only while KEYS[1] holds ARGV[1]: {1, receivers} or {0, 0}. */
const FENCED_PUBLISH = new LuaScript(
  'fenced_publish',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0} end
return {1, redis.call('PUBLISH', ARGV[2], ARGV[3])}`,
  1,
);

/** Heartbeat: score = Redis time + ttl; drops expired members; returns the live count. */
const HEARTBEAT = new LuaScript(
  'heartbeat',
  `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
return redis.call('ZCARD', KEYS[1])`,
  1,
);

/** A lease as held in Redis: camera, fencing token and the key's exact value. */
export interface LeaseRecord {
  readonly cameraId: string;
  readonly token: number;
  /** `<token>:<ownerId>`. */
  readonly value: string;
}

/** Takes `cameraId`'s lease if it is free: the new record (token = the camera's next fencing number), or null. */
export async function tryAcquireLease(
  redis: Redis,
  keys: ScaleKeys,
  cameraId: string,
  ownerId: string,
  ttlMs: number,
): Promise<LeaseRecord | null> {
  const token = Number(await ACQUIRE.run(redis, [keys.lease(cameraId), keys.fence(cameraId)], [ownerId, ttlMs]));
  return token > 0 ? { cameraId, token, value: `${token}:${ownerId}` } : null;
}

/** Extends the lease by `ttlMs` if `lease` still holds it; false when it is gone or someone else's. */
export async function renewLease(redis: Redis, keys: ScaleKeys, lease: LeaseRecord, ttlMs: number): Promise<boolean> {
  return Number(await RENEW.run(redis, [keys.lease(lease.cameraId)], [lease.value, ttlMs])) === 1;
}

/** Deletes the lease if `lease` still holds it. */
export async function releaseLease(redis: Redis, keys: ScaleKeys, lease: LeaseRecord): Promise<boolean> {
  return Number(await RELEASE.run(redis, [keys.lease(lease.cameraId)], [lease.value])) === 1;
}

/**
 * PUBLISHes `message` on `channel` only while `lease` holds its camera, atomically (one Lua script):
 * a stale owner's publish is refused. Returns whether it was published.
 */
export async function fencedPublish(
  redis: Redis,
  keys: ScaleKeys,
  lease: LeaseRecord,
  channel: string,
  message: string | Buffer,
): Promise<boolean> {
  if (!channel.startsWith(`${keys.prefix}:`))
    throw new Error(`publish: channel ${JSON.stringify(channel)} is not under the prefix ${JSON.stringify(keys.prefix)}`);
  const [ok] = (await FENCED_PUBLISH.run(redis, [keys.lease(lease.cameraId)], [lease.value, channel, message])) as [number, number];
  return ok === 1;
}

/** A lease this process holds. */
export interface HeldLease {
  readonly cameraId: string;
  /** Fencing token: larger for every later acquisition of the camera. */
  readonly token: number;
}

/** Why a lease ended. */
export type LeaseLostReason =
  /** Another owner holds it now (renew or publish found another value). */
  | 'taken'
  /** No successful renewal for the lease's life (Redis unreachable): another process may hold it. */
  | 'expired'
  /** Handed back to even out the spread across live managers. */
  | 'rebalanced'
  /** The camera left the camera list. */
  | 'removed'
  /** The manager stopped. */
  | 'stopped';

export interface LeaseEvents {
  acquired: [lease: HeldLease];
  lost: [lease: HeldLease, reason: LeaseLostReason];
}

/** Options of {@link LeaseManager}. */
export interface LeaseManagerOptions {
  readonly redis: Redis;
  readonly keys: ScaleKeys;
  /** This process's owner id (unique per process; see newOwnerId). */
  readonly ownerId: string;
  /** Lease time L, ms (config `scale.leaseMs`): a dead owner's cameras are taken within ~5/8 L. */
  readonly leaseMs: number;
  /** Cameras to share (ids); can be changed with {@link LeaseManager.setCameras}. */
  readonly cameras?: readonly string[];
  /** Hand cameras back above the fair share. Default true. */
  readonly rebalance?: boolean;
  /** Most cameras this process takes (its capacity). Default unlimited. */
  readonly maxCameras?: number;
  /**
   * Awaited before this process gives a lease up on its own (`rebalanced`, `removed`, `stopped`) while it still
   * holds it, so that the camera's last events (its open tracks ending) are published, fenced, before another
   * process may take it. Bounded by half the lease key's life; a hook that throws is logged.
   */
  readonly onRelease?: (lease: HeldLease, reason: LeaseLostReason) => Promise<void>;
  readonly logger?: Logger;
}

/** Counters of a manager. */
export interface LeaseStats {
  acquired: number;
  lost: Record<LeaseLostReason, number>;
  /** Publishes refused because the lease had been lost. */
  fencedOut: number;
  /** Rounds that failed on a Redis error (retried next round). */
  roundErrors: number;
}

interface Held {
  readonly lease: HeldLease;
  readonly record: LeaseRecord;
  /** Local monotonic time of the start of the last successful renewal (or acquisition), ms. */
  renewedAtMs: number;
}

/** Rendezvous (highest-random-weight) score of a camera for an owner. */
function rendezvous(ownerId: string, cameraId: string): string {
  return createHash('sha1').update(ownerId).update('\u0000').update(cameraId).digest('hex');
}

export class LeaseManager extends EventEmitter<LeaseEvents> {
  readonly ownerId: string;
  readonly leaseMs: number;
  /** Life of the lease key, ms (L/2). */
  readonly ttlMs: number;
  /** Renew / claim round period, ms (L/8). */
  readonly roundMs: number;
  private readonly redis: Redis;
  private readonly keys: ScaleKeys;
  private readonly logger: Logger | undefined;
  private readonly held = new Map<string, Held>();
  private cameras: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopped = false;
  private liveManagers = 1;
  private readonly counters: LeaseStats = {
    acquired: 0,
    lost: { taken: 0, expired: 0, rebalanced: 0, removed: 0, stopped: 0 },
    fencedOut: 0,
    roundErrors: 0,
  };

  constructor(private readonly options: LeaseManagerOptions) {
    super();
    if (!(Number.isInteger(options.leaseMs) && options.leaseMs >= 200))
      throw new RangeError(`leaseMs must be an integer >= 200, got ${options.leaseMs}`);
    this.redis = options.redis;
    this.keys = options.keys;
    this.ownerId = options.ownerId;
    if (!/^[^\s:]+$/.test(this.ownerId))
      throw new Error(`ownerId must be non-empty without spaces or ':', got ${JSON.stringify(this.ownerId)}`);
    this.leaseMs = options.leaseMs;
    this.ttlMs = Math.floor(options.leaseMs / 2);
    this.roundMs = Math.max(25, Math.floor(options.leaseMs / 8));
    this.logger = options.logger;
    this.setCameras(options.cameras ?? []);
  }

  /** Starts the rounds (the first one at once). */
  start(): void {
    if (this.timer !== null || this.stopped) return;
    void this.runRound();
    this.timer = setInterval(() => void this.runRound(), this.roundMs);
  }

  /** Replaces the camera list; cameras no longer listed are released at the next round. */
  setCameras(ids: readonly string[]): void {
    this.cameras = [...new Set(ids)];
  }

  /** Leases held now. */
  owned(): HeldLease[] {
    return [...this.held.values()].map((h) => h.lease);
  }

  /** The held lease of `cameraId` with its exact value (for fenced writes), or null. */
  heldRecord(cameraId: string): LeaseRecord | null {
    return this.held.get(cameraId)?.record ?? null;
  }

  /** True while this process holds `cameraId` under `token` (local view; publish checks in Redis). */
  isOwner(cameraId: string, token: number): boolean {
    return this.held.get(cameraId)?.lease.token === token;
  }

  /** Live managers seen at the last round (this one included). */
  get managers(): number {
    return this.liveManagers;
  }

  stats(): LeaseStats {
    return { ...this.counters, lost: { ...this.counters.lost } };
  }

  /**
   * Publishes `message` on `channel` only if this process still holds `cameraId`'s lease under
   * `token`, checked atomically in Redis. False (and the lease is dropped, `lost` emitted) when it
   * was lost. The channel must be under the deployment prefix.
   */
  async publish(cameraId: string, token: number, channel: string, message: string | Buffer): Promise<boolean> {
    const h = this.held.get(cameraId);
    if (h === undefined || h.lease.token !== token) {
      this.counters.fencedOut++;
      return false;
    }
    if (await fencedPublish(this.redis, this.keys, h.record, channel, message)) return true;
    this.counters.fencedOut++;
    this.drop(cameraId, 'taken');
    return false;
  }

  /** Stops the rounds and releases every lease (`lost`, reason `stopped`). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.round;
    await Promise.all([...this.held.keys()].map((id) => this.release(id, 'stopped')));
    await this.redis
      .zrem(this.keys.owners(), this.ownerId)
      .catch((err: unknown) => this.logger?.warn({ err }, 'leaving the owners set failed; the entry expires'));
  }

  /** One round: heartbeat, renew, hand back, claim. Rounds never overlap. */
  private async runRound(): Promise<void> {
    if (this.round !== null || this.stopped) return;
    this.round = this.doRound()
      .catch((err: unknown) => {
        this.counters.roundErrors++;
        this.logger?.warn({ err }, 'lease round failed; retrying next round');
      })
      .finally(() => {
        this.round = null;
      });
    await this.round;
  }

  private async doRound(): Promise<void> {
    this.expireLocally();
    // The heartbeat lives as long as a lease key, so a dead manager stops counting when its leases free up.
    this.liveManagers = Math.max(1, Number(await HEARTBEAT.run(this.redis, [this.keys.owners()], [this.ownerId, this.ttlMs])));
    await this.renewAll();
    if (this.stopped) return;
    const listed = new Set(this.cameras);
    for (const id of [...this.held.keys()]) if (!listed.has(id)) await this.release(id, 'removed');
    const share = Math.min(this.options.maxCameras ?? Infinity, Math.ceil(this.cameras.length / this.liveManagers));
    if ((this.options.rebalance ?? true) && this.held.size > share) {
      // One per round, the one this manager ranks lowest: gentle, and stable across managers.
      const victim = [...this.held.keys()].sort((a, b) => (rendezvous(this.ownerId, a) < rendezvous(this.ownerId, b) ? -1 : 1))[0];
      if (victim !== undefined) await this.release(victim, 'rebalanced');
    }
    if (this.held.size >= share) return;
    const candidates = this.cameras.filter((id) => !this.held.has(id));
    if (candidates.length === 0) return;
    const values = await this.redis.mget(...candidates.map((id) => this.keys.lease(id)));
    const free = candidates
      .filter((_, i) => values[i] === null)
      .sort((a, b) => (rendezvous(this.ownerId, a) > rendezvous(this.ownerId, b) ? -1 : 1));
    for (const id of free) {
      if (this.held.size >= share || this.stopped) break;
      await this.acquire(id);
    }
  }

  private async acquire(cameraId: string): Promise<void> {
    const startedAt = performance.now();
    const record = await tryAcquireLease(this.redis, this.keys, cameraId, this.ownerId, this.ttlMs);
    if (record === null) return;
    const { token } = record;
    const lease: HeldLease = { cameraId, token };
    this.held.set(cameraId, { lease, record, renewedAtMs: startedAt });
    this.counters.acquired++;
    this.logger?.info({ camera: cameraId, token, owner: this.ownerId }, 'camera lease acquired');
    this.emit('acquired', lease);
  }

  private async renewAll(): Promise<void> {
    const entries = [...this.held.values()];
    if (entries.length === 0) return;
    const startedAt = performance.now();
    const pipeline = this.redis.pipeline();
    for (const h of entries) pipeline.evalsha(RENEW.sha, 1, this.keys.lease(h.lease.cameraId), h.record.value, this.ttlMs);
    let results = await pipeline.exec();
    if (results?.some(([e]) => e !== null && String(e.message).startsWith('NOSCRIPT'))) {
      await this.redis.script('LOAD', RENEW.lua);
      const again = this.redis.pipeline();
      for (const h of entries) again.evalsha(RENEW.sha, 1, this.keys.lease(h.lease.cameraId), h.record.value, this.ttlMs);
      results = await again.exec();
    }
    entries.forEach((h, i) => {
      const [err, ok] = results?.[i] ?? [new Error('no reply'), 0];
      if (err) return; // kept until it expires locally (expireLocally)
      if (Number(ok) === 1) h.renewedAtMs = startedAt;
      else this.drop(h.lease.cameraId, 'taken');
    });
  }

  /** Leases not renewed for their whole life may be someone else's by now: drop them. */
  private expireLocally(): void {
    const now = performance.now();
    for (const [id, h] of this.held) if (now - h.renewedAtMs >= this.ttlMs) this.drop(id, 'expired');
  }

  private async release(cameraId: string, reason: LeaseLostReason): Promise<void> {
    const h = this.held.get(cameraId);
    if (h === undefined) return;
    if (this.options.onRelease) {
      const hook = this.options
        .onRelease(h.lease, reason)
        .catch((err: unknown) => this.logger?.warn({ err, camera: cameraId }, 'lease release hook failed'));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([hook, new Promise<void>((r) => (timer = setTimeout(r, Math.max(100, Math.floor(this.ttlMs / 2)))))]);
      clearTimeout(timer);
      if (this.held.get(cameraId) !== h) return; // lost meanwhile (renewal found another owner)
    }
    this.drop(cameraId, reason);
    await releaseLease(this.redis, this.keys, h.record).catch((err: unknown) =>
      this.logger?.warn({ err, camera: cameraId }, 'releasing a lease failed; it expires'),
    );
  }

  private drop(cameraId: string, reason: LeaseLostReason): void {
    const h = this.held.get(cameraId);
    if (h === undefined) return;
    this.held.delete(cameraId);
    this.counters.lost[reason]++;
    this.logger?.info({ camera: cameraId, token: h.lease.token, reason }, 'camera lease ended');
    this.emit('lost', h.lease, reason);
  }
}
