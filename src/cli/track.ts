/**
 * `crowdlens track --det DET --out RES [--seqinfo FILE] [--iou X --min-hits N --max-missed-ms MS --min-score X --no-motion --backfill --interpolate]`
 * Runs the IoU tracker over a MOTChallenge detection file and writes MOTChallenge results.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { IouTracker, type TrackerParams } from '../track/iou-tracker.ts';
import { formatMot, groupByFrame, motRowBox, motRowFromBox, parseSeqInfo, parseMot, type MotRow } from '../track/mot.ts';

/** Options of {@link trackMot}. */
export interface TrackMotOptions {
  /** Frames per second used to derive frame timestamps ((frame - 1) * 1000 / fps ms). Default 30. */
  readonly frameRate?: number;
  /** Last frame number to feed (frames without detections still age tracks). Default: last detection frame. */
  readonly lastFrame?: number;
  /**
   * Also write the tentative hits of a track once it is confirmed (offline only: a live stream cannot
   * revise past frames). Default false: only boxes of confirmed tracks at frames where they matched.
   */
  readonly backfill?: boolean;
  /**
   * Fill a confirmed track's missed frames (gaps shorter than maxMissedMs, since the track survived them)
   * with boxes interpolated linearly between the hits around the gap. Offline only. Default false.
   */
  readonly interpolate?: boolean;
}

/** Rows strictly between `a` and `b` (same id), boxes linearly interpolated. */
function interpolateRows(a: MotRow, b: MotRow): MotRow[] {
  const out: MotRow[] = [];
  const n = b.frame - a.frame;
  for (let f = a.frame + 1; f < b.frame; f++) {
    const t = (f - a.frame) / n;
    const lerp = (x: number, y: number): number => x + (y - x) * t;
    out.push({ frame: f, id: b.id, x: lerp(a.x, b.x), y: lerp(a.y, b.y), w: lerp(a.w, b.w), h: lerp(a.h, b.h), score: Math.min(a.score, b.score) });
  }
  return out;
}

/**
 * Tracks MOTChallenge detections (id -1) and returns result rows: one row per frame in which a confirmed
 * track matched a detection (the box is the detection's), as SORT reports. Unconfirmed tracks are never written.
 */
export function trackMot(detRows: readonly MotRow[], params: Partial<TrackerParams> = {}, options: TrackMotOptions = {}): MotRow[] {
  const fps = options.frameRate ?? 30;
  if (!(fps > 0 && Number.isFinite(fps))) throw new Error(`frameRate must be a positive number, got ${fps}`);
  const tracker = new IouTracker(params);
  const byFrame = groupByFrame(detRows);
  const lastDetFrame = Math.max(0, ...byFrame.keys());
  const last = Math.max(options.lastFrame ?? 0, lastDetFrame);
  const out: MotRow[] = [];
  const pending = new Map<number, MotRow[]>(); // tentative rows per track id, for backfill
  const lastRow = new Map<number, MotRow>(); // last written row per confirmed track, for interpolation
  for (let frame = 1; frame <= last; frame++) {
    const rows = byFrame.get(frame) ?? [];
    const timeMs = ((frame - 1) * 1000) / fps;
    const events = tracker.update(rows.map((r) => ({ box: motRowBox(r), score: r.score })), { seq: frame, timeMs });
    for (const e of events) {
      if (e.type === 'matched') {
        const row = motRowFromBox(frame, e.trackId, e.box, (rows[e.detectionIndex] as MotRow).score);
        if (e.confirmed) {
          const prev = lastRow.get(e.trackId);
          if (options.interpolate && prev && prev.frame < frame - 1) out.push(...interpolateRows(prev, row));
          out.push(row);
          lastRow.set(e.trackId, row);
        }
        else if (options.backfill) pending.set(e.trackId, [...(pending.get(e.trackId) ?? []), row]);
      } else if (e.type === 'confirmed') {
        const earlier = pending.get(e.trackId) ?? [];
        if (options.backfill) {
          for (let k = 0; k < earlier.length; k++) {
            const prev = earlier[k - 1];
            const cur = earlier[k] as MotRow;
            if (options.interpolate && prev && prev.frame < cur.frame - 1) out.push(...interpolateRows(prev, cur));
            out.push(cur);
          }
          const lastEarlier = earlier[earlier.length - 1];
          if (lastEarlier) lastRow.set(e.trackId, lastEarlier);
        }
        pending.delete(e.trackId);
      } else {
        pending.delete(e.trackId);
        lastRow.delete(e.trackId);
      }
    }
  }
  tracker.finish({ seq: last + 1, timeMs: (last * 1000) / fps });
  return out.sort((a, b) => a.frame - b.frame || a.id - b.id);
}

const USAGE = 'usage: crowdlens track --det DET --out RES [--seqinfo FILE] [--iou X] [--min-hits N] [--max-missed-ms MS] [--min-score X] [--no-motion] [--backfill] [--interpolate]';

/** Parses a numeric flag; throws a message naming the flag. */
export function numberFlag(flag: string, raw: string | undefined, check: (v: number) => boolean, what: string): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !check(v)) throw new UsageError(`--${flag} must be ${what}, got "${raw}"`);
  return v;
}

/** A command-line mistake: printed with the usage, exit code 2. */
export class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        det: { type: 'string' }, out: { type: 'string' }, seqinfo: { type: 'string' },
        iou: { type: 'string' }, 'min-hits': { type: 'string' }, 'max-missed-ms': { type: 'string' }, 'min-score': { type: 'string' },
        'no-motion': { type: 'boolean' }, backfill: { type: 'boolean' }, interpolate: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values.det) throw new UsageError('--det is required');
    if (!values.out) throw new UsageError('--out is required');
    const params: Partial<TrackerParams> = {};
    const iouThreshold = numberFlag('iou', values.iou, (v) => v >= 0 && v <= 1, 'a number within 0..1');
    const minHits = numberFlag('min-hits', values['min-hits'], (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
    const maxMissedMs = numberFlag('max-missed-ms', values['max-missed-ms'], (v) => v >= 0, 'a number of ms >= 0');
    const minScore = numberFlag('min-score', values['min-score'], (v) => v >= 0 && v <= 1, 'a number within 0..1');
    if (iouThreshold !== undefined) params.iouThreshold = iouThreshold;
    if (minHits !== undefined) params.minHits = minHits;
    if (maxMissedMs !== undefined) params.maxMissedMs = maxMissedMs;
    if (minScore !== undefined) params.minScore = minScore;
    if (values['no-motion']) params.motion = false;
    opts = { det: values.det, out: values.out, seqinfo: values.seqinfo, params, backfill: values.backfill === true, interpolate: values.interpolate === true };
  } catch (err) {
    console.error(`crowdlens track: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  try {
    const seq = opts.seqinfo !== undefined ? parseSeqInfo(readFileSync(opts.seqinfo, 'utf8'), opts.seqinfo) : undefined;
    const det = parseMot(readFileSync(opts.det, 'utf8'), opts.det);
    const res = trackMot(det, opts.params, { frameRate: seq?.frameRate ?? 30, backfill: opts.backfill, interpolate: opts.interpolate, ...(seq ? { lastFrame: seq.seqLength } : {}) });
    writeFileSync(opts.out, formatMot(res));
    console.error(`crowdlens track: ${det.length} detections -> ${res.length} rows, ${new Set(res.map((r) => r.id)).size} tracks -> ${opts.out}`);
    return 0;
  } catch (err) {
    console.error(`crowdlens track: ${(err as Error).message}`);
    return 1;
  }
}
