import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/run.ts';
import { parseMot } from '../../src/track/mot.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TOOL = path.resolve(ROOT, '..', 'shared', 'tools', 'make-crowd-video.py');
const FACES = path.resolve(ROOT, '..', 'shared', 'data', 'faces', 'utkface-dev');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
const BIN = path.join(ROOT, 'bin', 'crowdlens.js');

let dir: string;
let clip: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-run-cli-test-'));
  execFileSync('python3', [TOOL, '--faces', FACES, '--out', dir, '--seed', '5', '--people', '3', '--duration', '4', '--fps', '10', '--size', '480x270', '--min-face', '80', '--max-face', '110', '--reentry', '0'], { stdio: 'ignore' });
  clip = path.join(dir, 'video.mp4');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Pids of the direct children of `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    if (text !== '') out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

/** The command name of a process, or '' when it is gone. */
function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** Runs `crowdlens run ARGS` in its own node process (tsx loader, as bin/crowdlens.js does). */
function crowdlens(args: string[], opts: { onStderr?: (text: string, child: ReturnType<typeof spawn>) => void; timeoutMs?: number; viaBin?: boolean } = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const argv = opts.viaBin ? [BIN, 'run', ...args] : ['--import', 'tsx', MAIN, 'run', ...args];
    // viaBin: a process group of its own, so a test can signal it the way a terminal's Ctrl-C does.
    const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, CROWDLENS_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.viaBin ?? false });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 45_000);
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      opts.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('crowdlens run', () => {
  it('writes --events, --tracks and --summary for a clip read as fast as possible', async () => {
    const files = { events: path.join(dir, 'a-events.jsonl'), tracks: path.join(dir, 'a-tracks.txt'), summary: path.join(dir, 'a-summary.json') };
    const res = await crowdlens(['--source', clip, '--no-realtime', '--fps', '5', '--events', files.events, '--tracks', files.tracks, '--summary', files.summary]);
    expect(res.stderr).toContain('execution provider');
    expect(res.code).toBe(0);

    const events = readFileSync(files.events, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; personId?: number });
    expect(events.some((e) => e.type === 'person.entered')).toBe(true);
    expect(events.some((e) => e.type === 'person.left')).toBe(true);
    expect(events.at(-1)?.type).toBe('demographics');

    const text = readFileSync(files.tracks, 'utf8');
    const lines = text.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^\d+,\d+,-?[\d.]+,-?[\d.]+,[\d.]+,[\d.]+,[\d.]+,-1,-1,-1$/);
    const rows = parseMot(text, 'tracks');
    expect(rows.length).toBeGreaterThan(0);
    // Frames are 1-based at the sampled rate: 4 s at 5 fps.
    expect(Math.min(...rows.map((r) => r.frame))).toBeGreaterThanOrEqual(1);
    expect(Math.max(...rows.map((r) => r.frame))).toBeLessThanOrEqual(20);
    const entered = new Set(events.filter((e) => e.type === 'person.entered').map((e) => e.personId));
    for (const r of rows) expect(entered.has(r.id)).toBe(true);

    const summary = JSON.parse(readFileSync(files.summary, 'utf8')) as { frames: number; uniquePersons: number; demographics: Record<string, number>; persons: { id: number; firstSeenMs: number; lastSeenMs: number; ageYears: number | null; gender: string | null; samples: number }[] };
    expect(summary.frames).toBe(20);
    expect(summary.uniquePersons).toBe(entered.size);
    expect(summary.persons.map((p) => p.id).sort()).toEqual([...entered].sort());
    for (const key of Object.keys(summary.demographics)) expect(key).toMatch(/^(0-12|13-17|18-24|25-34|35-44|45-54|55-64|65\+)\/(female|male)$/);
    for (const p of summary.persons) expect(Object.keys(p).sort()).toEqual(['ageYears', 'firstSeenMs', 'gender', 'id', 'lastSeenMs', 'maleProbability', 'samples']);
  });

  it('stops cleanly on Ctrl-C (SIGINT to the process group) during a real-time run and still writes the summary', async () => {
    const summaryFile = path.join(dir, 'b-summary.json');
    let sent = false;
    const res = await crowdlens(['--source', clip, '--realtime', '--loop', '--fps', '5', '--progress', '--summary', summaryFile], {
      viaBin: true,
      onStderr(text, child) {
        // A progress line means frames are flowing.
        if (!sent && /frames [1-9]\d*\s+fps/.test(text) && child.pid !== undefined) {
          sent = true;
          process.kill(-child.pid, 'SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    // The wrapper's forwarded SIGINT must not count as a second Ctrl-C (which skips the cleanup).
    expect(res.stderr).not.toContain('again');
    expect(res.signal).toBeNull();
    expect(res.code).toBe(0);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as { frames: number; stopped: string; uniquePersons: number };
    expect(summary.stopped).toBe('aborted');
    expect(summary.frames).toBeGreaterThan(0);
    expect(summary.uniquePersons).toBeGreaterThanOrEqual(0);
  });

  it('fails with a clear error and no credentials for a source that cannot be reached', async () => {
    const summaryFile = path.join(dir, 'c-summary.json');
    const res = await crowdlens(['--source', 'rtsp://user:secret@127.0.0.1:1/x', '--first-frame-timeout', '3', '--summary', summaryFile]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/crowdlens run: no frame from the source within 3000 ms/);
    expect(res.stderr).toMatch(/connection refused/i);
    expect(res.stderr).not.toContain('secret');
    expect(res.stderr).not.toContain('user:');
    // Nothing was processed, and the summary says so, and why, without the credentials.
    const text = readFileSync(summaryFile, 'utf8');
    expect(text).not.toContain('secret');
    const summary = JSON.parse(text) as { frames: number; stopped: string; error?: string; uniquePersons: number };
    expect(summary).toMatchObject({ frames: 0, stopped: 'error', uniquePersons: 0 });
    expect(summary.error).toMatch(/no frame from the source within 3000 ms.*connection refused/i);
  });

  it('writes the summary of what was processed when the source fails mid-run, then exits 1', async () => {
    // A real fault: the run's own ffmpeg dies (as under the OOM killer) while frames are flowing.
    const summaryFile = path.join(dir, 'f-summary.json');
    let killed: number | undefined;
    const res = await crowdlens(['--source', clip, '--realtime', '--loop', '--fps', '5', '--progress', '--summary', summaryFile], {
      onStderr(text, child) {
        if (killed === undefined && /frames [1-9]\d*\s+fps/.test(text) && child.pid !== undefined) {
          const ffmpeg = childPids(child.pid).filter((pid) => processName(pid) === 'ffmpeg');
          if (ffmpeg.length !== 1) return;
          killed = ffmpeg[0] as number;
          process.kill(killed, 'SIGKILL');
        }
      },
    });
    expect(killed).toBeDefined();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/crowdlens run: .*killed by SIGKILL/);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as { frames: number; stopped: string; error?: string; persons: unknown[] };
    expect(summary.stopped).toBe('error');
    expect(summary.error).toMatch(/killed by SIGKILL/);
    expect(summary.frames).toBeGreaterThan(0);
    expect(Array.isArray(summary.persons)).toBe(true);
  });

  it('fails with a clear error for a missing file', async () => {
    const missing = await crowdlens(['--source', path.join(dir, 'missing.mp4'), '--no-realtime']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/crowdlens run: source: file not found.*missing\.mp4/);
  });

  it('rejects bad arguments with exit status 2, naming the flag', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      expect(await main(['--fps', '5'])).toBe(2);
      expect(written.join('')).toContain('--source is required');
      written.length = 0;
      expect(await main(['--source', clip, '--fps', 'fast'])).toBe(2);
      expect(written.join('')).toMatch(/ingest\.fps.*"fast"/);
      written.length = 0;
      expect(await main(['--source', clip, '--realtime', '--no-realtime'])).toBe(2);
      expect(written.join('')).toContain('exclude each other');
      written.length = 0;
      expect(await main(['--source', clip, '--max-frames', '0'])).toBe(2);
      expect(written.join('')).toContain('--max-frames');
    } finally {
      spy.mockRestore();
    }
  });
});
