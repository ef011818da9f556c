/** `crowdlens mot-eval --gt GT --res RES [--iou 0.5] [--keep-zero-marked]`: prints CLEAR-MOT + ID metrics as JSON. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { evaluateMot } from '../track/mot-eval.ts';
import { parseMot } from '../track/mot.ts';

const USAGE = 'usage: crowdlens mot-eval --gt GT --res RES [--iou 0.5] [--keep-zero-marked]';

export async function main(argv: string[]): Promise<number> {
  let gtPath: string;
  let resPath: string;
  let iouThreshold = 0.5;
  let keepZero = false;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { gt: { type: 'string' }, res: { type: 'string' }, iou: { type: 'string' }, 'keep-zero-marked': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values.gt) throw new Error('--gt is required');
    if (!values.res) throw new Error('--res is required');
    if (values.iou !== undefined) {
      const v = Number(values.iou);
      if (values.iou.trim() === '' || !(v >= 0 && v <= 1)) throw new Error(`--iou must be a number within 0..1, got "${values.iou}"`);
      iouThreshold = v;
    }
    gtPath = values.gt;
    resPath = values.res;
    keepZero = values['keep-zero-marked'] === true;
  } catch (err) {
    console.error(`crowdlens mot-eval: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  try {
    const gt = parseMot(readFileSync(gtPath, 'utf8'), gtPath);
    const res = parseMot(readFileSync(resPath, 'utf8'), resPath);
    console.log(JSON.stringify(evaluateMot(gt, res, { iouThreshold, dropZeroMarkedGt: !keepZero }), null, 2));
    return 0;
  } catch (err) {
    console.error(`crowdlens mot-eval: ${(err as Error).message}`);
    return 1;
  }
}
