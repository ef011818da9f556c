/**
 * CLEAR-MOT and identity metrics, computed as py-motmetrics (v1.2+) computes them with
 * `iou_matrix(max_iou = 1 - iouThreshold)`: distance = 1 - IoU, pairs above the max distance forbidden.
 * Per frame: keep last frame's correspondences that are still valid, then optimal assignment on the rest.
 * IDF1/IDP/IDR use a global optimal bipartite matching between gt ids and result ids.
 */
import { iou } from '../shared/geometry.ts';
import { linearSumAssignment } from './hungarian.ts';
import { groupByFrame, motRowBox, type MotRow } from './mot.ts';

/** Evaluation options. */
export interface MotEvalOptions {
  /** Minimum IoU for a gt/result pair to count as a match, 0..1. Default 0.5. */
  readonly iouThreshold?: number;
  /**
   * Drop gt rows whose column 7 is 0 (the MOT devkit's "ignore" mark; py-motmetrics' eval_motchallenge
   * loads gt with min_confidence=1). Default true.
   */
  readonly dropZeroMarkedGt?: boolean;
}

/** Raw counts of one evaluation; they add up across sequences (see {@link sumCounts}). */
export interface MotCounts {
  numFrames: number;
  /** gt boxes (after dropping zero-marked rows). */
  numObjects: number;
  /** result boxes. */
  numPredictions: number;
  /** Matches incl. switches. */
  numMatches: number;
  numFalsePositives: number;
  numMisses: number;
  numSwitches: number;
  numFragmentations: number;
  /** Unique gt ids. */
  numUniqueObjects: number;
  mostlyTracked: number;
  partiallyTracked: number;
  mostlyLost: number;
  /** Sum over matches of 1 - IoU. */
  sumDistance: number;
  idtp: number;
  idfp: number;
  idfn: number;
}

/** Counts plus the derived rates (0..1; MOTP is the mean 1 - IoU of matches, as py-motmetrics reports it). */
export interface MotMetrics extends MotCounts {
  recall: number;
  precision: number;
  mota: number;
  motp: number;
  idf1: number;
  idp: number;
  idr: number;
}

/** Evaluates one sequence. Throws on a duplicate (frame, id) pair, naming both. */
export function evaluateMot(gtRows: readonly MotRow[], resRows: readonly MotRow[], options: MotEvalOptions = {}): MotMetrics {
  return withRates(countMot(gtRows, resRows, options));
}

/** The counts of {@link evaluateMot} without the derived rates. */
export function countMot(gtRows: readonly MotRow[], resRows: readonly MotRow[], options: MotEvalOptions = {}): MotCounts {
  const iouThreshold = options.iouThreshold ?? 0.5;
  if (!(iouThreshold >= 0 && iouThreshold <= 1)) throw new Error(`iouThreshold must be within 0..1, got ${iouThreshold}`);
  const maxDist = 1 - iouThreshold;
  const gt = options.dropZeroMarkedGt === false ? gtRows : gtRows.filter((r) => r.score !== 0);
  const gtByFrame = groupByFrame(gt);
  const resByFrame = groupByFrame(resRows);
  const frames = [...new Set([...gtByFrame.keys(), ...resByFrame.keys()])].sort((a, b) => a - b);

  const m = new Map<number, number>(); // gt id -> result id of its last match
  const lastMatchFrame = new Map<number, number>(); // gt id -> frame of its last match
  const objFrames = new Map<number, number>(); // gt id -> frames present
  const objTracked = new Map<number, number>(); // gt id -> frames matched
  const objStates = new Map<number, boolean[]>(); // gt id -> per present frame: matched?
  const pairCount = new Map<string, number>(); // "o,h" -> frames with IoU >= threshold (for IDF1)
  const gtIdCount = new Map<number, number>();
  const resIdCount = new Map<number, number>();
  const c: MotCounts = {
    numFrames: frames.length, numObjects: gt.length, numPredictions: resRows.length, numMatches: 0, numFalsePositives: 0, numMisses: 0,
    numSwitches: 0, numFragmentations: 0, numUniqueObjects: 0, mostlyTracked: 0, partiallyTracked: 0, mostlyLost: 0, sumDistance: 0, idtp: 0, idfp: 0, idfn: 0,
  };
  let prevFrame: number | undefined;
  for (const frame of frames) {
    const objs = gtByFrame.get(frame) ?? [];
    const hyps = resByFrame.get(frame) ?? [];
    checkUnique(objs, frame, 'gt');
    checkUnique(hyps, frame, 'res');
    const dist = objs.map((o) => hyps.map((h) => {
      const d = 1 - iou(motRowBox(o), motRowBox(h));
      return d <= maxDist ? d : NaN;
    }));
    for (let i = 0; i < objs.length; i++) {
      const o = (objs[i] as MotRow).id;
      gtIdCount.set(o, (gtIdCount.get(o) ?? 0) + 1);
      for (let j = 0; j < hyps.length; j++) {
        if (Number.isNaN((dist[i] as number[])[j])) continue;
        const key = `${o},${(hyps[j] as MotRow).id}`;
        pairCount.set(key, (pairCount.get(key) ?? 0) + 1);
      }
    }
    for (const h of hyps) resIdCount.set(h.id, (resIdCount.get(h.id) ?? 0) + 1);

    const objDone = new Array<boolean>(objs.length).fill(false);
    const hypDone = new Array<boolean>(hyps.length).fill(false);
    const match = (i: number, j: number, d: number): void => {
      objDone[i] = true;
      hypDone[j] = true;
      c.numMatches++;
      c.sumDistance += d;
      const o = (objs[i] as MotRow).id;
      m.set(o, (hyps[j] as MotRow).id);
      lastMatchFrame.set(o, frame);
    };
    // 1. Keep correspondences from the previous frame that are still valid.
    for (let i = 0; i < objs.length; i++) {
      const o = (objs[i] as MotRow).id;
      const hPrev = m.get(o);
      if (hPrev === undefined || lastMatchFrame.get(o) !== prevFrame) continue;
      const j = hyps.findIndex((h, k) => !hypDone[k] && h.id === hPrev);
      if (j < 0) continue;
      const d = (dist[i] as number[])[j] as number;
      if (!Number.isNaN(d)) match(i, j, d);
    }
    // 2. Optimal assignment on the rest.
    const rest = dist.map((row, i) => row.map((d, j) => (objDone[i] || hypDone[j] ? NaN : d)));
    for (const { row: i, col: j } of linearSumAssignment(rest)) {
      const o = (objs[i] as MotRow).id;
      const prev = m.get(o);
      if (prev !== undefined && prev !== (hyps[j] as MotRow).id) c.numSwitches++;
      match(i, j, (rest[i] as number[])[j] as number);
    }
    for (let i = 0; i < objs.length; i++) {
      const o = (objs[i] as MotRow).id;
      if (!objDone[i]) c.numMisses++;
      objFrames.set(o, (objFrames.get(o) ?? 0) + 1);
      if (objDone[i]) objTracked.set(o, (objTracked.get(o) ?? 0) + 1);
      const states = objStates.get(o);
      if (states) states.push(objDone[i] as boolean);
      else objStates.set(o, [objDone[i] as boolean]);
    }
    for (let j = 0; j < hyps.length; j++) if (!hypDone[j]) c.numFalsePositives++;
    prevFrame = frame;
  }

  c.numUniqueObjects = objFrames.size;
  for (const [o, n] of objFrames) {
    const ratio = (objTracked.get(o) ?? 0) / n;
    if (ratio >= 0.8) c.mostlyTracked++;
    else if (ratio < 0.2) c.mostlyLost++;
    else c.partiallyTracked++;
  }
  // Fragmentation: tracked -> missed transitions between an object's first and last tracked frame.
  for (const states of objStates.values()) {
    const first = states.indexOf(true);
    const last = states.lastIndexOf(true);
    for (let k = Math.max(first, 0) + 1; k <= last; k++) if (states[k - 1] && !states[k]) c.numFragmentations++;
  }

  // Identity: maximise co-detections over a one-to-one gt id <-> result id matching. Pairs never
  // co-detected cost 0 rather than being forbidden: forbidding them would make the solver prefer more
  // pairs over more co-detections.
  const oids = [...gtIdCount.keys()];
  const hids = [...resIdCount.keys()];
  const cost = oids.map((o) => hids.map((h) => -(pairCount.get(`${o},${h}`) ?? 0)));
  let idtp = 0;
  for (const { row, col } of linearSumAssignment(cost)) idtp -= (cost[row] as number[])[col] as number;
  c.idtp = idtp;
  c.idfn = gt.length - idtp;
  c.idfp = resRows.length - idtp;
  return c;
}

function checkUnique(rows: readonly MotRow[], frame: number, what: string): void {
  const seen = new Set<number>();
  for (const r of rows) {
    if (seen.has(r.id)) throw new Error(`${what}: id ${r.id} appears twice in frame ${frame}`);
    seen.add(r.id);
  }
}

/** Adds counts of several sequences (MOTChallenge "OVERALL" style: rates from summed counts). */
export function sumCounts(all: readonly MotCounts[]): MotCounts {
  const out: MotCounts = {
    numFrames: 0, numObjects: 0, numPredictions: 0, numMatches: 0, numFalsePositives: 0, numMisses: 0, numSwitches: 0, numFragmentations: 0,
    numUniqueObjects: 0, mostlyTracked: 0, partiallyTracked: 0, mostlyLost: 0, sumDistance: 0, idtp: 0, idfp: 0, idfn: 0,
  };
  for (const c of all) for (const k of Object.keys(out) as (keyof MotCounts)[]) out[k] += c[k];
  return out;
}

/** Derives the rates from counts (0 where a denominator is 0). */
export function withRates(c: MotCounts): MotMetrics {
  const div = (a: number, b: number): number => (b > 0 ? a / b : 0);
  return {
    ...c,
    recall: div(c.numMatches, c.numObjects),
    precision: div(c.numMatches, c.numMatches + c.numFalsePositives),
    mota: 1 - div(c.numMisses + c.numFalsePositives + c.numSwitches, c.numObjects),
    motp: div(c.sumDistance, c.numMatches),
    idf1: div(2 * c.idtp, 2 * c.idtp + c.idfp + c.idfn),
    idp: div(c.idtp, c.idtp + c.idfp),
    idr: div(c.idtp, c.idtp + c.idfn),
  };
}
