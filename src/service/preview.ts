/**
 * The annotated preview (off by default; `CROWDLENS_PREVIEW=true`): the latest analysed frame of each camera with
 * a box and an age/gender label per detected face, faces blurred unless `CROWDLENS_PREVIEW_BLUR=false`.
 *
 * Privacy and cost: a frame is copied out of ingest's reused buffer only while someone watches the camera's
 * preview (a request within the last `watchMs`), at most `maxFps` times per second, and kept in this process's
 * memory only (never on disk, never in Redis); when nobody watches, the kept frame is dropped. Rendering (sharp:
 * blur, SVG boxes, JPEG) happens on request, at most once per kept frame, so the per-frame hot path only pays a
 * timestamp check, plus a memcpy at most `maxFps` times a second while watched.
 */
import sharp, { type Sharp } from 'sharp';
import type { Face, Frame } from '../shared/messages.ts';
import type { PreviewImage, PreviewReads } from '../shared/service.ts';
import { annotationSvg, type AnnotatedFace } from '../infer/annotate.ts';
import { rawToSharp } from '../infer/decode.ts';

/** Options of {@link PreviewStore}. */
export interface PreviewOptions {
  /** Blur the detected faces. Default true. */
  readonly blur?: boolean;
  /** Frames kept (and so rendered) per camera per second at most. Default 2. */
  readonly maxFps?: number;
  /** How long after a request frames are still kept, ms. Default 10000. */
  readonly watchMs?: number;
  /** How long a request waits for a first frame when none is kept, ms. Default 2500. */
  readonly waitMs?: number;
  /** JPEG quality, 1-100. Default 80. */
  readonly quality?: number;
  /** Clock, ms. Default `Date.now`. */
  readonly now?: () => number;
}

interface Kept {
  readonly seq: number;
  readonly capturedAtMs: number;
  readonly keptAtMs: number;
  readonly width: number;
  readonly height: number;
  readonly rgb: Buffer;
  readonly faces: readonly AnnotatedFace[];
}

interface CameraPreview {
  watchedUntilMs: number;
  kept: Kept | null;
  rendered: { readonly seq: number; readonly image: Promise<PreviewImage> } | null;
  waiters: (() => void)[];
}

/** Integer pixel rectangle of a face box grown by `margin` of its size on each side, clipped to the frame. */
export function blurRegion(box: readonly number[], width: number, height: number, margin = 0.2): { left: number; top: number; width: number; height: number } | null {
  const [x1 = 0, y1 = 0, x2 = 0, y2 = 0] = box;
  const mx = (x2 - x1) * margin;
  const my = (y2 - y1) * margin;
  const left = Math.max(0, Math.floor(x1 - mx));
  const top = Math.max(0, Math.floor(y1 - my));
  const right = Math.min(width, Math.ceil(x2 + mx));
  const bottom = Math.min(height, Math.ceil(y2 + my));
  if (right - left < 2 || bottom - top < 2) return null;
  return { left, top, width: right - left, height: bottom - top };
}

/**
 * Pixelates then smooths a region: only an 8x8 grid of colours survives, which no deblurring recovers, and the
 * smooth upscale keeps it from looking like a mosaic "censor" box that draws the eye.
 */
async function blurredPatch(base: Sharp, region: { left: number; top: number; width: number; height: number }): Promise<Buffer> {
  const cells = 8;
  const small = await base.clone().extract(region).resize(Math.min(cells, region.width), Math.min(cells, region.height), { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  return sharp(small.data, { raw: { width: small.info.width, height: small.info.height, channels: 3 } })
    .resize(region.width, region.height, { fit: 'fill', kernel: 'cubic' })
    .blur(Math.max(1, Math.min(region.width, region.height) / 16))
    .raw()
    .toBuffer();
}

/** Renders a kept frame: blurred faces (when asked), one box and label per face, JPEG. */
export async function renderPreview(frame: Pick<Kept, 'width' | 'height' | 'rgb' | 'faces' | 'capturedAtMs'>, options: { blur: boolean; quality?: number }): Promise<PreviewImage> {
  const base = rawToSharp({ data: frame.rgb, width: frame.width, height: frame.height, channels: 3 });
  const overlays: { input: Buffer; left: number; top: number; raw?: { width: number; height: number; channels: 3 } }[] = [];
  if (options.blur) {
    for (const face of frame.faces) {
      const region = blurRegion(face.box, frame.width, frame.height);
      if (region) overlays.push({ input: await blurredPatch(base, region), left: region.left, top: region.top, raw: { width: region.width, height: region.height, channels: 3 } });
    }
  }
  overlays.push({ input: Buffer.from(annotationSvg(frame.width, frame.height, frame.faces)), left: 0, top: 0 });
  const jpeg = await base.composite(overlays).jpeg({ quality: options.quality ?? 80 }).toBuffer();
  return { jpeg, capturedAtMs: frame.capturedAtMs, width: frame.width, height: frame.height, faces: frame.faces.length, blurred: options.blur };
}

/** The in-memory preview of every camera of this process. */
export class PreviewStore implements PreviewReads {
  readonly blur: boolean;
  readonly maxFps: number;
  private readonly watchMs: number;
  private readonly waitMs: number;
  private readonly quality: number;
  private readonly now: () => number;
  private readonly cameras = new Map<string, CameraPreview>();

  constructor(options: PreviewOptions = {}) {
    this.blur = options.blur ?? true;
    this.maxFps = options.maxFps ?? 2;
    if (!(this.maxFps > 0)) throw new RangeError(`maxFps: expected a positive number (got ${this.maxFps})`);
    this.watchMs = options.watchMs ?? 10_000;
    this.waitMs = options.waitMs ?? 2500;
    this.quality = options.quality ?? 80;
    this.now = options.now ?? Date.now;
  }

  /**
   * Called once per analysed frame with its faces (the frame's buffer is valid only during the call): keeps a
   * copy when the camera's preview is watched and the last kept frame is at least 1/maxFps old.
   */
  offer(cameraId: string, frame: Frame, faces: readonly Face[]): void {
    const cam = this.cameras.get(cameraId);
    if (!cam) return;
    const nowMs = this.now();
    if (nowMs > cam.watchedUntilMs) {
      this.forget(cameraId);
      return;
    }
    if (cam.kept && nowMs - cam.kept.keptAtMs < 1000 / this.maxFps) return;
    cam.kept = {
      seq: frame.seq,
      capturedAtMs: frame.capturedAtMs,
      keptAtMs: nowMs,
      width: frame.width,
      height: frame.height,
      rgb: Buffer.from(frame.rgb),
      // What a box shows: position, score and the single-frame estimate; never the descriptor.
      faces: faces.map((f) => ({ box: f.box, score: f.score, ageYears: f.ageYears, gender: f.gender })),
    };
    for (const wake of cam.waiters.splice(0)) wake();
  }

  /** Drops what is kept for a camera (it stopped, was deleted, or nobody watches). */
  forget(cameraId: string): void {
    const cam = this.cameras.get(cameraId);
    if (!cam) return;
    this.cameras.delete(cameraId);
    for (const wake of cam.waiters.splice(0)) wake();
  }

  /** Drops the frames of cameras nobody watched recently (called on the service's 1 Hz tick). */
  sweep(): void {
    const nowMs = this.now();
    for (const [id, cam] of this.cameras) if (nowMs > cam.watchedUntilMs && cam.waiters.length === 0) this.forget(id);
  }

  /** Cameras with a kept frame (for tests and metrics). */
  keptCount(): number {
    let n = 0;
    for (const cam of this.cameras.values()) if (cam.kept) n++;
    return n;
  }

  async latest(cameraId: string): Promise<PreviewImage | null> {
    let cam = this.cameras.get(cameraId);
    const nowMs = this.now();
    if (!cam) {
      cam = { watchedUntilMs: 0, kept: null, rendered: null, waiters: [] };
      this.cameras.set(cameraId, cam);
    }
    cam.watchedUntilMs = nowMs + this.watchMs;
    // A frame older than the watch window is from before a pause or an outage: wait for a fresh one.
    if (!cam.kept || nowMs - cam.kept.keptAtMs > this.watchMs) {
      const c = cam;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          c.waiters = c.waiters.filter((w) => w !== done);
          resolve();
        }, this.waitMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        c.waiters.push(done);
      });
      cam = this.cameras.get(cameraId);
      if (!cam?.kept || this.now() - cam.kept.keptAtMs > this.watchMs) return null;
    }
    const kept = cam.kept as Kept;
    if (cam.rendered?.seq === kept.seq) return cam.rendered.image;
    const image = renderPreview(kept, { blur: this.blur, quality: this.quality });
    const entry = cam;
    entry.rendered = { seq: kept.seq, image };
    // A failed render is reported to this request; the next request renders again.
    image.catch(() => {
      if (entry.rendered?.image === image) entry.rendered = null;
    });
    return image;
  }
}
