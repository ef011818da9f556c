import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluateMot, sumCounts, withRates } from '../../src/track/mot-eval.ts';
import { motRowFromBox, parseMot, type MotRow } from '../../src/track/mot.ts';

const CHECK = '../shared/data/mot/motmetrics-check/TUD-Campus';

describe('evaluateMot', () => {
  it("reproduces py-motmetrics' published TUD-Campus numbers", () => {
    const gt = parseMot(readFileSync(`${CHECK}/gt.txt`, 'utf8'), 'gt.txt');
    const res = parseMot(readFileSync(`${CHECK}/test.txt`, 'utf8'), 'test.txt');
    const m = evaluateMot(gt, res, { iouThreshold: 0.5 });
    const published = { idf1: 0.557659, idp: 0.72973, idr: 0.451253, recall: 0.582173, precision: 0.941441, mota: 0.526462, motp: 0.277201 };
    for (const [k, v] of Object.entries(published)) expect(Math.abs(m[k as keyof typeof published] - v), k).toBeLessThan(1e-3);
    expect({ gt: m.numUniqueObjects, mt: m.mostlyTracked, pt: m.partiallyTracked, ml: m.mostlyLost, fp: m.numFalsePositives, fn: m.numMisses, idsw: m.numSwitches, frag: m.numFragmentations })
      .toEqual({ gt: 8, mt: 1, pt: 6, ml: 1, fp: 13, fn: 150, idsw: 7, frag: 7 });
  });

  // Object 1 walks frames 1..6 at x=0 and is tracked by hypothesis 10, missed in frame 3, then taken over
  // by hypothesis 20 in frames 5..6. Object 2 (x=100) is never tracked. One stray box in frame 2.
  const box = (x: number): [number, number, number, number] => [x, 0, x + 10, 10];
  const gt: MotRow[] = [];
  for (let f = 1; f <= 6; f++) gt.push(motRowFromBox(f, 1, box(0), 1), motRowFromBox(f, 2, box(100), 1));
  const res: MotRow[] = [
    motRowFromBox(1, 10, box(0), 1), motRowFromBox(2, 10, [0, 0, 10, 8], 1), motRowFromBox(2, 99, box(300), 1),
    motRowFromBox(4, 10, box(0), 1), motRowFromBox(5, 20, box(0), 1), motRowFromBox(6, 20, box(0), 1),
  ];

  it('counts a hand-made case: one switch, one fragmentation, MT/ML, MOTP, IDF1', () => {
    const m = evaluateMot(gt, res);
    expect(m).toMatchObject({
      numFrames: 6, numObjects: 12, numPredictions: 6, numMatches: 5, numMisses: 7, numFalsePositives: 1,
      numSwitches: 1, numFragmentations: 1, numUniqueObjects: 2, mostlyTracked: 1, partiallyTracked: 0, mostlyLost: 1,
      idtp: 3, idfp: 3, idfn: 9,
    });
    expect(m.mota).toBeCloseTo(1 - 9 / 12, 12);
    expect(m.motp).toBeCloseTo(0.2 / 5, 12); // one match at IoU 0.8, four exact
    expect(m.idf1).toBeCloseTo(6 / 18, 12);
  });

  it('keeps a still-valid correspondence instead of re-optimising it', () => {
    // Frame 2: hypothesis 10 still overlaps object 1 at IoU 0.6; hypothesis 11 would overlap it better,
    // but py-motmetrics keeps the running pair, so no switch.
    const g = [motRowFromBox(1, 1, box(0), 1), motRowFromBox(2, 1, box(0), 1)];
    const r = [motRowFromBox(1, 10, box(0), 1), motRowFromBox(2, 10, [0, 0, 10, 6], 1), motRowFromBox(2, 11, box(0), 1)];
    const m = evaluateMot(g, r);
    expect(m.numSwitches).toBe(0);
    expect(m.numFalsePositives).toBe(1);
    expect(m.motp).toBeCloseTo(0.4 / 2, 12);
  });

  it('honours the IoU threshold and zero-marked gt rows', () => {
    const g = [motRowFromBox(1, 1, box(0), 1), motRowFromBox(1, 2, box(50), 0)];
    const r = [motRowFromBox(1, 10, [0, 0, 10, 6], 1)]; // IoU 0.6
    expect(evaluateMot(g, r).numMatches).toBe(1);
    expect(evaluateMot(g, r).numObjects).toBe(1);
    expect(evaluateMot(g, r, { iouThreshold: 0.7 }).numMatches).toBe(0);
    expect(evaluateMot(g, r, { dropZeroMarkedGt: false }).numObjects).toBe(2);
  });

  it('sums counts across sequences and rejects duplicate ids in a frame', () => {
    const one = evaluateMot(gt, res);
    const both = withRates(sumCounts([one, one]));
    expect(both.numSwitches).toBe(2);
    expect(both.mota).toBeCloseTo(one.mota, 12);
    expect(() => evaluateMot([motRowFromBox(3, 1, box(0), 1), motRowFromBox(3, 1, box(5), 1)], [])).toThrow(/id 1 appears twice in frame 3/);
  });
});
