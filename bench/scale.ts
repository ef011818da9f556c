/**
 * `npm run bench:scale`: the one-process service against the scale-out over Redis, in one run on the same input.
 *
 * For each load (N cameras looping a real clip at 5 fps, registered over REST), three set-ups run one after the
 * other as real processes (`node bin/crowdlens.js ...`):
 *   start        `crowdlens start` without Redis (everything in one process)
 *   redis-1w     `crowdlens api` + `crowdlens ingest` + 1 `crowdlens worker` on the local Redis
 *   redis-2w     the same with 2 workers
 * After a warm-up, over a measured window: analysed frames/s (crowdlens_faces_per_frame_count, one per analysed
 * frame), frames dropped by reason, RSS and CPU per role process (ffmpeg children summed separately), latency from
 * a frame's capturedAtMs to the Socket.IO person event a dashboard client receives, and Redis memory of the run's
 * keys (MEMORY USAGE over the prefix, sampled every 2 s). Prints progress on stderr and a Markdown table on stdout.
 *
 *   npm run bench:scale -- [--light 2] [--heavy 12] [--seconds 30] [--warmup 10] [--clip samples/demo/demo.mp4]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io as connect } from 'socket.io-client';
import { Redis } from 'ioredis';
import { parseArgs } from './lib/args.ts';
import { median, percentile } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const args = parseArgs(process.argv.slice(2), {
  light: 'number',
  heavy: 'number',
  seconds: 'number',
  warmup: 'number',
  clip: 'string',
  redis: 'string',
});
const LIGHT = Number(args['light'] ?? 2);
const HEAVY = Number(args['heavy'] ?? 12);
const SECONDS = Number(args['seconds'] ?? 30);
const WARMUP = Number(args['warmup'] ?? 10);
const CLIP = path.resolve(ROOT, String(args['clip'] ?? 'samples/demo/demo.mp4'));
const REDIS_URL = String(args['redis'] ?? process.env['CROWDLENS_REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const CLK_TCK = 100;

const log = (msg: string): void => void process.stderr.write(`bench:scale ${new Date().toISOString().slice(11, 19)} ${msg}\n`);

interface Proc {
  readonly role: string;
  readonly child: ChildProcess;
  readonly out: string[];
  line(re: RegExp, timeoutMs?: number): Promise<string>;
}

function spawnRole(role: string, argv: string[], env: Record<string, string | undefined>): Proc {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'crowdlens.js'), ...argv], {
    cwd: ROOT,
    env: { ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  let err = '';
  child.stdout?.on('data', (d: Buffer) => out.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr?.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-4000)));
  return {
    role,
    child,
    out,
    line: (re, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const check = (): void => {
          const hit = out.find((l) => re.test(l));
          if (hit) return resolve(hit);
          if (child.exitCode !== null) return reject(new Error(`${role} exited (${child.exitCode}): ${err}`));
          if (Date.now() - t0 > timeoutMs) return reject(new Error(`${role}: no line ${re} in ${timeoutMs} ms: ${err}`));
          setTimeout(check, 100);
        };
        check();
      }),
  };
}

async function stop(procs: readonly Proc[]): Promise<void> {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
          const t = setTimeout(() => {
            p.child.kill('SIGKILL');
            resolve();
          }, 15_000);
          p.child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
}

/** CPU (utime + stime, ms) and RSS (KiB) of a pid; null when gone. */
async function procStat(pid: number): Promise<{ cpuMs: number; rssKiB: number; ppid: number; comm: string } | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK, rssKiB: rss, ppid: Number(f[1]), comm };
  } catch {
    return null;
  }
}

/** ffmpeg children of `pids`. */
async function ffmpegChildren(pids: ReadonlySet<number>): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = await procStat(Number(e));
    if (s && pids.has(s.ppid) && s.comm.startsWith('ffmpeg')) out.push(Number(e));
  }
  return out;
}

function metricSum(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Quantile `q` (0..1) of a histogram's observations between two scrapes, interpolated within its buckets (Prometheus' histogram_quantile). */
function histogramQuantile(m0: string, m1: string, name: string, q: number): number {
  const buckets = new Map<number, number>();
  for (const [text, sign] of [
    [m1, 1],
    [m0, -1],
  ] as const) {
    for (const line of text.split('\n')) {
      const m = new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\} (\\S+)$`).exec(line);
      if (!m) continue;
      const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
      buckets.set(le, (buckets.get(le) ?? 0) + sign * Number(m[2]));
    }
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-9, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

async function prefixMemory(redis: Redis, prefix: string): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (batch.length === 0) continue;
    const p = redis.pipeline();
    for (const k of batch) p.memory('USAGE', k);
    for (const [, v] of (await p.exec()) ?? []) bytes += Number(v ?? 0);
    keys += batch.length;
  } while (cursor !== '0');
  return { bytes, keys };
}

interface Result {
  readonly setup: string;
  readonly cameras: number;
  readonly fps: number;
  readonly offeredFps: number;
  readonly dropped: Record<string, number>;
  readonly latency: { n: number; p50: number; p95: number };
  /** Capture to end of tracking, every analysed frame (crowdlens_frame_latency_seconds), ms. */
  readonly tracked: { p50: number; p95: number };
  readonly rssMiB: Record<string, number>;
  readonly cpuMsPerFrame: number;
  readonly cpuByRole: Record<string, number>;
  readonly redis: { samples: number[]; firstThirdMedian: number; lastThirdMedian: number; keysMax: number } | null;
}

async function runSetup(setup: 'start' | 'redis-1w' | 'redis-2w', cameras: number, workDir: string): Promise<Result> {
  const prefix = `crowdlens-bench-${randomBytes(4).toString('hex')}`;
  const media = path.join(workDir, 'media');
  const base: Record<string, string | undefined> = {
    ...process.env,
    CROWDLENS_MEDIA_DIR: media,
    CROWDLENS_PORT: '0',
    CROWDLENS_METRICS_PORT: '0',
    CROWDLENS_LOG_LEVEL: 'warn',
    CROWDLENS_DEMO: 'false',
    CROWDLENS_MAX_CAMERAS: '256',
  };
  delete base['REDIS_URL'];
  delete base['CROWDLENS_REDIS_URL'];
  const procs: Proc[] = [];
  let apiUrl: string;
  let cameraMetricsUrl: string;
  const redis = setup === 'start' ? null : new Redis(REDIS_URL);
  try {
    if (setup === 'start') {
      const p = spawnRole('start', ['start', '--data-dir', path.join(workDir, `data-${prefix}`)], base);
      procs.push(p);
      apiUrl = (/(http:\/\/\S+?)\/\s/.exec(await p.line(/dashboard at/)) as RegExpExecArray)[1] as string;
      cameraMetricsUrl = apiUrl;
      for (let i = 0; i < 600 && (await fetch(`${apiUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 200));
    } else {
      const env = { ...base, CROWDLENS_REDIS_URL: REDIS_URL, CROWDLENS_REDIS_PREFIX: prefix };
      const api = spawnRole('api', ['api'], env);
      const ingest = spawnRole('ingest', ['ingest'], env);
      const workers = Array.from({ length: setup === 'redis-1w' ? 1 : 2 }, (_, i) => spawnRole(`worker${i + 1}`, ['worker'], env));
      procs.push(api, ingest, ...workers);
      apiUrl = (/(http:\/\/127\.0\.0\.1:\d+)/.exec(await api.line(/listening on/)) as RegExpExecArray)[1] as string;
      cameraMetricsUrl = (/(http:\/\/127\.0\.0\.1:\d+)/.exec(await ingest.line(/metrics at/)) as RegExpExecArray)[1] as string;
      for (const w of workers) await w.line(/taking jobs/);
    }
    log(`${setup} x ${cameras} cameras: up (${procs.map((p) => `${p.role} ${p.child.pid}`).join(', ')})`);
    const socket = connect(apiUrl, { transports: ['websocket'] });
    const latencies: { at: number; ms: number }[] = [];
    const onPerson = (p: { atMs: number }): void => void latencies.push({ at: Date.now(), ms: Date.now() - p.atMs });
    socket.on('person.entered', onPerson);
    socket.on('person.left', onPerson);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    await socket.emitWithAck('subscribe', '*');
    for (let i = 1; i <= cameras; i++) {
      const res = await fetch(`${apiUrl}/api/cameras`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `cam ${i}`, url: 'clip.mp4', fps: 5, loop: true }),
      });
      if (res.status !== 201) throw new Error(`registering camera ${i}: ${res.status} ${await res.text()}`);
    }
    log(`${setup}: ${cameras} cameras registered; warming up ${WARMUP} s`);
    await new Promise((r) => setTimeout(r, WARMUP * 1000));

    const rolePids = new Map(procs.map((p) => [p.role, p.child.pid as number]));
    const ff = await ffmpegChildren(new Set(rolePids.values()));
    const cpu0 = new Map<string, number>();
    for (const [role, pid] of rolePids) cpu0.set(role, (await procStat(pid))?.cpuMs ?? 0);
    let ffCpu0 = 0;
    for (const pid of ff) ffCpu0 += (await procStat(pid))?.cpuMs ?? 0;
    const m0 = await scrape(cameraMetricsUrl);
    const t0 = Date.now();
    const rss = new Map<string, number[]>();
    const redisSamples: number[] = [];
    let keysMax = 0;
    let nextLog = t0 + 10_000;
    while (Date.now() - t0 < SECONDS * 1000) {
      for (const [role, pid] of rolePids) {
        const s = await procStat(pid);
        if (s) rss.set(role, [...(rss.get(role) ?? []), s.rssKiB / 1024]);
      }
      let ffRss = 0;
      for (const pid of ff) ffRss += ((await procStat(pid))?.rssKiB ?? 0) / 1024;
      rss.set(`ffmpeg x${ff.length}`, [...(rss.get(`ffmpeg x${ff.length}`) ?? []), ffRss]);
      if (redis) {
        const mem = await prefixMemory(redis, prefix);
        redisSamples.push(mem.bytes);
        keysMax = Math.max(keysMax, mem.keys);
      }
      if (Date.now() > nextLog) {
        log(`${setup} x ${cameras}: ${Math.round((Date.now() - t0) / 1000)}/${SECONDS} s`);
        nextLog += 10_000;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    const m1 = await scrape(cameraMetricsUrl);
    const wallS = (Date.now() - t0) / 1000;
    const cpuByRole: Record<string, number> = {};
    let cpuTotal = 0;
    for (const [role, pid] of rolePids) {
      const d = ((await procStat(pid))?.cpuMs ?? 0) - (cpu0.get(role) ?? 0);
      cpuByRole[role] = d;
      cpuTotal += d;
    }
    let ffCpu1 = 0;
    for (const pid of ff) ffCpu1 += (await procStat(pid))?.cpuMs ?? 0;
    cpuByRole['ffmpeg'] = ffCpu1 - ffCpu0;
    socket.close();
    const frames = metricSum(m1, 'crowdlens_faces_per_frame_count') - metricSum(m0, 'crowdlens_faces_per_frame_count');
    const dropped: Record<string, number> = {};
    for (const reason of ['queue_full', 'in_flight', 'redis_error', 'deadline', 'expired', 'failed']) {
      const d =
        metricSum(m1, 'crowdlens_frames_dropped_total', `reason="${reason}"`) -
        metricSum(m0, 'crowdlens_frames_dropped_total', `reason="${reason}"`);
      if (d > 0) dropped[reason] = d;
    }
    const inWindow = latencies.filter((l) => l.at >= t0).map((l) => l.ms);
    const third = Math.max(1, Math.floor(redisSamples.length / 3));
    const result: Result = {
      setup,
      cameras,
      fps: frames / wallS,
      offeredFps: cameras * 5,
      dropped,
      tracked: {
        p50: histogramQuantile(m0, m1, 'crowdlens_frame_latency_seconds', 0.5) * 1000,
        p95: histogramQuantile(m0, m1, 'crowdlens_frame_latency_seconds', 0.95) * 1000,
      },
      latency: {
        n: inWindow.length,
        p50: inWindow.length ? percentile(inWindow, 50) : NaN,
        p95: inWindow.length ? percentile(inWindow, 95) : NaN,
      },
      rssMiB: Object.fromEntries([...rss].map(([k, v]) => [k, Math.max(...v)])),
      cpuMsPerFrame: frames > 0 ? (cpuTotal + cpuByRole['ffmpeg']) / frames : NaN,
      cpuByRole,
      redis: redis
        ? {
            samples: redisSamples,
            firstThirdMedian: median(redisSamples.slice(0, third)),
            lastThirdMedian: median(redisSamples.slice(-third)),
            keysMax,
          }
        : null,
    };
    log(
      `${setup} x ${cameras}: ${result.fps.toFixed(2)} analysed frames/s of ${result.offeredFps} offered; latency p50/p95 ${result.latency.p50.toFixed(0)}/${result.latency.p95.toFixed(0)} ms (n=${result.latency.n}); dropped ${JSON.stringify(dropped)}`,
    );
    return result;
  } finally {
    await stop(procs);
    if (redis) {
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (batch.length) await redis.unlink(...batch);
      } while (cursor !== '0');
      redis.disconnect();
    }
  }
}

const kb = (b: number): string => `${(b / 1024).toFixed(0)} KB`;

async function main(): Promise<void> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'crowdlens-bench-scale-'));
  const media = path.join(workDir, 'media');
  await (await import('node:fs/promises')).mkdir(media, { recursive: true });
  await copyFile(CLIP, path.join(media, 'clip.mp4'));
  log(
    `clip ${path.relative(ROOT, CLIP)}; loads ${LIGHT} and ${HEAVY} cameras x 5 fps; ${WARMUP} s warm-up + ${SECONDS} s measured per set-up; Redis ${REDIS_URL}`,
  );
  const results: Result[] = [];
  try {
    for (const cameras of [LIGHT, HEAVY])
      for (const setup of ['start', 'redis-1w', 'redis-2w'] as const) results.push(await runSetup(setup, cameras, workDir));
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  const rows: string[] = [];
  rows.push(
    '| load | set-up | analysed frames/s (offered) | vs start | capture -> Socket.IO event p50 / p95 ms (n) | capture -> tracked p50 / p95 ms (all frames) | dropped (by reason) | CPU ms per analysed frame (all processes) | peak RSS MiB per process | Redis memory of the run, first / last third median (keys max) |',
  );
  rows.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const ref = results.find((x) => x.cameras === r.cameras && x.setup === 'start') as Result;
    const rss = Object.entries(r.rssMiB)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ');
    const drops =
      Object.entries(r.dropped)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '0';
    const mem = r.redis ? `${kb(r.redis.firstThirdMedian)} / ${kb(r.redis.lastThirdMedian)} (${r.redis.keysMax})` : '-';
    rows.push(
      `| ${r.cameras} cameras | ${r.setup} | ${r.fps.toFixed(2)} (${r.offeredFps}) | ${(r.fps / ref.fps).toFixed(2)}x | ${r.latency.p50.toFixed(0)} / ${r.latency.p95.toFixed(0)} (${r.latency.n}) | ${r.tracked.p50.toFixed(0)} / ${r.tracked.p95.toFixed(0)} | ${drops} | ${r.cpuMsPerFrame.toFixed(1)} | ${rss} | ${mem} |`,
    );
  }
  const heavy = (s: string): Result => results.find((x) => x.cameras === HEAVY && x.setup === s) as Result;
  process.stdout.write(`${rows.join('\n')}\n\n`);
  process.stdout.write(
    `targets: 1 worker over Redis / start at ${HEAVY} cameras = ${(heavy('redis-1w').fps / heavy('start').fps).toFixed(2)} (>= 0.90); 2 workers / 1 worker = ${(heavy('redis-2w').fps / heavy('redis-1w').fps).toFixed(2)} (>= 1.6); p95 within capacity (${LIGHT} cameras) = ${results
      .filter((x) => x.cameras === LIGHT)
      .map((x) => `${x.setup} ${x.latency.p95.toFixed(0)} ms`)
      .join(', ')} (<= 250)\n`,
  );
  process.stdout.write(
    `CPU ms by process over the window: ${results
      .map(
        (r) =>
          `${r.setup}x${r.cameras}: ${Object.entries(r.cpuByRole)
            .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
            .join(' ')}`,
      )
      .join('; ')}\n`,
  );
  process.stdout.write(
    `Redis samples (bytes): ${results
      .filter((r) => r.redis)
      .map((r) => `${r.setup}x${r.cameras}: ${r.redis?.samples.map((b) => Math.round(b / 1024)).join(' ')} KB`)
      .join('; ')}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scale failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
