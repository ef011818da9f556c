/**
 * The scale-out as separate processes on one real Redis: two API nodes, two ingest processes and two workers
 * (`node bin/crowdlens.js api|ingest|worker`, plus the worker role in a slow child for the kill), real ffmpeg
 * reading a real clip, real models, a real Socket.IO client. Processes are killed by their recorded pids only; the
 * test's keys live under a random prefix and are deleted at the end.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveDemographics, LivePersonEntered, LivePersonLeft, CameraChange } from '../../src/shared/api.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/shared/socket-events.ts';
import { killChild, spawnCli, spawnTs, type Child } from '../support/child.ts';
import { VIDEOS } from '../support/frames.ts';
import { TEST_REDIS_URL, testRedis, waitUntil } from '../support/redis.ts';
import { promtoolCheck } from '../support/service.ts';

const LEASE_MS = 4000;
const r = testRedis('crowdlens-test-e2e');
const children: Child[] = [];
let media: string;
let env: Record<string, string>;

/** One sample of a metric from a Prometheus exposition (labels matched as a substring), or 0 when absent. */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    found = true;
  }
  return found ? sum : 0;
}

async function scrape(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

function start(args: string[], extra: Record<string, string> = {}): Child {
  const c = spawnCli(args, { ...env, ...extra });
  children.push(c);
  return c;
}

const urlOf = (line: string): string => (/(http:\/\/127\.0\.0\.1:\d+)/.exec(line) as RegExpExecArray)[1] as string;

beforeAll(async () => {
  media = await mkdtemp(path.join(tmpdir(), 'crowdlens-e2e-'));
  // One man facing the camera for 5 s, looped: someone is in view almost all the time.
  await copyFile(path.join(VIDEOS, 'head-pose-face-detection-male.mp4'), path.join(media, 'man.mp4'));
  env = {
    CROWDLENS_REDIS_URL: TEST_REDIS_URL,
    CROWDLENS_REDIS_PREFIX: r.keys.prefix,
    CROWDLENS_MEDIA_DIR: media,
    CROWDLENS_PORT: '0',
    CROWDLENS_METRICS_PORT: '0',
    CROWDLENS_LEASE_MS: String(LEASE_MS),
    CROWDLENS_JOB_LOCK_MS: '2000',
    CROWDLENS_REID_CARRY: 'true',
    CROWDLENS_LOG_LEVEL: 'warn',
    CROWDLENS_DEMO: 'false',
  };
});

afterAll(async () => {
  for (const c of children) await killChild(c);
  await r.cleanup();
  await rm(media, { recursive: true, force: true });
});

describe('api + ingest + workers as separate processes on one Redis', () => {
  it('registered through one API node, a camera shows live numbers on another; a worker killed with -9 mid-job loses and doubles no frame; a killed ingest hands its camera over within the lease, ending open tracks and recognising the returning person; SIGTERM exits 0', async () => {
    const apiA = start(['api']);
    const apiB = start(['api']);
    const ingest1 = start(['ingest']);
    const ingest2 = start(['ingest']);
    // Worker A: the worker role with a 1.5 s pause before each frame, so the kill lands mid-job.
    const slow = spawnTs('test/support/scale-worker-child.ts', { ...env, MODE: 'slow', CROWDLENS_WORKER_CONCURRENCY: '1' });
    children.push(slow);
    const workerB = start(['worker']);
    const [lineA, lineB] = await Promise.all([apiA.waitLine(/listening on/), apiB.waitLine(/listening on/)]);
    const urlA = urlOf(lineA);
    const urlB = urlOf(lineB);
    const ingestUrls = new Map<Child, string>();
    for (const c of [ingest1, ingest2]) ingestUrls.set(c, urlOf(await c.waitLine(/metrics at/)));
    const workerUrl = urlOf(await workerB.waitLine(/taking jobs/));
    await slow.waitLine(/^READY$/);

    // A dashboard client on node A, subscribed to every camera.
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = connect(urlA, { transports: ['websocket'], reconnection: false });
    const entered: (LivePersonEntered & { at: number })[] = [];
    const left: (LivePersonLeft & { at: number })[] = [];
    const ticks: LiveDemographics[] = [];
    const changes: CameraChange[] = [];
    socket.on('person.entered', (p) => void entered.push({ ...p, at: Date.now() }));
    socket.on('person.left', (p) => void left.push({ ...p, at: Date.now() }));
    socket.on('demographics', (p) => void ticks.push(p));
    socket.on('camera.changed', (p) => void changes.push(p));
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const ack = await socket.emitWithAck('subscribe', '*');
      expect(ack.ok).toBe(true);

      // Registered through node B...
      const res = await fetch(`${urlB}/api/cameras`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Hall', url: 'man.mp4', fps: 5 }),
      });
      expect(res.status).toBe(201);
      // ...node A's client hears of it and then gets live numbers from whichever ingest owns it.
      await waitUntil('camera.changed on node A', () => changes.some((c) => c.cameraId === 'hall' && c.type === 'created'), 15_000);
      await waitUntil(
        'live numbers on node A',
        () =>
          ticks.some((t) => t.cameraId === 'hall' && t.state === 'running' && (t.snapshot?.unique.sinceStart ?? 0) >= 1) &&
          entered.length > 0,
        60_000,
      );
      const status = (await (await fetch(`${urlA}/api/cameras/hall/status`)).json()) as { state: string; frames: { sampled: number } };
      expect(status.state).toBe('running');
      expect(status.frames.sampled).toBeGreaterThan(0);
      const demographics = (await (await fetch(`${urlB}/api/cameras/hall/demographics`)).json()) as {
        live: { unique: { sinceStart: number } };
        minutes: { frames: number }[];
      };
      expect(demographics.live.unique.sinceStart).toBeGreaterThanOrEqual(1);
      expect(demographics.minutes.some((m) => m.frames > 0)).toBe(true);

      // /metrics of each role passes promtool and has the scale-out series.
      const owner = async (): Promise<Child> => {
        const value = (await r.redis.get(r.keys.lease('hall'))) ?? '';
        const c = [ingest1, ingest2].find((i) => value.includes(`-${i.proc.pid}-`));
        if (!c) throw new Error(`no ingest child holds the lease (${value})`);
        return c;
      };
      await waitUntil('an owner', async () => (await r.redis.get(r.keys.lease('hall'))) !== null);
      const first = await owner();
      const ingestMetrics = await scrape(ingestUrls.get(first) as string);
      const workerMetrics = await scrape(workerUrl);
      for (const text of [ingestMetrics, workerMetrics]) {
        const lint = await promtoolCheck(text);
        expect(lint.out).toBe('');
        expect(lint.code).toBe(0);
        for (const name of [
          'crowdlens_jobs_waiting',
          'crowdlens_jobs_active',
          'crowdlens_queue_wait_seconds_bucket',
          'crowdlens_redis_errors_total',
        ])
          expect(text).toContain(name);
      }
      expect(workerMetrics).toContain('crowdlens_worker_busy_ratio');
      expect(ingestMetrics).toContain('crowdlens_frames_dropped_total{camera="hall",reason="in_flight"}');
      expect(workerMetrics).not.toContain('crowdlens_people_now');

      // Worker A is killed with -9 in the middle of a frame.
      const before = metric(await scrape(ingestUrls.get(first) as string), 'crowdlens_result_round_trip_seconds_count');
      await slow.waitLine(/^ANALYZING \d+$/, 60_000);
      slow.proc.kill('SIGKILL');
      expect((await slow.exited).signal).toBe('SIGKILL');
      // Its frame comes back through BullMQ's stalled-job recovery; later frames are released behind it, in order.
      let afterKill = '';
      await waitUntil(
        'frames released after the kill',
        async () =>
          metric((afterKill = await scrape(ingestUrls.get(first) as string)), 'crowdlens_result_round_trip_seconds_count') >= before + 15,
        60_000,
        250,
      );
      for (const reason of ['deadline', 'expired', 'failed'])
        expect(metric(afterKill, 'crowdlens_frames_dropped_total', `reason="${reason}"`)).toBe(0);
      expect(metric(afterKill, 'crowdlens_results_duplicate_total')).toBe(0);

      // The owning ingest process is killed with -9 while the man is in view.
      await waitUntil(
        'someone in view',
        () => {
          const last = ticks.filter((t) => t.cameraId === 'hall').at(-1);
          const ids = [...new Set(entered.map((e) => e.personId))];
          return (
            (last?.snapshot?.peopleNow ?? 0) >= 1 &&
            ids.some(
              (id) =>
                !left.some((l) => l.personId === id && l.at >= Math.max(...entered.filter((e) => e.personId === id).map((e) => e.at))),
            )
          );
        },
        30_000,
      );
      const victim = await owner();
      const survivor = victim === ingest1 ? ingest2 : ingest1;
      const lastEntry = (id: number): number => Math.max(...entered.filter((e) => e.personId === id).map((e) => e.at));
      const openIds = [...new Set(entered.map((e) => e.personId))].filter(
        (id) => !left.some((l) => l.personId === id && l.at >= lastEntry(id)),
      );
      expect(openIds.length).toBeGreaterThan(0);
      const maxIdBefore = Math.max(...entered.map((e) => e.personId));
      const uniqueBefore = ticks.filter((t) => t.cameraId === 'hall').at(-1)?.snapshot?.unique.sinceStart ?? 0;
      const killedAt = Date.now();
      victim.proc.kill('SIGKILL');
      await victim.exited;
      await waitUntil(
        'the other ingest process holds the camera',
        async () => ((await r.redis.get(r.keys.lease('hall'))) ?? '').includes(`-${survivor.proc.pid}-`),
        30_000,
        20,
      );
      const takeoverMs = Date.now() - killedAt;
      expect(takeoverMs).toBeLessThan(LEASE_MS);
      // Tracking restarts cleanly: the dead owner's open appearances end, and the man seen again is recognised
      // (re-id carried in Redis): same id, `returning`, and not counted again.
      await waitUntil(
        'the open appearances ended',
        () => openIds.every((id) => left.some((l) => l.personId === id && l.at > killedAt)),
        30_000,
      );
      await waitUntil('an entry after the takeover', () => entered.some((e) => e.at > killedAt), 60_000);
      const after = entered.filter((e) => e.at > killedAt);
      expect(after.some((e) => e.returning && e.personId <= maxIdBefore)).toBe(true);
      const newPeople = after.filter((e) => !e.returning);
      for (const e of newPeople) expect(e.personId).toBeGreaterThan(maxIdBefore);
      const lastAfter = after.at(-1) as LivePersonEntered & { at: number };
      await waitUntil(
        'a tick after that entry',
        () => ticks.some((t) => t.cameraId === 'hall' && (t.snapshot?.atMs ?? 0) >= lastAfter.atMs),
        30_000,
      );
      const tick = ticks.filter((t) => t.cameraId === 'hall').at(-1) as LiveDemographics;
      console.log(
        `takeover ${takeoverMs} ms (lease ${LEASE_MS}); open appearances ended ${openIds.join(',')}; after: ${after.map((e) => `${e.personId}${e.returning ? 'r' : ''}`).join(',')}; unique ${uniqueBefore} -> ${tick.snapshot?.unique.sinceStart}; results before kill ${before}`,
      );
      expect(tick.snapshot?.unique.sinceStart).toBe(uniqueBefore + newPeople.length);
      // The merged table is the one-process shape: soft counts summing to the people with an estimate, the rest without.
      const snap = tick.snapshot as NonNullable<LiveDemographics['snapshot']>;
      expect(snap.estimated).toBeGreaterThanOrEqual(1);
      expect(snap.estimated + snap.withoutEstimate).toBe(snap.unique.sinceStart);
      expect(Object.values(snap.byAgeGender).reduce((a, b) => a + b, 0)).toBeCloseTo(snap.estimated, 2);
      expect(snap.byGenderLabel.female + snap.byGenderLabel.male + snap.byGenderLabel.unknown).toBe(snap.estimated);

      // SIGTERM: the CLI worker finishes what it holds and exits 0; so do the ingest and API processes.
      for (const c of [workerB, survivor, apiA, apiB]) c.proc.kill('SIGTERM');
      for (const c of [workerB, survivor, apiA, apiB]) expect(await c.exited).toEqual({ code: 0, signal: null });
    } finally {
      socket.close();
    }
  }, 240_000);
});
