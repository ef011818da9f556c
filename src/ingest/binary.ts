import { execFile } from 'node:child_process';
import { accessSync, chmodSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';

/** Where the ffmpeg binary came from, in resolution order. */
export type FfmpegOrigin = 'option' | 'env' | 'path' | 'bundled';

/**
 * Option dialect. `modern` (ffmpeg >= 5): RTSP socket timeout is `-timeout`.
 * `legacy` (ffmpeg 4.x, e.g. @ffmpeg-installer's 4.1): RTSP `-timeout` means *listen*, the socket timeout is `-stimeout`.
 */
export type FfmpegFlavour = 'modern' | 'legacy';

/** The ffmpeg binary in use, logged once at start-up. */
export interface FfmpegInfo {
  /** Absolute path, or the bare name `ffmpeg` when found on PATH. */
  readonly path: string;
  readonly origin: FfmpegOrigin;
  /** Version string as printed by `ffmpeg -version`, e.g. `5.1.9-0+deb12u1`. */
  readonly version: string;
  /** Major version, or undefined for unparseable (git) builds, whose flavour is read from their RTSP options. */
  readonly major: number | undefined;
  readonly flavour: FfmpegFlavour;
  /** Name of the RTSP socket I/O timeout option (microseconds) for this flavour. */
  readonly rtspTimeoutOption: '-timeout' | '-stimeout';
}

/** Options for {@link probeFfmpeg}. */
export interface ProbeOptions {
  /** Explicit binary (config `ingest.ffmpegPath`); wins over everything. */
  readonly ffmpegPath?: string | undefined;
  /** Environment to read `FFMPEG_PATH` from; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** How long `ffmpeg -version` may take, ms. Default 10000. */
  readonly timeoutMs?: number;
}

/** Thrown when no usable ffmpeg binary is found; names every candidate tried. */
export class FfmpegNotFoundError extends Error {
  override readonly name = 'FfmpegNotFoundError';
}

const cache = new Map<string, Promise<FfmpegInfo>>();

function versionOf(path: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['-hide_banner', '-version'], { timeout: timeoutMs, windowsHide: true }, (err, stdout) => {
      if (err) return reject(err);
      const m = /ffmpeg version (\S+)/.exec(stdout);
      if (!m?.[1]) return reject(new Error(`unexpected "-version" output: ${JSON.stringify(stdout.slice(0, 80))}`));
      resolve(m[1]);
    });
  });
}

/** Asks the binary itself: version strings of git/static builds (e.g. "N-47683-g0e8eb07980-static") say nothing. */
function hasStimeout(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(path, ['-hide_banner', '-h', 'demuxer=rtsp'], { timeout: timeoutMs, windowsHide: true }, (err, stdout) => {
      // Without an answer, go by the version number alone.
      if (err) return resolve(false);
      resolve(/^\s*-stimeout\b/m.test(stdout));
    });
  });
}

function bundledPath(): string {
  const require = createRequire(import.meta.url);
  const installer = require('@ffmpeg-installer/ffmpeg') as { path: string };
  try {
    accessSync(installer.path, constants.X_OK);
  } catch {
    // npm 11 skips the package's postinstall `chmod u+x`.
    chmodSync(installer.path, statSync(installer.path).mode | 0o100);
  }
  return installer.path;
}

async function infoOf(path: string, origin: FfmpegOrigin, timeoutMs: number): Promise<FfmpegInfo> {
  const version = await versionOf(path, timeoutMs);
  // Debian: "5.1.9-0+deb12u1"; release builds: "4.1", "n6.0"; git builds: "N-112345-g..." (no major).
  const m = /^n?(\d+)\.\d/.exec(version);
  const major = m?.[1] ? Number(m[1]) : undefined;
  const flavour: FfmpegFlavour = (major !== undefined && major < 5) || (await hasStimeout(path, timeoutMs)) ? 'legacy' : 'modern';
  return { path, origin, version, major, flavour, rtspTimeoutOption: flavour === 'legacy' ? '-stimeout' : '-timeout' };
}

async function resolve(options: ProbeOptions): Promise<FfmpegInfo> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const env = options.env ?? process.env;
  const explicit: [string, FfmpegOrigin][] = [];
  if (options.ffmpegPath) explicit.push([options.ffmpegPath, 'option']);
  else if (env['FFMPEG_PATH']) explicit.push([env['FFMPEG_PATH'], 'env']);
  // An explicitly configured binary that does not work is an error, not a reason to silently use another one.
  for (const [path, origin] of explicit) {
    try {
      return await infoOf(path, origin, timeoutMs);
    } catch (err) {
      const field = origin === 'option' ? 'ingest.ffmpegPath' : 'FFMPEG_PATH';
      throw new FfmpegNotFoundError(`${field}: ${JSON.stringify(path)} is not a working ffmpeg (${(err as Error).message})`);
    }
  }
  const tried: string[] = [];
  try {
    return await infoOf('ffmpeg', 'path', timeoutMs);
  } catch (err) {
    tried.push(`"ffmpeg" on PATH: ${(err as Error).message}`);
  }
  try {
    const path = bundledPath();
    return await infoOf(path, 'bundled', timeoutMs);
  } catch (err) {
    tried.push(`@ffmpeg-installer/ffmpeg: ${err instanceof Error ? err.message : String(err)}`);
  }
  throw new FfmpegNotFoundError(`no usable ffmpeg; set ingest.ffmpegPath or FFMPEG_PATH. Tried: ${tried.join('; ')}`);
}

/**
 * Finds the ffmpeg binary (option, then env `FFMPEG_PATH`, then `ffmpeg` on PATH, then @ffmpeg-installer's)
 * and reads its version, which picks option names. Cached per (path option, env value).
 */
export function probeFfmpeg(options: ProbeOptions = {}): Promise<FfmpegInfo> {
  const env = options.env ?? process.env;
  const key = `${options.ffmpegPath ?? ''}\0${env['FFMPEG_PATH'] ?? ''}`;
  let p = cache.get(key);
  if (!p) {
    p = resolve(options);
    cache.set(key, p);
    // A failed probe is not cached: the binary may be installed later.
    p.catch(() => cache.delete(key));
  }
  return p;
}
