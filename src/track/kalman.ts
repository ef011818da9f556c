/**
 * SORT's box Kalman filter (Bewley et al. 2016) with a time step in milliseconds: state
 * [cx, cy, s, r, vcx, vcy, vs] (centre px, area px^2, aspect w/h, velocities per ms), measurement
 * [cx, cy, s, r]. SORT steps once per frame; here the transition and the process noise scale with the
 * elapsed time, so skipped frames (or a slow camera) predict as far as the time that passed.
 */
import type { BoxXyxy } from '../shared/messages.ts';

/** Noise settings of {@link BoxKalman}; variances are per {@link KalmanNoise.stepMs}. */
export interface KalmanNoise {
  /** The time step the variances below are given for, ms (SORT: one frame). */
  readonly stepMs: number;
  /** Process noise on cx, cy (px^2 per step), and on area (px^4) and aspect, as in SORT. SORT: 1. */
  readonly positionVar: number;
  /** Process noise on the velocities of cx, cy ((px/step)^2 per step). SORT: 0.01. */
  readonly velocityVar: number;
  /** Process noise on the area velocity ((px^2/step)^2 per step). SORT: 1e-4. */
  readonly areaVelocityVar: number;
  /** Measurement noise on cx, cy (px^2). SORT: 1. */
  readonly measurePositionVar: number;
  /** Measurement noise on area (px^4) and aspect. SORT: 10. */
  readonly measureShapeVar: number;
}

/** SORT's noise, with one step = 40 ms (25 fps). */
export const SORT_NOISE: KalmanNoise = Object.freeze({
  stepMs: 40,
  positionVar: 1,
  velocityVar: 0.01,
  areaVelocityVar: 1e-4,
  measurePositionVar: 1,
  measureShapeVar: 10,
});

const N = 7;

/** Box [x1,y1,x2,y2] -> [cx, cy, area, aspect]. */
export function boxToMeasurement(b: BoxXyxy): [number, number, number, number] {
  const w = b[2] - b[0];
  const h = b[3] - b[1];
  return [b[0] + w / 2, b[1] + h / 2, w * h, w / h];
}

/** [cx, cy, area, aspect] -> box; null where the area or aspect is not positive. */
export function measurementToBox(cx: number, cy: number, s: number, r: number): BoxXyxy | null {
  if (!(s > 0 && r > 0)) return null;
  const w = Math.sqrt(s * r);
  const h = s / w;
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

/** One box's filter. */
export class BoxKalman {
  private readonly x = new Float64Array(N);
  /** Covariance, row-major N x N. */
  private p = new Float64Array(N * N);
  private readonly noise: KalmanNoise;

  constructor(box: BoxXyxy, noise: KalmanNoise = SORT_NOISE) {
    if (!(noise.stepMs > 0)) throw new Error(`kalman noise stepMs must be > 0, got ${noise.stepMs}`);
    this.noise = noise;
    this.x.set(boxToMeasurement(box));
    // SORT: unknown velocities get a large variance (10 * 1000 per step^2); positions 10.
    const velVar = 1e4 / (noise.stepMs * noise.stepMs);
    for (let i = 0; i < 4; i++) this.p[i * N + i] = 10;
    for (let i = 4; i < N; i++) this.p[i * N + i] = velVar;
  }

  /** Current state box (the posterior after update, the prior after predict); null if degenerate. */
  box(): BoxXyxy | null {
    const x = this.x;
    return measurementToBox(x[0] as number, x[1] as number, x[2] as number, x[3] as number);
  }

  /** The box `dtMs` (>= 0) after the current state by its velocities, without changing the filter; null if degenerate. */
  peek(dtMs: number): BoxXyxy | null {
    const x = this.x;
    const dt = dtMs > 0 ? dtMs : 0;
    const s = (x[2] as number) + (x[6] as number) * dt;
    return measurementToBox((x[0] as number) + (x[4] as number) * dt, (x[1] as number) + (x[5] as number) * dt, s > 0 ? s : (x[2] as number), x[3] as number);
  }

  /** Advances the state by dtMs (>= 0). */
  predict(dtMs: number): void {
    if (!(dtMs > 0)) return;
    const x = this.x;
    // SORT: an area about to go non-positive stops shrinking.
    if ((x[2] as number) + (x[6] as number) * dtMs <= 0) x[6] = 0;
    x[0] = (x[0] as number) + (x[4] as number) * dtMs;
    x[1] = (x[1] as number) + (x[5] as number) * dtMs;
    x[2] = (x[2] as number) + (x[6] as number) * dtMs;
    // P = F P F^T + Q, F = I with F[i][i+4] = dt for i = 0..2.
    const p = this.p;
    const fp = SCRATCH_FP;
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) fp[i * N + j] = (p[i * N + j] as number) + (i < 3 ? dtMs * (p[(i + 4) * N + j] as number) : 0);
    const out = new Float64Array(N * N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) out[i * N + j] = (fp[i * N + j] as number) + (j < 3 ? dtMs * (fp[i * N + j + 4] as number) : 0);
    const k = dtMs / this.noise.stepMs;
    const vs = this.noise.stepMs * this.noise.stepMs;
    const n = this.noise;
    const q = [n.positionVar, n.positionVar, n.positionVar, n.positionVar, n.velocityVar / vs, n.velocityVar / vs, n.areaVelocityVar / vs];
    for (let i = 0; i < N; i++) out[i * N + i] = (out[i * N + i] as number) + k * (q[i] as number);
    this.p = out;
  }

  /** Corrects the state with a measured box. */
  update(box: BoxXyxy): void {
    const z = boxToMeasurement(box);
    const p = this.p;
    const rv = [this.noise.measurePositionVar, this.noise.measurePositionVar, this.noise.measureShapeVar, this.noise.measureShapeVar];
    // H = [I4 0]: S = P[0:4,0:4] + R, K = P[:,0:4] S^-1.
    const s = SCRATCH_S;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) s[i * 4 + j] = (p[i * N + j] as number) + (i === j ? (rv[i] as number) : 0);
    const sInv = invert4(s);
    const gain = SCRATCH_GAIN;
    for (let i = 0; i < N; i++) for (let j = 0; j < 4; j++) {
      let acc = 0;
      for (let m = 0; m < 4; m++) acc += (p[i * N + m] as number) * (sInv[m * 4 + j] as number);
      gain[i * 4 + j] = acc;
    }
    const x = this.x;
    const y0 = z[0] - (x[0] as number);
    const y1 = z[1] - (x[1] as number);
    const y2 = z[2] - (x[2] as number);
    const y3 = z[3] - (x[3] as number);
    for (let i = 0; i < N; i++) {
      let acc = 0;
      acc += (gain[i * 4] as number) * y0;
      acc += (gain[i * 4 + 1] as number) * y1;
      acc += (gain[i * 4 + 2] as number) * y2;
      acc += (gain[i * 4 + 3] as number) * y3;
      x[i] = (x[i] as number) + acc;
    }
    // P = (I - K H) P
    const out = new Float64Array(N * N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) {
      let acc = p[i * N + j] as number;
      for (let m = 0; m < 4; m++) acc -= (gain[i * 4 + m] as number) * (p[m * N + j] as number);
      out[i * N + j] = acc;
    }
    this.p = out;
  }
}

// Scratch buffers (the filter is synchronous, so one set serves every instance).
const SCRATCH_FP = new Float64Array(N * N);
const SCRATCH_S = new Float64Array(16);
const SCRATCH_GAIN = new Float64Array(N * 4);
const SCRATCH_INV = new Float64Array(32);
const SCRATCH_OUT = new Float64Array(16);

/**
 * Inverse of a 4x4 matrix (row-major) by Gauss-Jordan elimination with partial pivoting. Returns a
 * scratch buffer that the next call overwrites.
 */
function invert4(m: Float64Array): Float64Array {
  const a = SCRATCH_INV; // 4 rows of [m | I], 8 wide
  for (let i = 0; i < 4; i++) for (let j = 0; j < 8; j++) a[i * 8 + j] = j < 4 ? (m[i * 4 + j] as number) : j - 4 === i ? 1 : 0;
  for (let c = 0; c < 4; c++) {
    let piv = c;
    for (let r = c + 1; r < 4; r++) if (Math.abs(a[r * 8 + c] as number) > Math.abs(a[piv * 8 + c] as number)) piv = r;
    if (a[piv * 8 + c] === 0) throw new Error('kalman: innovation covariance is singular');
    if (piv !== c) for (let j = 0; j < 8; j++) {
      const t = a[c * 8 + j] as number;
      a[c * 8 + j] = a[piv * 8 + j] as number;
      a[piv * 8 + j] = t;
    }
    const d = a[c * 8 + c] as number;
    for (let j = 0; j < 8; j++) a[c * 8 + j] = (a[c * 8 + j] as number) / d;
    for (let r = 0; r < 4; r++) {
      if (r === c) continue;
      const f = a[r * 8 + c] as number;
      if (f === 0) continue;
      for (let j = 0; j < 8; j++) a[r * 8 + j] = (a[r * 8 + j] as number) - f * (a[c * 8 + j] as number);
    }
  }
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) SCRATCH_OUT[i * 4 + j] = a[i * 8 + 4 + j] as number;
  return SCRATCH_OUT;
}
