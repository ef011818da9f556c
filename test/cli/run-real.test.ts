import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REAL_CLIPS, clipPath, scoreSummary } from '../../bench/lib/real.ts';
import type { RunSummary } from '../../src/pipeline/summary.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'crowdlens.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-run-real-test-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `crowdlens run ARGS` as a user runs it (bin/crowdlens.js, real ffmpeg, the shipped models and trust file). */
function crowdlens(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'run', ...args], { cwd: ROOT, env: { ...process.env, CROWDLENS_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('crowdlens run on a real clip, default settings', () => {
  // 3.4 s of three people facing the camera (2 women, 1 man; ../shared/data/README.md), faces 45-70 px in 480x270.
  const clip = REAL_CLIPS.find((c) => c.file === 'face-demographics-walking-and-pause.mp4');

  it('gives every person seen for seconds an estimate, and counts a sensible number of persons', async () => {
    if (!clip?.truth) throw new Error('face-demographics-walking-and-pause.mp4 is missing from REAL_CLIPS');
    const file = path.join(dir, 'summary.json');
    const res = await crowdlens(['--source', clipPath(clip), '--no-realtime', '--summary', file]);
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(file, 'utf8')) as RunSummary;
    expect(summary.stopped).toBe('end');
    expect(summary.uniquePersons).toBeGreaterThanOrEqual(2);
    expect(summary.uniquePersons).toBeLessThanOrEqual(5);
    // The quality floor must not throw away clear, frontal faces of real video (it did when sharpness weighed in).
    const long = summary.persons.filter((p) => p.lastSeenMs - p.firstSeenMs >= 2000);
    expect(long.length).toBeGreaterThanOrEqual(2);
    for (const p of long) {
      expect(p.ageYears, `person ${p.id} seen ${p.firstSeenMs}-${p.lastSeenMs} ms has no estimate`).not.toBeNull();
      expect(p.samples).toBeGreaterThanOrEqual(3);
      expect(p.ageYears).toBeGreaterThan(15);
      expect(p.ageYears).toBeLessThan(70);
    }
    // Both genders are in the clip; at least one person is more likely a woman and one more likely a man.
    const pm = summary.persons.map((p) => p.maleProbability).filter((v): v is number => v !== null);
    expect(Math.min(...pm)).toBeLessThan(0.5);
    expect(Math.max(...pm)).toBeGreaterThan(0.5);
    // A label that is answered is never in excess of what the clip holds by more than one person.
    expect(scoreSummary(summary, clip.truth).genderExcess).toBeLessThanOrEqual(1);
  });
});
