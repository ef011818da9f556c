/**
 * Every Redis key crowdlens writes in scale-out mode, in one place, all under the deployment's
 * prefix (`CROWDLENS_REDIS_PREFIX`, default `crowdlens`). BullMQ gets `<prefix>:bull` as its own
 * prefix, so its keys (`<prefix>:bull:infer:wait`, ...) start with the prefix too.
 */

/** BullMQ queue name of the inference jobs. */
export const INFER_QUEUE = 'infer';

/** Camera ids go into keys percent-encoded, so a `:` or space in an id cannot forge another key. */
function part(id: string): string {
  if (typeof id !== 'string' || id === '') throw new Error(`key part must be a non-empty string, got ${JSON.stringify(id)}`);
  return encodeURIComponent(id);
}

/** Key names for one deployment prefix. */
export class ScaleKeys {
  /** BullMQ `prefix` option: `<prefix>:bull`. */
  readonly bullPrefix: string;

  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9_.{}-][A-Za-z0-9_.{}:-]{0,63}$/.test(prefix))
      throw new Error(`redis prefix must be 1-64 characters of A-Z a-z 0-9 _ . - { } :, got ${JSON.stringify(prefix)}`);
    this.bullPrefix = `${prefix}:bull`;
  }

  /** Bytes of one sampled frame (string, PX = frame TTL). */
  frame(sourceId: string, epoch: number, seq: number): string {
    return `${this.prefix}:frame:${part(sourceId)}:${epoch}:${seq}`;
  }

  /** True when `key` names a frame of this deployment (a job cannot point a worker at another key). */
  isFrameKey(key: string): boolean {
    return key.startsWith(`${this.prefix}:frame:`);
  }

  /** An ingest process's result inbox (list; every push renews its PX, so a dead owner's inbox expires). */
  inbox(ownerId: string): string {
    return `${this.prefix}:inbox:${part(ownerId)}`;
  }

  isInboxKey(key: string): boolean {
    return key.startsWith(`${this.prefix}:inbox:`);
  }

  /** A camera's lease: `<token>:<ownerId>`, PX = lease TTL. */
  lease(sourceId: string): string {
    return `${this.prefix}:lease:${part(sourceId)}`;
  }

  /** A camera's fencing counter (INCR on every acquisition; never expires, one small key per camera). */
  fence(sourceId: string): string {
    return `${this.prefix}:fence:${part(sourceId)}`;
  }

  /** Live ingest processes: sorted set of owner ids scored by heartbeat expiry (Redis server time, ms). */
  owners(): string {
    return `${this.prefix}:owners`;
  }

  /** A camera's carried re-identification entries (stream, trimmed to the re-id window; opt-in). */
  reid(sourceId: string): string {
    return `${this.prefix}:reid:${part(sourceId)}`;
  }

  /** Pub/sub channel of a camera's track events (published fenced by its owner). */
  events(sourceId: string): string {
    return `${this.prefix}:events:${part(sourceId)}`;
  }

  /** The camera registry: hash camera id -> record JSON (the real URL, credentials included: see README "Privacy"). */
  cameras(): string {
    return `${this.prefix}:cameras`;
  }

  /** The registry's version counter (INCR on every change; followers poll it). */
  camerasVersion(): string {
    return `${this.prefix}:cameras:version`;
  }

  /** Pub/sub channel of registry changes: `{type, id, version}` only, never a camera's URL. */
  camerasChannel(): string {
    return `${this.prefix}:cameras:changes`;
  }

  /** A camera's status as its owner last wrote it (string JSON, short PX). */
  cameraStatus(sourceId: string): string {
    return `${this.prefix}:cam:${part(sourceId)}:status`;
  }

  /** A camera's live snapshot (merged across owners) and its owner's open people (string JSON, PX a day). */
  cameraLive(sourceId: string): string {
    return `${this.prefix}:cam:${part(sourceId)}:live`;
  }

  /** A camera's counters across owners: unique people, age x gender cells, dwell, frame totals, highest person id (hash). */
  cameraAgg(sourceId: string): string {
    return `${this.prefix}:cam:${part(sourceId)}:agg`;
  }

  /** A camera's people of the last day: member = person id, score = last seen ms (sorted set; the trailing windows). */
  cameraSeen(sourceId: string): string {
    return `${this.prefix}:cam:${part(sourceId)}:seen`;
  }

  /** One history bucket of a camera (hash of counters): `m` per minute, `h` per hour; `startMs` its aligned start. */
  cameraBucket(sourceId: string, width: 'm' | 'h', startMs: number): string {
    return `${this.prefix}:cam:${part(sourceId)}:${width}:${startMs}`;
  }

  /** Keys of a camera's state with a fixed name (deleted with the camera; buckets expire by themselves). */
  cameraStateKeys(sourceId: string): string[] {
    return [
      this.cameraStatus(sourceId),
      this.cameraLive(sourceId),
      this.cameraAgg(sourceId),
      this.cameraSeen(sourceId),
      this.reid(sourceId),
    ];
  }

  /** Socket.IO Redis adapter/emitter key: channels `<prefix>:socket.io#/#...`. */
  socketIo(): string {
    return `${this.prefix}:socket.io`;
  }

  /** Pattern matching every key of this deployment (for tests and `crowdlens` maintenance only: SCAN, never KEYS). */
  pattern(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
  }
}
