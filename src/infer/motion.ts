/**
 * Motion gate, as Frigate runs one before its detector: a small grey copy of each frame (one value per
 * grid cell, averaged from a sparse sample of the cell's pixels) is compared with a running-average
 * background; cells that differ by more than a threshold are moving, and connected moving cells become
 * boxes in source pixels. Costs well under a millisecond per 720p frame in plain JS (16 pixel reads
 * per cell), so a camera where nothing moves can skip the detector altogether.
 * One instance per camera: it keeps that camera's background.
 */
import type { BoxXyxy } from '../shared/messages.ts';
import type { RgbImage } from './types.ts';

/** Options of {@link MotionDetector}; every field is optional. */
export interface MotionOptions {
  /**
   * Grid cells across the frame width; cells are square, so a 1280x720 frame at the default 80 has
   * 16 px cells in an 80x45 grid. More cells find smaller movers and cost more. Integer 8..640. Default 80.
   */
  readonly gridWidth?: number;
  /**
   * A cell moves when its grey level (0..255, mean of its samples) differs from the background by more
   * than this. Default {@link DEFAULT_MOTION_THRESHOLD}.
   */
  readonly threshold?: number;
  /**
   * Background learning rate per frame, 0 < alpha <= 1: background += alpha * (frame - background).
   * Default 0.2: at 5 frames/s an object that stops blends into the background within about 1.5 s (the
   * tracker keeps following it), and a moving face leaves a trail of only a frame or two.
   */
  readonly alpha?: number;
  /** Blobs of fewer moving cells than this are noise and ignored. Integer >= 1. Default 2. */
  readonly minCells?: number;
  /**
   * A share of moving cells above this (0..1) is a global change (lights, camera moved, scene cut):
   * the background is reset to the frame and {@link MotionResult.global} is set. Default 0.5.
   */
  readonly globalShare?: number;
}

/** Default {@link MotionOptions.threshold}: 12 grey levels; the measured clips' sensor and coding noise stays under 5 per cell. */
export const DEFAULT_MOTION_THRESHOLD = 12;

/** What {@link MotionDetector.update} found in one frame. */
export interface MotionResult {
  /** Moving regions, source pixels, each the bounding box of one blob of moving cells plus one cell around it. */
  readonly boxes: readonly BoxXyxy[];
  /** Share of grid cells that moved, 0..1. */
  readonly movingShare: number;
  /**
   * The background was (re)started on this frame: the first frame, a change of frame size, or a global
   * change (see {@link MotionOptions.globalShare}). Nothing is known about motion then; callers should run
   * full detection. `boxes` is empty.
   */
  readonly global: boolean;
}

/** Samples per cell side: 4 x 4 reads per cell, whatever the cell size. */
const SAMPLES = 4;

export class MotionDetector {
  readonly gridWidth: number;
  readonly threshold: number;
  readonly alpha: number;
  readonly minCells: number;
  readonly globalShare: number;
  /** Frames seen. */
  frames = 0;
  /** Frames with at least one moving blob. */
  movingFrames = 0;
  private background: Float32Array | null = null;
  private current: Float32Array | null = null;
  private mask: Uint8Array | null = null;
  private labels: Int32Array | null = null;
  private frameWidth = 0;
  private frameHeight = 0;
  private cell = 0;
  private cols = 0;
  private rows = 0;
  /** The next frame starts the background. */
  private fresh = true;

  constructor(options: MotionOptions = {}) {
    this.gridWidth = options.gridWidth ?? 80;
    if (!(Number.isInteger(this.gridWidth) && this.gridWidth >= 8 && this.gridWidth <= 640)) throw new RangeError(`motion gridWidth must be an integer 8..640, got ${options.gridWidth}`);
    this.threshold = options.threshold ?? DEFAULT_MOTION_THRESHOLD;
    if (!(this.threshold > 0 && this.threshold < 255)) throw new RangeError(`motion threshold must be within (0, 255), got ${options.threshold}`);
    this.alpha = options.alpha ?? 0.2;
    if (!(this.alpha > 0 && this.alpha <= 1)) throw new RangeError(`motion alpha must be within (0, 1], got ${options.alpha}`);
    this.minCells = options.minCells ?? 2;
    if (!(Number.isInteger(this.minCells) && this.minCells >= 1)) throw new RangeError(`motion minCells must be an integer >= 1, got ${options.minCells}`);
    this.globalShare = options.globalShare ?? 0.5;
    if (!(this.globalShare > 0 && this.globalShare <= 1)) throw new RangeError(`motion globalShare must be within (0, 1], got ${options.globalShare}`);
  }

  /** Compares `image` with the background, then learns it into the background. */
  update(image: RgbImage): MotionResult {
    if (image.channels !== 3 || image.data.length !== image.width * image.height * 3 || image.width < 1 || image.height < 1) {
      throw new RangeError(`motion: expected an RGB24 image, got ${image.width}x${image.height}x${image.channels} with ${image.data.length} bytes`);
    }
    this.frames++;
    if (image.width !== this.frameWidth || image.height !== this.frameHeight || this.background === null) this.resize(image.width, image.height);
    const cur = this.current as Float32Array;
    this.sample(image, cur);
    const bg = this.background as Float32Array;
    if (this.fresh) {
      bg.set(cur);
      this.fresh = false;
      return { boxes: [], movingShare: 0, global: true };
    }
    const mask = this.mask as Uint8Array;
    let moving = 0;
    const thr = this.threshold;
    for (let i = 0; i < cur.length; i++) {
      const m = Math.abs((cur[i] as number) - (bg[i] as number)) > thr ? 1 : 0;
      mask[i] = m;
      moving += m;
    }
    const movingShare = moving / cur.length;
    if (movingShare > this.globalShare) {
      bg.set(cur);
      return { boxes: [], movingShare, global: true };
    }
    const a = this.alpha;
    for (let i = 0; i < cur.length; i++) bg[i] = (bg[i] as number) + a * ((cur[i] as number) - (bg[i] as number));
    const boxes = moving >= this.minCells ? this.blobs() : [];
    if (boxes.length > 0) this.movingFrames++;
    return { boxes, movingShare, global: false };
  }

  /** Forgets the background: the next frame starts a new one (e.g. after a reconnect). */
  reset(): void {
    this.fresh = true;
  }

  private resize(width: number, height: number): void {
    this.frameWidth = width;
    this.frameHeight = height;
    this.cell = Math.max(1, Math.floor(width / this.gridWidth));
    this.cols = Math.max(1, Math.floor(width / this.cell));
    this.rows = Math.max(1, Math.floor(height / this.cell));
    const n = this.cols * this.rows;
    this.background = new Float32Array(n);
    this.current = new Float32Array(n);
    this.mask = new Uint8Array(n);
    this.labels = new Int32Array(n);
    this.fresh = true;
  }

  /** Mean grey (R + 2G + B) / 4 of a SAMPLES x SAMPLES lattice inside each cell. */
  private sample(image: RgbImage, out: Float32Array): void {
    const { data, width } = image;
    const cell = this.cell;
    const step = Math.max(1, Math.floor(cell / SAMPLES));
    const n = Math.min(SAMPLES, cell);
    const offset = Math.floor((cell - step * (n - 1)) / 2);
    const norm = 1 / (4 * n * n);
    let k = 0;
    for (let r = 0; r < this.rows; r++) {
      const y0 = r * cell + offset;
      for (let c = 0; c < this.cols; c++) {
        const x0 = c * cell + offset;
        let sum = 0;
        for (let sy = 0; sy < n; sy++) {
          let p = ((y0 + sy * step) * width + x0) * 3;
          for (let sx = 0; sx < n; sx++) {
            sum += (data[p] as number) + 2 * (data[p + 1] as number) + (data[p + 2] as number);
            p += step * 3;
          }
        }
        out[k++] = sum * norm;
      }
    }
  }

  /**
   * Connected blobs of moving cells (8-neighbours, and cells one apart joined too, so an object whose
   * middle matches the background stays one blob) as source-pixel boxes grown by one cell.
   */
  private blobs(): BoxXyxy[] {
    const { cols, rows, cell } = this;
    const mask = this.mask as Uint8Array;
    const labels = this.labels as Int32Array;
    labels.fill(0);
    const boxes: BoxXyxy[] = [];
    const stack: number[] = [];
    let label = 0;
    for (let start = 0; start < mask.length; start++) {
      if (mask[start] === 0 || labels[start] !== 0) continue;
      label++;
      labels[start] = label;
      stack.push(start);
      let count = 0;
      let minC = cols;
      let minR = rows;
      let maxC = -1;
      let maxR = -1;
      while (stack.length > 0) {
        const i = stack.pop() as number;
        count++;
        const r = Math.floor(i / cols);
        const c = i - r * cols;
        if (c < minC) minC = c;
        if (c > maxC) maxC = c;
        if (r < minR) minR = r;
        if (r > maxR) maxR = r;
        for (let dr = -2; dr <= 2; dr++) {
          const rr = r + dr;
          if (rr < 0 || rr >= rows) continue;
          for (let dc = -2; dc <= 2; dc++) {
            const cc = c + dc;
            if (cc < 0 || cc >= cols) continue;
            const j = rr * cols + cc;
            if (mask[j] === 1 && labels[j] === 0) {
              labels[j] = label;
              stack.push(j);
            }
          }
        }
      }
      if (count < this.minCells) continue;
      boxes.push([
        Math.max(0, (minC - 1) * cell),
        Math.max(0, (minR - 1) * cell),
        // The last column/row also covers the strip the grid leaves at the right/bottom edge.
        maxC + 2 >= cols ? this.frameWidth : (maxC + 2) * cell,
        maxR + 2 >= rows ? this.frameHeight : (maxR + 2) * cell,
      ]);
    }
    return boxes;
  }
}
