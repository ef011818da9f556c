/**
 * End to end in a real browser: Debian's Chromium (headless, driven by playwright-core) against a real
 * `crowdlens start` child process (real ffmpeg, real models) on the demo clip copied into a temp media dir.
 * The camera is registered through the page's form, its numbers must change over Socket.IO, a camera on a
 * closed RTSP port must show as down with its reason, and the page must load nothing from another origin.
 * Screenshots (desktop and a 390 px phone) are kept in out/test-artifacts/.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CameraDemographics } from '../../src/shared/api.ts';
import { eventually, freePort, spawnService, type ServiceProcess } from '../support/service.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, 'out', 'test-artifacts');
const TOKEN = 'dashboard-e2e-token-0123456789';
const SECRET = 'pw-e2e-Secr3t';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir: string;
let svc: ServiceProcess;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-dashboard-'));
  const media = path.join(dir, 'media');
  mkdirSync(media);
  // A clip with real faces coming and going (the demo clip, CC BY 4.0, see samples/demo/ATTRIBUTION.md).
  copyFileSync(path.join(ROOT, 'samples', 'demo', 'demo.mp4'), path.join(media, 'entrance.mp4'));
  mkdirSync(ARTIFACTS, { recursive: true });
  svc = await spawnService(ROOT, ['--port', '0', '--no-demo'], {
    CROWDLENS_DATA_DIR: path.join(dir, 'data'),
    CROWDLENS_MEDIA_DIR: media,
    CROWDLENS_API_TOKEN: TOKEN,
    CROWDLENS_PREVIEW: 'true',
    CROWDLENS_MAX_WIDTH: '480',
    CROWDLENS_LOG_LEVEL: 'warn',
    CROWDLENS_HOST: '',
    CROWDLENS_PORT: '',
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  await eventually('readyz (models loaded)', async () => (await fetch(`${svc.url}/readyz`)).status === 200, 90_000);
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  if (svc && svc.child.exitCode === null && svc.child.signalCode === null) {
    svc.child.kill('SIGTERM');
    const timer = setTimeout(() => svc.child.kill('SIGKILL'), 15_000);
    await svc.exited;
    clearTimeout(timer);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A fresh browser context (own sessionStorage) with every request and WebSocket it makes recorded. */
async function openPage(viewport: { width: number; height: number }, mobile = false): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport, ...(mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
  contexts.push(context);
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => requests.push(ws.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // The browser logs every 4xx as an error; the ones the page provokes on purpose (the token prompt's 401, the
    // form's 400s, the preview's 503 before a frame) are its normal flow, shown in the page itself.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (400|401|503)\b/.test(m.text())) errors.push(m.text());
  });
  return { page, requests, errors };
}

async function enterToken(page: Page): Promise<void> {
  await page.locator('#token-panel').waitFor({ state: 'visible' });
  await page.fill('#token-input', TOKEN);
  await page.click('#token-form button[type="submit"]');
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 30_000 });
}

async function numberOf(page: Page, selector: string, attribute = 'data-value'): Promise<number> {
  return Number(await page.locator(selector).getAttribute(attribute));
}

/** Requests that did not go to the service itself (blob: URLs are the page's own preview images). */
function foreign(requests: readonly string[]): string[] {
  const origin = new URL(svc.url);
  return requests.filter((u) => {
    if (u.startsWith('blob:') || u.startsWith('data:')) return false;
    const url = new URL(u);
    return url.host !== origin.host || !['http:', 'ws:'].includes(url.protocol);
  });
}

/** The live snapshot the API reports for a camera now (the same numbers the page gets over Socket.IO). */
async function apiSnapshot(cameraId: string): Promise<NonNullable<CameraDemographics['live']>> {
  const res = await fetch(`${svc.url}/api/cameras/${cameraId}/demographics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as CameraDemographics;
  if (!body.live) throw new Error(`${cameraId}: no live snapshot yet`);
  return body.live;
}

const SPLIT_RE = /^Women (\d+)% · Men (\d+)% · Not sure (\d+)% of (\d+) (?:person|people) with an age and gender estimate(?: · (\d+) more not seen clearly yet)?$/;

/**
 * Whether the page's gender split says what the API reports for the same camera: women / men / not sure as
 * whole percents of the people with an estimate that add up to 100, each within a point of the API's labels, and
 * the same counts of people with and without an estimate. Returns what differs ('' when they agree); the
 * snapshot moves every second, so callers poll until page and API are read at the same moment.
 */
async function splitDisagreement(page: Page, cameraId: string): Promise<string> {
  const text = (await page.locator('#d-split').textContent()) ?? '';
  const live = await apiSnapshot(cameraId);
  const m = SPLIT_RE.exec(text);
  if (!m) return `split text not as expected: ${JSON.stringify(text)}`;
  const [women, men, notSure, estimated] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  const without = Number(m[5] ?? 0);
  const problems: string[] = [];
  if (women + men + notSure !== 100) problems.push(`percents add up to ${women + men + notSure}`);
  if (estimated !== live.estimated) problems.push(`estimated ${estimated} vs API ${live.estimated}`);
  if (without !== live.withoutEstimate) problems.push(`without estimate ${without} vs API ${live.withoutEstimate}`);
  const { female, male, unknown } = live.byGenderLabel;
  if (female + male + unknown !== live.estimated) problems.push(`API labels ${female + male + unknown} vs estimated ${live.estimated}`);
  for (const [shown, n, name] of [[women, female, 'women'], [men, male, 'men'], [notSure, unknown, 'not sure']] as const) {
    if (Math.abs(shown - (100 * n) / live.estimated) >= 1) problems.push(`${name} ${shown}% vs API ${n}/${live.estimated}`);
  }
  return problems.join('; ');
}

describe('dashboard in headless Chromium', () => {
  it('registers a camera through the form, shows its numbers changing live, and a down camera with its reason', async () => {
    const { page, requests, errors } = await openPage({ width: 1280, height: 900 });
    await page.goto(`${svc.url}/`);
    // Reads need the token here: the page asks for it once.
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 30_000 }).toBe('Token needed');
    await enterToken(page);
    await page.locator('#camera-empty').waitFor({ state: 'visible' });

    // The form shows the API's 4xx next to the field it names.
    await page.click('#add-camera');
    await page.fill('#f-name', 'Entrance');
    await page.fill('#f-url', 'entrance.mp4');
    await page.fill('#f-fps', 'fast');
    await page.click('#form-submit');
    await expect.poll(() => page.locator('[data-error-for="fps"]').textContent(), { timeout: 15_000 }).toMatch(/fps|number/i);
    expect(await page.locator('#f-fps').getAttribute('aria-invalid')).toBe('true');
    await page.fill('#f-fps', '');
    await page.fill('#f-url', 'ftp://192.0.2.1/x.mp4');
    await page.click('#form-submit');
    await expect.poll(() => page.locator('[data-error-for="url"]').textContent(), { timeout: 15_000 }).toMatch(/url/i);
    expect(await page.locator('[data-error-for="fps"]').textContent()).toBe('');

    await page.fill('#f-url', 'entrance.mp4');
    await page.click('#form-submit');
    await page.locator('li [data-camera-id="entrance"]').waitFor();
    expect(await page.locator('#camera-form-panel').isHidden()).toBe(true);
    expect(await page.locator('#d-name').textContent()).toBe('Entrance');
    // Just registered: nothing counted yet.
    expect(await numberOf(page, '#t-day')).toBe(0);
    const peopleUpdates = await numberOf(page, '#c-people', 'data-updates');

    // Live over Socket.IO: people are counted, the charts redraw with data, arrivals are listed.
    await expect.poll(() => numberOf(page, '#t-day'), { timeout: 45_000, interval: 500 }).toBeGreaterThan(0);
    await expect.poll(() => numberOf(page, '#t-minute'), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => numberOf(page, '#c-people', 'data-updates'), { timeout: 15_000 }).toBeGreaterThan(peopleUpdates + 2);
    expect(await numberOf(page, '#c-people', 'data-points')).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#d-activity li').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => numberOf(page, '#c-age', 'data-points'), { timeout: 45_000, interval: 500 }).toBeGreaterThan(0);
    // The split: women / men / not sure from the per-person labels, as the API reports them for this camera.
    await expect.poll(() => splitDisagreement(page, 'entrance'), { timeout: 30_000, interval: 250 }).toBe('');
    // The age x gender bars: soft counts ("about 1.4") with the likely range, and they add up to the people with an estimate.
    const ageSummary = (await page.locator('#c-age .chart-summary').textContent()) ?? '';
    const soft = /^(\d+) (?:person|people) with an estimate: women about ([\d.]+), men about ([\d.]+)\. Largest group: (?:women|men) [\d–+]+, about [\d.]+ \(likely \d+( to \d+)?\)\./.exec(ageSummary);
    expect(soft, ageSummary).not.toBeNull();
    const [estimatedShown, womenSoft, menSoft] = (soft as RegExpExecArray).slice(1, 4).map(Number) as [number, number, number];
    expect(Math.abs(womenSoft + menSoft - estimatedShown)).toBeLessThanOrEqual(1);
    expect(await page.locator('#c-age .chart-hint').textContent()).toContain('Thin line: the likely range');
    expect(await page.locator('#c-split .chart-hint').textContent()).toMatch(/^“Not sure”: /);
    // Each share has its own coloured part, not sure included.
    expect(await page.locator('#d-split .share').evaluateAll((els) => els.map((e) => e.getAttribute('data-gender')))).toEqual(['female', 'male', 'unknown']);
    // History buckets arrive with the periodic refresh of GET /demographics.
    await expect.poll(() => numberOf(page, '#c-unique', 'data-points'), { timeout: 30_000, interval: 500 }).toBeGreaterThan(0);
    // Stacked by women / men / not sure / not seen clearly, from the buckets' label keys.
    expect(await page.locator('#c-unique .chart-summary').textContent()).toMatch(/latest minute: \d+ different (person|people)(: (\d+ (wom[ae]n|m[ae]n|not sure|not seen clearly))(, \d+ (wom[ae]n|m[ae]n|not sure|not seen clearly))*)?\.$/);
    expect(await page.locator('li:has([data-camera-id="entrance"])').getAttribute('data-state')).toBe('running');
    await expect.poll(() => page.locator('li [data-camera-id="entrance"] .cam-fps').textContent(), { timeout: 15_000 }).toMatch(/\d\.\d fps/);
    expect(await page.locator('#d-down').isHidden()).toBe(true);

    // The annotated preview (CROWDLENS_PREVIEW=true here): a real JPEG, faces blurred.
    await page.locator('#d-preview').waitFor({ state: 'visible', timeout: 15_000 });
    await expect.poll(() => page.evaluate("document.getElementById('d-preview-img').naturalWidth"), { timeout: 15_000 }).toBe(480);
    expect(await page.locator('#d-preview-note').textContent()).toContain('faces blurred');

    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    // A camera on a closed port: down, with the reason, credentials masked.
    const closed = await freePort();
    await page.click('#add-camera');
    await page.fill('#f-name', 'Back door');
    await page.fill('#f-url', `rtsp://viewer:${SECRET}@127.0.0.1:${closed}/live`);
    await page.click('#form-submit');
    await page.locator('li [data-camera-id="back-door"]').waitFor();
    await page.locator('#d-down[data-tone="down"]').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('#d-down-title').textContent()).toMatch(/Camera down/);
    await expect.poll(() => page.locator('#d-down-reason').textContent(), { timeout: 30_000 }).toMatch(/Reason: .*(refused|connect|127\.0\.0\.1)/i);
    expect(await page.locator('li [data-camera-id="back-door"] .badge').textContent()).toBe('Down');
    expect(await page.content()).not.toContain(SECRET);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-down.png'), fullPage: true });

    expect(foreign(requests)).toEqual([]);
    expect(errors).toEqual([]);
  }, 150_000);

  it('fits a 390 px phone screen', async () => {
    const { page, errors } = await openPage({ width: 390, height: 844 }, true);
    await page.goto(`${svc.url}/#camera=entrance`);
    await enterToken(page);
    await expect.poll(() => numberOf(page, '#t-day'), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await page.locator('#d-name').textContent()).toBe('Entrance');
    // No sideways scrolling: everything fits the width.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.locator('#d-preview').waitFor({ state: 'visible', timeout: 15_000 });
    await page.waitForTimeout(1500); // one more second of live data in the charts before the picture
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 60_000);

  it('loads nothing from another origin, under a CSP without inline scripts', async () => {
    const res = await fetch(`${svc.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'(;|$)/);
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline <script>
    const { page, requests } = await openPage({ width: 1024, height: 768 });
    await page.goto(`${svc.url}/#camera=entrance`);
    await enterToken(page);
    await expect.poll(() => numberOf(page, '#c-people', 'data-points'), { timeout: 30_000 }).toBeGreaterThan(0);
    await page.locator('#d-preview-img[src^="blob:"]').waitFor({ timeout: 15_000 });
    expect(requests.some((u) => u.endsWith('/dashboard.js'))).toBe(true);
    expect(requests.some((u) => u.includes('/socket.io/'))).toBe(true);
    expect(foreign(requests)).toEqual([]);
  }, 60_000);
});
