/**
 * Frames by reference: a sampled frame's pixels go into Redis under a prefixed key with a short
 * TTL (SET ... PX), and a {@link FrameRef} names them. Workers fetch, decode and delete the bytes;
 * the TTL only catches frames nobody got to. Job JSON never holds pixels.
 *
 * Encoding: JPEG via sharp (libjpeg-turbo) at {@link DEFAULT_JPEG_QUALITY} by default, or raw RGB24.
 * Chosen by `npm run bench:frames` (bench/frames.ts; figures in docs/architecture.md): at 720p JPEG
 * q95 holds 210 KB instead of 2.76 MB in Redis and on the network (13x less) for ~10 ms to encode
 * and ~6 ms to decode, with detection recall unchanged and fused age within 0.1 year of raw.
 */
import sharp, { type OutputInfo } from 'sharp';
import type { Redis } from 'ioredis';
import type { Frame, FrameEncoding, FrameRef } from '../shared/messages.ts';
import type { ScaleKeys } from './keys.ts';

/**
 * Default JPEG quality (1-100), chosen by bench:frames (3 synthetic 720p crowds with exact truth,
 * 240 frames): fused per-person age MAE raw 3.83 / q95 3.89 / q90 4.12 / q80 4.28 years, detection
 * recall and fused gender unchanged; q95 is 210 KB per 720p frame vs 2.76 MB raw.
 */
export const DEFAULT_JPEG_QUALITY = 95;

/** Thrown when stored bytes do not decode to the frame the reference describes: bad data, not a transient fault. */
export class FrameDecodeError extends Error {
  override readonly name = 'FrameDecodeError';
}

/** Options of {@link encodeFrame}. */
export interface EncodeOptions {
  readonly encoding: FrameEncoding;
  /** JPEG quality 1-100. Default {@link DEFAULT_JPEG_QUALITY}. */
  readonly jpegQuality?: number;
  /** JPEG chroma subsampling. Default {@link DEFAULT_JPEG_CHROMA}. */
  readonly jpegChroma?: JpegChroma;
}

/** JPEG chroma subsampling: `4:2:0` (quarter-resolution colour, smaller) or `4:4:4` (full). */
export type JpegChroma = '4:2:0' | '4:4:4';

/** Default JPEG chroma subsampling, chosen by bench:frames: 4:4:4 encodes ~60% slower at 720p for no measurable accuracy gain. */
export const DEFAULT_JPEG_CHROMA: JpegChroma = '4:2:0';

/** Encodes an RGB24 frame (`jpeg`: baseline, 4:2:0 chroma; `rgb`: a copy of the pixels). */
export async function encodeFrame(frame: Pick<Frame, 'rgb' | 'width' | 'height'>, options: EncodeOptions): Promise<Buffer> {
  const { width, height, rgb } = frame;
  if (rgb.length !== width * height * 3)
    throw new RangeError(`encodeFrame: expected ${width}x${height}x3 = ${width * height * 3} bytes, got ${rgb.length}`);
  if (options.encoding === 'rgb') return Buffer.from(rgb);
  const quality = options.jpegQuality ?? DEFAULT_JPEG_QUALITY;
  if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100))
    throw new RangeError(`jpegQuality must be an integer 1-100, got ${quality}`);
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .jpeg({ quality, chromaSubsampling: options.jpegChroma ?? DEFAULT_JPEG_CHROMA })
    .toBuffer();
}

/**
 * Decodes stored bytes back to RGB24, checking them against the reference (size, dimensions):
 * a mismatch throws {@link FrameDecodeError}.
 */
export async function decodeFrame(bytes: Uint8Array, ref: Pick<FrameRef, 'width' | 'height' | 'encoding' | 'key'>): Promise<Uint8Array> {
  const expected = ref.width * ref.height * 3;
  if (ref.encoding === 'rgb') {
    if (bytes.length !== expected)
      throw new FrameDecodeError(`frame ${ref.key}: rgb bytes ${bytes.length}, expected ${ref.width}x${ref.height}x3 = ${expected}`);
    return bytes;
  }
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new FrameDecodeError(`frame ${ref.key}: jpeg does not decode: ${(err as Error).message}`);
  }
  const { info, data } = out;
  if (info.width !== ref.width || info.height !== ref.height || info.channels !== 3) {
    throw new FrameDecodeError(
      `frame ${ref.key}: jpeg is ${info.width}x${info.height}x${info.channels}, reference says ${ref.width}x${ref.height}x3`,
    );
  }
  return data;
}

/** Options of {@link FrameStore}. */
export interface FrameStoreOptions {
  readonly redis: Redis;
  readonly keys: ScaleKeys;
  /** Life of the bytes in Redis, ms (config `scale.frameTtlMs`). */
  readonly ttlMs: number;
  /** Default `jpeg`. */
  readonly encoding?: FrameEncoding;
  /** JPEG quality 1-100. Default {@link DEFAULT_JPEG_QUALITY}. */
  readonly jpegQuality?: number;
}

/** Timing of one {@link FrameStore.put}, ms. */
export interface PutTiming {
  encodeMs: number;
  storeMs: number;
}

/** Stores and fetches frame bytes by reference. */
export class FrameStore {
  readonly encoding: FrameEncoding;
  readonly jpegQuality: number;
  readonly ttlMs: number;
  private readonly redis: Redis;
  private readonly keys: ScaleKeys;

  constructor(options: FrameStoreOptions) {
    if (!(Number.isInteger(options.ttlMs) && options.ttlMs >= 1))
      throw new RangeError(`frame ttlMs must be an integer >= 1, got ${options.ttlMs}`);
    this.redis = options.redis;
    this.keys = options.keys;
    this.ttlMs = options.ttlMs;
    this.encoding = options.encoding ?? 'jpeg';
    this.jpegQuality = options.jpegQuality ?? DEFAULT_JPEG_QUALITY;
  }

  /** Encodes `frame` and stores it under a fresh key with the TTL; returns its reference. Redis errors reject. */
  async put(frame: Frame, epoch: number, timing?: PutTiming): Promise<FrameRef> {
    if (!(Number.isInteger(epoch) && epoch >= 0)) throw new RangeError(`epoch must be an integer >= 0, got ${epoch}`);
    const t0 = performance.now();
    const bytes = await encodeFrame(frame, { encoding: this.encoding, jpegQuality: this.jpegQuality });
    const t1 = performance.now();
    const key = this.keys.frame(frame.sourceId, epoch, frame.seq);
    await this.redis.set(key, bytes, 'PX', this.ttlMs);
    if (timing) {
      timing.encodeMs = t1 - t0;
      timing.storeMs = performance.now() - t1;
    }
    return {
      sourceId: frame.sourceId,
      seq: frame.seq,
      capturedAtMs: frame.capturedAtMs,
      key,
      width: frame.width,
      height: frame.height,
      encoding: this.encoding,
      byteLength: bytes.length,
      epoch,
    };
  }

  /** The stored bytes, or null when they are gone (expired or already processed). Redis errors reject. */
  async fetch(ref: Pick<FrameRef, 'key'>): Promise<Buffer | null> {
    return this.redis.getBuffer(ref.key);
  }

  /** Deletes the bytes (idempotent). */
  async delete(ref: Pick<FrameRef, 'key'>): Promise<void> {
    await this.redis.unlink(ref.key);
  }
}
