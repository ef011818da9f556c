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
