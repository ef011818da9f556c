/**
 * Does rotating the age/gender crop upright on the eye line help? utkface-dev faces (aligned: eye line
 * level) rotated by 0, +-15 and +-30 degrees (sharp, grey fill) on a 100 px mid-grey border, through
 * the shipped analyzer (blazeface keypoints -> roll; face-api age_gender with flip TTA) with roll
 * correction off and from several minimum rolls; gender accuracy and age MAE per rotation.
 *
 *   npm run bench:roll -- [--faces DIR] [--limit N (default 540)] [--seed N] [--concurrency N] [--size PX (default 200)]
 */
import path from 'node:path';
import sharp from 'sharp';
import { createFaceAnalyzer, type FaceAnalyzer } from '../src/infer/analyzer.ts';
import type { RgbImage } from '../src/infer/types.ts';
import { mapPool, parseArgs, table } from './lib/args.ts';
import { DEFAULT_FACES_DIR, REPO_ROOT, readLabels, stratifiedSubsample } from './lib/faces.ts';

const args = parseArgs(process.argv.slice(2), { faces: 'string', limit: 'number', seed: 'number', concurrency: 'number', size: 'number' });
/** Face side in px: utkface-dev's 200, or the crop resized (cubic) to a camera-like size before rotating. */
const size = (args.size as number | undefined) ?? 200;
const facesDir = path.resolve(REPO_ROOT, (args.faces as string | undefined) ?? DEFAULT_FACES_DIR);
const faces = stratifiedSubsample(readLabels(facesDir), (args.limit as number | undefined) ?? 540, (args.seed as number | undefined) ?? 1);
const ANGLES = [0, 15, -15, 30, -30] as const;
/** Minimum rolls (degrees) from which the crop is rotated; Infinity = correction off. */
const MIN_ROLLS = [Infinity, 0, 8, 12, 15] as const;
const GREY = { r: 128, g: 128, b: 128 };

async function rotated(file: string, angle: number): Promise<RgbImage> {
  const resized = size === 200 ? sharp(file) : sharp(await sharp(file).resize(size, size, { kernel: 'cubic' }).toBuffer());
  const { data, info } = await resized.rotate(angle, { background: GREY }).extend({ top: 100, bottom: 100, left: 100, right: 100, background: GREY }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
}

const analyzers = new Map<number, FaceAnalyzer>();
for (const m of MIN_ROLLS) analyzers.set(m, await createFaceAnalyzer({ ageGender: 'age_gender', genderCalibration: null, rollCorrectionMinDeg: m }));
type Cell = { n: number; right: number; absErr: number };
const cells = new Map<string, Cell>();
const rollErr: number[] = [];
const t0 = Date.now();
await mapPool(
  faces.flatMap((face) => ANGLES.map((angle) => ({ face, angle }))),
  (args.concurrency as number | undefined) ?? 2,
  async ({ face, angle }) => {
    const image = await rotated(face.file, angle);
    const cx = image.width / 2;
    const cy = image.height / 2;
    for (const [m, an] of analyzers) {
      const hit = (await an.analyze(image)).find((f) => f.box[0] < cx && f.box[2] > cx && f.box[1] < cy && f.box[3] > cy);
      if (!hit || hit.ageYears === undefined) continue;
      if (m === Infinity) rollErr.push(Math.abs((hit.quality?.rollDeg ?? 0) - angle));
      const key = `${Math.abs(angle)}|${m}`;
      const c = cells.get(key) ?? { n: 0, right: 0, absErr: 0 };
      c.n++;
      if ((hit.gender === 'male') === face.male) c.right++;
      c.absErr += Math.abs(hit.ageYears - face.ageYears);
      cells.set(key, c);
    }
  },
  (done) => {
    if (done % 500 === 0) process.stderr.write(`  ${done}/${faces.length * ANGLES.length} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  },
);
rollErr.sort((a, b) => a - b);
console.log(`# roll correction: ${faces.length} utkface-dev faces (stratified) at ${size} px, rotated by ${ANGLES.join(', ')} degrees; blazeface + age_gender flip; median |estimated roll - rotation| ${rollErr[rollErr.length >> 1]?.toFixed(1)} deg`);
const rows: string[][] = [];
for (const a of [0, 15, 30]) {
  for (const m of MIN_ROLLS) {
    const c = cells.get(`${a}|${m}`);
    if (!c) continue;
    rows.push([`${a}`, m === Infinity ? 'off' : `>= ${m} deg`, String(c.n), `${((100 * c.right) / c.n).toFixed(1)}%`, (c.absErr / c.n).toFixed(2)]);
  }
}
console.log(table(['|rotation| deg', 'correction', 'faces', 'gender', 'age MAE'], rows));
