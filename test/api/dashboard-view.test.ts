/**
 * The dashboard's view model (src/api/dashboard/page/view.ts, DOM-free) and its bundle and serving: what the
 * page shows is derived in one place from the shared shapes, and the served script is built from the page's
 * TypeScript with nothing but local modules (no zod, no CDN).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CameraStatus, HistoryBucket } from '../../src/shared/api.ts';
import { AGE_BUCKETS, type DemographicsKey } from '../../src/shared/messages.ts';
import { bundlePage, DASHBOARD_DIR } from '../../src/api/dashboard/bundle.ts';
import { createApiServer } from '../../src/api/server.ts';
import { JsonFileRegistry } from '../../src/service/registry-file.ts';
import { createUrlPolicy } from '../../src/service/url-policy.ts';
import { captureLogger } from '../ingest/helpers.ts';
import { ageGenderTable, axisStart, cameraHealth, describePersonLeft, formatClock, formatDuration, fromFirstData, genderSentence, genderSplit, peopleMax, peoplePerMinute, STALL_MS, STATE_VIEW, timeTicks } from '../../src/api/dashboard/page/view.ts';

function counts(cells: Partial<Record<DemographicsKey, number>>): Record<DemographicsKey, number> {
  const all = {} as Record<DemographicsKey, number>;
  for (const b of AGE_BUCKETS) for (const g of ['female', 'male'] as const) all[`${b}/${g}`] = 0;
  return { ...all, ...cells };
}

function status(over: Partial<CameraStatus>): CameraStatus {
  return { cameraId: 'c', state: 'running', enabled: true, sinceMs: 1000, fpsIn: 5, fpsOut: 5, frames: { read: 0, sampled: 0 }, framesDropped: { queueFull: 0, partial: 0, inFlight: 0, redisError: 0, lost: 0 }, restarts: 0, watchdogRestarts: 0, retries: 0, lastError: null, width: 480, height: 270, lastFrameAtMs: null, ...over };
}

function bucket(startMs: number, over: Partial<HistoryBucket> = {}): HistoryBucket {
  return { startMs, endMs: startMs + 60_000, frames: 0, peopleNowMax: 0, peopleNowMean: 0, unique: 0, entered: 0, returning: 0, left: 0, averageDwellMs: null, byAgeGender: {}, ...over };
}

describe('dashboard view model', () => {
  it('builds the age x gender table and a gender split that adds up to 100%', () => {
    const table = ageGenderTable(counts({ '25-34/female': 2, '25-34/male': 1, '65+/male': 4 }));
    expect(table.labels).toHaveLength(AGE_BUCKETS.length);
    expect(table.series.map((s) => [s.gender, s.total])).toEqual([
      ['female', 2],
      ['male', 5],
    ]);
    expect(table.series[1]?.counts[AGE_BUCKETS.indexOf('65+')]).toBe(4);
    const split = genderSplit(table);
    expect(split.map((g) => g.percent)).toEqual([29, 71]);
    expect(genderSplit(ageGenderTable(counts({ '18-24/female': 1, '18-24/male': 2 }))).reduce((a, g) => a + g.percent, 0)).toBe(100);
    expect(genderSentence(table)).toBe('Women 29% · Men 71% of 7 people with an age and gender estimate');
    expect(genderSentence(ageGenderTable(null))).toMatch(/No age and gender estimates yet/);
    // A history bucket's sparse cells read the same way.
    expect(ageGenderTable({ '0-12/female': 3 }).total).toBe(3);
  });

  it('says when a camera is down and why, and when a running camera stalls', () => {
    const err = { code: 'CONNECT', message: 'connection refused: rtsp://***:***@127.0.0.1:9/live', atMs: 5000 };
    const down = cameraHealth('reconnecting', status({ state: 'reconnecting', lastError: err, sinceMs: 4000 }), 6000);
    expect(down).toMatchObject({ down: true, tone: 'down', label: 'Down', reason: err.message, sinceMs: 4000 });
    // A live camera does not show an old, recovered error as its reason.
    expect(cameraHealth('running', status({ lastError: err, lastFrameAtMs: 5900 }), 6000)).toMatchObject({ down: false, reason: null, label: 'Live' });
    const stalled = cameraHealth('running', status({ lastFrameAtMs: 1000 }), 1000 + STALL_MS + 5000);
    expect(stalled).toMatchObject({ down: true, label: 'Stalled' });
    expect(stalled.explain).toMatch(/No new picture for 20 s/);
    expect(cameraHealth('disabled', null, 0)).toMatchObject({ down: false, label: 'Off' });
    for (const v of Object.values(STATE_VIEW)) expect(v.explain.length).toBeGreaterThan(3);
  });

  it('formats durations, clock times and axis ticks for people', () => {
    expect(formatDuration(48_400)).toBe('48 s');
    expect(formatDuration(134_000)).toBe('2 min 14 s');
    expect(formatDuration(3_900_000)).toBe('1 h 05 min');
    expect(formatDuration(-1)).toBe('–');
    const t0 = new Date(2026, 0, 5, 14, 3, 20).getTime();
    const ticks = timeTicks(t0, t0 + 15 * 60_000);
    expect(ticks.length).toBeLessThanOrEqual(6);
    expect(ticks.length).toBeGreaterThan(2);
    const labels = ticks.map(formatClock);
    expect(new Set(labels).size).toBe(labels.length);
    for (const t of ticks) expect(new Date(t).getSeconds()).toBe(0);
    expect(labels[0]).toBe('14:05');
    expect(timeTicks(t0, t0)).toEqual([]);
    expect(describePersonLeft({ cameraId: 'c', personId: 1, atMs: 0, firstSeenMs: 0, lastSeenMs: 0, dwellMs: 28_000, estimate: { ageYears: 31, gender: 'female', genderScore: 0.9, maleProbability: 0.1, samples: 5 } })).toBe('A visitor (woman, 25–34) left after 28 s');
    expect(describePersonLeft({ cameraId: 'c', personId: 2, atMs: 0, firstSeenMs: 0, lastSeenMs: 0, dwellMs: 5_000, estimate: { ageYears: 31, gender: 'unknown', genderScore: 0.6, maleProbability: 0.4, samples: 3 } })).toBe('A visitor (25–34) left after 5 s');
  });

  it('starts charts where the data starts and puts the running minute at now', () => {
    const m = Array.from({ length: 60 }, (_, i) => bucket(i * 60_000, i >= 55 ? { frames: 10, unique: i - 54, peopleNowMean: 1.26, peopleNowMax: i - 53 } : {}));
    expect(fromFirstData(m, 10)).toHaveLength(10);
    expect(fromFirstData(m, 3)).toHaveLength(5);
    expect(fromFirstData(m.slice(0, 50), 10)).toHaveLength(10);
    const now = 59 * 60_000 + 10_000;
    const points = peoplePerMinute(m, now);
    expect(points).toHaveLength(5);
    expect(points[4]).toEqual({ x: now, y: 1.3 });
    expect(peopleMax(m, 58 * 60_000)).toBe(6);
    expect(axisStart(now, 15 * 60_000, 2 * 60_000, now - 30_000)).toBe(now - 2 * 60_000);
    expect(axisStart(now, 15 * 60_000, 2 * 60_000, now - 3_600_000)).toBe(now - 15 * 60_000);
  });
});

describe('dashboard bundle', () => {
  it('bundles the page with Chart.js and socket.io-client only: no zod, nothing fetched from elsewhere', async () => {
    const { js, map, inputs } = await bundlePage(DASHBOARD_DIR);
    const packages = new Set(inputs.filter((i) => i.includes('node_modules/')).map((i) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(i)?.[1]));
    expect(packages.has('chart.js')).toBe(true);
    expect(packages.has('socket.io-client')).toBe(true);
    // The page imports the shared shapes as types: the schemas (and zod) stay on the server.
    expect(packages.has('zod')).toBe(false);
    expect(inputs.some((i) => i.endsWith('shared/api.ts'))).toBe(false);
    expect(js.length).toBeLessThan(400_000);
    expect(JSON.parse(map).sources.length).toBeGreaterThan(5);
    const html = readFileSync(path.join(DASHBOARD_DIR, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  }, 60_000);
});

describe('dashboard serving', () => {
  it('serves the page, its script and styles from memory with ETags, under the API CSP', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-dash-serve-'));
    const { logger } = captureLogger();
    const { registry } = await JsonFileRegistry.open({ dataDir: dir, logger });
    const reads = { status: async () => null, demographics: async () => null };
    const api = await createApiServer({ registry, reads, urlPolicy: createUrlPolicy(dir), readiness: () => ({ ready: true, models: 'loaded', cameras: 0 }), metrics: { contentType: 'text/plain', render: async () => '' }, logger }, { token: 'serve-test-token-0123456789', prebuildDashboard: true });
    try {
      const page = await api.app.inject({ url: '/' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.body).toContain('<script type="module" src="/dashboard.js"></script>');
      expect(String(page.headers['content-security-policy'])).toContain("script-src 'self'");
      const js = await api.app.inject({ url: '/dashboard.js' });
      expect(js.statusCode).toBe(200);
      expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(js.body.length).toBeGreaterThan(50_000);
      const again = await api.app.inject({ url: '/dashboard.js', headers: { 'if-none-match': String(js.headers['etag']) } });
      expect(again.statusCode).toBe(304);
      for (const p of ['/dashboard.css', '/favicon.svg', '/dashboard.js.map', '/index.html']) expect((await api.app.inject({ url: p })).statusCode).toBe(200);
      // The page's TypeScript sources and this folder's other files are not served.
      for (const p of ['/page/main.ts', '/bundle.ts', '/tsconfig.json']) expect((await api.app.inject({ url: p })).statusCode).toBe(404);
    } finally {
      await api.close();
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
