/**
 * `npm run bench:return [-- --cameras 8] [--fps 5] [--seconds 10] [--reps 4]`: how a worker's result
 * should get back to the process that owns the camera, measured side by side in one run on real Redis
 * with BullMQ: the same jobs, the same worker, the same result payload (2 faces, one with a 1024-d
 * descriptor: ~6 KB of JSON), only the return path differs:
 *
 * - `inbox`: the worker RPUSHes the result to the owner's list and returns counts; the owner BLPOPs (chosen);
 * - `queue-events`: the result is the job's return value; the owner reads BullMQ's QueueEvents `completed`;
 * - `stream`: the worker XADDs to a stream per camera (MAXLEN ~1000); the owner XREADs its cameras' streams;
 * - `pubsub`: the worker PUBLISHes on the owner's channel; the owner SUBSCRIBEs.
 *
 * Per path: latency from submission to the owner holding the result (the owner's clock, p50/p95/p99),
 * messages the owners had to read per result they needed (2 owner processes: fan-out), and what the run leaves at rest in Redis
 * (bytes, and whether descriptors are among them). No models run: this isolates the transport.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Queue, QueueEvents, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ScaleKeys } from '../src/scale/keys.ts';
import { connectRedis, deleteKeys, scanKeys } from '../src/scale/redis.ts';
import { encodeDescriptor } from '../src/scale/wire.ts';
import { parseArgs } from './lib/args.ts';

const args = parseArgs(process.argv.slice(2), { cameras: 'number', fps: 'number', seconds: 'number', reps: 'number', redis: 'string' });
const CAMERAS = Number(args['cameras'] ?? 8);
const FPS = Number(args['fps'] ?? 5);
const SECONDS = Number(args['seconds'] ?? 10);
const REPS = Number(args['reps'] ?? 4);
const REDIS_URL = String(args['redis'] ?? process.env['CROWDLENS_REDIS_URL'] ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const PATHS = ['inbox', 'queue-events', 'stream', 'pubsub'] as const;
type PathName = (typeof PATHS)[number];

const descriptor = new Float32Array(1024).map((_, i) => Math.sin(i) / 32);
/** A result as a worker sends it: 2 faces, one with a descriptor. */
function resultFor(cam: string, seq: number): string {
  return JSON.stringify({
    type: 'result',
    sourceId: cam,
    epoch: 1,
    seq,
    capturedAtMs: Date.now(),
    width: 1280,
    height: 720,
    faces: [
      {
        box: [100, 100, 200, 220],
        score: 0.93,
        ageYears: 31.2,
        gender: 'female',
        genderScore: 0.91,
        descriptor: encodeDescriptor(descriptor),
      },
      { box: [600, 90, 690, 200], score: 0.88, ageYears: 45.9, gender: 'male', genderScore: 0.86 },
    ],
    timing: { queueWaitMs: 1, fetchMs: 0.3, decodeMs: 4, analyzerWaitMs: 0, detectMs: 9, ageGenderMs: 5, descriptorMs: 9 },
    worker: 'bench',
    attempt: 1,
  });
}

interface RunResult {
  latencies: number[];
  received: number;
  readPerResult: number;
  restBytes: number;
  restDescriptors: boolean;
}

function pct(v: readonly number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function restingBytes(redis: Redis, keys: ScaleKeys): Promise<{ bytes: number; descriptors: boolean }> {
  let bytes = 0;
  let descriptors = false;
  const needle = encodeDescriptor(descriptor).slice(0, 40);
  for (const k of await scanKeys(redis, keys.pattern())) {
    bytes += Number((await redis.memory('USAGE', k)) ?? 0);
    const type = await redis.type(k);
    let text = '';
    if (type === 'hash') text = JSON.stringify(await redis.hgetall(k));
    else if (type === 'stream') text = JSON.stringify(await redis.xrange(k, '-', '+'));
    else if (type === 'list') text = JSON.stringify(await redis.lrange(k, 0, -1));
    else if (type === 'string') text = (await redis.get(k)) ?? '';
    if (text.includes(needle)) descriptors = true;
  }
  return { bytes, descriptors };
}

const OWNERS = 2;

async function runPath(path: PathName): Promise<RunResult> {
  const keys = new ScaleKeys(`crowdlens-bench-rp-${randomBytes(4).toString('hex')}`);
  const redis = connectRedis(REDIS_URL, { name: 'bench-return-owner' });
  const workerRedis = connectRedis(REDIS_URL, { name: 'bench-return-worker' });
  const cams = Array.from({ length: CAMERAS }, (_, i) => `cam-${i}`);
  // Cameras are split over OWNERS owner processes (simulated here, each with its own reader connection).
  const ownerOf = (cam: string): number => Number(cam.slice(4)) % OWNERS;
  const inboxOf = (o: number): string => keys.inbox(`owner-${o}`);
  const channelOf = (o: number): string => `${keys.prefix}:results:owner-${o}`;
  const streamOf = (cam: string): string => `${keys.prefix}:results:${cam}`;
  const submitted = new Map<string, number>();
  const latencies: number[] = [];
  let read = 0;
  let closed = false;
  const onResult = (owner: number, text: string): void => {
    read++;
    const m = JSON.parse(text) as { sourceId: string; seq: number };
    if (ownerOf(m.sourceId) !== owner) return; // another owner's camera: read for nothing
    const t0 = submitted.get(`${m.sourceId}:${m.seq}`);
    if (t0 === undefined) return;
    submitted.delete(`${m.sourceId}:${m.seq}`);
    latencies.push(performance.now() - t0);
  };

  const queue = new Queue('infer', {
    connection: redis,
    prefix: keys.bullPrefix,
    defaultJobOptions: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  });
  const readers: Redis[] = [];
  const events: QueueEvents[] = [];
  const loops: Promise<void>[] = [];
  for (let o = 0; o < OWNERS; o++) {
    const sub = connectRedis(REDIS_URL, { name: `bench-return-reader-${o}` });
    readers.push(sub);
    if (path === 'inbox') {
      loops.push(
        (async () => {
          while (!closed) {
            const r = await sub.blpop(inboxOf(o), 1).catch(() => null);
            if (r) onResult(o, r[1]);
            const more = r ? await sub.lpop(inboxOf(o), 100).catch(() => null) : null;
            if (more) for (const m of more) onResult(o, m);
          }
        })(),
      );
    } else if (path === 'queue-events') {
      const ev = new QueueEvents('infer', { connection: sub, prefix: keys.bullPrefix });
      ev.on('completed', ({ returnvalue }) => onResult(o, typeof returnvalue === 'string' ? returnvalue : JSON.stringify(returnvalue)));
      await ev.waitUntilReady();
      events.push(ev);
    } else if (path === 'stream') {
      // Start from 0 (the streams are new): no entry added before the first XREAD is missed.
      const last = new Map(cams.filter((c) => ownerOf(c) === o).map((c) => [streamOf(c), '0']));
      loops.push(
        (async () => {
          while (!closed) {
            const ks = [...last.keys()];
            const res = (await sub
              .xread('COUNT', 100, 'BLOCK', 1000, 'STREAMS', ...ks, ...ks.map((k) => last.get(k) as string))
              .catch(() => null)) as [string, [string, string[]][]][] | null;
            for (const [k, entries] of res ?? []) {
              for (const [id, fields] of entries) {
                last.set(k, id);
                onResult(o, fields[1] as string);
              }
            }
          }
        })(),
      );
    } else {
      sub.on('message', (_c: string, text: string) => onResult(o, text));
      await sub.subscribe(channelOf(o));
    }
  }

  const worker = new Worker(
    'infer',
    async (job) => {
      const { cam, seq } = job.data as { cam: string; seq: number };
      const msg = resultFor(cam, seq);
      const o = ownerOf(cam);
      if (path === 'inbox') await workerRedis.multi().rpush(inboxOf(o), msg).pexpire(inboxOf(o), 60_000).exec();
      else if (path === 'queue-events') return msg;
      else if (path === 'stream') await workerRedis.xadd(streamOf(cam), 'MAXLEN', '~', 1000, '*', 'p', msg);
      else await workerRedis.publish(channelOf(o), msg);
      return { outcome: 'ok', faces: 2, descriptors: 1 };
    },
    { connection: workerRedis, prefix: keys.bullPrefix, concurrency: 4 },
  );
  await worker.waitUntilReady();

  const total = CAMERAS * FPS * SECONDS;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i / (CAMERAS * FPS)) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const cam = cams[i % CAMERAS] as string;
    const seq = Math.floor(i / CAMERAS);
    submitted.set(`${cam}:${seq}`, performance.now());
    await queue.add('frame', { cam, seq });
  }
  const deadline = performance.now() + 30_000;
  while (latencies.length < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await worker.close();
  closed = true;
  for (const ev of events) await ev.close();
  const rest = await restingBytes(redis, keys);
  for (const c of readers) c.disconnect();
  await Promise.all(loops);
  await queue.close();
  await deleteKeys(redis, keys.pattern());
  for (const c of [redis, workerRedis]) c.disconnect();
  return {
    latencies,
    received: latencies.length,
    readPerResult: read / Math.max(1, latencies.length),
    restBytes: rest.bytes,
    restDescriptors: rest.descriptors,
  };
}

async function main(): Promise<void> {
  const runs = new Map<PathName, RunResult[]>(PATHS.map((p) => [p, []]));
  for (let rep = 0; rep < REPS; rep++) {
    // Rotate the order each rep so no path always runs first (connection and JIT warm-up).
    for (const p of [...PATHS.slice(rep % PATHS.length), ...PATHS.slice(0, rep % PATHS.length)]) {
      console.error(`bench:return: rep ${rep + 1}/${REPS} ${p} ...`);
      runs.get(p)?.push(await runPath(p));
    }
  }
  console.log(
    `bench:return — ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} CPUs, shared machine; real Redis on loopback; ${CAMERAS} cameras x ${FPS} fps x ${SECONDS} s per run, ${REPS} interleaved reps per path; BullMQ worker concurrency 4; ~6 KB result with one descriptor`,
  );
  console.log('');
  console.log(
    '| return path | results received | latency p50 / p95 / p99, ms | vs inbox p50 | messages read per result (2 owners) | at rest after the run (bytes) | descriptors at rest |',
  );
  console.log('|---|---|---|---|---|---|---|');
  const inboxP50 = pct(runs.get('inbox')?.flatMap((r) => r.latencies) ?? [], 50);
  for (const p of PATHS) {
    const rs = runs.get(p) as RunResult[];
    const lat = rs.flatMap((r) => r.latencies);
    const rest = Math.max(...rs.map((r) => r.restBytes));
    console.log(
      `| ${p} | ${rs.reduce((a, r) => a + r.received, 0)} / ${REPS * CAMERAS * FPS * SECONDS} | ${pct(lat, 50).toFixed(2)} / ${pct(lat, 95).toFixed(2)} / ${pct(lat, 99).toFixed(2)} | ${(pct(lat, 50) / inboxP50).toFixed(2)}x | ${(rs.reduce((a, r) => a + r.readPerResult, 0) / rs.length).toFixed(2)} | ${rest.toLocaleString('en-US')} | ${rs.some((r) => r.restDescriptors) ? 'yes' : 'no'} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
