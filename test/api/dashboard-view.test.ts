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
import { AGE_BUCKETS, type DemographicsSnapshot, type PersonEstimate } from '../../src/shared/messages.ts';
import { Demographics } from '../../src/track/demographics.ts';
import { DemographicsHistory } from '../../src/track/history.ts';
import { bundlePage, DASHBOARD_DIR } from '../../src/api/dashboard/bundle.ts';
import { createApiServer } from '../../src/api/server.ts';
import { JsonFileRegistry } from '../../src/service/registry-file.ts';
import { createUrlPolicy } from '../../src/service/url-policy.ts';
import { captureLogger } from '../ingest/helpers.ts';
import { ageGenderSummary, ageGenderTable, axisStart, cameraHealth, cellText, describePersonLeft, formatClock, formatDuration, formatSoft, fromFirstData, genderLine, genderSentence, genderSplit, GROUP_VIEW, labelCounts, peopleMax, peoplePerMinute, splitSummary, STALL_MS, STATE_VIEW, timeTicks, uniqueBars, uniqueBucketText, wholePercents, wholeRange } from '../../src/api/dashboard/page/view.ts';

/** A snapshot made by the real src/track Demographics from people with the given estimates (null: no estimate yet). */
function snapshotOf(persons: readonly (Pick<PersonEstimate, 'ageYears' | 'gender' | 'maleProbability'> | null)[]): DemographicsSnapshot {
  const d = new Demographics('c');
  persons.forEach((p, id) => {
    d.enter(id, 1000, false);
    if (p) d.estimate(id, { ...p, genderScore: Math.max(p.maleProbability, 1 - p.maleProbability), samples: 5 });
  });
  return d.snapshot(2000);
}

function status(over: Partial<CameraStatus>): CameraStatus {
  return { cameraId: 'c', state: 'running', enabled: true, sinceMs: 1000, fpsIn: 5, fpsOut: 5, frames: { read: 0, sampled: 0 }, framesDropped: { queueFull: 0, partial: 0, inFlight: 0, redisError: 0, lost: 0 }, restarts: 0, watchdogRestarts: 0, retries: 0, lastError: null, width: 480, height: 270, lastFrameAtMs: null, ...over };
}

function bucket(startMs: number, over: Partial<HistoryBucket> = {}): HistoryBucket {
  return { startMs, endMs: startMs + 60_000, frames: 0, peopleNowMax: 0, peopleNowMean: 0, unique: 0, entered: 0, returning: 0, left: 0, averageDwellMs: null, byAgeGender: {}, ...over };
}

describe('dashboard view model', () => {
  it('shows the age x gender table as soft counts with their likely range, adding up to the people with an estimate', () => {
    // A woman (P(male) 0.1), someone the fusion is not sure about (0.55) and a man (0.9), and one without an estimate.
    const snap = snapshotOf([
      { ageYears: 30, gender: 'female', maleProbability: 0.1 },
      { ageYears: 40, gender: 'unknown', maleProbability: 0.55 },
      { ageYears: 20, gender: 'male', maleProbability: 0.9 },
      null,
    ]);
    const table = ageGenderTable(snap);
    expect(table.labels).toHaveLength(AGE_BUCKETS.length);
    expect(table).toMatchObject({ estimated: 3, withoutEstimate: 1 });
    const [women, men] = table.series;
    expect(women?.gender).toBe('female');
    expect(women?.total).toBeCloseTo(0.9 + 0.45 + 0.1, 6);
    expect(men?.total).toBeCloseTo(0.1 + 0.55 + 0.9, 6);
    // The soft cells add up to the people with an estimate (the not-sure person is shared, not dropped).
    expect((women?.total ?? 0) + (men?.total ?? 0)).toBeCloseTo(3, 6);
    const w2534 = women?.cells[AGE_BUCKETS.indexOf('25-34')];
    expect(w2534?.count).toBeCloseTo(0.9, 6);
    // 90% interval of a Bernoulli(0.9) count: 0.9 +- 1.645 x 0.3, clamped; said as whole people, widened outwards.
    expect(w2534?.interval[0]).toBeCloseTo(0.407, 3);
    expect(w2534?.interval[1]).toBeCloseTo(1.393, 3);
    expect([w2534?.low, w2534?.high]).toEqual([0, 2]);
    expect(cellText(w2534 as NonNullable<typeof w2534>)).toBe('Women 25–34: about 0.9 (likely 0 to 2)');
    const m65 = men?.cells[AGE_BUCKETS.indexOf('65+')];
    expect(cellText(m65 as NonNullable<typeof m65>)).toBe('Men 65+: none');
    for (const s of table.series) for (const c of s.cells) expect(c.low <= c.count && c.count <= c.high && c.interval[0] <= c.count && c.count <= c.interval[1]).toBe(true);
    expect(ageGenderSummary(table)).toBe('3 people with an estimate: women about 1.5, men about 1.6. Largest group: women 25–34, about 0.9 (likely 0 to 2). 1 more not seen clearly enough yet.');
    expect(ageGenderSummary(ageGenderTable(snapshotOf([null, null])))).toBe('No age and gender estimates yet. 2 more not seen clearly enough yet.');
    expect(ageGenderTable(null)).toMatchObject({ estimated: 0, withoutEstimate: 0 });
  });

  it('splits women / men / not sure from the per-person labels, never folding not sure into a gender', () => {
    const snap = snapshotOf([
      { ageYears: 30, gender: 'female', maleProbability: 0.1 },
      { ageYears: 40, gender: 'unknown', maleProbability: 0.55 },
      { ageYears: 20, gender: 'male', maleProbability: 0.9 },
      { ageYears: 22, gender: 'male', maleProbability: 0.95 },
      null,
    ]);
    expect(snap.byGenderLabel).toEqual({ female: 1, male: 2, unknown: 1 });
    const split = genderSplit(snap.byGenderLabel);
    expect(split.map((g) => [g.gender, g.label, g.count, g.percent])).toEqual([
      ['female', 'Women', 1, 25],
      ['male', 'Men', 2, 50],
      ['unknown', 'Not sure', 1, 25],
    ]);
    expect(genderSentence(snap)).toBe('Women 25% · Men 50% · Not sure 25% of 4 people with an age and gender estimate · 1 more not seen clearly yet');
    expect(splitSummary(snap)).toBe('Women 25% (1), men 50% (2), not sure 25% (1).');
    const line = genderLine(snap);
    expect(line.kind === 'shares' && line.shares.map((s) => s.color)).toEqual([GROUP_VIEW.female.color, GROUP_VIEW.male.color, GROUP_VIEW.unknown.color]);
    // Thirds still add up to 100.
    expect(genderSplit({ female: 1, male: 1, unknown: 1 }).map((g) => g.percent)).toEqual([34, 33, 33]);
    for (let seed = 1; seed < 200; seed++) {
      const counts = [seed % 7, (seed * 13) % 11, (seed * 7) % 5];
      const p = wholePercents(counts);
      expect(p.reduce((a, n) => a + n, 0)).toBe(counts.some((n) => n > 0) ? 100 : 0);
      counts.forEach((n, i) => expect(Math.abs((p[i] as number) - (100 * n) / Math.max(1, counts.reduce((a, m) => a + m, 0)))).toBeLessThan(1));
    }
    expect(genderSentence(snapshotOf([null, null]))).toBe('No age and gender estimates yet (2 people seen, none clearly enough so far): a person gets one after a few clear looks at their face.');
    expect(genderSentence(null)).toBe('No numbers from this camera yet.');
    expect(genderSentence(snapshotOf([]))).toBe('No age and gender estimates yet: a person gets one after a few clear looks at their face.');
    expect(splitSummary(null)).toBe('No estimates yet.');
  });

  it('rounds soft counts and their ranges for people', () => {
    expect([0, -1, 0.04, 0.06, 1.44, 9.94, 9.96, 12.4, Number.NaN].map(formatSoft)).toEqual(['0', '0', '0', '0.1', '1.4', '9.9', '10', '12', '0']);
    expect(wholeRange([0.3, 2.6], 1.4)).toEqual([0, 3]);
    expect(wholeRange([2, 2], 2)).toEqual([2, 2]);
    expect(wholeRange([1.0000001, 2.9999999], 2)).toEqual([1, 3]);
    expect(wholeRange(undefined, 0)).toEqual([0, 0]);
  });

  it('stacks the history by women / men / not sure / not seen clearly from the label keys', () => {
    const h = new DemographicsHistory();
    const t0 = 10 * 60_000;
    h.frame(t0 + 1000, [
      { key: 'a', cell: '25-34/female' },
      { key: 'b', cell: '25-34/unknown' },
      { key: 'c', cell: '65+/unknown' },
      { key: 'd', cell: '18-24/male' },
      { key: 'e', cell: null },
    ]);
    h.frame(t0 + 61_000, [{ key: 'a', cell: '25-34/female' }]);
    const minutes = h.read(t0 + 62_000).minutes.slice(-3);
    expect(labelCounts(minutes[1]?.byAgeGender ?? {})).toEqual({ female: 1, male: 1, unknown: 2 });
    const bars = uniqueBars(minutes);
    expect(bars.stacks.map((st) => [st.group, st.label, st.values])).toEqual([
      ['female', 'Women', [null, 1, 1]],
      ['male', 'Men', [null, 1, 0]],
      ['unknown', 'Not sure', [null, 2, 0]],
      ['none', 'Not seen clearly', [null, 1, 0]],
    ]);
    expect(bars.totals).toEqual([null, 5, 1]);
    expect(bars.total).toBe(6);
    expect(uniqueBucketText(minutes[1])).toBe('5 different people: 1 woman, 1 man, 2 not sure, 1 not seen clearly');
    expect(uniqueBucketText(minutes[2])).toBe('1 different person: 1 woman');
    expect(uniqueBucketText(minutes[0])).toBe('no pictures');
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
    expect(formatDuration(200)).toBe('under 1 s');
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
    expect(describePersonLeft({ cameraId: 'c', personId: 3, atMs: 0, firstSeenMs: 0, lastSeenMs: 0, dwellMs: 0, estimate: null })).toBe('A visitor left within a second');
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
