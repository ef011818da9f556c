import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.ts';
import { maskUrl, redactText } from '../../src/shared/redact.ts';

describe('credential masking', () => {
  it('masks userinfo and secret query values in URLs', () => {
    const masked = maskUrl('rtsp://admin:hunter2@10.0.0.5:554/stream?token=abc123&channel=1');
    expect(masked).not.toContain('admin');
    expect(masked).not.toContain('hunter2');
    expect(masked).not.toContain('abc123');
    expect(masked).toContain('channel=1');
    expect(masked).toContain('10.0.0.5:554/stream');
  });

  it('scrubs credentials out of free text such as ffmpeg stderr', () => {
    const text = "[rtsp @ 0x1] method DESCRIBE failed: 401 Unauthorized rtsp://admin:hunter2@cam/x?password=p4ss";
    const out = redactText(text);
    expect(out).not.toMatch(/hunter2|p4ss|admin/);
    expect(out).toContain('401 Unauthorized');
  });

  it('keeps credentials out of every log line, in messages, fields and errors', () => {
    const chunks: string[] = [];
    const destination = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c.toString()); cb(); } });
    const log = createLogger({ level: 'info', destination });
    const url = 'rtsp://admin:hunter2@cam.local/live';
    log.info({ url, nested: { source: url } }, `opening ${url}`);
    log.error({ err: new Error(`connect failed for ${url}`) }, 'failed');
    const all = chunks.join('');
    expect(all).toContain('cam.local/live');
    expect(all).not.toContain('hunter2');
    expect(all).not.toContain('admin:');
  });
});
