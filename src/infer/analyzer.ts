import type { Logger } from '../shared/logger.ts';
import type { BoxXyxy, Face, FaceAttributes, FaceDetection, FaceLandmarks, PointXy } from '../shared/messages.ts';
import { boxArea, clampBox, iou } from '../shared/geometry.ts';
import type { AgeGenderTta } from './agegender.ts';
import { DEFAULT_REGION_OPTIONS, mapCanvasDetections, planRegions, type RegionOptions, type RegionPlan, type RegionRequest } from './regions.ts';
import { resizeBilinearInto } from './image.ts';
import { faceQuality, sharpnessOf, type QualityModel } from './quality.ts';
import { calibratedMaleProbability, loadTrustModel, type GenderCalibration } from './trust.ts';
import type { FaceresResult } from './faceres.ts';
import type { SessionOptions } from './session.ts';
import type { AgeGenderEstimator, FaceDescriber, FaceDetector, RgbImage } from './types.ts';

/** Detectors the analyzer can run. */
export const DETECTOR_NAMES = ['blazeface', 'ssd_mobilenetv1', 'tiny_face_detector'] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

/**
 * Age/gender models the analyzer can run. `fused`: face-api's age and a gender head over face-api and
 * faceres outputs (src/infer/fused-age-gender.ts; one extra faceres run per face, head fitted on UTKFace).
 */
export const AGE_GENDER_NAMES = ['age_gender', 'faceres', 'fused'] as const;
export type AgeGenderName = (typeof AGE_GENDER_NAMES)[number];

/**
 * The defaults that accuracy decides, kept in this one place.
 * Chosen by `npm run bench:accuracy` (bench/accuracy.ts; results in bench/README.md): change them only
 * with a benchmark run that shows the new choice is better, and cite it here.
 * Until that benchmark has run these are the starting point: blazeface (fast, good at the face sizes
 * of the sample videos) and face-api's age/gender net on the detector's box as is.
 */
export const ANALYZER_DEFAULTS = {
  detector: 'blazeface' as DetectorName,
  ageGender: 'age_gender' as AgeGenderName,
  /**
   * Face box scale around its centre before age/gender estimation; 1 = the detector's box unchanged.
   * 1: the age/gender crop framing is one knob, FaceApiAgeGender's boxScale (default 1.1, chosen by
   * bench:accuracy: utkface-dev, 1,800 faces on a 100 px grey border, blazeface, flip on: box x1.1 gives
   * age MAE 4.87 / gender 90.8% vs x1.25 5.33 / 89.8% and x1.0 4.94 / 90.3%).
   */
  cropScale: 1,
  /**
   * Faces whose eye line is rolled by at least this many degrees (and large enough, below) get their age/gender crop rotated
   * upright (face-api models only; 0 = always, Infinity = never). 8, from `npm run bench:roll`
   * (utkface-dev faces rotated by 0/15/30 degrees on a grey border, blazeface keypoints): see README.
   */
  rollCorrectionMinDeg: 8,
  /**
   * ... and only faces at least this many pixels wide in the detector's 256 px input (face side x 256 /
   * the frame's longer side): below it the keypoints' roll is mostly noise. On unrotated utkface-dev faces
   * (fit:trust records) the estimated |roll| is >= 8 degrees for 2.5% of faces 128 input px wide, 11% at
   * 26 px, 29% at 19 px and 62% at 13 px (a 64 px face in a 1280 px frame, where bench:crowd's faces are),
   * while `npm run bench:roll -- --size 64` (62 input px) still gains from the correction.
   */
  rollCorrectionMinInputPx: 40,
} as const;

/** Side of blazeface's square input, px (src/infer/blazeface.ts's BLAZEFACE_INPUT_SIZE; not imported so the detector module loads only when chosen). */
const KEYPOINT_INPUT_SIDE = 256;

/** Tiling for small faces in wide frames. */
export interface TileOptions {
  /** Tile columns, >= 1. */
  readonly cols: number;
  /** Tile rows, >= 1. */
  readonly rows: number;
  /** Overlap between neighbouring tiles as a fraction of the tile size, 0..0.5. Default 0.25. */
  readonly overlap?: number;
  /** Also run the detector on the whole frame (finds faces larger than a tile). Default true. */
  readonly fullFrame?: boolean;
}

/** Options for {@link createFaceAnalyzer}. Every field is optional. */
export interface FaceAnalyzerOptions {
  /** Face detector. Default {@link ANALYZER_DEFAULTS}.detector. */
  readonly detector?: DetectorName;
  /** Minimum detector score, 0..1. Default: the detector's own measured default. */
  readonly minScore?: number;
  /** `off` (default) or NxM tiles: detections from every tile (and the whole frame) merged, in source pixels. */
  readonly tiles?: 'off' | TileOptions;
  /** Age/gender model. Default {@link ANALYZER_DEFAULTS}.ageGender. */
  readonly ageGender?: AgeGenderName;
  /**
   * face-api test-time augmentation for `age_gender` and `fused` (see FaceApiAgeGenderOptions.tta):
   * `flip` (default; 2 crops per face, for streams) or `multicrop` (20 crops, ~10 ms/face on CPU, for photos).
   */
  readonly tta?: AgeGenderTta;
  /** Face box scale before age/gender, > 0. Default {@link ANALYZER_DEFAULTS}.cropScale. */
  readonly cropScale?: number;
  /** Compute a 1024-d faceres descriptor per face (slower; for re-identification). Default false. */
  readonly descriptors?: boolean;
  /**
   * Cell geometry of region detection (`detect: { mode: 'regions' }`, src/infer/regions.ts); defaults
   * {@link DEFAULT_REGION_OPTIONS}, and `discoveryScale` that of the tiles (or of the whole frame with tiles off).
   */
  readonly regions?: Partial<Omit<RegionOptions, 'canvas'>> & {
    /**
     * Most canvases (detector runs) a regions frame may take; with more cells the frame is scanned
     * instead. Default: one fewer than a scan takes (1 + tiles), at least 2.
     */
    readonly maxCanvases?: number;
  };
  /**
   * Gender calibration giving each face a calibrated `maleProbability` (model `age_gender` only;
   * `fused` reports its head's P(male), `faceres` none). Default: src/infer/heads/trust.json's
   * (`npm run fit:trust`); `null` for none.
   */
  readonly genderCalibration?: GenderCalibration | null;
  /** The face quality model. Default: src/infer/heads/trust.json's (`npm run fit:trust`). */
  readonly quality?: QualityModel;
  /** Rotate the age/gender crop upright for faces rolled by at least this many degrees. Default {@link ANALYZER_DEFAULTS}.rollCorrectionMinDeg. */
  readonly rollCorrectionMinDeg?: number;
  /** onnxruntime session options (provider `cpu`|`cuda`, intraOpThreads, spinning), from config's `infer` section. */
  readonly session?: SessionOptions;
  readonly logger?: Logger;
}

/** Per-call options for {@link FaceAnalyzer.analyze}. */
export interface AnalyzeOptions {
  /**
   * Treat the whole image as one face crop (box = whole image, score 1) and skip detection:
   * for scoring the age/gender model alone on pre-cropped faces. Default false.
   */
  readonly assumeFace?: boolean;
  /**
   * With `descriptors` on: called once per detected face (box in source pixels, detector score)
   * before any model runs on it; only faces it returns true for get a descriptor, the others carry
   * none. Lets a tracker that needs only a few descriptors per person spare the descriptor model
   * (e.g. src/track's CrowdTracker.wantsDescriptor, passed in by the pipeline). Default: every face.
   */
  readonly wantDescriptor?: (face: FaceDetection) => boolean;
  /**
   * Called once per detected face (box, detector score, keypoints and quality, before any model runs
   * on it); faces it returns false for get no age/gender (their attribute fields are undefined) and
   * spare the age/gender model, e.g. src/track's CrowdTracker.wantsAttributes for tracks whose fused
   * estimate is settled. Default: every face.
   */
  readonly wantAttributes?: (face: FaceDetection) => boolean;
  /**
   * Where to look for faces (the tracker's schedule decides it per frame; see src/track/detect-schedule.ts).
   * Default `{ mode: 'scan' }`.
   */
  readonly detect?: DetectRequest;
}

/**
 * Where {@link FaceAnalyzer.detect} looks: `scan` the whole frame (and the tiles, when configured), plus
 * the cells of any `tracks` and `motion` given; `regions` only cells around the expected boxes of live
 * `tracks` and the `motion` boxes (src/infer/regions.ts), or a scan when those cells would take more than
 * `regions.maxCanvases` detector runs; `skip` nowhere (no faces: nothing moved and nothing is tracked).
 */
export type DetectRequest =
  | ({ readonly mode: 'scan' } & Partial<RegionRequest>)
  | { readonly mode: 'skip' }
  | ({ readonly mode: 'regions' } & RegionRequest);

/** Counters of {@link FaceAnalyzer.detect} since the analyzer was created. */
export interface DetectStats {
  /** Frames scanned whole (full frame and tiles). */
  readonly scans: number;
  /** Frames detected in regions only. */
  readonly regionFrames: number;
  /** Regions requests that became scans because their cells needed as many detector runs. */
  readonly regionFallbacks: number;
  /** Frames with no detection (skip, or regions with nothing to look at). */
  readonly skipped: number;
  /** Detector runs in all (a scan is 1 + tiles; a region frame one per canvas). */
  readonly detectorRuns: number;
}

/** Face detection + age/gender (+ optional descriptor) on one image at a time; models are loaded once. */
export interface FaceAnalyzer {
  /** Resolved options (defaults filled in). */
  readonly options: Readonly<{ detector: DetectorName; ageGender: AgeGenderName; tta: AgeGenderTta; descriptors: boolean; cropScale: number; tiles: 'off' | Required<TileOptions>; minScore: number | undefined; rollCorrectionMinDeg: number }>;
  /** Faces in `image`, boxes in source pixels, highest detector score first. */
  analyze(image: RgbImage, options?: AnalyzeOptions): Promise<Face[]>;
  /** Detection alone (what `analyze` runs before age/gender): boxes in source pixels, highest score first. */
  detect(image: RgbImage, request?: DetectRequest): Promise<FaceDetection[]>;
  /** Detection counters since creation. */
  detectStats(): DetectStats;
  /** Releases the analyzer; `analyze` afterwards throws. */
  close(): Promise<void>;
}

/** Parses `off` or `NxM` (columns x rows, e.g. `3x2`) as used in config and on the command line. */
export function parseTiles(text: string): 'off' | TileOptions {
  if (text === 'off') return 'off';
  const m = /^(\d+)x(\d+)$/.exec(text);
  if (!m) throw new Error(`tiles: expected "off" or "NxM" such as "2x1" (got ${JSON.stringify(text)})`);
  const cols = Number(m[1]);
  const rows = Number(m[2]);
  if (cols < 1 || rows < 1 || cols > 16 || rows > 16) throw new Error(`tiles: columns and rows must be 1..16 (got ${JSON.stringify(text)})`);
  return cols === 1 && rows === 1 ? 'off' : { cols, rows };
}

function resolveTiles(tiles: 'off' | TileOptions | undefined): 'off' | Required<TileOptions> {
  if (tiles === undefined || tiles === 'off') return 'off';
  const { cols, rows } = tiles;
  const overlap = tiles.overlap ?? 0.25;
  if (!Number.isInteger(cols) || cols < 1 || !Number.isInteger(rows) || rows < 1) throw new RangeError(`tiles: cols and rows must be positive integers (got ${cols}x${rows})`);
  if (!(overlap >= 0 && overlap <= 0.5)) throw new RangeError(`tiles.overlap must be 0..0.5 (got ${overlap})`);
  return { cols, rows, overlap, fullFrame: tiles.fullFrame ?? true };
}

/** One tile: its origin and size in source pixels. */
export interface Tile {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

function spans(length: number, count: number, overlap: number): Array<[number, number]> {
  if (count <= 1) return [[0, length]];
  const size = length / (count - (count - 1) * overlap);
  const step = size * (1 - overlap);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const start = Math.round(i * step);
    const end = i === count - 1 ? length : Math.min(length, Math.round(i * step + size));
    out.push([start, end]);
  }
  return out;
}

/** The tiles covering a `width x height` frame: `cols x rows`, neighbours overlapping by `overlap` of a tile. */
export function tileGrid(width: number, height: number, cols: number, rows: number, overlap: number): Tile[] {
  const tiles: Tile[] = [];
  for (const [y0, y1] of spans(height, rows, overlap)) {
    for (const [x0, x1] of spans(width, cols, overlap)) tiles.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  }
  return tiles;
}

/** Copies a rectangle of an RGB24 image (tiles must be contiguous buffers for the detectors). */
export function cropImage(image: RgbImage, tile: Tile): RgbImage {
  const c = image.channels;
  const data = new Uint8Array(tile.width * tile.height * c);
  const rowBytes = tile.width * c;
  for (let y = 0; y < tile.height; y++) {
    const from = ((tile.y + y) * image.width + tile.x) * c;
    data.set(image.data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return { data, width: tile.width, height: tile.height, channels: c };
}

interface Candidate extends FaceDetection {
  /** Touches a tile edge that is inside the frame: probably a partial face. */
  readonly cut: boolean;
}

/**
 * Merges detections from overlapping tiles and the full frame. Whole-face boxes win over boxes cut by a
 * tile edge, then higher scores win; a box is dropped when it overlaps a kept one by IoU > `iouThreshold`
 * or lies mostly (> `containment` of the smaller box) inside it, since a face cut by a tile edge
 * overlaps its whole box by little IoU but is contained in it.
 */
export function mergeDetections(cands: readonly Candidate[], iouThreshold = 0.3, containment = 0.6): FaceDetection[] {
  const sorted = [...cands].sort((a, b) => Number(a.cut) - Number(b.cut) || b.score - a.score);
  const kept: Candidate[] = [];
  for (const cand of sorted) {
    const dup = kept.some((k) => {
      if (iou(k.box, cand.box) > iouThreshold) return true;
      const ix = Math.min(k.box[2], cand.box[2]) - Math.max(k.box[0], cand.box[0]);
      const iy = Math.min(k.box[3], cand.box[3]) - Math.max(k.box[1], cand.box[1]);
      if (ix <= 0 || iy <= 0) return false;
      const smaller = Math.min(boxArea(k.box), boxArea(cand.box));
      return smaller > 0 && (ix * iy) / smaller > containment;
    });
    if (!dup) kept.push(cand);
  }
  return kept.map(({ cut: _cut, ...det }) => det).sort((a, b) => b.score - a.score);
}

/** Keypoints moved by (dx, dy) pixels (tile to frame coordinates). */
export function offsetLandmarks(lm: FaceLandmarks, dx: number, dy: number): FaceLandmarks {
  const o = (p: PointXy): PointXy => [p[0] + dx, p[1] + dy];
  return { rightEye: o(lm.rightEye), leftEye: o(lm.leftEye), nose: o(lm.nose), mouth: o(lm.mouth), rightEar: o(lm.rightEar), leftEar: o(lm.leftEar) };
}

function scaleBox(box: BoxXyxy, scale: number, width: number, height: number): BoxXyxy {
  if (scale === 1) return box;
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  const hw = ((box[2] - box[0]) * scale) / 2;
  const hh = ((box[3] - box[1]) * scale) / 2;
  return clampBox([cx - hw, cy - hh, cx + hw, cy + hh], width, height);
}

/**
 * Model modules are imported only when chosen, so a missing or broken model file fails with a
 * message naming it instead of breaking every detector.
 */
async function importModel<T>(what: string, file: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND') throw new Error(`${what} is not available: src/infer/${file} is missing (${(err as Error).message.split('\n')[0]})`);
    throw err;
  }
}

async function loadDetector(name: DetectorName, session: SessionOptions): Promise<FaceDetector> {
  switch (name) {
    case 'blazeface':
      return importModel('detector "blazeface"', 'blazeface.ts', async () => (await import('./blazeface.ts')).BlazeFaceDetector.create({ session }));
    case 'ssd_mobilenetv1':
      return importModel('detector "ssd_mobilenetv1"', 'ssd.ts', async () => (await import('./ssd.ts')).SsdMobilenetV1Detector.create({ session }));
    case 'tiny_face_detector':
      return importModel('detector "tiny_face_detector"', 'tinyface.ts', async () => (await import('./tinyface.ts')).TinyFaceDetector.create({ session }));
  }
}

/** Estimators may batch all faces of a frame into one run (face-api's age/gender does). */
type BatchingEstimator = AgeGenderEstimator & {
  estimateMany?(image: RgbImage, boxes: readonly BoxXyxy[], rollDeg?: readonly number[]): Promise<FaceAttributes[]>;
  /** Estimators that run faceres anyway (fused) also return its descriptor of each box. */
  estimateManyWithDescriptors?(image: RgbImage, boxes: readonly BoxXyxy[], rollDeg?: readonly number[]): Promise<(FaceAttributes & { descriptor: Float32Array })[]>;
};

/** faceres gives descriptor, age and gender in one pass; one instance serves both roles. */
type Faceres = FaceDescriber & AgeGenderEstimator & { analyze(image: RgbImage, box: BoxXyxy): Promise<FaceresResult> };

function loadFaceres(session: SessionOptions): Promise<Faceres> {
  return importModel('model "faceres"', 'faceres.ts', async () => (await import('./faceres.ts')).FaceresDescriber.create({ session }));
}

async function loadAgeGender(name: AgeGenderName, session: SessionOptions, tta: AgeGenderTta, faceres: () => Promise<Faceres>): Promise<BatchingEstimator> {
  switch (name) {
    case 'age_gender':
      return importModel('age/gender model "age_gender"', 'agegender.ts', async () => (await import('./agegender.ts')).FaceApiAgeGender.create({ session, tta }));
    case 'fused':
      return importModel('age/gender model "fused"', 'fused-age-gender.ts', async () => (await import('./fused-age-gender.ts')).FusedAgeGender.create({ session, tta }));
    case 'faceres':
      return faceres();
  }
}

function sameBox(a: BoxXyxy, b: BoxXyxy): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

function checkRgb(image: RgbImage, what: string): void {
  if (image.channels !== 3 || image.data.length !== image.width * image.height * 3 || image.width < 1 || image.height < 1) {
    throw new RangeError(`${what}: expected an RGB24 image, got ${image.width}x${image.height}x${image.channels} with ${image.data.length} bytes`);
  }
}

function checkRegionOptions<T extends Partial<Omit<RegionOptions, 'canvas'>> & { readonly maxCanvases?: number }>(r: T): T {
  const check = (name: string, v: number | undefined, ok: (v: number) => boolean, range: string): void => {
    if (v !== undefined && !ok(v)) throw new RangeError(`regions.${name} must be ${range} (got ${v})`);
  };
  check('targetFacePx', r.targetFacePx, (v) => v >= 8 && v <= 128, '8..128');
  check('context', r.context, (v) => v >= 1.5 && v <= 8, '1.5..8');
  check('discoveryScale', r.discoveryScale, (v) => v >= 1 && v <= 64, '1..64');
  check('motionCellPx', r.motionCellPx, (v) => v >= 16 && v <= 1024, '16..1024');
  check('explainedShare', r.explainedShare, (v) => v >= 0 && v <= 1, '0..1');
  check('maxCanvases', r.maxCanvases, (v) => Number.isInteger(v) && v >= 1 && v <= 64, 'an integer 1..64');
  if (r.shrink !== undefined && !(Array.isArray(r.shrink) && r.shrink.every((z) => z > 0 && z < 1))) throw new RangeError(`regions.shrink must be zoom factors within (0, 1) (got ${JSON.stringify(r.shrink)})`);
  check('gap', r.gap, (v) => Number.isInteger(v) && v >= 0 && v <= 32, 'an integer 0..32');
  return r;
}

/** Calibrated P(male) of a face from face-api's output, faceres' when the face got a faceres pass, and its size. */
function calibrate(c: GenderCalibration, a: FaceAttributes, fr: FaceresResult | undefined, d: FaceDetection): number {
  const faMaleProbability = a.gender === 'male' ? a.genderScore : 1 - a.genderScore;
  const sidePx = d.quality?.sidePx ?? Math.sqrt(boxArea(d.box));
  return fr !== undefined ? calibratedMaleProbability(c['age_gender+faceres'], { faMaleProbability, frMaleProbability: fr.maleProbability, sidePx }) : calibratedMaleProbability(c.age_gender, { faMaleProbability, sidePx });
}

async function sequential<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await fn(item));
  return out;
}

/**
 * Creates the analyzer and loads its models (one onnxruntime session per model, reused for every image).
 * Throws naming the option for an unknown detector or age/gender model.
 */
export async function createFaceAnalyzer(options: FaceAnalyzerOptions = {}): Promise<FaceAnalyzer> {
  const detectorName = options.detector ?? ANALYZER_DEFAULTS.detector;
  if (!(DETECTOR_NAMES as readonly string[]).includes(detectorName)) throw new Error(`detector: unknown detector ${JSON.stringify(detectorName)} (choose one of ${DETECTOR_NAMES.join(', ')})`);
  const ageGenderName = options.ageGender ?? ANALYZER_DEFAULTS.ageGender;
  if (!(AGE_GENDER_NAMES as readonly string[]).includes(ageGenderName)) throw new Error(`ageGender: unknown model ${JSON.stringify(ageGenderName)} (choose one of ${AGE_GENDER_NAMES.join(', ')})`);
  const tta = options.tta ?? 'flip';
  if (tta !== 'flip' && tta !== 'multicrop') throw new Error(`tta: unknown ${JSON.stringify(tta)} (choose flip or multicrop)`);
  const minScore = options.minScore;
  if (minScore !== undefined && !(minScore >= 0 && minScore <= 1)) throw new RangeError(`minScore must be 0..1 (got ${minScore})`);
  const cropScale = options.cropScale ?? ANALYZER_DEFAULTS.cropScale;
  if (!(cropScale > 0 && cropScale <= 4)) throw new RangeError(`cropScale must be in (0, 4] (got ${cropScale})`);
  const tiles = resolveTiles(options.tiles);
  const descriptors = options.descriptors ?? false;
  // The trust file is read only when something it holds is not given.
  const trust = options.quality === undefined || (ageGenderName === 'age_gender' && options.genderCalibration === undefined) ? loadTrustModel() : null;
  const qualityModel = options.quality ?? (trust as NonNullable<typeof trust>).quality;
  const rollMin = options.rollCorrectionMinDeg ?? ANALYZER_DEFAULTS.rollCorrectionMinDeg;
  if (!(rollMin >= 0)) throw new RangeError(`rollCorrectionMinDeg must be >= 0 (got ${rollMin})`);
  const calibration = ageGenderName !== 'age_gender' ? null : options.genderCalibration === undefined ? (trust as NonNullable<typeof trust>).gender : options.genderCalibration;
  const session: SessionOptions = { ...options.session, ...(options.logger ? { logger: options.logger } : {}) };
  const regionOptions = checkRegionOptions(options.regions ?? {});

  // Detector loads lazily on first detection so that assumeFace-only use never loads it.
  let detector: Promise<FaceDetector> | undefined;
  const getDetector = (): Promise<FaceDetector> => {
    if (!detector) {
      detector = loadDetector(detectorName, session);
      detector.catch(() => (detector = undefined));
    }
    return detector;
  };
  let faceresP: Promise<Faceres> | undefined;
  const faceres = (): Promise<Faceres> => (faceresP ??= loadFaceres(session));
  const ageGender = await loadAgeGender(ageGenderName, session, tta, faceres);
  const describer = descriptors ? await faceres() : undefined;
  // Same model for both and the same crop: one faceres run per face instead of two.
  const onePass = describer !== undefined && (ageGender as unknown) === describer && cropScale === 1;
  let closed = false;
  const detectOpts = minScore === undefined ? {} : { minScore };

  const counters = { scans: 0, regionFrames: 0, regionFallbacks: 0, skipped: 0, detectorRuns: 0 };

  /** The whole frame (and the tiles): candidates in source pixels, tile-cut ones flagged. */
  async function scanCandidates(image: RgbImage): Promise<Candidate[]> {
    const det = await getDetector();
    counters.scans++;
    const cands: Candidate[] = [];
    if (tiles === 'off' || tiles.fullFrame) {
      counters.detectorRuns++;
      for (const d of await det.detect(image, detectOpts)) cands.push({ ...d, cut: false });
    }
    if (tiles === 'off') return cands;
    for (const tile of tileGrid(image.width, image.height, tiles.cols, tiles.rows, tiles.overlap)) {
      const sub = cropImage(image, tile);
      counters.detectorRuns++;
      // 1 px tolerance: detectors clamp boxes to the input, so a cut face ends exactly on the edge.
      const edge = 1;
      for (const d of await det.detect(sub, detectOpts)) {
        const box: BoxXyxy = [d.box[0] + tile.x, d.box[1] + tile.y, d.box[2] + tile.x, d.box[3] + tile.y];
        const landmarks = d.landmarks ? offsetLandmarks(d.landmarks, tile.x, tile.y) : undefined;
        const cut =
          (tile.x > 0 && d.box[0] <= edge) ||
          (tile.y > 0 && d.box[1] <= edge) ||
          (tile.x + tile.width < image.width && d.box[2] >= tile.width - edge) ||
          (tile.y + tile.height < image.height && d.box[3] >= tile.height - edge);
        cands.push({ box: clampBox(box, image.width, image.height), score: d.score, cut, ...(landmarks ? { landmarks } : {}) });
      }
    }
    return cands;
  }

  /** Source pixels per input pixel of a scan's finest pass: the tiles', or the whole frame's. */
  function scanScale(image: RgbImage, inputSize: number): number {
    if (tiles === 'off') return Math.max(image.width, image.height) / inputSize;
    const t = tileGrid(image.width, image.height, tiles.cols, tiles.rows, tiles.overlap)[0] as Tile;
    return Math.max(t.width, t.height) / inputSize;
  }

  /** A scan costs 1 + tiles detector runs. */
  const scanRuns = tiles === 'off' ? 1 : tiles.cols * tiles.rows + (tiles.fullFrame ? 1 : 0);
  // Two canvases even when a scan is one run: zoomed cells find the small faces a whole-frame pass cannot.
  const maxCanvases = regionOptions.maxCanvases ?? Math.max(2, scanRuns - 1);

  async function planFor(image: RgbImage, request: RegionRequest): Promise<{ plan: RegionPlan; S: number }> {
    const det = await getDetector();
    const S = det.inputSize;
    const { maxCanvases: _max, ...custom } = regionOptions;
    const geometry: RegionOptions = { ...DEFAULT_REGION_OPTIONS, discoveryScale: scanScale(image, S), ...custom, canvas: S };
    return { plan: planRegions(image.width, image.height, request, geometry), S };
  }

  /** Draws the planned cells into canvases and detects in each: candidates in source pixels. */
  async function regionCandidates(image: RgbImage, plan: RegionPlan, S: number): Promise<Candidate[]> {
    const det = await getDetector();
    const cands: Candidate[] = [];
    const canvasBytes = S * S * 3;
    for (let k = 0; k < plan.canvases; k++) {
      // A fresh canvas per run: the detector reads it when its queued run starts, and concurrent analyze
      // calls (one analyzer serving several cameras) must not draw into each other's.
      const data = new Uint8Array(canvasBytes);
      for (const c of plan.cells) {
        if (c.canvas === k) resizeBilinearInto(image, { x: c.sx, y: c.sy, width: c.sw, height: c.sh }, data, S, { x: c.dx, y: c.dy, width: c.dw, height: c.dh });
      }
      counters.detectorRuns++;
      const found = await det.detect({ data, width: S, height: S, channels: 3 }, detectOpts);
      for (const d of mapCanvasDetections(found, plan.cells, k, image.width, image.height)) cands.push(d);
    }
    return cands;
  }

  async function detect(image: RgbImage, request: DetectRequest = { mode: 'scan' }): Promise<FaceDetection[]> {
    if (request.mode === 'skip') {
      counters.skipped++;
      return [];
    }
    const regions: RegionRequest = { tracks: request.tracks ?? [], motion: request.motion ?? [] };
    const wanted = regions.tracks.length > 0 || regions.motion.length > 0;
    if (request.mode === 'regions') {
      const { plan, S } = await planFor(image, regions);
      if (plan.canvases === 0) {
        counters.skipped++;
        return [];
      }
      if (plan.canvases <= maxCanvases) {
        counters.regionFrames++;
        return mergeDetections(await regionCandidates(image, plan, S));
      }
      counters.regionFallbacks++;
      return mergeDetections(await scanCandidates(image));
    }
    const cands = await scanCandidates(image);
    if (wanted) {
      // Live tracks also get their zoomed cells on a scan frame, so a small tracked face is not lost to the coarser scan.
      const { plan, S } = await planFor(image, regions);
      if (plan.canvases > 0 && plan.canvases <= maxCanvases) cands.push(...(await regionCandidates(image, plan, S)));
    }
    // One whole-frame pass alone is returned as the detector gave it (the merge is for overlapping passes).
    if (tiles === 'off' && !wanted) return cands.map(({ box, score, landmarks }) => (landmarks ? { box, score, landmarks } : { box, score }));
    return mergeDetections(cands);
  }

  return {
    options: { detector: detectorName, ageGender: ageGenderName, tta, descriptors, cropScale, tiles, minScore, rollCorrectionMinDeg: rollMin },
    async analyze(image: RgbImage, opts: AnalyzeOptions = {}): Promise<Face[]> {
      if (closed) throw new Error('FaceAnalyzer.analyze called after close()');
      checkRgb(image, 'analyze');
      const detected: FaceDetection[] = opts.assumeFace ? [{ box: [0, 0, image.width, image.height], score: 1 }] : await detect(image, opts.detect);
      // Quality first: the hints may decide from it whether a face is worth the models.
      const found: FaceDetection[] = detected.map((d) => ({ ...d, quality: faceQuality(d, sharpnessOf(image, d.box), qualityModel) }));
      const wantD = opts.wantDescriptor;
      const wantA = opts.wantAttributes;
      const withAttributes = found.map((d) => wantA === undefined || wantA(d));
      const described = found.map((d) => describer !== undefined && (wantD === undefined || wantD(d)));
      const bare = (d: FaceDetection): FaceDetection => ({ box: d.box, score: d.score, ...(d.landmarks ? { landmarks: d.landmarks } : {}), ...(d.quality ? { quality: d.quality } : {}) });
      if (onePass) {
        const out: Face[] = [];
        for (const [i, d] of found.entries()) {
          if (!withAttributes[i] && !described[i]) {
            out.push(bare(d));
            continue;
          }
          const r = await (describer as Faceres).analyze(image, d.box);
          const face: Face = withAttributes[i] ? { ...bare(d), ageYears: r.ageYears, gender: r.gender, genderScore: r.genderScore, maleProbability: r.maleProbability } : bare(d);
          // The descriptor comes free with this pass; dropped anyway so that `wantDescriptor` alone decides which faces carry one.
          out.push(described[i] ? { ...face, descriptor: r.descriptor } : face);
        }
        return out;
      }
      const todo = found.map((_, i) => i).filter((i) => withAttributes[i]);
      const crops = todo.map((i) => {
        const d = found[i] as FaceDetection;
        return opts.assumeFace ? d.box : scaleBox(d.box, cropScale, image.width, image.height);
      });
      const inputScale = KEYPOINT_INPUT_SIDE / Math.max(image.width, image.height);
      const rolls = todo.map((i) => {
        const q = (found[i] as FaceDetection).quality;
        const roll = q?.rollDeg ?? 0;
        const reliable = (q?.sidePx ?? 0) * inputScale >= ANALYZER_DEFAULTS.rollCorrectionMinInputPx;
        return !opts.assumeFace && reliable && Math.abs(roll) >= rollMin ? roll : 0;
      });
      // fused runs faceres on every crop anyway: where the crop is the face box, its descriptor is the describer's.
      const withDescriptors = describer && ageGender.estimateManyWithDescriptors && todo.some((i) => described[i]) ? await ageGender.estimateManyWithDescriptors(image, crops, rolls) : undefined;
      const estimated: FaceAttributes[] = withDescriptors ?? (ageGender.estimateMany ? await ageGender.estimateMany(image, crops, rolls) : await sequential(crops, (c) => ageGender.estimate(image, c)));
      if (estimated.length !== todo.length) throw new Error(`${ageGender.name}: ${estimated.length} results for ${todo.length} faces`);
      const slotOf = new Map(todo.map((faceIndex, k) => [faceIndex, k]));
      const faces: Face[] = [];
      for (const [i, d] of found.entries()) {
        const k = slotOf.get(i);
        const a = k === undefined ? undefined : estimated[k];
        const reused = withDescriptors && k !== undefined && described[i] && sameBox(crops[k] as BoxXyxy, d.box) ? withDescriptors[k]?.descriptor : undefined;
        // The descriptor pass also gives faceres' gender, which the calibration uses when present.
        const fr = describer && described[i] && reused === undefined ? await (describer as Faceres).analyze(image, d.box) : undefined;
        let face: Face = bare(d);
        if (a !== undefined) {
          const maleProbability = a.maleProbability ?? (calibration === null ? undefined : calibrate(calibration, a, fr, d));
          face = { ...bare(d), ageYears: a.ageYears, gender: a.gender, genderScore: a.genderScore, ...(maleProbability !== undefined ? { maleProbability } : {}) };
        }
        const descriptor = reused ?? fr?.descriptor;
        faces.push(descriptor ? { ...face, descriptor } : face);
      }
      return faces;
    },
    async detect(image: RgbImage, request?: DetectRequest): Promise<FaceDetection[]> {
      if (closed) throw new Error('FaceAnalyzer.detect called after close()');
      checkRgb(image, 'detect');
      return detect(image, request);
    },
    detectStats: () => ({ ...counters }),
    async close(): Promise<void> {
      // Sessions are shared process-wide through loadModel's cache, so closing only retires this facade.
      closed = true;
    },
  };
}
