import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MotionDetector } from '../../src/infer/motion.ts';
import type { RgbImage } from '../../src/infer/types.ts';

const W = 320;
const H = 180;
const FPS = 10;
const FACE = '../shared/data/faces/utkface-dev/25_0_0_20170116212019911.jpg';
// The crowd tool's background: a slowly drifting gradient with per-frame sensor noise, H.264-coded.
const BACKGROUND = `gradients=s=${W}x${H}:r=${FPS}:c0=0x3a4a5a:c1=0x8a9aa0:speed=0.002:seed=1,format=yuv420p,noise=c0s=5:c0f=t`;

let dir: string;
let still: RgbImage[];
let moving: RgbImage[];
/** x of the moving face's left edge in frame i (overlay x = 20 + 100 t). */
const faceX = (i: number): number => 20 + (100 * i) / FPS;

function decode(file: string): RgbImage[] {
  const raw = execFileSync('ffmpeg', ['-loglevel', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  const size = W * H * 3;
  return Array.from({ length: raw.length / size }, (_, i) => ({ data: new Uint8Array(raw.subarray(i * size, (i + 1) * size)), width: W, height: H, channels: 3 }));
}

function encode(args: string[], out: string): string {
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', ...args, '-t', '2', '-r', String(FPS), '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p', out]);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-motion-test-'));
  const face = path.resolve(FACE);
  still = decode(encode(['-f', 'lavfi', '-i', BACKGROUND], path.join(dir, 'still.mp4')));
  moving = decode(encode(['-f', 'lavfi', '-i', BACKGROUND, '-loop', '1', '-framerate', String(FPS), '-i', face, '-filter_complex', `[1:v]scale=64:64[f];[0:v][f]overlay=x='20+100*t':y=60:shortest=1`], path.join(dir, 'moving.mp4')));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('MotionDetector on real coded frames', () => {
  it('sees no motion in a still scene with sensor noise after the first frame starts the background', () => {
    expect(still.length).toBe(2 * FPS);
    const md = new MotionDetector();
    const results = still.map((f) => md.update(f));
    expect(results[0]).toEqual({ boxes: [], movingShare: 0, global: true });
    for (const r of results.slice(1)) {
      expect(r.global).toBe(false);
      expect(r.boxes).toEqual([]);
      expect(r.movingShare).toBeLessThan(0.01);
    }
    expect(md.movingFrames).toBe(0);
  });

  it('boxes a face moving across the same scene in every frame, and little else', () => {
    const md = new MotionDetector();
    const results = moving.map((f) => md.update(f));
    let hits = 0;
    for (const [i, r] of results.entries()) {
      if (i === 0) continue;
      const cx = faceX(i) + 32;
      const cy = 60 + 32;
      if (r.boxes.some((b) => cx >= b[0] && cx <= b[2] && cy >= b[1] && cy <= b[3])) hits++;
      const area = r.boxes.reduce((a, b) => a + (b[2] - b[0]) * (b[3] - b[1]), 0);
      expect(area).toBeLessThan(0.25 * W * H);
      for (const b of r.boxes) {
        expect(b[0]).toBeGreaterThanOrEqual(0);
        expect(b[2]).toBeLessThanOrEqual(W);
        expect(b[3]).toBeLessThanOrEqual(H);
      }
    }
    expect(hits).toBe(results.length - 1);
  });

  it('treats a change of most of the frame as global (background restarted), and starts over after reset()', () => {
    const md = new MotionDetector();
    md.update(still[0] as RgbImage);
    md.update(still[1] as RgbImage);
    const bright = { ...(still[2] as RgbImage), data: (still[2] as RgbImage).data.map((v) => Math.min(255, v + 60)) };
    expect(md.update(bright)).toMatchObject({ global: true, boxes: [] });
    // The bright frame is the new background: the next bright frame is still.
    const bright2 = { ...(still[3] as RgbImage), data: (still[3] as RgbImage).data.map((v) => Math.min(255, v + 60)) };
    expect(md.update(bright2)).toMatchObject({ global: false, boxes: [] });
    md.reset();
    expect(md.update(still[4] as RgbImage).global).toBe(true);
  });

  it('rejects bad options and images, naming them', () => {
    expect(() => new MotionDetector({ gridWidth: 4 })).toThrow(/gridWidth must be an integer 8\.\.640, got 4/);
    expect(() => new MotionDetector({ threshold: 0 })).toThrow(/threshold must be within \(0, 255\), got 0/);
    expect(() => new MotionDetector({ alpha: 2 })).toThrow(/alpha must be within \(0, 1\], got 2/);
    expect(() => new MotionDetector().update({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 })).toThrow(/expected an RGB24 image, got 4x4x3 with 10 bytes/);
  });
});
