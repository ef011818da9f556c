/**
 * face-api's input preparation (padToSquare with zeros, then `tf.image.resizeBilinear` with
 * align_corners=false, half_pixel_centers=false) done in one pass over only the source region:
 * no padded copy, no float conversion of the frame, output written into a caller's buffer.
 * Bit-compatible with padding a float tensor and running {@link resizeBilinear} on it.
 */
import type { RgbImage } from './types.ts';

/** An integer pixel rectangle of the source image (already clipped to it). */
export interface PixelRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Where a region sits inside its zero-padded square: side and the padding before it on each axis. */
export interface SquarePlacement {
  readonly side: number;
  readonly padLeft: number;
  readonly padTop: number;
}

/**
 * face-api's `padToSquare(x, isCenterImage)`: the short axis is padded to the long one. Centred:
 * `round(diff / 2)` is appended and the rest prepended (so an odd pixel goes after); not centred:
 * everything is appended (bottom/right).
 */
export function squarePlacement(width: number, height: number, centred: boolean): SquarePlacement {
  const side = Math.max(width, height);
  const diff = Math.abs(width - height);
  const before = centred ? diff - Math.round(diff * 0.5) : 0;
  return { side, padLeft: width < height ? before : 0, padTop: height < width ? before : 0 };
}

/** Per-output-index sampling taps: source offsets (-1 in the padding) and the interpolation weight. */
interface Taps {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly frac: Float64Array;
  readonly rowLo: Int32Array;
  readonly rowHi: Int32Array;
  readonly rowFrac: Float64Array;
}

// Reused between calls of the same output size (hot path: no per-frame allocation).
const tables = new Map<number, Taps>();

function tablesFor(size: number): Taps {
  let t = tables.get(size);
  if (!t) {
    t = { lo: new Int32Array(size), hi: new Int32Array(size), frac: new Float64Array(size), rowLo: new Int32Array(size), rowHi: new Int32Array(size), rowFrac: new Float64Array(size) };
    tables.set(size, t);
  }
  return t;
}

/**
 * Resamples `region` of `image`, placed in a zero-padded square, to `outSize` x `outSize` RGB float32
 * (0..255, HWC) into `out` (length `outSize*outSize*3`, e.g. one slot of a batch tensor).
 * Exactly `resizeBilinear(padToSquare(slice(image, region)), outSize, outSize)` of TF.
 */
export function squareResize(image: RgbImage, region: PixelRect, place: SquarePlacement, outSize: number, out: Float32Array): Float32Array {
  if (image.channels !== 3) throw new RangeError(`squareResize: image has ${image.channels} channels, expected 3`);
  if (out.length !== outSize * outSize * 3) throw new RangeError(`squareResize: out has ${out.length} values, expected ${outSize * outSize * 3}`);
  if (region.width < 1 || region.height < 1) throw new RangeError(`squareResize: empty region ${region.width}x${region.height}`);
  const { side, padLeft, padTop } = place;
  const ratio = side / outSize;
  const { lo, hi, frac, rowLo, rowHi, rowFrac } = tablesFor(outSize);
  const stride = image.width * 3;
  // Padded index -> source offset, or -1 inside the zero padding.
  const col = (p: number): number => {
    const c = p - padLeft;
    return c >= 0 && c < region.width ? (region.x + c) * 3 : -1;
  };
  const row = (p: number): number => {
    const r = p - padTop;
    return r >= 0 && r < region.height ? (region.y + r) * stride : -1;
  };
  for (let i = 0; i < outSize; i++) {
    // Same float64 arithmetic as tfjs' resizeBilinear and src/infer/image.ts.
    const f = ratio * i;
    const l = Math.max(0, Math.floor(f));
    lo[i] = col(l);
    hi[i] = col(Math.min(side - 1, Math.ceil(f)));
    frac[i] = f - l;
    rowLo[i] = row(l);
    rowHi[i] = row(Math.min(side - 1, Math.ceil(f)));
    rowFrac[i] = f - l;
  }
  // Columns whose both taps are inside the region form one contiguous run [xs, xe): sample those
  // without the padding checks (the hot loop), the few columns at the padding edges with them.
  let xs = 0;
  while (xs < outSize && ((lo[xs] as number) < 0 || (hi[xs] as number) < 0)) xs++;
  let xe = xs;
  while (xe < outSize && (lo[xe] as number) >= 0 && (hi[xe] as number) >= 0) xe++;
  const data = image.data;
  for (let y = 0; y < outSize; y++) {
    const top = rowLo[y] as number;
    const bottom = rowHi[y] as number;
    const yf = rowFrac[y] as number;
    const rowOut = y * outSize * 3;
    if (top < 0 && bottom < 0) {
      out.fill(0, rowOut, rowOut + outSize * 3);
      continue;
    }
    const inside = top >= 0 && bottom >= 0;
    for (let x = 0; x < outSize; x++) {
      if (inside && x === xs && xe > xs) {
        for (; x < xe; x++) {
          const a = lo[x] as number;
          const b = hi[x] as number;
          const xf = frac[x] as number;
          let o = rowOut + x * 3;
          for (let k = 0; k < 3; k++) {
            const tl = data[top + a + k] as number;
            const tr = data[top + b + k] as number;
            const bl = data[bottom + a + k] as number;
            const br = data[bottom + b + k] as number;
            const t = tl + (tr - tl) * xf;
            const btm = bl + (br - bl) * xf;
            out[o++] = t + (btm - t) * yf;
          }
        }
        if (x >= outSize) break;
      }
      const a = lo[x] as number;
      const b = hi[x] as number;
      const xf = frac[x] as number;
      let o = rowOut + x * 3;
      for (let k = 0; k < 3; k++) {
        const tl = top >= 0 && a >= 0 ? (data[top + a + k] as number) : 0;
        const tr = top >= 0 && b >= 0 ? (data[top + b + k] as number) : 0;
        const bl = bottom >= 0 && a >= 0 ? (data[bottom + a + k] as number) : 0;
        const br = bottom >= 0 && b >= 0 ? (data[bottom + b + k] as number) : 0;
        const t = tl + (tr - tl) * xf;
        const btm = bl + (br - bl) * xf;
        out[o++] = t + (btm - t) * yf;
      }
    }
  }
  return out;
}

/**
 * Like {@link squareResize} of a `side` x `side` square centred at (`cx`, `cy`), but with the square
 * rotated by `angleRad` (positive = clockwise in image coordinates) about its centre, so that a face
 * whose eye line is rolled by that angle comes out upright. Bilinear, zeros outside the image.
 */
export function rotatedSquareResize(image: RgbImage, cx: number, cy: number, side: number, angleRad: number, outSize: number, out: Float32Array): Float32Array {
  if (image.channels !== 3) throw new RangeError(`rotatedSquareResize: image has ${image.channels} channels, expected 3`);
  if (out.length !== outSize * outSize * 3) throw new RangeError(`rotatedSquareResize: out has ${out.length} values, expected ${outSize * outSize * 3}`);
  if (!(side > 0)) throw new RangeError(`rotatedSquareResize: side must be > 0, got ${side}`);
  const ratio = side / outSize;
  const cos = Math.cos(angleRad);
  const sin = Math.sin(angleRad);
  const { width: w, height: h, data } = image;
  // Same sampling grid as squareResize (f = ratio * i from the square's corner), rotated about the centre.
  const half = side / 2;
  let o = 0;
  for (let v = 0; v < outSize; v++) {
    const dy = ratio * v - half;
    for (let u = 0; u < outSize; u++) {
      const dx = ratio * u - half;
      const sx = cx + dx * cos - dy * sin;
      const sy = cy + dx * sin + dy * cos;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      // The four taps' offsets, -1 outside the image (zeros there, as the padding of squareResize).
      const inX0 = x0 >= 0 && x0 < w;
      const inX1 = x0 + 1 >= 0 && x0 + 1 < w;
      const inY0 = y0 >= 0 && y0 < h;
      const inY1 = y0 + 1 >= 0 && y0 + 1 < h;
      const tl = inX0 && inY0 ? (y0 * w + x0) * 3 : -1;
      const tr = inX1 && inY0 ? (y0 * w + x0 + 1) * 3 : -1;
      const bl = inX0 && inY1 ? ((y0 + 1) * w + x0) * 3 : -1;
      const br = inX1 && inY1 ? ((y0 + 1) * w + x0 + 1) * 3 : -1;
      for (let k = 0; k < 3; k++) {
        const a = tl >= 0 ? (data[tl + k] as number) : 0;
        const b = tr >= 0 ? (data[tr + k] as number) : 0;
        const c = bl >= 0 ? (data[bl + k] as number) : 0;
        const d = br >= 0 ? (data[br + k] as number) : 0;
        const t = a + (b - a) * fx;
        const m = c + (d - c) * fx;
        out[o++] = t + (m - t) * fy;
      }
    }
  }
  return out;
}

/** Writes the horizontal mirror of an HWC RGB `size` x `size` image from `src` into `dst`. */
export function mirrorInto(src: Float32Array, dst: Float32Array, size: number): void {
  for (let y = 0; y < size; y++) {
    const rowStart = y * size * 3;
    for (let x = 0; x < size; x++) {
      const s = rowStart + x * 3;
      const d = rowStart + (size - 1 - x) * 3;
      dst[d] = src[s] as number;
      dst[d + 1] = src[s + 1] as number;
      dst[d + 2] = src[s + 2] as number;
    }
  }
}

/** A frame padded at bottom/right to a square and resized, as face-api's detectors take it. */
export function frameToSquare(image: RgbImage, outSize: number, out: Float32Array): { out: Float32Array; side: number } {
  const place = squarePlacement(image.width, image.height, false);
  squareResize(image, { x: 0, y: 0, width: image.width, height: image.height }, place, outSize, out);
  return { out, side: place.side };
}

/** Returns `value` when it is a usable score threshold in (0, 1); throws naming `field` otherwise. */
export function validateMinScore(value: number, field: string): number {
  if (!(value > 0 && value < 1)) throw new RangeError(`${field} must be in (0, 1), got ${value}`);
  return value;
}

/** Throws (naming `who` and the field) unless `image` is a consistent RGB24 image. */
export function validateRgb(image: RgbImage, who: string): void {
  if (image.channels !== 3) throw new RangeError(`${who}: image.channels is ${image.channels}, expected 3 (RGB)`);
  if (!(image.width >= 1 && image.height >= 1)) throw new RangeError(`${who}: image is ${image.width}x${image.height}`);
  if (image.data.length !== image.width * image.height * 3) throw new RangeError(`${who}: image.data has ${image.data.length} bytes, expected ${image.width * image.height * 3}`);
}

/**
 * Preallocated input buffers of `size` floats, one per in-flight run: a buffer backs its tensor
 * until `run` resolves, so concurrent calls must not share one. Keeps at most 4 spare.
 */
export class BufferPool {
  private readonly free: Float32Array[] = [];
  constructor(private readonly size: number) {}
  take(): Float32Array {
    return this.free.pop() ?? new Float32Array(this.size);
  }
  give(b: Float32Array): void {
    if (this.free.length < 4) this.free.push(b);
  }
}
