import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FieldError } from '../../src/shared/service.ts';
import { createUrlPolicy } from '../../src/service/url-policy.ts';

let root: string;
let media: string;
let outside: string;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-urlpolicy-'));
  media = path.join(root, 'media');
  mkdirSync(path.join(media, 'sub'), { recursive: true });
  writeFileSync(path.join(media, 'clip.mp4'), 'x');
  writeFileSync(path.join(media, 'sub', 'deep.mp4'), 'x');
  outside = path.join(root, 'secret.mp4');
  writeFileSync(outside, 'x');
  symlinkSync(outside, path.join(media, 'escape.mp4'));
  symlinkSync(root, path.join(media, 'rootlink'));
  symlinkSync(path.join(media, 'clip.mp4'), path.join(media, 'inner-link.mp4'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function reason(url: string): Promise<string> {
  try {
    await createUrlPolicy(media).check(url, 'url');
  } catch (err) {
    expect(err).toBeInstanceOf(FieldError);
    expect((err as FieldError).field).toBe('url');
    return (err as Error).message;
  }
  return 'accepted';
}

describe('media-directory URL policy', () => {
  it('accepts files inside the media dir (relative, absolute, file: URL, symlink staying inside) and network URLs', async () => {
    for (const url of ['clip.mp4', 'sub/deep.mp4', 'sub/../clip.mp4', path.join(media, 'clip.mp4'), pathToFileURL(path.join(media, 'sub', 'deep.mp4')).href, 'inner-link.mp4', 'rtsp://u:p@192.0.2.1/s', 'https://example.com/live/index.m3u8', 'http://cam.local/mjpeg']) {
      expect(await reason(url), url).toBe('accepted');
    }
    expect(createUrlPolicy(media).resolve('sub/deep.mp4')).toBe(path.join(media, 'sub', 'deep.mp4'));
    expect(createUrlPolicy(media).resolve('rtsp://h/s')).toBe('rtsp://h/s');
  });

  it('refuses .. escapes, absolute paths and file: URLs outside, and symlinks that point out', async () => {
    expect(await reason('../secret.mp4')).toMatch(/inside CROWDLENS_MEDIA_DIR/);
    expect(await reason('sub/../../secret.mp4')).toMatch(/inside CROWDLENS_MEDIA_DIR/);
    expect(await reason(outside)).toMatch(/inside CROWDLENS_MEDIA_DIR/);
    expect(await reason(pathToFileURL(outside).href)).toMatch(/inside CROWDLENS_MEDIA_DIR/);
    expect(await reason('/etc/passwd')).toMatch(/inside CROWDLENS_MEDIA_DIR/);
    expect(await reason('escape.mp4')).toMatch(/resolves outside .*symlinks/);
    expect(await reason('rootlink/secret.mp4')).toMatch(/resolves outside/);
    expect(await reason('.')).toMatch(/inside CROWDLENS_MEDIA_DIR/);
  });

  it('refuses missing files, folders, unsupported schemes and bad URLs, never echoing credentials', async () => {
    expect(await reason('missing.mp4')).toMatch(/file not found: missing\.mp4/);
    expect(await reason('sub')).toMatch(/not a regular file/);
    expect(await reason('ftp://user:hunter22@example.com/x.mp4')).toMatch(/unsupported scheme "ftp:"/);
    expect(await reason('ftp://user:hunter22@example.com/x.mp4')).not.toContain('hunter22');
    expect(await reason('rtsp://')).toMatch(/url:/);
    expect(await reason('gopher://x')).toMatch(/unsupported scheme/);
  });
});
