/**
 * Age calibration: a monotone piecewise-linear map from an estimator's raw age to a calibrated age.
 * The map is fitted by `npm run bench:accuracy -- --fit-calibration` with 5-fold CV on utkface-dev and
 * shipped as calibration.json next to this file; the estimator applies it to every raw age.
 * A calibration belongs to one estimator setup (model, flip, crops): `appliesTo` names it and
 * callers must not apply it to another.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The shipped calibration file. */
export const DEFAULT_CALIBRATION_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'calibration.json');

const calibrationSchema = z.object({
  kind: z.literal('age-piecewise-linear'),
  /** Estimator setup the map was fitted on, e.g. `faceapi-agegender+flip`. */
  appliesTo: z.string().min(1),
  /** Knots as [rawAgeYears, calibratedAgeYears], raw strictly increasing, calibrated non-decreasing. */
  knots: z.array(z.tuple([z.number(), z.number()])).min(2),
  provenance: z.record(z.string(), z.unknown()),
});

/** A validated age calibration (see the module comment). */
export type AgeCalibration = z.infer<typeof calibrationSchema>;

/** Checks shape and monotonicity; throws naming the field and value. */
export function parseAgeCalibration(value: unknown, source = 'calibration'): AgeCalibration {
  const parsed = calibrationSchema.safeParse(value);
  if (!parsed.success) throw new Error(`${source} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const { knots } = parsed.data;
  for (let i = 1; i < knots.length; i++) {
    const [x0, y0] = knots[i - 1] as [number, number];
    const [x1, y1] = knots[i] as [number, number];
    if (!(x1 > x0)) throw new Error(`${source}: knots[${i}][0] = ${x1} must be greater than knots[${i - 1}][0] = ${x0}`);
    if (y1 < y0) throw new Error(`${source}: knots[${i}][1] = ${y1} must not be less than knots[${i - 1}][1] = ${y0}`);
  }
  return parsed.data;
}

/** Reads and validates a calibration file (default: the shipped one). Throws naming the file when missing or invalid. */
export function loadAgeCalibration(file = DEFAULT_CALIBRATION_FILE): AgeCalibration {
  if (!existsSync(file)) throw new Error(`age calibration ${file} is missing (run "npm run bench:accuracy -- --fit-calibration")`);
  return parseAgeCalibration(JSON.parse(readFileSync(file, 'utf8')), file);
}

/**
 * Maps a raw age through the knots: linear between knots; beyond the end knots it keeps the end
 * knot's offset (slope 1), so ages outside the fitted range shift rather than flatten. Never below 0.
 */
export function applyAgeCalibration(calibration: Pick<AgeCalibration, 'knots'>, rawAgeYears: number): number {
  const { knots } = calibration;
  const first = knots[0] as readonly [number, number];
  const last = knots[knots.length - 1] as readonly [number, number];
  if (!Number.isFinite(rawAgeYears)) return rawAgeYears;
  if (rawAgeYears <= first[0]) return Math.max(0, rawAgeYears + first[1] - first[0]);
  if (rawAgeYears >= last[0]) return Math.max(0, rawAgeYears + last[1] - last[0]);
  let lo = 0;
  let hi = knots.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((knots[mid] as readonly [number, number])[0] <= rawAgeYears) lo = mid;
    else hi = mid;
  }
  const [x0, y0] = knots[lo] as readonly [number, number];
  const [x1, y1] = knots[hi] as readonly [number, number];
  return Math.max(0, y0 + ((y1 - y0) * (rawAgeYears - x0)) / (x1 - x0));
}
