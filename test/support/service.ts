/** Helpers for tests of the service: processes by command line, waiting on conditions, Socket.IO clients. */
import { execFile, type ChildProcess } from 'node:child_process';
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

/** A `crowdlens start` child process. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Base URL parsed from the "dashboard at" line. */
  readonly url: string;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `node bin/crowdlens.js start ARGS` (as `npm start` does) and resolves once it printed its URL;
 * rejects when it exits first or prints nothing within `timeoutMs`.
 */
export async function spawnService(root: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ServiceProcess> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [`${root}/bin/crowdlens.js`, 'start', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await Promise.race([
    eventually('the "dashboard at" line of crowdlens start', () => /dashboard at (http:\/\/\S+?)\/\s/.exec(out)?.[1], timeoutMs),
    exited.then(({ code, signal }) => {
      throw new Error(`crowdlens start exited (${code ?? signal}) before listening: ${err.slice(-2000)}`);
    }),
  ]);
  return { child, url, stdout: () => out, stderr: () => err, exited };
}

/** A free TCP port on 127.0.0.1 (for programs that need a port number up front, like Prometheus). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}
