/**
 * `npm run bench:service [-- --cameras 1,2,4,8] [-- --window 40] [-- --settle 8] [-- --clip FILE]`
 *
 * The one-process service under load, side by side with `crowdlens run` in the same run:
 * - `crowdlens run --no-realtime` on the clip (looped 4x into one file): the analysed frames/s one pipeline
 *   reaches when it never waits for the source (before and after the service levels; median).
 * - `crowdlens start` (a child process, as `npm start` runs it) with N cameras, each looping the same clip in
 *   real time at 5 fps (one ffmpeg each), N stepped up through `--cameras`: per level, analysed frames/s
 *   (crowdlens_frames_sampled_total), frames dropped because the analyzer was busy (queue_full), latency from a
 *   frame's `capturedAtMs` to the receipt of its Socket.IO `person.entered`/`person.left` event (p50/p95; those
 *   events carry the frame's capture time, `demographics` comes on the 1 Hz tick instead) and, for every analysed
 *   frame, crowdlens_frame_latency_seconds (capture -> tracked), and RSS of node and of the ffmpeg children.
 * Levels whose drops stay under 1% are within capacity; the p95 target (<= 250 ms) is judged there.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';
import type { SubscribeAck } from '../src/shared/api.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../src/shared/socket-events.ts';
import { parseArgs } from './lib/args.ts';
import { median, percentile } from './lib/stats.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BIN = path.join(ROOT, 'bin', 'crowdlens.js');
const FPS = 5;
const TOKEN = 'bench-service-token-0123456789abcdef';
const TARGET_P95_MS = 250;

function say(line: string): void {
  process.stderr.write(`[bench:service] ${line}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------- /proc ----------

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // the process ended
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number));
    } catch {
      continue; // the thread ended between listing and reading
    }
  }
  return out;
}

/** RSS now of a process and the sum over its ffmpeg children, MiB. */
function rssOf(pid: number): { nodeMb: number; nodePeakMb: number; ffmpegMb: number; ffmpegs: number } {
  let ff = 0;
  let n = 0;
  for (const c of childrenOf(pid)) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${c}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm !== 'ffmpeg') continue;
    ff += statusKb(c, 'VmRSS');
    n++;
  }
  return { nodeMb: statusKb(pid, 'VmRSS') / 1024, nodePeakMb: statusKb(pid, 'VmHWM') / 1024, ffmpegMb: ff / 1024, ffmpegs: n };
}

// ---------- crowdlens run ----------

interface RunResult {
  readonly fps: number;
  readonly frames: number;
  readonly maxRssMb: number;
}

/** `crowdlens run --no-realtime` on `clip`; frames/s from its own stats (model loading excluded). */
function crowdlensRun(clip: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'run', '--source', clip, '--no-realtime', '--fps', String(FPS)], { cwd: ROOT, env: { ...process.env, CROWDLENS_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = err.split('\n').find((l) => l.includes('"msg":"run finished"'));
      if (code !== 0 || !line) return reject(new Error(`crowdlens run exited ${code}: ${err.slice(-1500)}`));
      const j = JSON.parse(line) as { stats: { fps: number; frames: number }; maxRssMb: number };
      resolve({ fps: j.stats.fps, frames: j.stats.frames, maxRssMb: j.maxRssMb });
    });
  });
}

// ---------- crowdlens start ----------

interface Service {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<number | null>;
}

async function startService(dataDir: string, mediaDir: string): Promise<Service> {
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--no-demo', '--data-dir', dataDir, '--media-dir', mediaDir], {
    cwd: ROOT,
    env: { ...process.env, CROWDLENS_API_TOKEN: TOKEN, CROWDLENS_LOG_LEVEL: 'warn', CROWDLENS_HOST: '127.0.0.1', CROWDLENS_PREVIEW: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const t0 = Date.now();
  for (;;) {
    const m = /dashboard at (http:\/\/\S+?)\/\s/.exec(out);
    if (m?.[1]) {
      const url = m[1];
      for (;;) {
        if ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200) return { child, url, exited };
        if (Date.now() - t0 > 120_000) throw new Error(`crowdlens start: models not ready after 120 s: ${err.slice(-1500)}`);
        await sleep(250);
      }
    }
    if (child.exitCode !== null) throw new Error(`crowdlens start exited ${child.exitCode}: ${err.slice(-1500)}`);
    if (Date.now() - t0 > 60_000) throw new Error(`crowdlens start printed no URL in 60 s: ${err.slice(-1500)}`);
    await sleep(100);
  }
}

async function addCamera(url: string, i: number, clipName: string): Promise<void> {
  const res = await fetch(`${url}/api/cameras`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ name: `Bench ${i}`, url: clipName, fps: FPS, loop: true }),
  });
  if (res.status !== 201) throw new Error(`POST /api/cameras: ${res.status} ${await res.text()}`);
}

/** Sum of a metric's samples over all label sets, or per `le` for a histogram's buckets. */
interface Scrape {
  readonly sampled: number;
  readonly read: number;
  readonly queueFull: number;
  readonly latencyBuckets: Map<string, number>;
  readonly latencyCount: number;
  readonly running: number;
}

async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  let sampled = 0;
  let read = 0;
  let queueFull = 0;
  let latencyCount = 0;
  let running = 0;
  const latencyBuckets = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+|\+Inf|NaN)$/.exec(line);
    if (!m) continue;
    const [, name, labels = '', raw] = m;
    const v = Number(raw);
    if (name === 'crowdlens_frames_sampled_total') sampled += v;
    else if (name === 'crowdlens_frames_read_total') read += v;
    else if (name === 'crowdlens_frames_dropped_total' && labels.includes('reason="queue_full"')) queueFull += v;
    else if (name === 'crowdlens_frame_latency_seconds_count') latencyCount += v;
    else if (name === 'crowdlens_frame_latency_seconds_bucket') latencyBuckets.set(/le="([^"]+)"/.exec(labels)?.[1] ?? '', v);
    else if (name === 'crowdlens_camera_state' && labels.includes('state="running"')) running += v;
  }
  return { sampled, read, queueFull, latencyBuckets, latencyCount, running };
}

/** p-quantile (0..1) of a cumulative-bucket histogram delta, linear within a bucket; Infinity past the last bound. */
function histogramQuantile(before: Map<string, number>, after: Map<string, number>, p: number): number {
  const bounds = [...after.keys()].filter((k) => k !== '+Inf').map(Number).sort((a, b) => a - b);
  const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  if (total <= 0) return Number.NaN;
  const rank = p * total;
  let prevBound = 0;
  let prevCum = 0;
  for (const b of bounds) {
    const key = [...after.keys()].find((k) => Number(k) === b) as string;
    const cum = (after.get(key) ?? 0) - (before.get(key) ?? 0);
    if (cum >= rank) return prevBound + ((b - prevBound) * (rank - prevCum)) / Math.max(1e-9, cum - prevCum);
    prevBound = b;
    prevCum = cum;
  }
  return Number.POSITIVE_INFINITY;
}

interface Level {
  readonly cameras: number;
  readonly offeredFps: number;
  readonly readFps: number;
  readonly analysedFps: number;
  readonly droppedPct: number;
  readonly events: number;
  readonly eventP50: number;
  readonly eventP95: number;
  readonly histP50: number;
  readonly histP95: number;
  readonly rss: ReturnType<typeof rssOf>;
  readonly load: number;
}

function ms(v: number): string {
  if (Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return '> 5000';
  return v.toFixed(0);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), { cameras: 'string', window: 'number', settle: 'number', clip: 'string', keep: 'boolean' });
  const levels = String(args['cameras'] ?? '1,2,4,8')
    .split(',')
    .map((s) => Number(s.trim()));
  if (levels.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= (levels[i - 1] as number)))) throw new Error(`--cameras: expected increasing positive integers, e.g. 1,2,4,8 (got ${JSON.stringify(args['cameras'])})`);
  const windowS = Number(args['window'] ?? 40);
  const settleS = Number(args['settle'] ?? 8);
  const clip = path.resolve(String(args['clip'] ?? path.join(ROOT, 'samples', 'demo', 'demo.mp4')));
  const work = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-bench-service-'));
  const media = path.join(work, 'media');
  mkdirSync(media);
  let service: Service | null = null;
  let socket: Socket<ServerToClientEvents, ClientToServerEvents> | null = null;
  try {
    const clipName = 'clip.mp4';
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', clip, '-c', 'copy', '-an', path.join(media, clipName)]);
    // The same input for `crowdlens run`, long enough for a steady figure: the clip 4 times over.
    const looped = path.join(work, 'looped.mp4');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-stream_loop', '3', '-i', clip, '-c', 'copy', '-an', looped]);
    const probe = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height:format=duration', '-of', 'json', clip], { encoding: 'utf8' });
    const info = JSON.parse(probe) as { streams: { width: number; height: number }[]; format: { duration: string } };
    const [cpu] = os.cpus();
    process.stdout.write(`clip: ${path.relative(ROOT, clip) || clip} (${info.streams[0]?.width}x${info.streams[0]?.height}, ${Number(info.format.duration).toFixed(1)} s), sampled at ${FPS} fps per camera\n`);
    process.stdout.write(`machine: ${os.cpus().length} x ${cpu?.model ?? 'cpu'}, node ${process.version}, load average at start ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (shared with other work)\n\n`);

    say('crowdlens run --no-realtime (1 of 2) ...');
    const runs: RunResult[] = [await crowdlensRun(looped)];
    say(`  ${runs[0]?.frames} frames at ${runs[0]?.fps.toFixed(1)} frames/s`);

    say('starting crowdlens start (models loading) ...');
    service = await startService(path.join(work, 'data'), media);
    say(`  listening on ${service.url}`);
    const received: { atMs: number; gotMs: number }[] = [];
    const s: Socket<ServerToClientEvents, ClientToServerEvents> = io(service.url, { auth: { token: TOKEN }, transports: ['websocket'], reconnection: false });
    socket = s;
    s.on('person.entered', (e) => received.push({ atMs: e.atMs, gotMs: Date.now() }));
    s.on('person.left', (e) => received.push({ atMs: e.atMs, gotMs: Date.now() }));
    const ack = await new Promise<SubscribeAck>((resolve, reject) => {
      s.once('connect_error', reject);
      s.on('connect', () => s.emit('subscribe', '*', resolve));
    });
    if (!ack.ok) throw new Error(`subscribe: ${ack.error.message}`);

    const results: Level[] = [];
    let registered = 0;
    for (const n of levels) {
      while (registered < n) await addCamera(service.url, ++registered, clipName);
      say(`${n} camera(s): settling ${settleS} s ...`);
      const t0 = Date.now();
      while ((await scrape(service.url)).running < n) {
        if (Date.now() - t0 > 60_000) throw new Error(`${n} cameras did not all reach "running" within 60 s`);
        await sleep(500);
      }
      await sleep(settleS * 1000);
      const before = await scrape(service.url);
      const from = received.length;
      const tStart = Date.now();
      let peak = rssOf(service.child.pid as number);
      const loads: number[] = [];
      for (let left = windowS; left > 0; left -= 5) {
        await sleep(Math.min(5, left) * 1000);
        const r = rssOf(service.child.pid as number);
        if (r.nodeMb + r.ffmpegMb > peak.nodeMb + peak.ffmpegMb) peak = r;
        loads.push(os.loadavg()[0] as number);
        say(`  measuring: ${Math.round((Date.now() - tStart) / 1000)}/${windowS} s, ${received.length - from} person events so far`);
      }
      const after = await scrape(service.url);
      const dt = (Date.now() - tStart) / 1000;
      const lat = received.slice(from).map((e) => e.gotMs - e.atMs);
      const analysed = (after.sampled - before.sampled) / dt;
      const read = (after.read - before.read) / dt;
      const dropped = after.queueFull - before.queueFull;
      const level: Level = {
        cameras: n,
        offeredFps: n * FPS,
        readFps: read,
        analysedFps: analysed,
        droppedPct: (100 * dropped) / Math.max(1, after.read - before.read),
        events: lat.length,
        eventP50: lat.length ? percentile(lat, 50) : Number.NaN,
        eventP95: lat.length ? percentile(lat, 95) : Number.NaN,
        histP50: histogramQuantile(before.latencyBuckets, after.latencyBuckets, 0.5) * 1000,
        histP95: histogramQuantile(before.latencyBuckets, after.latencyBuckets, 0.95) * 1000,
        rss: peak,
        load: median(loads),
      };
      results.push(level);
      say(`  => analysed ${analysed.toFixed(1)} frames/s of ${n * FPS} offered, dropped ${level.droppedPct.toFixed(1)}%, event latency p50 ${ms(level.eventP50)} / p95 ${ms(level.eventP95)} ms (n=${lat.length})`);
      if (lat.some((l) => l < -50 || l > 60_000)) say('  warning: capture->receipt outside [0, 60 s]: capturedAtMs is not on the wall clock');
    }
    s.close();
    socket = null;
    service.child.kill('SIGTERM');
    await service.exited;
    service = null;

    say('crowdlens run --no-realtime (2 of 2) ...');
    runs.push(await crowdlensRun(looped));
    say(`  ${runs[1]?.frames} frames at ${runs[1]?.fps.toFixed(1)} frames/s`);

    const runFps = median(runs.map((r) => r.fps));
    const saturated = results.filter((l) => l.droppedPct >= 1);
    const within = results.filter((l) => l.droppedPct < 1);
    const serviceMax = Math.max(...results.map((l) => l.analysedFps));
    process.stdout.write('| cameras | offered fps | analysed fps | dropped (analyzer busy) | capture -> Socket.IO event p50 / p95 ms (n) | capture -> tracked p50 / p95 ms (all frames) | RSS node / ffmpeg (sum) MiB | load avg |\n');
    process.stdout.write('|---|---|---|---|---|---|---|---|\n');
    for (const l of results) {
      process.stdout.write(
        `| ${l.cameras} | ${l.offeredFps} | ${l.analysedFps.toFixed(1)} | ${l.droppedPct.toFixed(1)}% | ${ms(l.eventP50)} / ${ms(l.eventP95)} (${l.events}) | ${ms(l.histP50)} / ${ms(l.histP95)} | ${l.rss.nodeMb.toFixed(0)} / ${l.rss.ffmpegMb.toFixed(0)} (${l.rss.ffmpegs}) | ${l.load.toFixed(1)} |\n`,
      );
    }
    process.stdout.write(`\ncrowdlens run --no-realtime, same clip (x4): ${runs.map((r) => r.fps.toFixed(1)).join(' and ')} frames/s (median ${runFps.toFixed(1)}); peak RSS ${Math.max(...runs.map((r) => r.maxRssMb))} MiB\n`);
    process.stdout.write(`service, most analysed frames/s: ${serviceMax.toFixed(1)}${saturated.length ? ' (at capacity)' : ' (never saturated: add cameras)'}; ratio service / run: ${(serviceMax / runFps).toFixed(2)}\n`);
    const best = within[within.length - 1];
    if (best) {
      const pass = best.eventP95 <= TARGET_P95_MS && best.histP95 <= TARGET_P95_MS;
      process.stdout.write(`latency within capacity (${best.cameras} cameras, ${best.analysedFps.toFixed(1)} frames/s): p95 ${ms(best.eventP95)} ms (events), ${ms(best.histP95)} ms (all frames); target <= ${TARGET_P95_MS} ms: ${pass ? 'PASS' : 'FAIL'}\n`);
    } else {
      process.stdout.write('latency within capacity: no level stayed under 1% drops (start with fewer cameras)\n');
    }
    process.stdout.write(`load average at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  } finally {
    socket?.close();
    if (service) {
      service.child.kill('SIGTERM');
      const timer = setTimeout(() => service?.child.kill('SIGKILL'), 15_000);
      await service.exited;
      clearTimeout(timer);
    }
    if (args['keep']) say(`work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:service failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
