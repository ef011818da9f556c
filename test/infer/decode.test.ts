import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageDecodeError, encodeImage, loadImage } from '../../src/infer/decode.ts';

const JPG = 'samples/sample1.jpg';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crowdlens-decode-'));
  // Same photo in the other formats, smaller so the test stays fast.
  const small = sharp(JPG).resize(320);
  await small.clone().png().toFile(path.join(dir, 'photo.png'));
  await small.clone().webp({ quality: 90 }).toFile(path.join(dir, 'photo.webp'));
  await small.clone().ensureAlpha(0.5).png().toFile(path.join(dir, 'alpha.png'));
  // EXIF orientation 6 = stored landscape, shown rotated 90 degrees clockwise.
  await small.clone().jpeg().withMetadata({ orientation: 6 }).toFile(path.join(dir, 'rotated.jpg'));
  await writeFile(path.join(dir, 'notes.jpg'), 'this is text, not a JPEG\n');
  const bytes = await readFile(JPG);
  await writeFile(path.join(dir, 'truncated.jpg'), bytes.subarray(0, Math.floor(bytes.length / 3)));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function decodeError(file: string, options = {}): Promise<ImageDecodeError> {
  const err = await loadImage(file, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageDecodeError);
  return err as ImageDecodeError;
}

describe('loadImage', () => {
  it('decodes a real JPEG to RGB24 at its full size', async () => {
    const meta = await sharp(JPG).metadata();
    const img = await loadImage(JPG);
    expect([img.width, img.height, img.channels]).toEqual([meta.width, meta.height, 3]);
    expect(img.data.length).toBe(img.width * img.height * 3);
    expect(img.data).toBeInstanceOf(Uint8Array);
  });

  it('decodes PNG and WebP of the same photo to nearly the same pixels', async () => {
    const png = await loadImage(path.join(dir, 'photo.png'));
    const webp = await loadImage(path.join(dir, 'photo.webp'));
    expect([webp.width, webp.height]).toEqual([png.width, png.height]);
    let sum = 0;
    for (let i = 0; i < png.data.length; i++) sum += Math.abs((png.data[i] as number) - (webp.data[i] as number));
    expect(sum / png.data.length).toBeLessThan(6); // lossy webp q90 vs lossless png
  });

  it('drops alpha and applies EXIF orientation', async () => {
    const alpha = await loadImage(path.join(dir, 'alpha.png'));
    expect(alpha.channels).toBe(3);
    expect(alpha.data.length).toBe(alpha.width * alpha.height * 3);
    const stored = await sharp(path.join(dir, 'rotated.jpg')).metadata();
    const rotated = await loadImage(path.join(dir, 'rotated.jpg'));
    expect([rotated.width, rotated.height]).toEqual([stored.height, stored.width]);
  });

  it('names the file for a missing path, a directory, a text file and a truncated JPEG', async () => {
    const missing = await decodeError(path.join(dir, 'nope.jpg'));
    expect(missing.reason).toBe('missing');
    expect(missing.message).toContain('nope.jpg');
    const folder = await decodeError(dir);
    expect(folder.reason).toBe('not-a-file');
    expect(folder.message).toMatch(/directory/);
    const text = await decodeError(path.join(dir, 'notes.jpg'));
    expect(text.reason).toBe('unsupported');
    expect(text.message).toContain('notes.jpg');
    const truncated = await decodeError(path.join(dir, 'truncated.jpg'));
    expect(truncated.reason).toBe('corrupt');
    expect(truncated.message).toContain('truncated.jpg');
  });

  it('refuses images above the pixel limit', async () => {
    const err = await decodeError(JPG, { maxPixels: 1_000_000 });
    expect(err.reason).toBe('too-large');
    expect(err.message).toContain('1000000');
  });

  it('encodeImage writes by extension and round-trips losslessly as PNG', async () => {
    const img = await loadImage(path.join(dir, 'photo.png'));
    const out = path.join(dir, 'copy.png');
    await encodeImage(img, out);
    const back = await loadImage(out);
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
    await expect(encodeImage(img, path.join(dir, 'copy.bmp'))).rejects.toThrow(/\.bmp/);
  });
});
