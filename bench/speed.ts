/**
 * Speed of the crowdlens analyze path against @vladmandic/human 3.3.6 (node-wasm) on the same decoded images.
 *
 *   npm run bench:speed -- [--images DIR] [--faces DIR] [--limit N] [--rounds R] [--detector NAME]
 *                          [--descriptors] [--json FILE]
 *
 * Images: by default 60 utkface-dev faces (stratified, seeded) each on a 100 px mid-grey border, plus the
 * face-api demo photos (node_modules/@vladmandic/face-api/demo/*.jpg); or every image in --images DIR.
 * All images are decoded once up front: decode is EXCLUDED from every timing on both sides.
 * Both run single-threaded: onnxruntime intra-op 1 / inter-op 1, no spinning; tfjs wasm without
 * threads (SIMD on). Rounds alternate which side goes first; each round times every image on both.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadImage } from '../src/infer/decode.ts';
import { ANALYZER_DEFAULTS, DETECTOR_NAMES, createFaceAnalyzer, type DetectorName } from '../src/infer/analyzer.ts';
import type { RgbImage } from '../src/infer/types.ts';
import type { BoxXyxy } from '../src/shared/messages.ts';
import { parseArgs, table } from './lib/args.ts';
import { DEFAULT_FACES_DIR, REPO_ROOT, readLabels, stratifiedSubsample, withBorder } from './lib/faces.ts';
import { createHumanRunner } from './lib/human.ts';
import { loadAgeGender, loadDescriber, loadDetector } from './lib/models.ts';
import { median, percentile } from './lib/stats.ts';

const args = parseArgs(process.argv.slice(2), { images: 'string', faces: 'string', limit: 'number', rounds: 'number', detector: 'string', descriptors: 'boolean', json: 'string' });
const rounds = (args.rounds as number | undefined) ?? 3;
if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds must be an integer >= 1 (got ${rounds})`);
const detectorName = ((args.detector as string | undefined) ?? ANALYZER_DEFAULTS.detector) as DetectorName;
if (!(DETECTOR_NAMES as readonly string[]).includes(detectorName)) throw new Error(`--detector: unknown ${JSON.stringify(detectorName)} (choose from ${DETECTOR_NAMES.join(', ')})`);
const descriptors = (args.descriptors as boolean | undefined) ?? false;
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

interface Named {
  readonly name: string;
  readonly image: RgbImage;
}

async function loadImages(): Promise<Named[]> {
  const limit = args.limit as number | undefined;
  if (args.images) {
    const dir = path.resolve(args.images as string);
    const files = readdirSync(dir).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().slice(0, limit);
    if (files.length === 0) throw new Error(`--images: no .jpg/.png/.webp files in ${dir}`);
    return Promise.all(files.map(async (f) => ({ name: f, image: await loadImage(path.join(dir, f)) })));
  }
  const facesDir = path.resolve(REPO_ROOT, (args.faces as string | undefined) ?? DEFAULT_FACES_DIR);
  const faces = stratifiedSubsample(readLabels(facesDir), 60, 1);
  const demoDir = path.join(REPO_ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
  const demos = readdirSync(demoDir).filter((f) => /\.jpg$/i.test(f)).sort();
  const out: Named[] = [];
  for (const f of faces) out.push({ name: path.basename(f.file), image: withBorder(await loadImage(f.file), 100).image });
  for (const f of demos) out.push({ name: `demo/${f}`, image: await loadImage(path.join(demoDir, f)) });
  return limit === undefined ? out : out.slice(0, limit);
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');

async function main(): Promise<void> {
  const images = await loadImages();
  const pixels = images.reduce((s, i) => s + i.image.width * i.image.height, 0);
  log(`speed: ${images.length} images (${(pixels / images.length / 1e6).toFixed(2)} MP mean), ${rounds} rounds, detector ${detectorName}, descriptors ${descriptors ? 'on' : 'off'}`);

  const analyzer = await createFaceAnalyzer({ detector: detectorName, descriptors, session: { intraOpThreads: 1, spinning: false } });
  const detector = await loadDetector(detectorName);
  const ageGender = await loadAgeGender(analyzer.options.ageGender);
  const describer = descriptors ? await loadDescriber() : undefined;
  const human = await createHumanRunner();
  log(`human ${human.version} on ${human.backend} (${human.threads})`);

  // Warm-up: first runs allocate and JIT on both sides.
  for (const { image } of images.slice(0, 5)) {
    await analyzer.analyze(image);
    await human.detect(image);
  }

  // Per-model latency (one pass): detector per image, age/gender and descriptor per detected face.
  const detMs: number[] = [];
  const agMs: number[] = [];
  const descMs: number[] = [];
  for (const { image } of images) {
    let t = performance.now();
    const dets = await detector.detect(image);
    detMs.push(performance.now() - t);
    for (const d of dets) {
      const box: BoxXyxy = d.box;
      t = performance.now();
      await ageGender.estimate(image, box);
      agMs.push(performance.now() - t);
      if (describer) {
        t = performance.now();
        await describer.describe(image, box);
        descMs.push(performance.now() - t);
      }
    }
  }

  // Whole path, interleaved rounds.
  const perRound: { cl: number; hu: number; clFaces: number; huFaces: number }[] = [];
  const clImgMs: number[] = [];
  const huImgMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let cl = 0;
    let hu = 0;
    let clFaces = 0;
    let huFaces = 0;
    for (const { image } of images) {
      const runCl = async (): Promise<void> => {
        const t = performance.now();
        const faces = await analyzer.analyze(image);
        const dt = performance.now() - t;
        cl += dt;
        clImgMs.push(dt);
        clFaces += faces.length;
      };
      const runHu = async (): Promise<void> => {
        const t = performance.now();
        const faces = await human.detect(image);
        const dt = performance.now() - t;
        hu += dt;
        huImgMs.push(dt);
        huFaces += faces.length;
      };
      if (r % 2 === 0) {
        await runCl();
        await runHu();
      } else {
        await runHu();
        await runCl();
      }
    }
    perRound.push({ cl, hu, clFaces, huFaces });
    log(`  round ${r + 1}/${rounds}: crowdlens ${((images.length * 1000) / cl).toFixed(1)} img/s, human ${((images.length * 1000) / hu).toFixed(1)} img/s`);
  }

  const clIps = median(perRound.map((p) => (images.length * 1000) / p.cl));
  const huIps = median(perRound.map((p) => (images.length * 1000) / p.hu));
  const clFps = median(perRound.map((p) => (p.clFaces * 1000) / p.cl));
  const huFps = median(perRound.map((p) => (p.huFaces * 1000) / p.hu));
  const first = perRound[0] as { clFaces: number; huFaces: number };

  console.log(`# crowdlens speed: ${images.length} images (${args.images ? String(args.images) : '60 utkface-dev faces on a 100 px mid-grey border + face-api demo photos'}), ${rounds} interleaved rounds`);
  console.log('# decode excluded on both sides (images decoded once up front); times are wall-clock per call');
  console.log(`# threads: crowdlens onnxruntime-node intraOp=1 interOp=1 spinning=off; human ${human.version} tfjs-backend-wasm ${human.threads}`);
  console.log(`# crowdlens: detector ${detectorName} (default threshold), age/gender ${analyzer.options.ageGender}, cropScale ${analyzer.options.cropScale}, descriptors ${descriptors ? 'faceres' : 'off'}`);
  console.log('# human: blazeface detector + faceres description (age, gender, descriptor); mesh/iris/emotion/antispoof/liveness/body/hand/object/gesture/segmentation off\n');
  const rows = [
    [`${detectorName} detect / image`, String(detMs.length), ms(median(detMs)), ms(percentile(detMs, 95))],
    [`${analyzer.options.ageGender} / face`, String(agMs.length), ms(median(agMs)), ms(percentile(agMs, 95))],
  ];
  if (describer) rows.push(['faceres descriptor / face', String(descMs.length), ms(median(descMs)), ms(percentile(descMs, 95))]);
  rows.push(['crowdlens analyze / image', String(clImgMs.length), ms(median(clImgMs)), ms(percentile(clImgMs, 95))]);
  rows.push(['human detect / image', String(huImgMs.length), ms(median(huImgMs)), ms(percentile(huImgMs, 95))]);
  console.log(table(['model', 'calls', 'p50 ms', 'p95 ms'], rows));
  console.log('');
  console.log(
    table(
      ['whole path (median of rounds)', 'images/s', 'faces/s', 'faces found (round 1)'],
      [
        ['crowdlens analyze', clIps.toFixed(1), clFps.toFixed(1), String(first.clFaces)],
        ['human detect', huIps.toFixed(1), huFps.toFixed(1), String(first.huFaces)],
      ],
    ),
  );
  const ratio = clIps / huIps;
  console.log(`\nratio crowdlens/human images/s: ${ratio.toFixed(2)}x (target >= 5x: ${ratio >= 5 ? 'met' : 'NOT met'})`);

  if (args.json) {
    writeFileSync(
      path.resolve(args.json as string),
      JSON.stringify({ images: images.length, rounds, detector: detectorName, descriptors, human: { version: human.version, backend: human.backend, threads: human.threads }, perModelMs: { detect: { p50: median(detMs), p95: percentile(detMs, 95) }, ageGender: { p50: median(agMs), p95: percentile(agMs, 95) }, ...(describer ? { descriptor: { p50: median(descMs), p95: percentile(descMs, 95) } } : {}) }, crowdlens: { imagesPerS: clIps, facesPerS: clFps, facesFound: first.clFaces, p50Ms: median(clImgMs), p95Ms: percentile(clImgMs, 95) }, humanRun: { imagesPerS: huIps, facesPerS: huFps, facesFound: first.huFaces, p50Ms: median(huImgMs), p95Ms: percentile(huImgMs, 95) }, ratio }, null, 2),
    );
    log(`wrote ${String(args.json)}`);
  }
  await analyzer.close();
}

await main();
