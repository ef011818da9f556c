import { describe, expect, it } from 'vitest';
import { buildFfmpegArgs } from '../../src/ingest/args.ts';
import { FfmpegNotFoundError, PROTOCOL_WHITELIST, parseSourceUrl, probeFfmpeg, SourceUrlError, type FfmpegInfo } from '../../src/ingest/index.ts';
import { scrub } from '../../src/ingest/source-url.ts';

const modern: FfmpegInfo = { path: 'ffmpeg', origin: 'path', version: '5.1.9', major: 5, flavour: 'modern', rtspTimeoutOption: '-timeout' };
const legacy: FfmpegInfo = { path: '/x/ffmpeg', origin: 'bundled', version: '4.1', major: 4, flavour: 'legacy', rtspTimeoutOption: '-stimeout' };
const argOpts = { fps: 5, maxWidth: 1280, realtime: true, loop: false, connectTimeoutMs: 5000, rtspTransport: 'tcp' } as const;

function optionAfter(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

describe('parseSourceUrl', () => {
  it('classifies each allowed scheme and masks credentials', () => {
    expect(parseSourceUrl('/videos/a.mp4')).toMatchObject({ kind: 'file', input: 'file:/videos/a.mp4', live: false });
    expect(parseSourceUrl('file:///videos/a%20b.mp4')).toMatchObject({ kind: 'file', filePath: '/videos/a b.mp4' });
    expect(parseSourceUrl('weird:name.mp4'.replace('weird:', './weird:'))).toMatchObject({ kind: 'file' });
    const rtsp = parseSourceUrl('rtsp://admin:hunter22@10.0.0.5:554/stream1');
    expect(rtsp).toMatchObject({ kind: 'rtsp', live: true, masked: 'rtsp://***:***@10.0.0.5:554/stream1' });
    expect(rtsp.secrets).toContain('hunter22');
    expect(parseSourceUrl('rtsps://cam.local/s').kind).toBe('rtsps');
    expect(parseSourceUrl('https://cdn.example/live/index.m3u8?token=abcdef').kind).toBe('hls');
    expect(parseSourceUrl('https://cdn.example/live/index.m3u8?token=abcdef').masked).not.toContain('abcdef');
    expect(parseSourceUrl('http://cam.local/video.mjpg').kind).toBe('http');
  });

  it('rejects other schemes, naming the field and masking the value', () => {
    for (const bad of ['ftp://u:topsecret@h/x', 'concat:a|b', 'data:video/mp4;base64,AAAA', 'udp://0.0.0.0:1234', 'pipe:0', 'javascript:alert(1)']) {
      let err: unknown;
      try {
        parseSourceUrl(bad, 'cameras[0].url');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SourceUrlError);
      expect((err as SourceUrlError).code).toBe('BAD_URL');
      expect((err as Error).message).toMatch(/^cameras\[0\]\.url: unsupported scheme/);
      expect((err as Error).message).not.toContain('topsecret');
    }
    expect(() => parseSourceUrl('')).toThrow(/^url: expected a file path or URL/);
    expect(() => parseSourceUrl('rtsp:///nohost')).toThrow(/^url: missing host/);
    expect(() => parseSourceUrl('file://otherhost/x.mp4')).toThrow(/^url: file URLs must be local/);
  });

  it('scrubs the literal password from free text even outside a URL', () => {
    const { secrets } = parseSourceUrl('rtsp://admin:p%40ss-w0rd@cam/x');
    expect(scrub('auth failed for admin with p@ss-w0rd at rtsp://admin:p%40ss-w0rd@cam/x', secrets)).not.toMatch(/p@ss-w0rd|p%40ss-w0rd/);
  });
});

describe('buildFfmpegArgs', () => {
  it('whitelists only the protocols each kind needs, never file for network sources', () => {
    for (const [url, kind] of [['/a.mp4', 'file'], ['rtsp://h/x', 'rtsp'], ['rtsps://h/x', 'rtsps'], ['http://h/x.mp4', 'http'], ['https://h/x.m3u8', 'hls']] as const) {
      const { inputOptions } = buildFfmpegArgs(parseSourceUrl(url), modern, argOpts);
      const wl = optionAfter(inputOptions, '-protocol_whitelist');
      expect(wl).toBe(PROTOCOL_WHITELIST[kind]);
      if (kind !== 'file') expect(wl?.split(',')).not.toContain('file');
      expect(inputOptions).toContain('-xerror');
    }
    expect(PROTOCOL_WHITELIST.rtsp).toBe('rtsp,rtp,udp,tcp');
    expect(PROTOCOL_WHITELIST.rtsps.split(',')).toContain('tls');
  });

  it('picks the RTSP timeout option by ffmpeg flavour, in microseconds', () => {
    const src = parseSourceUrl('rtsp://h/x');
    const m = buildFfmpegArgs(src, modern, argOpts).inputOptions;
    const l = buildFfmpegArgs(src, legacy, argOpts).inputOptions;
    expect(optionAfter(m, '-timeout')).toBe('5000000');
    expect(m).not.toContain('-stimeout');
    expect(optionAfter(l, '-stimeout')).toBe('5000000');
    expect(l).not.toContain('-timeout'); // in 4.x RTSP -timeout means "listen"
    expect(optionAfter(m, '-rtsp_transport')).toBe('tcp');
  });

  it('paces/loops files only when asked, and scales with even, never-upscaled sizes', () => {
    const a = buildFfmpegArgs(parseSourceUrl('/a.mp4'), modern, { ...argOpts, realtime: false, loop: true, maxWidth: 641 });
    expect(a.inputOptions).not.toContain('-re');
    expect(optionAfter(a.inputOptions, '-stream_loop')).toBe('-1');
    expect(optionAfter(a.outputOptions, '-vf')).toBe("fps=5,scale=w='trunc(min(iw\\,640)/2)*2':h=-2:flags=bilinear");
    expect(optionAfter(a.outputOptions, '-pix_fmt')).toBe('rgb24');
    // Each frame is written out at once (else it waits in ffmpeg's buffer for the next one: latency).
    expect(optionAfter(a.outputOptions, '-flush_packets')).toBe('1');
  });
});

describe('probeFfmpeg', () => {
  it('finds ffmpeg on PATH and reads its version', async () => {
    const info = await probeFfmpeg({ env: {} });
    expect(info.origin).toBe('path');
    expect(info.version).toMatch(/^\S+$/);
    expect(info.rtspTimeoutOption).toBe(info.flavour === 'legacy' ? '-stimeout' : '-timeout');
  });

  it('uses FFMPEG_PATH, here the bundled @ffmpeg-installer build (4.x era), as the legacy flavour', async () => {
    const { createRequire } = await import('node:module');
    const bundled = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    const info = await probeFfmpeg({ env: { FFMPEG_PATH: bundled } });
    // Its version string is a git describe ("N-47683-g0e8eb07980-static"), so the flavour comes from its RTSP options.
    expect(info).toMatchObject({ path: bundled, origin: 'env', flavour: 'legacy', rtspTimeoutOption: '-stimeout' });
  });

  it('a configured binary that does not work is an error naming the field', async () => {
    await expect(probeFfmpeg({ ffmpegPath: '/nonexistent/ffmpeg' })).rejects.toThrow(FfmpegNotFoundError);
    await expect(probeFfmpeg({ ffmpegPath: '/nonexistent/ffmpeg' })).rejects.toThrow(/^ingest\.ffmpegPath: "\/nonexistent\/ffmpeg" is not a working ffmpeg/);
  });
});
