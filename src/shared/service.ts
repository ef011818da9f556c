/**
 * The seams of the service. src/api depends only on these interfaces; src/service implements them for one
 * process (a JSON-file registry, reads from the in-process camera manager, a publisher straight to Socket.IO),
 * and the scale-out implements the same ones over Redis (registry in Redis with pub/sub changes, reads of
 * state that the camera's ingest owner writes, Socket.IO's Redis emitter).
 */
import { maskUrl } from './redact.ts';
import type { Camera, CameraCreate, CameraChange, CameraDemographics, CameraPatch, CameraStatus, LiveDemographics, LivePersonEntered, LivePersonLeft } from './api.ts';

/**
 * A camera as stored. `url` is the real source and may carry credentials: it goes to ingest and to the
 * registry's storage only; everything shown to a person goes through maskUrl (src/shared/redact.ts).
 */
export interface CameraRecord {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  /** Frames per second; null: the configured default (`CROWDLENS_FPS`). */
  readonly fps: number | null;
  /** Max frame width, px; null: the configured default. */
  readonly maxWidth: number | null;
  readonly enabled: boolean;
  /** Files only: start again at the end. */
  readonly loop: boolean;
  /** ISO 8601 times. */
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** `previous` with the fields `patch` sets (the others kept) and `updatedAt` = `atMs` (ms since the Unix epoch): a registry update. */
export function patchRecord(previous: CameraRecord, patch: CameraPatch, atMs: number): CameraRecord {
  return {
    ...previous,
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.url !== undefined ? { url: patch.url } : {}),
    ...(patch.fps !== undefined ? { fps: patch.fps } : {}),
    ...(patch.maxWidth !== undefined ? { maxWidth: patch.maxWidth } : {}),
    ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
    ...(patch.loop !== undefined ? { loop: patch.loop } : {}),
    updatedAt: new Date(atMs).toISOString(),
  };
}

/** One change to the registry, as delivered to subscribers (after it is durable). */
export interface RegistryChange {
  readonly type: CameraChange['type'];
  readonly id: string;
  /** The camera after the change; null when deleted. */
  readonly camera: CameraRecord | null;
  /** The camera before the change; null when created. */
  readonly previous: CameraRecord | null;
}

/**
 * Where cameras are registered. Every method is async (a file now, Redis in the scale-out); a change is durable
 * when its promise resolves, and then reaches every subscriber (in this process and, for a shared registry, in
 * every other) within a second or two.
 */
export interface CameraRegistry {
  list(): Promise<CameraRecord[]>;
  get(id: string): Promise<CameraRecord | null>;
  /** Registers a camera; `id` is generated from the name unless given. Throws {@link FieldError} (409 on a taken id or a full registry). */
  create(input: CameraCreate, options?: { readonly id?: string }): Promise<CameraRecord>;
  /** Applies a patch; null when there is no such camera. */
  update(id: string, patch: CameraPatch): Promise<CameraRecord | null>;
  /** Removes a camera; false when there was none. */
  remove(id: string): Promise<boolean>;
  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: (change: RegistryChange) => void): () => void;
  close(): Promise<void>;
}

/** Reads of what the cameras are doing, for the REST API (the in-process camera manager here). */
export interface CameraReads {
  /** The camera's status; null for an unknown camera. */
  status(id: string): Promise<CameraStatus | null>;
  /** The live snapshot and the per-minute / per-hour history; null for an unknown camera. */
  demographics(id: string): Promise<CameraDemographics | null>;
}

/**
 * Where live events go: straight to the Socket.IO server in one process (src/api/socket.ts), through Socket.IO's
 * Redis emitter in the scale-out. Fire and forget; must not throw.
 */
export interface LivePublisher {
  demographics(payload: LiveDemographics): void;
  personEntered(payload: LivePersonEntered): void;
  personLeft(payload: LivePersonLeft): void;
  cameraStatus(payload: CameraStatus): void;
  cameraChanged(payload: CameraChange): void;
}

/** Checks camera URLs against what ingest supports and the media-directory rule. */
export interface UrlPolicy {
  /** Resolves when `url` may be registered; throws {@link FieldError} naming `field` otherwise. */
  check(url: string, field: string): Promise<void>;
}

/** A request problem tied to one field; the API answers `status` with `{ error: code, message, field }`. */
export class FieldError extends Error {
  override readonly name = 'FieldError';
  constructor(
    readonly field: string,
    message: string,
    readonly status: 400 | 404 | 409 | 422 = 400,
    readonly code: 'VALIDATION' | 'NOT_FOUND' | 'CONFLICT' = 'VALIDATION',
  ) {
    super(message);
  }
}

/** A stored camera as every client sees it: the URL with credentials masked. */
export function toPublicCamera(record: CameraRecord): Camera {
  return { id: record.id, name: record.name, url: maskUrl(record.url), fps: record.fps, maxWidth: record.maxWidth, enabled: record.enabled, loop: record.loop, createdAt: record.createdAt, updatedAt: record.updatedAt };
}

/** One rendered preview: the latest analysed frame of a camera with boxes and labels (faces blurred unless turned off). */
export interface PreviewImage {
  /** JPEG bytes. */
  readonly jpeg: Uint8Array;
  /** Capture time of the frame, ms since the Unix epoch. */
  readonly capturedAtMs: number;
  readonly width: number;
  readonly height: number;
  /** Faces detected (and boxed) in the frame. */
  readonly faces: number;
  /** Whether the faces are blurred. */
  readonly blurred: boolean;
}

/**
 * The annotated preview (off by default, `CROWDLENS_PREVIEW`): frames live in the memory of the process that
 * analysed them only, never on disk or in Redis.
 */
export interface PreviewReads {
  /** The latest analysed frame of `cameraId`, rendered; null when none arrived recently (camera down or starting). */
  latest(cameraId: string): Promise<PreviewImage | null>;
}
