import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cameraSchema, cameraStatusSchema, liveDemographicsSchema, livePersonEnteredSchema, livePersonLeftSchema, type CameraStatus, type LiveDemographics, type LivePersonEntered, type LivePersonLeft, type SubscribeAck } from '../../src/shared/api.ts';
import { loadConfig } from '../../src/shared/config.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/shared/socket-events.ts';
import { DEMO_CAMERA_ID, startEmbeddedService, type EmbeddedService } from '../../src/service/embedded.ts';
import { captureLogger, makeClip } from '../ingest/helpers.ts';
import { eventually, pidsWithArg, promtoolCheck } from '../support/service.ts';

const SECRET = 'Secr3t-Pa55';

let dir: string;
let media: string;
let service: EmbeddedService;
let logs: () => string;
type Client = Socket<ServerToClientEvents, ClientToServerEvents>;
let client: Client;
const received: { demographics: LiveDemographics[]; entered: LivePersonEntered[]; left: LivePersonLeft[]; status: CameraStatus[]; raw: string[] } = { demographics: [], entered: [], left: [], status: [], raw: [] };

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(`${service.url}${url}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  const text = await res.text();
  return { status: res.status, json: text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : null, text };
}

async function status(id: string): Promise<CameraStatus> {
  return cameraStatusSchema.parse((await api('GET', `/api/cameras/${id}/status`)).json);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-embedded-'));
  media = path.join(dir, 'media');
  const config = loadConfig({ env: {}, flags: { 'api.port': 0, 'service.dataDir': path.join(dir, 'data'), 'service.mediaDir': media, 'ingest.maxWidth': 480, 'ingest.watchdogMs': 3000 } });
  const cap = captureLogger();
  logs = cap.text;
  service = await startEmbeddedService({ config, logger: cap.logger });
  client = connect(service.url, { transports: ['websocket'], reconnection: false });
  client.on('demographics', (d) => {
    received.demographics.push(d);
    received.raw.push(JSON.stringify(d));
  });
  client.on('person.entered', (e) => {
    received.entered.push(e);
    received.raw.push(JSON.stringify(e));
  });
  client.on('person.left', (e) => {
    received.left.push(e);
    received.raw.push(JSON.stringify(e));
  });
  client.on('camera.status', (s) => {
    received.status.push(s);
    received.raw.push(JSON.stringify(s));
  });
  client.on('camera.changed', (c) => received.raw.push(JSON.stringify(c)));
  const ack = await new Promise<SubscribeAck>((resolve) => client.emit('subscribe', '*', resolve));
  expect(ack.ok).toBe(true);
  await service.ready;
});

afterAll(async () => {
  client?.close();
  await service?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('crowdlens start in one process', () => {
  it('registers the demo camera on first start and streams its demographics and person events over Socket.IO', async () => {
    const cams = (await api('GET', '/api/cameras')).json as unknown[];
    expect(cams.map((c) => cameraSchema.parse(c).id)).toEqual([DEMO_CAMERA_ID]);
    expect((await api('GET', '/readyz')).status).toBe(200);
    // The demo clip has faces from its first second and an empty gap at ~3 s: people enter, then leave.
    const left = await eventually('a person.left from the demo camera', () => received.left.find((e) => e.cameraId === DEMO_CAMERA_ID), 45_000);
    expect(received.entered.some((e) => e.cameraId === DEMO_CAMERA_ID && e.personId === left.personId)).toBe(true);
    for (const e of received.entered) livePersonEnteredSchema.parse(e);
    for (const e of received.left) livePersonLeftSchema.parse(e);
    expect(left.dwellMs).toBeGreaterThan(0);
    // Aggregates and fused estimates only: no boxes, crops or descriptors on the wire.
    for (const text of received.raw) expect(text).not.toMatch(/"box"|"descriptor"|"rgb"/);

    const withPeople = await eventually('a demographics snapshot with people', () => received.demographics.find((d) => d.cameraId === DEMO_CAMERA_ID && (d.snapshot?.unique.sinceStart ?? 0) > 0));
    liveDemographicsSchema.parse(withPeople);
    // Files played as cameras run on the wall clock, like live sources.
    expect(Math.abs((withPeople.snapshot?.atMs ?? 0) - Date.now())).toBeLessThan(60_000);
    // A steady rate: one event per camera per second (CROWDLENS_LIVE_INTERVAL_MS), at increasing times.
    const demoTicks = received.demographics.filter((d) => d.cameraId === DEMO_CAMERA_ID);
    expect(demoTicks.length).toBeGreaterThanOrEqual(3);
    const gaps = demoTicks.slice(1).map((d, i) => d.atMs - (demoTicks[i] as LiveDemographics).atMs);
    for (const g of gaps) expect(g).toBeGreaterThan(0);

    const d = (await api('GET', `/api/cameras/${DEMO_CAMERA_ID}/demographics`)).json as { minutes: { frames: number; unique: number; entered: number }[]; live: { peopleNow: number } | null };
    const current = d.minutes.at(-1);
    expect((current?.frames ?? 0) + (d.minutes.at(-2)?.frames ?? 0)).toBeGreaterThan(0);
    expect(d.minutes.reduce((a, b) => a + b.entered, 0)).toBeGreaterThan(0);
    expect(d.live).not.toBeNull();
  });

  it('starts, stops, restarts and deletes a camera within seconds of a REST change, without a restart of the service', async () => {
    const clip = await makeClip(path.join(media, 'testsrc.mp4'), 'testsrc2=size=320x180:rate=10', 3);
    const created = await api('POST', '/api/cameras', { name: 'Hot swap', url: 'testsrc.mp4', fps: 4 });
    expect(created.status, created.text).toBe(201);
    const id = cameraSchema.parse(created.json).id;
    const ffmpegOf = (): number[] => pidsWithArg(clip);

    await eventually('the new camera runs and reads frames', async () => {
      const s = await status(id);
      return s.state === 'running' && s.frames.read > 0;
    });
    expect(ffmpegOf().length).toBe(1);

    expect((await api('PATCH', `/api/cameras/${id}`, { enabled: false })).status).toBe(200);
    await eventually('the disabled camera stops (state and ffmpeg gone)', async () => (await status(id)).state === 'disabled' && ffmpegOf().length === 0, 15_000);
    const stoppedAt = (await status(id)).frames.read;
    expect(received.status.some((s) => s.cameraId === id && s.state === 'disabled')).toBe(true);

    // A change of fps restarts its ingest; counters carry on across the restart.
    expect((await api('PATCH', `/api/cameras/${id}`, { enabled: true, fps: 2 })).status).toBe(200);
    await eventually('the re-enabled camera reads frames again', async () => {
      const s = await status(id);
      return s.state === 'running' && s.frames.read > stoppedAt;
    });

    expect((await api('DELETE', `/api/cameras/${id}`)).status).toBe(204);
    await eventually('the deleted camera is gone (404, ffmpeg gone, no metric series)', async () => {
      const gone = (await api('GET', `/api/cameras/${id}/status`)).status === 404 && ffmpegOf().length === 0;
      return gone && !(await api('GET', '/metrics')).text.includes(`camera="${id}"`);
    }, 15_000);
  });

  it('masks camera credentials in status, events, metrics and logs while the camera fails to connect', async () => {
    const created = await api('POST', '/api/cameras', { name: 'Locked', url: `rtsp://admin:${SECRET}@127.0.0.1:1/stream?token=${SECRET}x` });
    expect(created.status, created.text).toBe(201);
    const id = cameraSchema.parse(created.json).id;
    const s = await eventually('the unreachable camera reports its error', async () => {
      const st = await status(id);
      return st.lastError !== null && (st.state === 'reconnecting' || st.state === 'failed') ? st : undefined;
    });
    expect(s.lastError?.message).toMatch(/refused/i);
    await eventually('a camera.status event for it', () => received.status.some((x) => x.cameraId === id && x.lastError !== null));
    const texts = [created.text, JSON.stringify(s), (await api('GET', '/api/cameras')).text, (await api('GET', `/api/cameras/${id}/demographics`)).text, (await api('GET', '/metrics')).text, ...received.raw, logs()];
    for (const t of texts) {
      expect(t).not.toContain(SECRET);
      expect(t).not.toContain('admin:');
    }
    expect((await api('DELETE', `/api/cameras/${id}`)).status).toBe(204);
  });

  it('serves Prometheus metrics that promtool accepts, with the expected series', async () => {
    const text = (await api('GET', '/metrics')).text;
    const checked = await promtoolCheck(text);
    expect(checked.out).toBe('');
    expect(checked.code).toBe(0);
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : NaN;
    };
    expect(value('crowdlens_frames_read_total{camera="demo"}')).toBeGreaterThan(0);
    expect(value('crowdlens_frames_sampled_total{camera="demo"}')).toBeGreaterThan(0);
    expect(value('crowdlens_frames_dropped_total{camera="demo",reason="queue_full"}')).toBeGreaterThanOrEqual(0);
    expect(value('crowdlens_inference_seconds_count{model="blazeface"}')).toBeGreaterThan(0);
    expect(value('crowdlens_inference_seconds_count{model="age_gender"}')).toBeGreaterThan(0);
    expect(value('crowdlens_faces_per_frame_count{camera="demo"}')).toBeGreaterThan(0);
    expect(value('crowdlens_people_unique_total{camera="demo"}')).toBeGreaterThan(0);
    expect(value('crowdlens_camera_state{camera="demo",state="running"}')).toBe(1);
    expect(value('crowdlens_models_ready')).toBe(1);
    for (const name of ['crowdlens_tracks_active', 'crowdlens_people_now', 'crowdlens_people_unique', 'crowdlens_source_reconnects_total', 'crowdlens_source_watchdog_restarts_total', 'crowdlens_analyzer_wait_seconds', 'crowdlens_frame_latency_seconds', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    // Frames reach the models through the one shared analyzer (a region frame may run the detector more than once,
    // and a frame the motion gate skips runs none, so the counts differ).
    expect(value('crowdlens_analyzer_wait_seconds_count')).toBeGreaterThan(0);
  });
});
