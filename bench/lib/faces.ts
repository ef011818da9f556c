/**
 * The labeled face set (utkface-dev layout: labels.csv + JPEGs) and the bordered variant used for
 * detect-then-crop: each face pasted in the middle of a mid-grey (128) canvas with a fixed border.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BoxXyxy } from '../../src/shared/messages.ts';
import type { RgbImage } from '../../src/infer/types.ts';
import { ageBinOf, seededRandom } from './stats.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Default face set, relative to the repo root (read-only shared data; never copied into the repo). */
export const DEFAULT_FACES_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'data', 'faces', 'utkface-dev');

/** One labeled face. */
export interface LabeledFace {
  readonly file: string;
  readonly ageYears: number;
  readonly male: boolean;
  /** Age bin x gender, the stratum for k-fold and subsampling. */
  readonly stratum: string;
}

/** Reads `labels.csv` (file,age,gender,...); throws naming the line and field on bad rows. */
export function readLabels(dir: string): LabeledFace[] {
  const csvPath = path.join(dir, 'labels.csv');
  const lines = readFileSync(csvPath, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',');
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${csvPath}: header has no ${JSON.stringify(name)} column`);
    return i;
  };
  const [fi, ai, gi] = [col('file'), col('age'), col('gender')];
  return lines.slice(1).map((line, n) => {
    const cells = line.split(',');
    const file = cells[fi] ?? '';
    const age = Number(cells[ai]);
    const gender = cells[gi];
    if (!file) throw new Error(`${csvPath}:${n + 2}: empty file`);
    if (!Number.isFinite(age) || age < 0) throw new Error(`${csvPath}:${n + 2}: age ${JSON.stringify(cells[ai])} is not a number >= 0`);
    if (gender !== 'male' && gender !== 'female') throw new Error(`${csvPath}:${n + 2}: gender ${JSON.stringify(gender)} is not male/female`);
    return { file: path.join(dir, file), ageYears: age, male: gender === 'male', stratum: `${ageBinOf(age)}|${gender}` };
  });
}

/**
 * A stratified, seeded subsample of `limit` faces (same proportion of every age bin x gender),
 * so quick runs still cover every bin. Returns all faces when `limit` is absent or >= the count.
 */
export function stratifiedSubsample<T extends { stratum: string }>(items: readonly T[], limit: number | undefined, seed: number): T[] {
  if (limit === undefined || limit >= items.length) return [...items];
  const rand = seededRandom(seed);
  const keyed = items.map((it) => ({ it, r: rand() }));
  const groups = new Map<string, { it: T; r: number }[]>();
  for (const k of keyed) {
    const g = groups.get(k.it.stratum);
    if (g) g.push(k);
    else groups.set(k.it.stratum, [k]);
  }
  // Round-robin over strata in shuffled order within each: proportional and deterministic.
  const lists = [...groups.keys()].sort().map((key) => (groups.get(key) as { it: T; r: number }[]).sort((a, b) => a.r - b.r));
  const out: T[] = [];
  for (let round = 0; out.length < limit; round++) {
    for (const l of lists) {
      const pick = l[round];
      if (pick && out.length < limit) out.push(pick.it);
    }
  }
  return out;
}

/** Pastes `image` in the middle of a mid-grey canvas with `border` px on every side; returns the canvas and the face's box. */
export function withBorder(image: RgbImage, border: number): { image: RgbImage; faceBox: BoxXyxy } {
  const width = image.width + 2 * border;
  const height = image.height + 2 * border;
  const data = new Uint8Array(width * height * 3).fill(128);
  for (let y = 0; y < image.height; y++) {
    data.set(image.data.subarray(y * image.width * 3, (y + 1) * image.width * 3), ((y + border) * width + border) * 3);
  }
  return { image: { data, width, height, channels: 3 }, faceBox: [border, border, border + image.width, border + image.height] };
}

/** Mirrors an image left-right. */
export function flipHorizontal(image: RgbImage): RgbImage {
  const { width, height } = image;
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      data[d] = image.data[s] as number;
      data[d + 1] = image.data[s + 1] as number;
      data[d + 2] = image.data[s + 2] as number;
    }
  }
  return { data, width, height, channels: 3 };
}

/** The box mirrored to match {@link flipHorizontal} of an image `width` px wide. */
export function flipBox(box: BoxXyxy, width: number): BoxXyxy {
  return [width - box[2], box[1], width - box[0], box[3]];
}

/** Scales a box about its centre by `scale` (1.1 = 10% larger each side-length). */
export function scaleBox(box: BoxXyxy, scale: number): BoxXyxy {
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  const hw = ((box[2] - box[0]) * scale) / 2;
  const hh = ((box[3] - box[1]) * scale) / 2;
  return [cx - hw, cy - hh, cx + hw, cy + hh];
}
