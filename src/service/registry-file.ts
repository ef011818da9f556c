/**
 * The camera registry of the one-process service: a JSON file (`<dataDir>/cameras.json`, mode 0600 because it
 * holds the cameras' real URLs, credentials included). Every change is written atomically (a temp file in the
 * same directory, fsync, rename over the old file, fsync of the directory), so a crash leaves the old or the new
 * file, never half of one; writes are serialised; subscribers hear of a change once it is on disk. A file that
 * cannot be read or validated stops the start-up with an error naming it, and is never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CAMERA_ID_PATTERN, type CameraCreate, type CameraPatch } from '../shared/api.ts';
import type { Logger } from '../shared/logger.ts';
import { FieldError, patchRecord, type CameraRecord, type CameraRegistry, type RegistryChange } from '../shared/service.ts';

/** File name of the registry inside the data directory. */
export const REGISTRY_FILE = 'cameras.json';

/** A stored camera record (also the Redis registry's, src/scale/registry-redis.ts). */
export const recordSchema = z.strictObject({
  id: z.string().regex(CAMERA_ID_PATTERN),
  name: z.string().min(1),
  url: z.string().min(1),
  fps: z.number().positive().nullable(),
  maxWidth: z.number().int().positive().nullable(),
  enabled: z.boolean(),
  loop: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const fileSchema = z.strictObject({ version: z.literal(1), cameras: z.array(recordSchema) });

/** The registry file could not be read or is not a valid registry. */
export class RegistryFileError extends Error {
  override readonly name = 'RegistryFileError';
}

/** Options of {@link JsonFileRegistry.open}. */
export interface JsonFileRegistryOptions {
  /** Directory of the registry file; created (mode 0700) when missing. */
  readonly dataDir: string;
  /** Cameras accepted at most. Default 64. */
  readonly maxCameras?: number;
  readonly logger?: Logger;
  /** Clock for createdAt/updatedAt. Default `Date.now`. */
  readonly now?: () => number;
}

/** A slug of `name` for ids: lowercase ASCII letters, digits and "-". */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/g, '');
  return slug === '' ? 'camera' : slug;
}

export class JsonFileRegistry implements CameraRegistry {
  private cameras: CameraRecord[];
  private readonly listeners = new Set<(change: RegistryChange) => void>();
  private writing: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    /** The registry file, absolute. */
    readonly file: string,
    cameras: CameraRecord[],
    private readonly maxCameras: number,
    private readonly log: Logger | undefined,
    private readonly now: () => number,
  ) {
    this.cameras = cameras;
  }

  /**
   * Opens (or, on first start, creates) the registry in `dataDir`. `created` is true when there was no file:
   * the caller may then register its defaults (the demo camera). Throws {@link RegistryFileError} for an
   * unreadable or invalid file.
   */
  static async open(options: JsonFileRegistryOptions): Promise<{ registry: JsonFileRegistry; created: boolean }> {
    const dir = path.resolve(options.dataDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, REGISTRY_FILE);
    let text: string | null = null;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new RegistryFileError(`camera registry ${file}: cannot read it (${(err as Error).message})`);
    }
    let cameras: CameraRecord[] = [];
    if (text !== null) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        throw new RegistryFileError(`camera registry ${file}: not valid JSON (${(err as Error).message}); fix or move the file away (it is left untouched)`);
      }
      const parsed = fileSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new RegistryFileError(`camera registry ${file}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}; fix or move the file away (it is left untouched)`);
      }
      cameras = parsed.data.cameras;
      const ids = new Set<string>();
      for (const c of cameras) {
        if (ids.has(c.id)) throw new RegistryFileError(`camera registry ${file}: camera id ${JSON.stringify(c.id)} appears twice`);
        ids.add(c.id);
      }
    }
    const registry = new JsonFileRegistry(file, cameras, options.maxCameras ?? 64, options.logger, options.now ?? Date.now);
    if (text === null) await registry.serialise(() => registry.write(cameras));
    return { registry, created: text === null };
  }

  async list(): Promise<CameraRecord[]> {
    return [...this.cameras];
  }

  async get(id: string): Promise<CameraRecord | null> {
    return this.cameras.find((c) => c.id === id) ?? null;
  }

  create(input: CameraCreate, options: { readonly id?: string } = {}): Promise<CameraRecord> {
    return this.serialise(async () => {
      if (this.cameras.length >= this.maxCameras) throw new FieldError('id', `the registry is full: ${this.maxCameras} cameras (CROWDLENS_MAX_CAMERAS)`, 409, 'CONFLICT');
      let id = options.id;
      if (id !== undefined) {
        if (!CAMERA_ID_PATTERN.test(id)) throw new FieldError('id', `id: expected lowercase letters, digits and "-" (got ${JSON.stringify(id)})`);
        if (this.cameras.some((c) => c.id === id)) throw new FieldError('id', `id: camera ${JSON.stringify(id)} already exists`, 409, 'CONFLICT');
      } else {
        const base = slugify(input.name);
        id = base;
        for (let n = 2; this.cameras.some((c) => c.id === id); n++) id = `${base}-${n}`;
      }
      const at = new Date(this.now()).toISOString();
      const record: CameraRecord = { id, name: input.name, url: input.url, fps: input.fps ?? null, maxWidth: input.maxWidth ?? null, enabled: input.enabled ?? true, loop: input.loop ?? true, createdAt: at, updatedAt: at };
      await this.commit([...this.cameras, record], { type: 'created', id, camera: record, previous: null });
      return record;
    });
  }

  update(id: string, patch: CameraPatch): Promise<CameraRecord | null> {
    return this.serialise(async () => {
      const previous = this.cameras.find((c) => c.id === id);
      if (previous === undefined) return null;
      const next = patchRecord(previous, patch, this.now());
      await this.commit(
        this.cameras.map((c) => (c.id === id ? next : c)),
        { type: 'updated', id, camera: next, previous },
      );
      return next;
    });
  }

  remove(id: string): Promise<boolean> {
    return this.serialise(async () => {
      const previous = this.cameras.find((c) => c.id === id);
      if (previous === undefined) return false;
      await this.commit(
        this.cameras.filter((c) => c.id !== id),
        { type: 'deleted', id, camera: null, previous },
      );
      return true;
    });
  }

  subscribe(listener: (change: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writing.catch(() => undefined);
    this.listeners.clear();
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('camera registry is closed'));
    const run = this.writing.then(fn, fn);
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async commit(cameras: CameraRecord[], change: RegistryChange): Promise<void> {
    await this.write(cameras);
    this.cameras = cameras;
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        // One bad listener must not stop the others or fail a change that is already durable.
        this.log?.error({ err, cameraId: change.id }, 'camera registry listener failed');
      }
    }
  }

  /** Atomic replace: temp file (0600) + fsync + rename + fsync of the directory. */
  private async write(cameras: CameraRecord[]): Promise<void> {
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const body = `${JSON.stringify({ version: 1, cameras }, null, 2)}\n`;
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(body, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new Error(`camera registry ${this.file}: cannot write it (${(err as Error).message})`);
    }
    const dir = await open(path.dirname(this.file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
