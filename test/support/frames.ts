/** Real frames from a real clip (../shared/data/videos), read by src/ingest with real ffmpeg. */
import path from 'node:path';
import { openSource } from '../../src/ingest/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { Frame } from '../../src/shared/messages.ts';

export const VIDEOS = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'videos');

/** The first `n` frames of `file` (a name under ../shared/data/videos, or a path) at `fps`, pixels copied. */
export async function clipFrames(
  file: string,
  n: number,
  options: { fps?: number; sourceId?: string; maxWidth?: number } = {},
): Promise<Frame[]> {
  const url = path.isAbsolute(file) ? file : path.join(VIDEOS, file);
  const source = openSource(
    { url, sourceId: options.sourceId ?? 'cam-1', fps: options.fps ?? 5, maxWidth: options.maxWidth ?? 1280, realtime: false },
    { logger: createLogger({ level: 'warn' }) },
  );
  const frames: Frame[] = [];
  try {
    for await (const f of source.frames()) {
      frames.push({ ...f, rgb: Uint8Array.from(f.rgb) });
      if (frames.length >= n) break;
    }
  } finally {
    await source.close();
  }
  if (frames.length < n) throw new Error(`${file}: only ${frames.length} frames, wanted ${n}`);
  return frames;
}
