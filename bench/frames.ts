/**
 * `npm run bench:frames [-- --variants rgb,jpeg80,jpeg90,jpeg95,jpeg90-444,jpeg95-444] [--seeds 1,2,3] [--reps 2] [--keep]`:
 * how a sampled frame should travel between ingest and a worker, measured side by side in one run on
 * the same frames: raw RGB24 vs JPEG (sharp) at several qualities (`-444`: no chroma subsampling).
 *
 * Per encoding: encode and decode ms (p50/p95), bytes per frame, Redis bytes (MEMORY USAGE), and the
 * round trip of SET (PX) + GET through ioredis to the real Redis; then the accuracy effect: the real
 * analyzer (blazeface + age/gender + faceres descriptor) on the decoded frame against the raw frame
 * (faces kept / lost / added at IoU >= 0.5, box IoU, |age delta|, gender flips, descriptor cosine),
 * and on synthetic 720p crowd clips against their exact truth: per face (detection recall at IoU >= 0.3,
 * age MAE, gender) and per person after src/track's CrowdTracker fused each person's frames (what the
 * product reports: unique people, fused age MAE and gender).
 *
 * Clips: ../shared/data/videos/short_hamilton_clip.mp4 (640x360, real audience and stage),
 * face-demographics-walking-and-pause.mp4 (480x270, real), and 1280x720 synthetic crowds from
 * ../shared/tools/make-crowd-video.py (seeds 1-3 as in bench:crowd; noisy background: a hard case for JPEG size).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/shared/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { iou } from '../src/shared/geometry.ts';
import { hasAttributes, type BoxXyxy, type Face, type Frame, type FrameEncoding } from '../src/shared/messages.ts';
import { openSource } from '../src/ingest/index.ts';
import { createAnalyzer } from '../src/pipeline/stages.ts';
import type { AnalyzeTiming } from '../src/pipeline/standalone.ts';
import { decodeFrame, encodeFrame, type EncodeOptions, type JpegChroma } from '../src/scale/frame-store.ts';
import { ScaleKeys } from '../src/scale/keys.ts';
import { connectRedis, deleteKeys } from '../src/scale/redis.ts';
import { cosineSimilarity } from '../src/track/reid.ts';
import { CrowdTracker } from '../src/track/crowd.ts';
import { linearSumAssignment } from '../src/track/hungarian.ts';
import { motRowBox, parseMot, type MotRow } from '../src/track/mot.ts';
import { parseArgs } from './lib/args.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const VIDEOS = path.resolve(ROOT, '..', 'shared', 'data', 'videos');
const TOOL = path.resolve(ROOT, '..', 'shared', 'tools', 'make-crowd-video.py');
const FACES = path.resolve(ROOT, '..', 'shared', 'data', 'faces', 'utkface-dev');
const SAMPLE_FPS = 5;

const args = parseArgs(process.argv.slice(2), { variants: 'string', seeds: 'string', reps: 'number', keep: 'boolean', redis: 'string' });
const reps = Number(args['reps'] ?? 2);
const seeds = String(args['seeds'] ?? '1,2,3')
  .split(',')
  .map(Number);
const redisUrl = String(args['redis'] ?? process.env['CROWDLENS_REDIS_URL'] ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');

interface Variant {
  readonly name: string;
  readonly encode: EncodeOptions;
}
const variants: Variant[] = String(args['variants'] ?? 'rgb,jpeg80,jpeg90,jpeg95,jpeg90-444,jpeg95-444')
  .split(',')
  .map((name) => {
    if (name === 'rgb') return { name: 'raw rgb', encode: { encoding: 'rgb' } };
    const m = /^jpeg(\d+)(-444)?$/.exec(name);
    if (!m) throw new Error(`--variants: ${JSON.stringify(name)} is not rgb or jpegQ[-444]`);
    const chroma: JpegChroma = m[2] ? '4:4:4' : '4:2:0';
    return {
      name: `jpeg q${m[1]} ${chroma}`,
      encode: { encoding: 'jpeg' as FrameEncoding, jpegQuality: Number(m[1]), jpegChroma: chroma },
    };
  });

interface TruthFrame {
  readonly boxes: BoxXyxy[];
  readonly ids: number[];
}
interface TruthPerson {
  readonly id: number;
  readonly age: number;
  readonly gender: 'female' | 'male';
}

interface Clip {
  readonly name: string;
  readonly frames: Frame[];
  /** Synthetic clips: truth boxes per sampled frame and the persons. */
  readonly truth?: { frames: TruthFrame[]; persons: Map<number, TruthPerson>; unique: number };
}

interface Speed {
  enc: number[];
  dec: number[];
  rt: number[];
  bytes: number[];
  mem: number[];
}

function pct(v: readonly number[], p: number): number {
  if (v.length === 0) return Number.NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}
const median = (v: readonly number[]): number => pct(v, 50);
const mean = (v: readonly number[]): number => (v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length);
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
const int = (x: number): string => Math.round(x).toLocaleString('en-US');

async function readFrames(file: string, maxFrames: number): Promise<Frame[]> {
  const source = openSource(
    { url: file, sourceId: path.basename(file), fps: SAMPLE_FPS, maxWidth: 1280, realtime: false },
    { logger: createLogger({ level: 'warn' }) },
  );
  const frames: Frame[] = [];
  try {
    for await (const f of source.frames()) {
      frames.push({ ...f, rgb: Uint8Array.from(f.rgb) });
      if (frames.length >= maxFrames) break;
    }
  } finally {
    await source.close();
  }
  return frames;
}

function match(a: readonly BoxXyxy[], b: readonly BoxXyxy[], minIou: number): [number, number][] {
  if (a.length === 0 || b.length === 0) return [];
  const cost = a.map((x) => b.map((y) => 1 - iou(x, y)));
  return linearSumAssignment(cost)
    .filter((p) => 1 - (cost[p.row]?.[p.col] ?? 1) >= minIou)
    .map((p) => [p.row, p.col]);
}

async function syntheticClip(dir: string, seed: number): Promise<Clip> {
  const out = path.join(dir, `seed${seed}`);
  execFileSync(
    'python3',
    [
      TOOL,
      '--faces',
      FACES,
      '--out',
      out,
      '--seed',
      String(seed),
      '--people',
      '10',
      '--duration',
      '16',
      '--fps',
      '10',
      '--size',
      '1280x720',
    ],
    { stdio: 'ignore' },
  );
  const frames = await readFrames(path.join(out, 'video.mp4'), 1000);
  const truth = JSON.parse(readFileSync(path.join(out, 'truth.json'), 'utf8')) as {
    video: { fps: number };
    unique_persons: number;
    persons: TruthPerson[];
  };
  const byFrame = new Map<number, MotRow[]>();
  for (const r of parseMot(readFileSync(path.join(out, 'gt.txt'), 'utf8'), 'gt.txt'))
    byFrame.set(r.frame, [...(byFrame.get(r.frame) ?? []), r]);
  const truthFrames = frames.map((f) => {
    const rows = byFrame.get(Math.round((f.ptsMs / 1000) * truth.video.fps) + 1) ?? [];
    return { boxes: rows.map(motRowBox), ids: rows.map((r) => r.id) };
  });
  return {
    name: `synthetic crowd seed ${seed}`,
    frames,
    truth: { frames: truthFrames, persons: new Map(truth.persons.map((p) => [p.id, p])), unique: truth.unique_persons },
  };
}

/** Accuracy of one variant on one clip. */
interface Accuracy {
  kept: number;
  lost: number;
  added: number;
  flips: number;
  ious: number[];
  ageDelta: number[];
  cos: number[];
  truthTotal: number;
  truthHit: number;
  truthAgeErr: number[];
  truthGenderOk: number;
  /** Per person after fusion. */
  personsTrue: number;
  personsPred: number;
  fusedAgeErr: number[];
  fusedGenderOk: number;
}

function newAccuracy(): Accuracy {
  return {
    kept: 0,
    lost: 0,
    added: 0,
    flips: 0,
    ious: [],
    ageDelta: [],
    cos: [],
    truthTotal: 0,
    truthHit: 0,
    truthAgeErr: [],
    truthGenderOk: 0,
    personsTrue: 0,
    personsPred: 0,
    fusedAgeErr: [],
    fusedGenderOk: 0,
  };
}

function scoreAgainstRaw(acc: Accuracy, raw: readonly Face[], faces: readonly Face[]): void {
  const pairs = match(
    raw.map((x) => x.box),
    faces.map((x) => x.box),
    0.5,
  );
  acc.kept += pairs.length;
  acc.lost += raw.length - pairs.length;
  acc.added += faces.length - pairs.length;
  for (const [a, b] of pairs) {
    const r = raw[a] as Face;
    const e = faces[b] as Face;
    acc.ious.push(iou(r.box, e.box));
    // Every face gets attributes here (no wantAttributes hint); the guard only narrows the type.
    if (hasAttributes(r) && hasAttributes(e)) acc.ageDelta.push(Math.abs(r.ageYears - e.ageYears));
    if (r.gender !== e.gender) acc.flips++;
    if (r.descriptor && e.descriptor) acc.cos.push(cosineSimilarity(r.descriptor, e.descriptor));
  }
}

/** Per face against truth, then the real tracker over the clip, each person scored against the truth person it overlaps most. */
function scoreAgainstTruth(acc: Accuracy, clip: Clip, perFrame: readonly (readonly Face[])[]): void {
  const truth = clip.truth;
  if (!truth) return;
  const crowd = new CrowdTracker({ sourceId: clip.name });
  const votes = new Map<number, Map<number, number>>();
  for (const [i, frame] of clip.frames.entries()) {
    const faces = perFrame[i] as readonly Face[];
    const t = truth.frames[i] as TruthFrame;
    acc.truthTotal += t.boxes.length;
    for (const [a, b] of match(
      t.boxes,
      faces.map((x) => x.box),
      0.3,
    )) {
      const person = truth.persons.get(t.ids[a] as number);
      const face = faces[b] as Face;
      acc.truthHit++;
      if (person && hasAttributes(face)) {
        acc.truthAgeErr.push(Math.abs(person.age - face.ageYears));
        if (person.gender === face.gender) acc.truthGenderOk++;
      }
    }
    crowd.update({
      sourceId: clip.name,
      seq: frame.seq,
      capturedAtMs: frame.capturedAtMs,
      width: frame.width,
      height: frame.height,
      faces,
    });
    const tracks = crowd.confirmedTracks();
    for (const [a, b] of match(
      t.boxes,
      tracks.map((x) => x.box),
      0.3,
    )) {
      const pid = (tracks[b] as { personId: number }).personId;
      const v = votes.get(pid) ?? new Map<number, number>();
      v.set(t.ids[a] as number, (v.get(t.ids[a] as number) ?? 0) + 1);
      votes.set(pid, v);
    }
  }
  crowd.finish((clip.frames.at(-1) as Frame).capturedAtMs);
  acc.personsTrue += truth.unique;
  const persons = crowd.persons();
  acc.personsPred += persons.length;
  for (const p of persons) {
    const v = votes.get(p.id);
    const truthId = v ? [...v.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] : undefined;
    const person = truthId === undefined ? undefined : truth.persons.get(truthId);
    if (!person || p.ageYears === null) continue;
    acc.fusedAgeErr.push(Math.abs(p.ageYears - person.age));
    if (p.gender === person.gender) acc.fusedGenderOk++;
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-frames-'));
  const redis = connectRedis(redisUrl, { name: 'crowdlens-bench-frames' });
  const keys = new ScaleKeys(`crowdlens-bench-${process.pid}`);
  try {
    console.error(`bench:frames: sampling the real clips and ${seeds.length} synthetic 720p crowds at 5 fps ...`);
    const real: Clip[] = [
      { name: 'short_hamilton_clip 640x360 (real)', frames: await readFrames(path.join(VIDEOS, 'short_hamilton_clip.mp4'), 60) },
      {
        name: 'walking-and-pause 480x270 (real)',
        frames: await readFrames(path.join(VIDEOS, 'face-demographics-walking-and-pause.mp4'), 60),
      },
    ];
    const synthetic: Clip[] = [];
    for (const seed of seeds) synthetic.push(await syntheticClip(tmp, seed));

    const config = loadConfig({ env: {} });
    const analyzer = await createAnalyzer({ config, reid: true }, { logger: createLogger({ level: 'warn' }) });
    const timing: AnalyzeTiming = { detectMs: 0, ageGenderMs: 0, descriptorMs: 0 };
    const analyze = (f: Frame, rgb: Uint8Array): Promise<readonly Face[]> => analyzer.analyze({ ...f, rgb }, timing, {});

    console.log(
      `bench:frames — ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), shared machine; real Redis; timings over ${reps} interleaved reps (variants alternate per frame)`,
    );
    const groups: { title: string; clips: Clip[] }[] = [
      { title: real[0]?.name ?? '', clips: [real[0] as Clip] },
      { title: real[1]?.name ?? '', clips: [real[1] as Clip] },
      { title: `synthetic crowds 1280x720, seeds ${seeds.join(',')} (10 people each, exact truth)`, clips: synthetic },
    ];
    for (const group of groups) {
      const speed = new Map<string, Speed>(variants.map((v) => [v.name, { enc: [], dec: [], rt: [], bytes: [], mem: [] }]));
      const acc = new Map<string, Accuracy>(variants.map((v) => [v.name, newAccuracy()]));
      let frames = 0;
      let rawFaceCount = 0;
      for (const clip of group.clips) {
        console.error(`bench:frames: ${clip.name}: ${clip.frames.length} frames x ${variants.length} encodings ...`);
        frames += clip.frames.length;
        for (let rep = 0; rep < reps; rep++) {
          for (const [i, f] of clip.frames.entries()) {
            for (const [vi, v] of variants.entries()) {
              const s = speed.get(v.name) as Speed;
              const t0 = performance.now();
              const bytes = await encodeFrame(f, v.encode);
              const t1 = performance.now();
              const key = keys.frame(clip.name, rep, i * 100 + vi);
              await redis.set(key, bytes, 'PX', 30_000);
              const got = await redis.getBuffer(key);
              const t2 = performance.now();
              if (!got) throw new Error(`frame ${key} vanished`);
              if (rep === 0) {
                s.mem.push(Number(await redis.memory('USAGE', key)));
                s.bytes.push(bytes.length);
              }
              await redis.unlink(key);
              const t3 = performance.now();
              await decodeFrame(got, { width: f.width, height: f.height, encoding: v.encode.encoding, key });
              const t4 = performance.now();
              s.enc.push(t1 - t0);
              s.rt.push(t2 - t1);
              s.dec.push(t4 - t3);
            }
          }
        }
        const rawFaces: (readonly Face[])[] = [];
        for (const f of clip.frames) rawFaces.push(await analyze(f, f.rgb));
        rawFaceCount += rawFaces.reduce((a, x) => a + x.length, 0);
        for (const v of variants) {
          const a = acc.get(v.name) as Accuracy;
          const perFrame: (readonly Face[])[] = [];
          for (const [i, f] of clip.frames.entries()) {
            const faces =
              v.encode.encoding === 'rgb'
                ? (rawFaces[i] as readonly Face[])
                : await analyze(
                    f,
                    await decodeFrame(await encodeFrame(f, v.encode), { width: f.width, height: f.height, encoding: 'jpeg', key: 'bench' }),
                  );
            perFrame.push(faces);
            scoreAgainstRaw(a, rawFaces[i] as readonly Face[], faces);
          }
          scoreAgainstTruth(a, clip, perFrame);
        }
      }
      const first = group.clips[0]?.frames[0] as Frame;
      console.log('');
      console.log(
        `### ${group.title}: ${frames} frames at 5 fps, ${rawFaceCount} faces on the raw frames (raw frame ${int(first.width * first.height * 3)} bytes)`,
      );
      console.log('');
      console.log(
        '| encoding | bytes/frame p50 | Redis MEMORY USAGE p50 | encode ms p50/p95 | decode ms p50/p95 | SET+GET ms p50/p95 | total ms p50 |',
      );
      console.log('|---|---|---|---|---|---|---|');
      for (const v of variants) {
        const s = speed.get(v.name) as Speed;
        const total = s.enc.map((e, k) => e + (s.rt[k] as number) + (s.dec[k] as number));
        console.log(
          `| ${v.name} | ${int(median(s.bytes))} | ${int(median(s.mem))} | ${f2(median(s.enc))} / ${f2(pct(s.enc, 95))} | ${f2(median(s.dec))} / ${f2(pct(s.dec, 95))} | ${f2(median(s.rt))} / ${f2(pct(s.rt, 95))} | ${f2(median(total))} |`,
        );
      }
      const withTruth = group.clips.some((c) => c.truth);
      console.log('');
      console.log(
        `| encoding | faces kept / lost / added vs raw | box IoU vs raw | abs age delta vs raw, mean / p95 | gender flips vs raw | descriptor cosine vs raw, mean / min |${withTruth ? ' truth recall | per-face age MAE / gender | persons found / true | fused age MAE (persons) | fused gender |' : ''}`,
      );
      console.log(`|---|---|---|---|---|---|${withTruth ? '---|---|---|---|---|' : ''}`);
      for (const v of variants) {
        const a = acc.get(v.name) as Accuracy;
        const truthCols = withTruth
          ? ` ${((100 * a.truthHit) / a.truthTotal).toFixed(1)}% | ${f2(mean(a.truthAgeErr))} / ${((100 * a.truthGenderOk) / a.truthAgeErr.length).toFixed(1)}% | ${a.personsPred} / ${a.personsTrue} | ${f2(mean(a.fusedAgeErr))} (${a.fusedAgeErr.length}) | ${((100 * a.fusedGenderOk) / a.fusedAgeErr.length).toFixed(1)}% |`
          : '';
        console.log(
          `| ${v.name} | ${a.kept} / ${a.lost} / ${a.added} | ${f2(mean(a.ious))} | ${f2(mean(a.ageDelta))} / ${f2(pct(a.ageDelta, 95))} | ${a.flips} | ${a.cos.length ? `${mean(a.cos).toFixed(4)} / ${Math.min(...a.cos).toFixed(4)}` : '-'} |${truthCols}`,
        );
      }
    }
    await analyzer.close();
  } finally {
    await deleteKeys(redis, keys.pattern());
    redis.disconnect();
    if (args['keep']) console.error(`bench:frames: kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
