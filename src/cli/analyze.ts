/**
 * `crowdlens analyze [options] PATH...`: faces, age and gender in image files and folders.
 * Output is one line per image (JSON with --json); unreadable files give an error line and exit code 1
 * at the end, without stopping the run.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import type { Face, GenderLabel } from '../shared/messages.ts';
import { AGE_GENDER_NAMES, DETECTOR_NAMES, createFaceAnalyzer, parseTiles, type AgeGenderName, type DetectorName } from '../infer/analyzer.ts';
import { writeAnnotatedImage } from '../infer/annotate.ts';
import { IMAGE_EXTENSIONS, loadImage } from '../infer/decode.ts';
import type { RgbImage } from '../infer/types.ts';
import { loadTrustModel } from '../infer/trust.ts';

/**
 * Age/gender model for photos, by mode, from nested 5-fold CV on utkface-dev (`npm run fit:heads`,
 * numbers in src/infer/heads/gender-head.json): with detection, `fused` (face-api age + a gender head
 * over face-api and faceres outputs) meets the gender target (>= 91%) where `age_gender` alone does not;
 * with --assume-face neither meets its 93% target and fused gains only noise over `age_gender` multicrop,
 * so the cheaper one stays. The head is fitted on UTKFace and may not transfer to camera footage;
 * streams (the pipeline) keep ANALYZER_DEFAULTS.ageGender.
 */
export const ANALYZE_AGE_GENDER_DEFAULT = { detect: 'fused', assumeFace: 'age_gender' } as const satisfies Record<string, AgeGenderName>;
/** Test-time augmentation choices on the command line. */
const TTA_NAMES = ['flip', 'multicrop'] as const;

export const USAGE = `Usage: crowdlens analyze [options] PATH...

Finds faces and estimates age and gender in image files and folders (searched recursively for
${IMAGE_EXTENSIONS.join(' ')}, in sorted order).

Options:
  --json              one JSON line per image: {"file","width","height","faces":[{"box":[x1,y1,x2,y2],
                      "score","quality","ageYears","gender","genderScore","maleProbability","genderLabel"}]},
                      or {"file","error"} for an unreadable file; genderLabel is "unknown" when the
                      calibrated confidence is below the measured threshold (src/infer/heads/trust.json)
  --annotate DIR      write each image with boxes and labels to DIR (same name, same subfolders)
  --assume-face       treat each image as one face crop (no detection; scores age/gender alone)
  --detector NAME     ${DETECTOR_NAMES.join(' | ')} (env CROWDLENS_DETECTOR)
  --min-score X       minimum detector score 0..1 (env CROWDLENS_MIN_SCORE)
  --tiles NxM         detect in N columns x M rows of overlapping tiles plus the whole frame,
                      for small faces in large images; "off" by default (env CROWDLENS_TILES)
  --age-gender NAME   ${AGE_GENDER_NAMES.join(' | ')} (default ${ANALYZE_AGE_GENDER_DEFAULT.detect}, ${ANALYZE_AGE_GENDER_DEFAULT.assumeFace} with
                      --assume-face; fused's gender head is fitted on UTKFace crops and may not
                      transfer to cameras)
  --tta MODE          flip | multicrop: face-api test-time augmentation (2 or 20 crops per face);
                      default multicrop with --assume-face, flip otherwise
  --descriptors       also compute the 1024-d faceres descriptor per face (kept in memory only;
                      the output says that it was computed, never its values)
  --config FILE       JSON configuration file (env CROWDLENS_CONFIG)
  -h, --help          this text

Exit code: 0 all images analysed, 1 some file failed, 2 bad usage or configuration.`;

/** Files and folders on the command line, expanded: `input` is what was given, `rel` the path under it. */
interface Item {
  readonly file: string;
  /** Path relative to the command-line folder it came from (its base name for a file given directly). */
  readonly rel: string;
}

function byCodepoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function walk(dir: string, out: string[], skipped: { count: number }): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => byCodepoint(a.name, b.name));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, out, skipped);
    else if (IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) out.push(full);
    else skipped.count++;
  }
}

/** Expands PATH arguments: files as given, folders recursively (image extensions only, sorted). */
export async function collectInputs(paths: readonly string[]): Promise<{ items: Item[]; skipped: number }> {
  const items: Item[] = [];
  const skipped = { count: 0 };
  for (const p of paths) {
    const info = await stat(p).catch(() => undefined);
    if (info?.isDirectory()) {
      const files: string[] = [];
      await walk(p, files, skipped);
      for (const f of files) items.push({ file: f, rel: path.relative(p, f) });
    } else {
      // Missing and non-image files named explicitly are kept: they get an error line, not silence.
      items.push({ file: p, rel: path.basename(p) });
    }
  }
  return { items, skipped: skipped.count };
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * The gender a single face is reported with: its model's, or `unknown` when its calibrated
 * confidence max(P(male), 1 - P(male)) is below `minConfidence` (faces without a calibrated P keep theirs).
 */
export function faceGenderLabel(face: Face, minConfidence: number): GenderLabel | undefined {
  if (face.gender === undefined) return undefined;
  const pm = face.maleProbability;
  if (pm === undefined) return face.gender;
  return Math.max(pm, 1 - pm) >= minConfidence ? face.gender : 'unknown';
}

/** The JSON form of one face: box to 0.1 px, scores to 4 digits, age to 0.1 year. */
export function faceJson(face: Face, minConfidence: number): Record<string, unknown> {
  const out: Record<string, unknown> = { box: face.box.map((v) => round(v, 1)), score: round(face.score, 4) };
  if (face.quality) out['quality'] = round(face.quality.score, 4);
  if (face.ageYears !== undefined) {
    out['ageYears'] = round(face.ageYears, 1);
    out['gender'] = face.gender;
    out['genderScore'] = round(face.genderScore, 4);
    if (face.maleProbability !== undefined) out['maleProbability'] = round(face.maleProbability, 4);
    out['genderLabel'] = faceGenderLabel(face, minConfidence);
  }
  if (face.descriptor) out['descriptorDims'] = face.descriptor.length;
  return out;
}

function faceText(face: Face, minConfidence: number): string {
  const b = face.box.map((v) => Math.round(v)).join(',');
  if (face.ageYears === undefined) return `face ${face.score.toFixed(2)} [${b}]`;
  const label = faceGenderLabel(face, minConfidence);
  const letter = label === 'female' ? 'F' : label === 'male' ? 'M' : '?';
  const pm = face.maleProbability !== undefined ? `, P(male) ${face.maleProbability.toFixed(2)}` : '';
  return `${letter} ${Math.round(face.ageYears)} (gender ${face.genderScore.toFixed(2)}${pm}, face ${face.score.toFixed(2)}) [${b}]`;
}

/** Prints progress at most once a second, only for runs of >= 20 files. */
class Progress {
  private last = 0;
  private readonly start = performance.now();
  constructor(private readonly total: number) {}
  update(done: number): void {
    if (this.total < 20) return;
    const now = performance.now();
    if (now - this.last < 1000 && done < this.total) return;
    this.last = now;
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? Math.round((this.total - done) / rate) : 0;
    process.stderr.write(`analyze: ${done}/${this.total} files, ${rate.toFixed(1)} files/s, ETA ${eta} s\n`);
  }
}

class UsageError extends Error {}

function parseMinScore(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < 0 || v > 1) throw new UsageError(`--min-score: expected a number from 0 to 1 (got ${JSON.stringify(text)})`);
  return v;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        annotate: { type: 'string' },
        'assume-face': { type: 'boolean' },
        detector: { type: 'string' },
        'min-score': { type: 'string' },
        tiles: { type: 'string' },
        'age-gender': { type: 'string' },
        tta: { type: 'string' },
        descriptors: { type: 'boolean' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`crowdlens analyze: ${(err as Error).message}\n${'Try "crowdlens analyze --help".'}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let minScore: number | undefined;
  let ageGender: AgeGenderName = values['assume-face'] ? ANALYZE_AGE_GENDER_DEFAULT.assumeFace : ANALYZE_AGE_GENDER_DEFAULT.detect;
  let tta: (typeof TTA_NAMES)[number] = values['assume-face'] ? 'multicrop' : 'flip';
  try {
    if (positionals.length === 0) throw new UsageError('no PATH given (image files or folders)');
    minScore = parseMinScore(values['min-score']);
    if (values.tiles !== undefined && !/^(off|\d+x\d+)$/.test(values.tiles)) throw new UsageError(`--tiles: expected "off" or "NxM" such as "2x1" (got ${JSON.stringify(values.tiles)})`);
    if (values.detector !== undefined && !(DETECTOR_NAMES as readonly string[]).includes(values.detector)) {
      throw new UsageError(`--detector: unknown detector ${JSON.stringify(values.detector)} (choose one of ${DETECTOR_NAMES.join(', ')})`);
    }
    const ag = values['age-gender'];
    if (ag !== undefined && !(AGE_GENDER_NAMES as readonly string[]).includes(ag)) throw new UsageError(`--age-gender: unknown model ${JSON.stringify(ag)} (choose one of ${AGE_GENDER_NAMES.join(', ')})`);
    if (ag !== undefined) ageGender = ag as AgeGenderName;
    const t = values.tta;
    if (t !== undefined && !(TTA_NAMES as readonly string[]).includes(t)) throw new UsageError(`--tta: unknown mode ${JSON.stringify(t)} (choose one of ${TTA_NAMES.join(', ')})`);
    if (t !== undefined) tta = t as (typeof TTA_NAMES)[number];
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`crowdlens analyze: ${err.message}\nTry "crowdlens analyze --help".\n`);
    return 2;
  }

  // Throws ConfigError (exit 2 in main.ts) naming the field for bad env/file values.
  const config = loadConfig({
    flags: { 'infer.detector': values.detector, 'infer.minScore': minScore, 'infer.tiles': values.tiles },
    ...(values.config !== undefined ? { file: values.config } : {}),
  });
  const detector = config.infer.detector;
  if (!(DETECTOR_NAMES as readonly string[]).includes(detector)) {
    process.stderr.write(`crowdlens analyze: infer.detector: unknown detector ${JSON.stringify(detector)} (choose one of ${DETECTOR_NAMES.join(', ')})\n`);
    return 2;
  }
  const logger = createLogger({ level: config.log.level });
  const analyzer = await createFaceAnalyzer({
    detector: detector as DetectorName,
    tiles: parseTiles(config.infer.tiles),
    descriptors: values.descriptors ?? false,
    session: { provider: config.infer.provider, intraOpThreads: config.infer.intraOpThreads, spinning: config.infer.spinning },
    logger,
    ...(config.infer.minScore !== undefined ? { minScore: config.infer.minScore } : {}),
    ageGender,
    tta,
  });

  const minConfidence = loadTrustModel().thresholds.faceMinGenderConfidence;
  const { items, skipped } = await collectInputs(positionals);
  const annotateDir = values.annotate;
  const json = values.json ?? false;
  const assumeFace = values['assume-face'] ?? false;
  const progress = new Progress(items.length);
  let failed = 0;
  let faceCount = 0;
  let analyzeMs = 0;
  let analyzed = 0;
  const started = performance.now();

  // Decode the next image while the current one runs through the models (sharp decodes off the main thread).
  const decode = (i: number): Promise<RgbImage> | undefined => {
    const item = items[i];
    if (!item) return undefined;
    const p = loadImage(item.file);
    p.catch(() => undefined); // awaited below; this only stops an unhandled-rejection warning while it waits
    return p;
  };
  let next = decode(0);
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as Item;
    const pending = next as Promise<RgbImage>;
    next = decode(i + 1);
    try {
      const image = await pending;
      const t0 = performance.now();
      const faces = await analyzer.analyze(image, { assumeFace });
      const ms = performance.now() - t0;
      analyzeMs += ms;
      analyzed++;
      faceCount += faces.length;
      if (annotateDir !== undefined) {
        const out = path.join(annotateDir, item.rel);
        if (path.resolve(out) === path.resolve(item.file)) throw new Error(`--annotate would overwrite the input ${item.file}; choose another DIR`);
        await writeAnnotatedImage(image, faces.map((f) => ({ box: f.box, score: f.score, ageYears: f.ageYears, gender: faceGenderLabel(f, minConfidence) })), out);
      }
      if (json) process.stdout.write(`${JSON.stringify({ file: item.file, width: image.width, height: image.height, faces: faces.map((f) => faceJson(f, minConfidence)) })}\n`);
      else process.stdout.write(`${item.file} ${image.width}x${image.height}: ${faces.length} face${faces.length === 1 ? '' : 's'} (${Math.round(ms)} ms)${faces.map((f) => `\n  ${faceText(f, minConfidence)}`).join('')}\n`);
    } catch (err) {
      failed++;
      const message = (err as Error).message;
      if (json) process.stdout.write(`${JSON.stringify({ file: item.file, error: message })}\n`);
      else process.stdout.write(`${item.file}: error: ${message}\n`);
    }
    progress.update(i + 1);
  }
  await analyzer.close();
  if (!json) {
    const wall = (performance.now() - started) / 1000;
    const per = analyzed > 0 ? `, ${Math.round(analyzeMs / analyzed)} ms/image in the models` : '';
    const skip = skipped > 0 ? `, ${skipped} non-image file${skipped === 1 ? '' : 's'} skipped` : '';
    const ann = annotateDir !== undefined && analyzed > 0 ? `; annotated images in ${annotateDir}` : '';
    process.stdout.write(`${items.length} image${items.length === 1 ? '' : 's'}, ${faceCount} face${faceCount === 1 ? '' : 's'}, ${failed} failed${skip} in ${wall.toFixed(1)} s${per}${ann}\n`);
  }
  return failed > 0 ? 1 : 0;
}
