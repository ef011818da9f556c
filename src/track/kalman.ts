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
  /** Process noise on cx, cy (px^2 per step). SORT: 1. */
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
type Mat = number[][];

const zeros = (r: number, c: number): Mat => Array.from({ length: r }, () => new Array<number>(c).fill(0));
const at = (m: Mat, i: number, j: number): number => (m[i] as number[])[j] as number;
const set = (m: Mat, i: number, j: number, v: number): void => {
  (m[i] as number[])[j] = v;
};

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
  private readonly x: number[];
  private p: Mat;
  private readonly noise: KalmanNoise;

  constructor(box: BoxXyxy, noise: KalmanNoise = SORT_NOISE) {
    if (!(noise.stepMs > 0)) throw new Error(`kalman noise stepMs must be > 0, got ${noise.stepMs}`);
    this.noise = noise;
    this.x = [...boxToMeasurement(box), 0, 0, 0];
    this.p = zeros(N, N);
    // SORT: unknown velocities get a large variance (10 * 1000 per step^2); positions 10.
    const velVar = 1e4 / (noise.stepMs * noise.stepMs);
    for (let i = 0; i < 4; i++) set(this.p, i, i, 10);
    for (let i = 4; i < N; i++) set(this.p, i, i, velVar);
  }

  /** Current state box (the posterior after update, the prior after predict); null if degenerate. */
  box(): BoxXyxy | null {
    return measurementToBox(this.x[0] as number, this.x[1] as number, this.x[2] as number, this.x[3] as number);
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
    const fp = zeros(N, N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) fp[i]![j] = at(p, i, j) + (i < 3 ? dtMs * at(p, i + 4, j) : 0);
    const out = zeros(N, N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) out[i]![j] = at(fp, i, j) + (j < 3 ? dtMs * at(fp, i, j + 4) : 0);
    const k = dtMs / this.noise.stepMs;
    const vs = this.noise.stepMs * this.noise.stepMs;
    const q = [this.noise.positionVar, this.noise.positionVar, this.noise.positionVar, this.noise.positionVar, this.noise.velocityVar / vs, this.noise.velocityVar / vs, this.noise.areaVelocityVar / vs];
    for (let i = 0; i < N; i++) out[i]![i] = at(out, i, i) + k * (q[i] as number);
    this.p = out;
  }

  /** Corrects the state with a measured box. */
  update(box: BoxXyxy): void {
    const z = boxToMeasurement(box);
    const p = this.p;
    const rv = [this.noise.measurePositionVar, this.noise.measurePositionVar, this.noise.measureShapeVar, this.noise.measureShapeVar];
    // H = [I4 0]: S = P[0:4,0:4] + R, K = P[:,0:4] S^-1.
    const s = zeros(4, 4);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) s[i]![j] = at(p, i, j) + (i === j ? (rv[i] as number) : 0);
    const sInv = invert4(s);
    const gain = zeros(N, 4);
    for (let i = 0; i < N; i++) for (let j = 0; j < 4; j++) {
      let acc = 0;
      for (let m = 0; m < 4; m++) acc += at(p, i, m) * at(sInv, m, j);
      gain[i]![j] = acc;
    }
    const y = z.map((v, i) => v - (this.x[i] as number));
    for (let i = 0; i < N; i++) {
      let acc = 0;
      for (let j = 0; j < 4; j++) acc += at(gain, i, j) * (y[j] as number);
      this.x[i] = (this.x[i] as number) + acc;
    }
    // P = (I - K H) P
    const out = zeros(N, N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) {
      let acc = at(p, i, j);
      for (let m = 0; m < 4; m++) acc -= at(gain, i, m) * at(p, m, j);
      out[i]![j] = acc;
    }
    this.p = out;
  }
}

/** Inverse of a 4x4 matrix by Gauss-Jordan elimination with partial pivoting. */
function invert4(m: Mat): Mat {
  const a = m.map((row, i) => [...row, ...[0, 1, 2, 3].map((j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < 4; c++) {
    let piv = c;
    for (let r = c + 1; r < 4; r++) if (Math.abs(at(a, r, c)) > Math.abs(at(a, piv, c))) piv = r;
    if (at(a, piv, c) === 0) throw new Error('kalman: innovation covariance is singular');
    [a[c], a[piv]] = [a[piv] as number[], a[c] as number[]];
    const row = a[c] as number[];
    const d = row[c] as number;
    for (let j = 0; j < 8; j++) row[j] = (row[j] as number) / d;
    for (let r = 0; r < 4; r++) {
      if (r === c) continue;
      const f = at(a, r, c);
      if (f === 0) continue;
      const rr = a[r] as number[];
      for (let j = 0; j < 8; j++) rr[j] = (rr[j] as number) - f * (row[j] as number);
    }
  }
  return a.map((row) => row.slice(4));
}
