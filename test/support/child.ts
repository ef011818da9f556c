/** Child processes running a TypeScript file through tsx's loader, with their stdout lines watched. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export interface Child {
  readonly proc: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first stdout line matching `re` (also one already seen); rejects after `timeoutMs` or when the child exits. */
  waitLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly stderr: () => string;
}

export function spawnTs(file: string, env: Record<string, string>): Child {
  return spawnNode(['--import', 'tsx', path.resolve(ROOT, file)], env, file);
}

/** `node bin/crowdlens.js ARGS` (as an operator runs a role), with its stdout lines watched. */
export function spawnCli(args: string[], env: Record<string, string>): Child {
  return spawnNode([path.resolve(ROOT, 'bin', 'crowdlens.js'), ...args], env, `crowdlens ${args.join(' ')}`);
}

function spawnNode(argv: string[], env: Record<string, string>, file: string): Child {
  const proc = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.re.test(line)) w.resolve(line);
    }
  });
  proc.stderr?.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    lines,
    exited,
    stderr: () => err,
    waitLine(re, timeoutMs = 60_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`child ${file}: no line matching ${re} within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`)),
          timeoutMs,
        );
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(w), 1);
            resolve(l);
          },
        };
        waiters.push(w);
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(
            new Error(`child ${file} exited (code ${code}, signal ${signal}) before a line matching ${re}; stderr: ${err.slice(-2000)}`),
          );
        });
      });
    },
  };
}

/** Kills a child we started (by its pid) if it still runs, and waits for it. */
export async function killChild(child: Child | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill(signal);
  await child.exited;
}
