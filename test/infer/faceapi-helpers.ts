/** Shared helpers for the face-api inference tests: image decoding and golden fixtures. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../../src/infer/types.ts';

const require = createRequire(import.meta.url);
export const DEMO_DIR = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
/** Read-only shared data (never copied into the repo). */
export const SHARED_DATA = path.resolve(REPO_ROOT, '..', 'shared', 'data');

export async function decodeRgb(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
}

export function goldenFixture<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'golden', name), 'utf8')) as T;
}

export interface GoldenDetection {
  readonly score: number;
  readonly box: readonly [number, number, number, number];
}
