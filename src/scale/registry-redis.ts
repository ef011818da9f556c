/**
 * The camera registry in Redis (scale-out): the same {@link CameraRegistry} as the one-process JSON file, shared by
 * every API node and ingest process of a deployment.
 *
 * Storage: one hash `<prefix>:cameras` (camera id -> record JSON, validated on every read with the file registry's
 * schema), a version counter `<prefix>:cameras:version`, and a pub/sub channel `<prefix>:cameras:changes`. Every
 * change is one Lua script (capacity check, compare-and-set on the record, INCR of the version, PUBLISH), so
 * concurrent API nodes never overwrite each other. A change message carries `{type, id, version}` only: the
 * record, whose URL may hold a camera's credentials, is read from the hash by those entitled to it, and never
 * travels on a channel that every subscriber sees.
 *
 * Followers (an API node's Socket.IO `camera.changed`, an ingest process's cameras) learn of a change from the
 * channel at once, and from polling the version every `pollMs` (default 1 s) if a message was lost while their
 * subscriber reconnected: a change reaches them within a second or two either way. A follower diffs the hash against
 * what it knew and delivers created/updated/deleted changes with the record before and after.
 */
import type { Redis } from 'ioredis';
import type { CameraCreate, CameraPatch } from '../shared/api.ts';
import { CAMERA_ID_PATTERN } from '../shared/api.ts';
import type { Logger } from '../shared/logger.ts';
import { FieldError, patchRecord, type CameraRecord, type CameraRegistry, type RegistryChange } from '../shared/service.ts';
import { recordSchema, slugify } from '../service/registry-file.ts';
import type { ScaleKeys } from './keys.ts';
import { LuaScript } from './scripts.ts';

const CREATE = new LuaScript(
  'registry_create',
  `if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], cjson.encode({type = 'created', id = ARGV[1], version = v}))
return v`,
  2,
);

const UPDATE = new LuaScript(
  'registry_update',
  `local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], cjson.encode({type = 'updated', id = ARGV[1], version = v}))
return v`,
  2,
);

/** Deletes the record and the camera's state keys (KEYS[3..]). */
const REMOVE = new LuaScript(
  'registry_remove',
  `if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
local v = redis.call('INCR', KEYS[2])
for i = 3, #KEYS do redis.call('UNLINK', KEYS[i]) end
redis.call('PUBLISH', ARGV[2], cjson.encode({type = 'deleted', id = ARGV[1], version = v}))
return v`,
  -1,
);

/** Options of {@link RedisCameraRegistry}. */
export interface RedisRegistryOptions {
  /** Command connection; duplicated for the subscriber. */
  readonly redis: Redis;
  readonly keys: ScaleKeys;
  /** Cameras accepted at most (config `service.maxCameras`). Default 64. */
  readonly maxCameras?: number;
  /** Version poll period of followers, ms. Default 1000. */
  readonly pollMs?: number;
  readonly logger?: Logger;
  /** Clock for createdAt/updatedAt. Default `Date.now`. */
  readonly now?: () => number;
}

/** Counters of a registry instance. */
export interface RedisRegistryStats {
  /** Stored records that failed validation (skipped). */
  invalid: number;
  /** Follower syncs (after a message or a version change). */
  syncs: number;
  /** Sync or subscriber errors (retried). */
  errors: number;
}

export class RedisCameraRegistry implements CameraRegistry {
  private readonly redis: Redis;
  private readonly keys: ScaleKeys;
  private readonly maxCameras: number;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private readonly listeners = new Set<(change: RegistryChange) => void>();
  /** What followers last saw (id -> record and its stored JSON). */
  private known = new Map<string, { record: CameraRecord; json: string }>();
  private knownVersion = -1;
  private subscriber: Redis | null = null;
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private started: Promise<void> | null = null;
  private readonly counters: RedisRegistryStats = { invalid: 0, syncs: 0, errors: 0 };

  constructor(private readonly options: RedisRegistryOptions) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.maxCameras = options.maxCameras ?? 64;
    this.log = options.logger;
    this.now = options.now ?? Date.now;
  }

  async list(): Promise<CameraRecord[]> {
    const all = await this.redis.hgetall(this.keys.cameras());
    const out: CameraRecord[] = [];
    for (const [id, json] of Object.entries(all)) {
      const r = this.parse(id, json);
      if (r) out.push(r);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  }

  async get(id: string): Promise<CameraRecord | null> {
    const json = await this.redis.hget(this.keys.cameras(), id);
    return json === null ? null : this.parse(id, json);
  }

  async create(input: CameraCreate, options: { readonly id?: string } = {}): Promise<CameraRecord> {
    this.open();
    const at = new Date(this.now()).toISOString();
    const base = options.id ?? slugify(input.name);
    if (options.id !== undefined && !CAMERA_ID_PATTERN.test(options.id))
      throw new FieldError('id', `id: expected lowercase letters, digits and "-" (got ${JSON.stringify(options.id)})`);
    for (let n = 1; n <= 1000; n++) {
      const id = n === 1 ? base : `${base}-${n}`;
      const record: CameraRecord = {
        id,
        name: input.name,
        url: input.url,
        fps: input.fps ?? null,
        maxWidth: input.maxWidth ?? null,
        enabled: input.enabled ?? true,
        loop: input.loop ?? true,
        createdAt: at,
        updatedAt: at,
      };
      const json = JSON.stringify(record);
      const v = Number(
        await CREATE.run(
          this.redis,
          [this.keys.cameras(), this.keys.camerasVersion()],
          [id, json, this.maxCameras, this.keys.camerasChannel()],
        ),
      );
      if (v === -1) throw new FieldError('id', `the registry is full: ${this.maxCameras} cameras (CROWDLENS_MAX_CAMERAS)`, 409, 'CONFLICT');
      if (v > 0) {
        this.applyLocal(v, { type: 'created', id, camera: record, previous: null }, json);
        return record;
      }
      if (options.id !== undefined) throw new FieldError('id', `id: camera ${JSON.stringify(id)} already exists`, 409, 'CONFLICT');
    }
    throw new FieldError('id', `id: no free id for ${JSON.stringify(base)}`, 409, 'CONFLICT');
  }

  async update(id: string, patch: CameraPatch): Promise<CameraRecord | null> {
    this.open();
    // Compare-and-set: another node's concurrent change makes this one read again and re-apply the patch.
    for (let attempt = 0; attempt < 20; attempt++) {
      const json = await this.redis.hget(this.keys.cameras(), id);
      if (json === null) return null;
      const previous = this.parse(id, json);
      if (previous === null)
        throw new FieldError('id', `camera ${JSON.stringify(id)}: its stored record is invalid (see the logs)`, 409, 'CONFLICT');
      const next = patchRecord(previous, patch, this.now());
      const nextJson = JSON.stringify(next);
      const v = Number(
        await UPDATE.run(this.redis, [this.keys.cameras(), this.keys.camerasVersion()], [id, json, nextJson, this.keys.camerasChannel()]),
      );
      if (v === -1) return null;
      if (v > 0) {
        this.applyLocal(v, { type: 'updated', id, camera: next, previous }, nextJson);
        return next;
      }
    }
    throw new FieldError('id', `camera ${JSON.stringify(id)}: changed concurrently too often; try again`, 409, 'CONFLICT');
  }

  async remove(id: string): Promise<boolean> {
    this.open();
    const previous = await this.get(id);
    const v = Number(
      await REMOVE.run(
        this.redis,
        [this.keys.cameras(), this.keys.camerasVersion(), ...this.keys.cameraStateKeys(id)],
        [id, this.keys.camerasChannel()],
      ),
    );
    if (v <= 0) return false;
    if (previous) this.applyLocal(v, { type: 'deleted', id, camera: null, previous }, null);
    return true;
  }

  subscribe(listener: (change: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    void this.follow();
    return () => void this.listeners.delete(listener);
  }

  /** Resolves once this instance follows changes (its subscriber is subscribed and its view loaded). */
  ready(): Promise<void> {
    return this.follow();
  }

  stats(): RedisRegistryStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.syncing?.catch(() => undefined);
    this.subscriber?.disconnect();
    this.subscriber = null;
    this.listeners.clear();
  }

  private open(): void {
    if (this.closed) throw new Error('camera registry is closed');
  }

  private parse(id: string, json: string): CameraRecord | null {
    let data: unknown;
    try {
      data = JSON.parse(json);
    } catch {
      data = undefined;
    }
    const r = recordSchema.safeParse(data);
    if (r.success && r.data.id === id) return r.data;
    this.counters.invalid++;
    this.log?.warn(
      { cameraId: id, issue: r.success ? 'id mismatch' : r.error.issues[0]?.message },
      'camera registry: invalid record in Redis skipped',
    );
    return null;
  }

  private follow(): Promise<void> {
    this.started ??= (async () => {
      const sub = this.redis.duplicate();
      this.subscriber = sub;
      sub.on('error', (err: Error) => {
        this.counters.errors++;
        this.log?.debug({ err }, 'registry subscriber error');
      });
      sub.on('message', () => this.requestSync());
      // A resubscription after a reconnect may have missed messages: sync then too.
      sub.on('ready', () => this.requestSync());
      await sub.subscribe(this.keys.camerasChannel());
      await this.sync();
      this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 1000);
      this.timer.unref();
    })();
    return this.started;
  }

  private async poll(): Promise<void> {
    try {
      const v = Number((await this.redis.get(this.keys.camerasVersion())) ?? 0);
      if (v !== this.knownVersion) this.requestSync();
    } catch (err) {
      this.counters.errors++;
      this.log?.debug({ err }, 'registry version poll failed');
    }
  }

  private requestSync(): void {
    if (this.closed) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = this.sync()
      .catch((err: unknown) => {
        this.counters.errors++;
        this.log?.warn({ err }, 'camera registry sync failed; retrying at the next poll');
      })
      .finally(() => {
        this.syncing = null;
        if (this.again) {
          this.again = false;
          this.requestSync();
        }
      });
  }

  private async sync(): Promise<void> {
    const res = await this.redis.multi().get(this.keys.camerasVersion()).hgetall(this.keys.cameras()).exec();
    if (res === null) return;
    const version = Number((res[0]?.[1] as string | null) ?? 0);
    const all = (res[1]?.[1] ?? {}) as Record<string, string>;
    // A local change newer than this read is already applied.
    if (version < this.knownVersion) return;
    this.counters.syncs++;
    const next = new Map<string, { record: CameraRecord; json: string }>();
    for (const [id, json] of Object.entries(all)) {
      const prev = this.known.get(id);
      if (prev && prev.json === json) {
        next.set(id, prev);
        continue;
      }
      const record = this.parse(id, json);
      if (record) next.set(id, { record, json });
    }
    const changes: RegistryChange[] = [];
    for (const [id, cur] of next) {
      const prev = this.known.get(id);
      if (!prev) changes.push({ type: 'created', id, camera: cur.record, previous: null });
      else if (prev.json !== cur.json) changes.push({ type: 'updated', id, camera: cur.record, previous: prev.record });
    }
    for (const [id, prev] of this.known) if (!next.has(id)) changes.push({ type: 'deleted', id, camera: null, previous: prev.record });
    const first = this.knownVersion < 0;
    this.known = next;
    this.knownVersion = version;
    // The first load is the starting point, not a change.
    if (!first) for (const c of changes) this.deliver(c);
  }

  /** A change this instance made: known at once (its followers get it without waiting for the channel). */
  private applyLocal(version: number, change: RegistryChange, json: string | null): void {
    if (this.knownVersion < 0) return; // not following: nothing to tell
    if (change.camera && json !== null) this.known.set(change.id, { record: change.camera, json });
    else this.known.delete(change.id);
    if (version === this.knownVersion + 1) this.knownVersion = version;
    else this.requestSync(); // others changed it meanwhile: catch up
    this.deliver(change);
  }

  private deliver(change: RegistryChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.log?.error({ err, cameraId: change.id }, 'camera registry listener failed');
      }
    }
  }
}
