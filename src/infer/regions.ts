/**
 * Region detection: instead of the whole frame (and its tiles), the detector looks only where faces can
 * be. Each region is a cell: a rectangle of the frame resized to the scale that suits it, and the cells
 * of one frame are packed side by side into as few detector inputs (canvases) as they fit in. A detector
 * run costs the same however much of its input is used, so one canvas holding a zoomed-in cell around
 * every live track and every moving area costs one run, where full frame plus 2x2 tiles costs five.
 * - A live track's cell is centred on where the tracker expects the face, `context` times the face's size,
 *   scaled so the face spans about `targetFacePx` input pixels (where the detector is at its best).
 * - A moving area no track explains gets cells at the `discoveryScale` (source pixels per input pixel,
 *   that of the tiles), split like tiles when it is larger than a canvas: a new face is found at the same
 *   scale as a full scan would find it, and its track's cell zooms in from the next frame on.
 * Pure geometry; the analyzer draws the cells and runs the detector.
 */
import { boxArea } from '../shared/geometry.ts';
import type { BoxXyxy, FaceDetection, FaceLandmarks, PointXy } from '../shared/messages.ts';

/** Where to look, from the tracker (tracks) and the motion gate (moving areas); source pixels. */
export interface RegionRequest {
  /** Boxes where live tracks' faces are expected in this frame. */
  readonly tracks: readonly BoxXyxy[];
  /** Moving areas (src/infer/motion.ts). */
  readonly motion: readonly BoxXyxy[];
}

/** Geometry of the cells; see {@link DEFAULT_REGION_OPTIONS}. */
export interface RegionOptions {
  /** Detector input side, px (blazeface 256). */
  readonly canvas: number;
  /** A track's face is scaled to span this many input pixels (never enlarged beyond 1:1). */
  readonly targetFacePx: number;
  /** A track's cell side as a multiple of its face's larger side (room for the face to move). */
  readonly context: number;
  /** Coarsest scale for moving areas, source pixels per input pixel; >= 1 (a scan's finest, by default). */
  readonly discoveryScale: number;
  /**
   * A moving area is zoomed so that its longer side spans this many input pixels, but never finer than
   * 1:1 nor coarser than `discoveryScale`: a small moving area can only hold a small face.
   */
  readonly motionCellPx: number;
  /** A moving area counts as explained by track cells when they cover this share of it, 0..1. */
  readonly explainedShare: number;
  /**
   * Zoom factors (< 1) tried when the cells need more than one canvas: `targetFacePx` and `motionCellPx`
   * times each; the plan with the fewest canvases wins, the larger zoom among equals. A frame that
   * overflows one canvas by a little then costs one detector run with slightly smaller faces, not two.
   */
  readonly shrink: readonly number[];
  /** Empty input pixels between packed cells, so that one cell's content does not bleed into its neighbour's detections. */
  readonly gap: number;
}

/**
 * Defaults, chosen by `npm run bench:detect` (detection alone on the bench:crowd clips seeds 1-6, faces
 * 56-140 px at 1280x720, blazeface; README "Benchmarks"): a 40 px face with twice its size around it makes
 * an 80 px cell, nine of which fill one 256 px input: recall 92.4% at 1.02 detector runs per frame, against
 * 91.9% at 1.01 for 32 px faces with 2.5x context, 92.8% at 1.08 for 48 px with 1.7x, and 92.9% at 1.22
 * without shrinking a frame that overflows one input.
 */
export const DEFAULT_REGION_OPTIONS: Omit<RegionOptions, 'canvas' | 'discoveryScale'> = Object.freeze({
  targetFacePx: 40,
  context: 2,
  motionCellPx: 80,
  explainedShare: 0.8,
  shrink: Object.freeze([0.75]),
  gap: 4,
});

/** A source rectangle and where it goes in which canvas; all integer pixels. */
export interface Cell {
  /** Source rectangle. */
  readonly sx: number;
  readonly sy: number;
  readonly sw: number;
  readonly sh: number;
  /** Destination rectangle in canvas `canvas`. */
  readonly dx: number;
  readonly dy: number;
  readonly dw: number;
  readonly dh: number;
  readonly canvas: number;
  /** What asked for this cell. */
  readonly kind: 'track' | 'motion';
}

/** The cells of one frame packed into `canvases` detector inputs. */
export interface RegionPlan {
  readonly cells: readonly Cell[];
  readonly canvases: number;
}

type Rect = { sx: number; sy: number; sw: number; sh: number; dw: number; dh: number; kind: Cell['kind'] };

function intersectArea(a: BoxXyxy, b: BoxXyxy): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? w * h : 0;
}

/** A square of `side` source px centred on (cx, cy), moved (not cut) to lie inside the frame where it fits. */
function squareInside(cx: number, cy: number, side: number, width: number, height: number): [number, number, number, number] {
  const w = Math.min(width, Math.round(side));
  const h = Math.min(height, Math.round(side));
  const x = Math.min(Math.max(0, Math.round(cx - w / 2)), width - w);
  const y = Math.min(Math.max(0, Math.round(cy - h / 2)), height - h);
  return [x, y, w, h];
}

/** Splits `length` into the fewest spans of at most `max`, overlapping by `overlap` where there are several. */
function splitSpan(start: number, length: number, max: number, overlap: number): Array<[number, number]> {
  if (length <= max) return [[start, length]];
  const n = Math.ceil((length - overlap) / (max - overlap));
  const step = (length - max) / (n - 1);
  return Array.from({ length: n }, (_, i) => [start + Math.round(i * step), max] as [number, number]);
}

/**
 * Plans the cells for one `width x height` frame and packs them (shelf packing, tallest first) into
 * canvases of `options.canvas` px; see {@link RegionOptions.shrink} for frames that overflow one canvas.
 */
export function planRegions(width: number, height: number, request: RegionRequest, options: RegionOptions): RegionPlan {
  let best = planAtZoom(width, height, request, options, 1);
  for (const z of options.shrink) {
    if (best.canvases <= 1) break;
    if (!(z > 0 && z < 1)) continue;
    const plan = planAtZoom(width, height, request, options, z);
    if (plan.canvases < best.canvases) best = plan;
  }
  return best;
}

function planAtZoom(width: number, height: number, request: RegionRequest, base: RegionOptions, zoom: number): RegionPlan {
  const options = zoom === 1 ? base : { ...base, targetFacePx: base.targetFacePx * zoom, motionCellPx: base.motionCellPx * zoom };
  const S = options.canvas;
  const rects: Rect[] = [];
  const trackBoxes: BoxXyxy[] = [];
  const maxTrackSide = Math.floor(S / Math.max(1, options.context)) * options.context;
  for (const b of request.tracks) {
    const face = Math.max(b[2] - b[0], b[3] - b[1]);
    if (!(face > 0) || !b.every(Number.isFinite)) continue;
    const scale = Math.max(1, face / options.targetFacePx);
    const side = Math.min(options.context * face, maxTrackSide * scale);
    const [sx, sy, sw, sh] = squareInside((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, side, width, height);
    if (sw < 1 || sh < 1) continue;
    rects.push({ sx, sy, sw, sh, dw: Math.max(1, Math.min(S, Math.round(sw / scale))), dh: Math.max(1, Math.min(S, Math.round(sh / scale))), kind: 'track' });
    trackBoxes.push([sx, sy, sx + sw, sy + sh]);
  }
  for (const m of request.motion) {
    const x0 = Math.max(0, Math.floor(m[0]));
    const y0 = Math.max(0, Math.floor(m[1]));
    const x1 = Math.min(width, Math.ceil(m[2]));
    const y1 = Math.min(height, Math.ceil(m[3]));
    if (x1 - x0 < 1 || y1 - y0 < 1) continue;
    const area = (x1 - x0) * (y1 - y0);
    let covered = 0;
    for (const t of trackBoxes) covered += intersectArea([x0, y0, x1, y1], t);
    if (covered >= options.explainedShare * area) continue;
    const ds = Math.min(Math.max(1, options.discoveryScale), Math.max(1, Math.max(x1 - x0, y1 - y0) / options.motionCellPx));
    // Neighbouring pieces of a large moving area overlap by the size of a large face at this scale.
    const overlapSrc = Math.round((S / 4) * ds);
    const maxSrc = Math.floor(S * ds);
    for (const [sy, sh] of splitSpan(y0, y1 - y0, maxSrc, overlapSrc)) {
      for (const [sx, sw] of splitSpan(x0, x1 - x0, maxSrc, overlapSrc)) {
        rects.push({ sx, sy, sw, sh, dw: Math.max(1, Math.min(S, Math.round(sw / ds))), dh: Math.max(1, Math.min(S, Math.round(sh / ds))), kind: 'motion' });
      }
    }
  }
  return pack(rects, S, options.gap);
}

function pack(rects: Rect[], S: number, gap: number): RegionPlan {
  const cells: Cell[] = [];
  let canvas = -1;
  let x = S;
  let y = 0;
  let rowH = 0;
  for (const r of [...rects].sort((a, b) => b.dh - a.dh || b.dw - a.dw)) {
    if (canvas >= 0 && x + r.dw > S) {
      x = 0;
      y += rowH + gap;
      rowH = 0;
    }
    if (canvas < 0 || y + r.dh > S || x + r.dw > S) {
      canvas++;
      x = 0;
      y = 0;
      rowH = 0;
    }
    cells.push({ sx: r.sx, sy: r.sy, sw: r.sw, sh: r.sh, dx: x, dy: y, dw: r.dw, dh: r.dh, canvas, kind: r.kind });
    x += r.dw + gap;
    rowH = Math.max(rowH, r.dh);
  }
  return { cells, canvases: canvas + 1 };
}

/** A detection mapped back to the source, flagged when a cell edge inside the frame cut it. */
export interface RegionDetection extends FaceDetection {
  readonly cut: boolean;
}

/**
 * Maps one canvas's detections back to source pixels: each goes to the cell holding its centre, is
 * clipped to that cell, and is `cut` when it touches a cell edge that lies inside the frame (the face
 * may go on outside the cell). Detections whose centre is in no cell (the empty rest of the canvas) are dropped.
 */
export function mapCanvasDetections(found: readonly FaceDetection[], cells: readonly Cell[], canvas: number, width: number, height: number): RegionDetection[] {
  const out: RegionDetection[] = [];
  const mine = cells.filter((c) => c.canvas === canvas);
  const edge = 1;
  for (const d of found) {
    const cx = (d.box[0] + d.box[2]) / 2;
    const cy = (d.box[1] + d.box[3]) / 2;
    const c = mine.find((k) => cx >= k.dx && cx < k.dx + k.dw && cy >= k.dy && cy < k.dy + k.dh);
    if (c === undefined) continue;
    const bx0 = Math.max(c.dx, d.box[0]);
    const by0 = Math.max(c.dy, d.box[1]);
    const bx1 = Math.min(c.dx + c.dw, d.box[2]);
    const by1 = Math.min(c.dy + c.dh, d.box[3]);
    const kx = c.sw / c.dw;
    const ky = c.sh / c.dh;
    const box: BoxXyxy = [c.sx + (bx0 - c.dx) * kx, c.sy + (by0 - c.dy) * ky, c.sx + (bx1 - c.dx) * kx, c.sy + (by1 - c.dy) * ky];
    if (!(boxArea(box) > 0)) continue;
    const cut =
      (c.sx > 0 && bx0 <= c.dx + edge) ||
      (c.sy > 0 && by0 <= c.dy + edge) ||
      (c.sx + c.sw < width && bx1 >= c.dx + c.dw - edge) ||
      (c.sy + c.sh < height && by1 >= c.dy + c.dh - edge);
    // Keypoints go back to source pixels the same way (quality and roll correction read them).
    const back = (q: PointXy): PointXy => [c.sx + (q[0] - c.dx) * kx, c.sy + (q[1] - c.dy) * ky];
    const lm = d.landmarks;
    const landmarks: FaceLandmarks | undefined = lm ? { rightEye: back(lm.rightEye), leftEye: back(lm.leftEye), nose: back(lm.nose), mouth: back(lm.mouth), rightEar: back(lm.rightEar), leftEar: back(lm.leftEar) } : undefined;
    out.push({ box, score: d.score, cut, ...(landmarks ? { landmarks } : {}) });
  }
  return out;
}
