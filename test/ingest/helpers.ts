import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { createLogger, type Logger } from '../../src/shared/logger.ts';
import type { Frame } from '../../src/shared/messages.ts';
import type { FrameSource } from '../../src/ingest/index.ts';

const run = promisify(execFile);

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `crowdlens-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Encodes a lavfi source (e.g. `testsrc2=size=640x360:rate=25`) to an H.264 mp4 with real ffmpeg. */
export async function makeClip(path: string, lavfi: string, durationS: number, encoder = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']): Promise<string> {
  await run('ffmpeg', ['-y', '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `${lavfi}:duration=${durationS}`, ...encoder, path]);
  return path;
}

/** A real pino logger (the shared one, with its scrubbing) writing into memory. */
export function captureLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination: sink }), text: () => chunks.join('') };
}

export async function waitFor(what: string, pred: () => boolean, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Consumes `source.frames()` in the background, keeping copies of the frames' metadata. */
export function drain(source: FrameSource): { frames: Omit<Frame, 'rgb'>[]; done: Promise<unknown> } {
  const frames: Omit<Frame, 'rgb'>[] = [];
  const done = (async () => {
    for await (const f of source.frames()) {
      const { rgb: _rgb, ...meta } = f;
      frames.push(meta);
    }
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  return { frames, done };
}

export { pidAlive } from '../support/process.ts';
