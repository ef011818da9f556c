/**
 * `npm run bench:tracking [-- --loo]`: the IoU tracker on MOT15-train public detections (SORT's Faster
 * R-CNN det.txt), scored with src/track/mot-eval.ts (py-motmetrics semantics, IoU >= 0.5, zero-marked gt
 * rows ignored) on the ONLINE output (confirmed tracks at frames where they matched, SORT's policy, what a
 * live camera gets), beside SORT's published results and the same tracker run with SORT's settings.
 *
 * Default: the shipped defaults (DEFAULT_TRACKER_PARAMS) on all 8 sequences (in-sample: they were chosen
 * on these sequences), the references, the offline row and an ablation.
 * `--loo`: leave-one-sequence-out. For each sequence the parameters are chosen by coordinate search on the
 * other 7 (objective in bench/lib/mot-bench.ts) and scored on it; then the same search on all 8 gives the set to ship.
 */
import { DEFAULT_TRACKER_PARAMS } from '../src/track/iou-tracker.ts';
import { SORT_NOISE } from '../src/track/kalman.ts';
import { withRates, type MotCounts, type MotMetrics } from '../src/track/mot-eval.ts';
import { parseArgs } from './lib/args.ts';
import {
  comparison, describePoint, detailTable, ID_WEIGHT, loadSequences, margins, MOT15_DIR, OFFLINE, pct, runAll, search, sortReference, SPACE, SPACE_FREE_MIN_SCORE, START, START_2, summary, toParams, type Fold, type Point, type Sequence,
} from './lib/mot-bench.ts';
import { memoize, stableKey, type SearchSpace } from './lib/search.ts';

const DATA = MOT15_DIR;

function loo(seqs: Sequence[], space: SearchSpace<Point>): void {
  const t0 = performance.now();
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const evalPoint = memoize((p: Point) => runAll(seqs, toParams(p)), (p) => stableKey(toParams(p)));
  const log = (s: string): void => console.error(`[${elapsed()}, ${evalPoint.size} points] ${s}`);
  console.log(`leave-one-sequence-out on ${DATA}: coordinate search over ${Object.keys(space).join(', ')}`);
  console.log(`values: ${JSON.stringify(space)}`);
  console.log('objective on the training sequences: the worst margin over SORT (per sequence the smaller of: MOTA minus the better');
  console.log(`SORT-settings run's, in points; ID switches saved against the fewer, in Poisson SDs x ${ID_WEIGHT}) + 0.1 x the mean margin`);
  console.log(`starts: ${describePoint(START)} and ${describePoint(START_2)}; the better end point by the training objective`);
  const ref = sortReference(seqs);
  const all = seqs.map((_, i) => i);
  const folds: Fold[] = [];
  const held: MotMetrics[] = [];
  for (const [i, s] of seqs.entries()) {
    const train = all.filter((k) => k !== i);
    const f = search(evalPoint, ref, train, `fold ${i + 1}/8, held out ${s.name}`, log, space);
    folds.push(f);
    held.push(withRates(evalPoint(f.point)[i] as MotCounts));
    const worst = Math.min(...margins(evalPoint(f.point), ref, train));
    log(`held out ${s.name}: MOTA ${pct((held[i] as MotMetrics).mota)} IDs ${(held[i] as MotMetrics).numSwitches}, margin ${margins(evalPoint(f.point), ref, [i])[0]?.toFixed(2)} (worst training margin ${worst.toFixed(2)}) with ${describePoint(f.point)}`);
  }
  const shipped = search(evalPoint, ref, all, 'all 8 sequences', log, space);
  log(`search done: ${evalPoint.misses} distinct parameter sets evaluated on 8 sequences, ${evalPoint.hits} lookups served from the memo`);

  console.log('\nparameters chosen per fold (on the 7 other sequences):');
  for (const f of folds) console.log(`  ${f.name.replace(/^fold \d\/8, /, '').padEnd(26)} ${describePoint(f.point)}`);

  console.log('\nLEAVE-ONE-OUT (each row scored with the parameters chosen without it), ONLINE output:');
  const l = comparison(seqs, held, ref);
  console.log(l.text);
  for (const c of l.checks) console.log(`  ${c}`);

  // Check that the memoised fast path equals a fresh run (same function, but guards the memo key).
  const fresh = runAll(seqs, toParams(shipped.point));
  const memo = evalPoint(shipped.point);
  if (stableKey(fresh) !== stableKey(memo)) throw new Error('memoised counts differ from a fresh run: the memo key misses a parameter');

  console.log(`\nSHIPPED set: the same search on all 8 sequences: ${describePoint(shipped.point)}`);
  const same = stableKey(toParams(shipped.point)) === stableKey(DEFAULT_TRACKER_PARAMS);
  console.log(same ? '  = DEFAULT_TRACKER_PARAMS' : `  DIFFERS from DEFAULT_TRACKER_PARAMS ${stableKey(DEFAULT_TRACKER_PARAMS)}: update src/track/iou-tracker.ts`);
  console.log('IN-SAMPLE (tuned on these same 8 sequences; not comparable to the LOO table above):');
  const ins = comparison(seqs, memo.map(withRates), ref);
  console.log(ins.text);
  for (const c of ins.checks) console.log(`  ${c}`);
  log('done');
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), { loo: 'boolean', 'free-min-score': 'boolean' });
  const seqs = loadSequences();
  console.log(`IoU tracker on ${DATA} (det.txt), evaluated at IoU >= 0.5 (py-motmetrics semantics; zero-marked gt rows ignored)`);
  console.log('ONLINE output (SORT\'s policy, what a live camera gets): confirmed tracks only, at frames where they matched\n');
  if (args.loo === true) {
    loo(seqs, args['free-min-score'] === true ? SPACE_FREE_MIN_SCORE : SPACE);
    return;
  }
  const p = DEFAULT_TRACKER_PARAMS;
  console.log(`shipped defaults (DEFAULT_TRACKER_PARAMS, chosen on these 8 sequences: in-sample; see --loo): ${stableKey(p)}`);
  const online = runAll(seqs, p);
  console.log(detailTable(seqs, online));
  const ref = sortReference(seqs);
  console.log('\nbeside SORT (published, and this tracker with SORT\'s settings; see sortSettings in bench/lib/mot-bench.ts):');
  const c = comparison(seqs, online.map(withRates), ref);
  console.log(c.text);
  for (const line of c.checks) console.log(`  ${line} (in-sample)`);
  console.log('\nTOTAL over all 8 sequences, then MOTA/IDs on the SORT reference sequences (SORT published: 62.7/6 59.1/22 18.6/57):');
  console.log(summary('online', seqs, online));
  console.log(summary('offline (backfill+interp.)', seqs, runAll(seqs, p, OFFLINE)));
  console.log(summary('SORT settings', seqs, ref.sort4));
  console.log('\nablation, online (the shipped set, one thing changed):');
  console.log(summary('motion off', seqs, runAll(seqs, { ...p, motion: false })));
  console.log(summary('constant velocity', seqs, runAll(seqs, { ...p, motionModel: 'constant-velocity' })));
  console.log(summary('kalman, SORT noise', seqs, runAll(seqs, { ...p, kalmanNoise: SORT_NOISE })));
  console.log(summary('no start score gate', seqs, runAll(seqs, { ...p, minScoreToStart: p.minScore })));
  console.log(summary('no confirmAtStart', seqs, runAll(seqs, { ...p, confirmAtStart: false })));
}

main();
