import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cameraSchema, type Camera } from '../../src/shared/api.ts';
import { eventually, freePort, pidsWithArg, spawnService, type ServiceProcess } from '../support/service.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TOKEN = 'cli-test-token-0123456789';
let dir: string;
const started: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-start-cli-'));
});

afterAll(() => {
  // Only the processes this file started, by pid.
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { CROWDLENS_DATA_DIR: path.join(dir, 'data'), CROWDLENS_MEDIA_DIR: path.join(dir, 'media'), CROWDLENS_LOG_LEVEL: 'info', CROWDLENS_API_TOKEN: '', CROWDLENS_HOST: '', CROWDLENS_PORT: '', ...extra };
}

async function start(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<ServiceProcess> {
  const svc = await spawnService(ROOT, args, env(extra));
  started.push(svc.child);
  return svc;
}

async function getJson<T>(url: string, token?: string): Promise<T> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Runs `crowdlens start ARGS` expecting it to exit by itself. */
function runToExit(args: string[], extra: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'crowdlens.js'), 'start', ...args], { cwd: ROOT, env: { ...process.env, ...env(extra) }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('crowdlens start', () => {
  it('refuses to listen beyond loopback without a token, with a clear error', async () => {
    const res = await runToExit(['--host', '0.0.0.0', '--port', '0'], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without an API token.*CROWDLENS_API_TOKEN/);
  });

  it('is scraped by a real Prometheus, stops cleanly on SIGTERM, and keeps its registry over a restart', async () => {
    const svc = await start(['--port', '0']);
    expect(svc.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // One warning line about running without a token.
    expect(svc.stderr().split('\n').filter((l) => l.includes('no CROWDLENS_API_TOKEN')).length).toBe(1);
    await eventually('readyz', async () => (await fetch(`${svc.url}/readyz`)).status === 200, 60_000);
    const created = await fetch(`${svc.url}/api/cameras`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Back door', url: 'rtsp://viewer:pw-in-registry@192.0.2.44/live', enabled: false }) });
    expect(created.status).toBe(201);

    // A real Prometheus scraping the running service every second.
    const promPort = await freePort();
    const promDir = path.join(dir, 'prometheus');
    const cfg = path.join(dir, 'prometheus.yml');
    writeFileSync(cfg, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: crowdlens\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['${new URL(svc.url).host}']\n`);
    const prom = spawn('prometheus', [`--config.file=${cfg}`, `--storage.tsdb.path=${promDir}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    started.push(prom);
    let promErr = '';
    prom.stderr?.on('data', (b: Buffer) => (promErr += b.toString()));
    try {
      const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
        const r = await getJson<{ status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } }>(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        return r.data.result;
      };
      const up = await eventually('Prometheus scrapes crowdlens (up == 1)', async () => {
        const r = await query('up{job="crowdlens"}');
        return r[0]?.value[1] === '1' ? r : undefined;
      }, 60_000);
      expect(up).toHaveLength(1);
      const frames = await eventually('crowdlens_frames_read_total of the demo camera in Prometheus', async () => {
        const r = await query('crowdlens_frames_read_total{camera="demo"}');
        return r.length === 1 && Number(r[0]?.value[1]) > 0 ? r : undefined;
      }, 60_000);
      expect(frames[0]?.metric).toMatchObject({ __name__: 'crowdlens_frames_read_total', camera: 'demo', job: 'crowdlens' });
      const models = await query('sum by (model) (crowdlens_inference_seconds_count)');
      expect(models.map((r) => r.metric['model'])).toContain('blazeface');
      const states = await query('crowdlens_camera_state == 1');
      expect(Object.fromEntries(states.map((r) => [r.metric['camera'], r.metric['state']]))).toEqual({ demo: 'running', 'back-door': 'disabled' });
      // Labels are camera ids: no URL (and so no credential) reaches Prometheus.
      const all = await query('{__name__=~"crowdlens_.+"}');
      expect(JSON.stringify(all)).not.toContain('pw-in-registry');
    } finally {
      prom.kill('SIGTERM');
      await new Promise((r) => (prom.exitCode !== null ? r(null) : prom.once('exit', r)));
    }
    expect(promErr).not.toContain('level=error');

    const media = path.join(dir, 'media');
    expect(pidsWithArg(media).length).toBeGreaterThan(0);
    svc.child.kill('SIGTERM');
    const exit = await svc.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(svc.stderr()).toContain('crowdlens: stopped');
    // No ffmpeg of this service is left behind.
    await eventually('no ffmpeg reading the media dir', () => pidsWithArg(media).length === 0, 10_000);

    // The registry survived: the same cameras (the demo registered once, credentials kept but masked).
    const again = await start(['--port', '0'], { CROWDLENS_API_TOKEN: TOKEN });
    const cams = (await getJson<Camera[]>(`${again.url}/api/cameras`, TOKEN)).map((c) => cameraSchema.parse(c));
    expect(cams.map((c) => c.id)).toEqual(['demo', 'back-door']);
    expect(cams[1]?.url).toBe('rtsp://***:***@192.0.2.44/live');
    // With a token configured, reads need it.
    expect((await fetch(`${again.url}/api/cameras`)).status).toBe(401);
    again.child.kill('SIGINT');
    expect((await again.exited).code).toBe(0);
  });
});
