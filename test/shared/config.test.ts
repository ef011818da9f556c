import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/shared/config.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'crowdlens-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadConfig', () => {
  it('gives documented defaults with an empty environment', () => {
    const c = loadConfig({ env: {} });
    expect(c.infer.provider).toBe('cpu');
    expect(c.infer.intraOpThreads).toBe(1);
    expect(c.infer.spinning).toBe(false);
    expect(c.ingest.fps).toBe(5);
    expect(c.redisUrl).toBeUndefined();
  });

  it('layers file < env < flags', () => {
    const file = path.join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ ingest: { fps: 2, maxWidth: 640 }, infer: { provider: 'cuda' } }));
    const c = loadConfig({ env: { CROWDLENS_FPS: '3', CROWDLENS_SPINNING: 'true' }, file, flags: { 'ingest.fps': 7 } });
    expect(c.ingest.fps).toBe(7);
    expect(c.ingest.maxWidth).toBe(640);
    expect(c.infer.provider).toBe('cuda');
    expect(c.infer.spinning).toBe(true);
  });

  it('names the field and the value of every bad setting', () => {
    expect(() => loadConfig({ env: { CROWDLENS_PROVIDER: 'tpu', CROWDLENS_FPS: '-1' } })).toThrow(ConfigError);
    try {
      loadConfig({ env: { CROWDLENS_PROVIDER: 'tpu', CROWDLENS_FPS: '-1' } });
    } catch (err) {
      const msg = (err as Error).message;
      expect(msg).toContain('infer.provider');
      expect(msg).toContain('"tpu"');
      expect(msg).toContain('ingest.fps');
      expect(msg).toContain('"-1"');
    }
  });

  it('rejects a config file that is not a JSON object, naming the file', () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '[1,2');
    expect(() => loadConfig({ env: {}, file: bad })).toThrow(/bad\.json/);
    const arr = path.join(dir, 'arr.json');
    writeFileSync(arr, '[1,2]');
    expect(() => loadConfig({ env: {}, file: arr })).toThrow(/expected a JSON object/);
  });
});

describe('service settings', () => {
  it('reads the service keys from env with documented defaults', () => {
    const d = loadConfig({ env: {} });
    expect(d.api).toMatchObject({ host: '127.0.0.1', port: 8080, publicRead: false, bodyLimitBytes: 65_536 });
    expect(d.api.token).toBeUndefined();
    expect(d.service).toEqual({ dataDir: './data', mediaDir: './media', demo: true, liveIntervalMs: 1000, analyzerConcurrency: 1, maxCameras: 64 });
    const c = loadConfig({
      env: { CROWDLENS_API_TOKEN: 'x'.repeat(20), CROWDLENS_PUBLIC_READ: 'yes', CROWDLENS_DATA_DIR: '/tmp/d', CROWDLENS_MEDIA_DIR: '/tmp/m', CROWDLENS_DEMO: 'off', CROWDLENS_LIVE_INTERVAL_MS: '500', CROWDLENS_ANALYZER_CONCURRENCY: '2', CROWDLENS_PORT: '0' },
    });
    expect(c.api).toMatchObject({ token: 'x'.repeat(20), publicRead: true, port: 0 });
    expect(c.service).toMatchObject({ dataDir: '/tmp/d', mediaDir: '/tmp/m', demo: false, liveIntervalMs: 500, analyzerConcurrency: 2 });
  });

  it('rejects a boolean it cannot read, and never prints the token', () => {
    expect(() => loadConfig({ env: { CROWDLENS_PUBLIC_READ: 'maybe' } })).toThrow(/api\.publicRead.*"maybe"/);
    let msg = '';
    try {
      loadConfig({ env: { CROWDLENS_API_TOKEN: 'short-secret' } });
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toContain('api.token');
    expect(msg).toContain('at least 16 characters');
    expect(msg).not.toContain('short-secret');
  });
});
