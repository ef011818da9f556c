/** Helpers for tests of the service: processes by command line, waiting on conditions, Socket.IO clients. */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of processes whose command line contains `needle` (e.g. a unique temp path: only this test's ffmpeg). */
export function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // the process ended while we looked
    }
    if (cmdline.split('\0').some((arg) => arg.includes(needle))) out.push(Number(entry));
  }
  return out;
}

/** Polls `check` until it returns a value other than undefined/false; fails after `timeoutMs` naming `what`. */
export async function eventually<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs Debian's `promtool check metrics` on an exposition; `out` is what it printed (empty when clean). */
export function promtoolCheck(exposition: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(new Error(`cannot run promtool (apt-get install prometheus): ${err.message}`));
      resolve({ code: err ? ((err as { code: number }).code) : 0, out: `${stdout}${stderr}` });
    });
    child.stdin?.end(exposition);
  });
}
