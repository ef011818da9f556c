import { stat } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from './types.ts';

/** Default for {@link LoadImageOptions.maxPixels}: 50 megapixels (a 50 MP RGB24 frame is 150 MB in memory). */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** Options for {@link loadImage}. */
export interface LoadImageOptions {
  /** Largest accepted image, in pixels (width x height). Default {@link DEFAULT_MAX_PIXELS}. */
  readonly maxPixels?: number;
}

/** An image file could not be read or decoded; the message names the file and the reason. */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
  constructor(
    /** The file as given by the caller. */
    readonly file: string,
    /** Short machine-readable reason. */
    readonly reason: 'missing' | 'not-a-file' | 'unsupported' | 'corrupt' | 'too-large',
    message: string,
  ) {
    super(message);
  }
}

/** File extensions that {@link loadImage} is meant for (lower case, with dot). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

/**
 * Decodes an image file to RGB24: EXIF orientation applied (so boxes match what a viewer shows),
 * alpha dropped, grey/CMYK/16-bit converted to 8-bit sRGB.
 * Throws {@link ImageDecodeError} naming the file for a missing path, a directory, a non-image,
 * a corrupt or truncated image, or one larger than `maxPixels`.
 */
export async function loadImage(file: string, options: LoadImageOptions = {}): Promise<RgbImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(maxPixels) || maxPixels < 1) throw new RangeError(`loadImage: maxPixels must be a positive integer (got ${maxPixels})`);
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ImageDecodeError(file, 'missing', `${file}: no such file`);
    throw new ImageDecodeError(file, 'missing', `${file}: cannot read (${(err as Error).message})`);
  }
  if (info.isDirectory()) throw new ImageDecodeError(file, 'not-a-file', `${file}: is a directory, not an image file`);
  if (!info.isFile()) throw new ImageDecodeError(file, 'not-a-file', `${file}: not a regular file`);
  if (info.size === 0) throw new ImageDecodeError(file, 'unsupported', `${file}: empty file, not an image`);
  try {
    // failOn 'truncated': a cut-off JPEG otherwise decodes "successfully" with a grey bottom half.
    const { data, info: out } = await sharp(file, { failOn: 'truncated', limitInputPixels: maxPixels, sequentialRead: true })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (out.channels !== 3) throw new Error(`decoded to ${out.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: out.width, height: out.height, channels: 3 };
  } catch (err) {
    throw classify(file, err as Error, maxPixels);
  }
}

function classify(file: string, err: Error, maxPixels: number): ImageDecodeError {
  const msg = err.message.split('\n')[0] ?? '';
  if (/unsupported image format/i.test(msg)) return new ImageDecodeError(file, 'unsupported', `${file}: not a supported image (jpeg, png, webp, ...)`);
  if (/pixel limit/i.test(msg)) return new ImageDecodeError(file, 'too-large', `${file}: image is larger than the limit of ${maxPixels} pixels`);
  return new ImageDecodeError(file, 'corrupt', `${file}: corrupt or truncated image (${msg})`);
}

/** Output formats by file extension, for {@link encodeImage} and annotation. */
export type OutputFormat = 'jpeg' | 'png' | 'webp';

/** The output format for a path's extension; throws naming the path for anything else. */
export function formatForPath(file: string): OutputFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.png') return 'png';
  if (ext === '.webp') return 'webp';
  throw new Error(`${file}: unsupported output extension ${JSON.stringify(ext)} (use .jpg, .jpeg, .png or .webp)`);
}

/** A sharp pipeline over a raw RGB24 image (no metadata is ever carried into outputs). */
export function rawToSharp(image: RgbImage): Sharp {
  if (image.channels !== 3 || image.data.length !== image.width * image.height * 3) {
    throw new RangeError(`expected an RGB24 image of ${image.width}x${image.height} (${image.width * image.height * 3} bytes), got ${image.data.length} bytes, ${image.channels} channels`);
  }
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/** Applies the output format for `file` to a pipeline (quality 90 for lossy formats). */
export function withFormat(pipeline: Sharp, file: string): Sharp {
  const format = formatForPath(file);
  if (format === 'jpeg') return pipeline.jpeg({ quality: 90 });
  if (format === 'webp') return pipeline.webp({ quality: 90 });
  return pipeline.png();
}

/** Encodes an RGB24 image to `file`, format by extension (.jpg/.jpeg/.png/.webp). */
export async function encodeImage(image: RgbImage, file: string): Promise<void> {
  await withFormat(rawToSharp(image), file).toFile(file);
}
