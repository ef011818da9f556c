/**
 * Image resampling that matches TensorFlow's kernels bit-for-bit in float32 math.
 * The converted models were trained and validated with TF's bilinear resize; sharp's
 * kernels moved faceres' age by 6 to 12 years in a probe, so every model input goes through here.
 */

/** Options for {@link resizeBilinear}, with TF's defaults (`tf.image.resizeBilinear`). */
export interface ResizeOptions {
  /** Default false. */
  readonly alignCorners?: boolean;
  /** Default false. */
  readonly halfPixelCenters?: boolean;
}

/** An interleaved image: `data.length === width * height * channels`. */
export interface RawImage<T extends Uint8Array | Float32Array = Uint8Array | Float32Array> {
  readonly data: T;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/**
 * `tf.image.resizeBilinear` for one HWC image. Returns float32 HWC of `outWidth x outHeight`.
 * `out` may be a preallocated buffer of the right size (hot path: no allocation per frame).
 */
export function resizeBilinear(src: RawImage, outWidth: number, outHeight: number, options: ResizeOptions = {}, out?: Float32Array): Float32Array {
  const { width: inW, height: inH, channels: c, data } = src;
  const alignCorners = options.alignCorners ?? false;
  const halfPixel = options.halfPixelCenters ?? false;
  const dst = out ?? new Float32Array(outWidth * outHeight * c);
  if (dst.length !== outWidth * outHeight * c) throw new RangeError(`resizeBilinear: out has ${dst.length} values, expected ${outWidth * outHeight * c}`);
  const rowRatio = alignCorners && outHeight > 1 ? (inH - 1) / (outHeight - 1) : inH / outHeight;
  const colRatio = alignCorners && outWidth > 1 ? (inW - 1) / (outWidth - 1) : inW / outWidth;
  // Column lookups are the same for every row: compute once.
  const x0s = new Int32Array(outWidth);
  const x1s = new Int32Array(outWidth);
  const xf = new Float32Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    const fx = halfPixel ? colRatio * (x + 0.5) - 0.5 : colRatio * x;
    const lo = Math.max(0, Math.floor(fx));
    x0s[x] = lo * c;
    x1s[x] = Math.min(inW - 1, Math.ceil(fx)) * c;
    xf[x] = fx - lo;
  }
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const fy = halfPixel ? rowRatio * (y + 0.5) - 0.5 : rowRatio * y;
    const lo = Math.max(0, Math.floor(fy));
    const top = lo * inW * c;
    const bottom = Math.min(inH - 1, Math.ceil(fy)) * inW * c;
    const yf = fy - lo;
    for (let x = 0; x < outWidth; x++) {
      const a = x0s[x] as number;
      const b = x1s[x] as number;
      const f = xf[x] as number;
      for (let k = 0; k < c; k++) {
        const tl = data[top + a + k] as number;
        const tr = data[top + b + k] as number;
        const bl = data[bottom + a + k] as number;
        const br = data[bottom + b + k] as number;
        const t = tl + (tr - tl) * f;
        const btm = bl + (br - bl) * f;
        dst[o++] = t + (btm - t) * yf;
      }
    }
  }
  return dst;
}

/** A rectangle in integer pixels. */
export interface PixelRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * `resizeBilinear` of the `from` rectangle of `src` to `to`'s size, rounded to bytes and written into
 * `dst` (an interleaved image `dstWidth` pixels wide, same channels) at `to`'s position: the same values
 * as cropping, resizing and pasting, without the intermediate copies (region canvases, src/infer/regions.ts).
 */
export function resizeBilinearInto(src: RawImage<Uint8Array>, from: PixelRect, dst: Uint8Array, dstWidth: number, to: PixelRect): void {
  const { width: imgW, channels: c, data } = src;
  const inW = from.width;
  const inH = from.height;
  const outW = to.width;
  const outH = to.height;
  if (from.x < 0 || from.y < 0 || from.x + inW > imgW || from.y + inH > src.height || inW < 1 || inH < 1) throw new RangeError(`resizeBilinearInto: source rectangle ${inW}x${inH}+${from.x}+${from.y} outside the ${imgW}x${src.height} image`);
  if (to.x < 0 || to.y < 0 || to.x + outW > dstWidth || (to.y + outH) * dstWidth * c > dst.length || outW < 1 || outH < 1) throw new RangeError(`resizeBilinearInto: destination rectangle ${outW}x${outH}+${to.x}+${to.y} outside the destination`);
  const rowRatio = inH / outH;
  const colRatio = inW / outW;
  const x0s = new Int32Array(outW);
  const x1s = new Int32Array(outW);
  const xf = new Float32Array(outW);
  for (let x = 0; x < outW; x++) {
    const fx = colRatio * x;
    const lo = Math.max(0, Math.floor(fx));
    x0s[x] = (from.x + lo) * c;
    x1s[x] = (from.x + Math.min(inW - 1, Math.ceil(fx))) * c;
    xf[x] = fx - lo;
  }
  for (let y = 0; y < outH; y++) {
    const fy = rowRatio * y;
    const lo = Math.max(0, Math.floor(fy));
    const top = (from.y + lo) * imgW * c;
    const bottom = (from.y + Math.min(inH - 1, Math.ceil(fy))) * imgW * c;
    const yf = fy - lo;
    let o = ((to.y + y) * dstWidth + to.x) * c;
    // Values are >= 0, and a Uint8Array store truncates: + 0.5 rounds (half up) without Math.round.
    if (c === 3) {
      // The hot path (RGB canvases), unrolled per channel.
      for (let x = 0; x < outW; x++) {
        const a = top + (x0s[x] as number);
        const b = top + (x1s[x] as number);
        const a2 = bottom + (x0s[x] as number);
        const b2 = bottom + (x1s[x] as number);
        const f = xf[x] as number;
        const g = 1 - f;
        const w00 = g * (1 - yf);
        const w01 = f * (1 - yf);
        const w10 = g * yf;
        const w11 = f * yf;
        dst[o] = ((data[a] as number) * w00 + (data[b] as number) * w01 + (data[a2] as number) * w10 + (data[b2] as number) * w11 + 0.5) | 0;
        dst[o + 1] = ((data[a + 1] as number) * w00 + (data[b + 1] as number) * w01 + (data[a2 + 1] as number) * w10 + (data[b2 + 1] as number) * w11 + 0.5) | 0;
        dst[o + 2] = ((data[a + 2] as number) * w00 + (data[b + 2] as number) * w01 + (data[a2 + 2] as number) * w10 + (data[b2 + 2] as number) * w11 + 0.5) | 0;
        o += 3;
      }
      continue;
    }
    for (let x = 0; x < outW; x++) {
      const a = x0s[x] as number;
      const b = x1s[x] as number;
      const f = xf[x] as number;
      for (let k = 0; k < c; k++) {
        const tl = data[top + a + k] as number;
        const tr = data[top + b + k] as number;
        const bl = data[bottom + a + k] as number;
        const br = data[bottom + b + k] as number;
        const t = tl + (tr - tl) * f;
        const btm = bl + (br - bl) * f;
        dst[o++] = t + (btm - t) * yf + 0.5;
      }
    }
  }
}

/** A crop box in normalised coordinates `[y1, x1, y2, x2]` (0..1 of the image), as `tf.image.cropAndResize` takes it. */
export type NormalizedBoxYxyx = readonly [y1: number, x1: number, y2: number, x2: number];

/**
 * `tf.image.cropAndResize` (bilinear, extrapolation value 0) for one box of one HWC image.
 * Regions outside the image are filled with `extrapolationValue`.
 */
export function cropAndResize(src: RawImage, box: NormalizedBoxYxyx, outWidth: number, outHeight: number, extrapolationValue = 0, out?: Float32Array): Float32Array {
  const { width: inW, height: inH, channels: c, data } = src;
  // TF holds boxes as a float32 tensor: round the same way, or a 1920 px image drifts by ~1e-5 px (~1e-3 in value).
  const y1 = Math.fround(box[0]);
  const x1 = Math.fround(box[1]);
  const y2 = Math.fround(box[2]);
  const x2 = Math.fround(box[3]);
  const dst = out ?? new Float32Array(outWidth * outHeight * c);
  const hScale = outHeight > 1 ? ((y2 - y1) * (inH - 1)) / (outHeight - 1) : 0;
  const wScale = outWidth > 1 ? ((x2 - x1) * (inW - 1)) / (outWidth - 1) : 0;
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const iy = outHeight > 1 ? y1 * (inH - 1) + y * hScale : 0.5 * (y1 + y2) * (inH - 1);
    if (iy < 0 || iy > inH - 1) {
      dst.fill(extrapolationValue, o, o + outWidth * c);
      o += outWidth * c;
      continue;
    }
    const ty = Math.floor(iy);
    const by = Math.ceil(iy);
    const yl = iy - ty;
    for (let x = 0; x < outWidth; x++) {
      const ix = outWidth > 1 ? x1 * (inW - 1) + x * wScale : 0.5 * (x1 + x2) * (inW - 1);
      if (ix < 0 || ix > inW - 1) {
        for (let k = 0; k < c; k++) dst[o++] = extrapolationValue;
        continue;
      }
      const lx = Math.floor(ix);
      const rx = Math.ceil(ix);
      const xl = ix - lx;
      for (let k = 0; k < c; k++) {
        const tl = data[(ty * inW + lx) * c + k] as number;
        const tr = data[(ty * inW + rx) * c + k] as number;
        const bl = data[(by * inW + lx) * c + k] as number;
        const br = data[(by * inW + rx) * c + k] as number;
        const top = tl + (tr - tl) * xl;
        const bottom = bl + (br - bl) * xl;
        dst[o++] = top + (bottom - top) * yl;
      }
    }
  }
  return dst;
}
