/**
 * Starts test/support/rtsp-server.py (gst-rtsp-server, run by /usr/bin/python3 which has python3-gi)
 * on a free loopback port, and lets tests kill, restart, hang (SIGSTOP) and resume (SIGCONT) it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./rtsp-server.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

export interface RtspServerOptions {
  /** Mount path. Default `/live`. */
  readonly path?: string;
  /** Require basic auth with these credentials. */
  readonly user?: string;
  readonly password?: string;
  /** Frame size, e.g. `320x240` (default). */
  readonly size?: string;
  /** Server frame rate, frames/s. Default 15. */
  readonly fps?: number;
}

export interface RtspServer {
  readonly port: number;
  /** `rtsp://[user:password@]127.0.0.1:PORT/path`. */
  url(path?: string, creds?: { user: string; password: string }): string;
  /** Server process id while running. */
  pid(): number | undefined;
  /** (Re)starts the server on the same port; resolves once it listens. No-op while it runs. */
  start(): Promise<void>;
  /** SIGKILL: the server vanishes without a TEARDOWN, like a crashed camera. */
  kill(): Promise<void>;
  /** SIGSTOP: the server hangs with its sockets open. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stops it for good. */
  stop(): Promise<void>;
}

/** A loopback TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRtspServer(options: RtspServerOptions = {}): Promise<RtspServer> {
  const port = await freePort();
  const mount = options.path ?? '/live';
  // --exit-on-stdin-eof: the server dies with the test process even if that is killed without cleanup.
  const argv = [SCRIPT, String(port), '--exit-on-stdin-eof', '--path', mount, '--size', options.size ?? '320x240', '--fps', String(options.fps ?? 15)];
  if (options.user !== undefined) argv.push('--user', options.user, '--password', options.password ?? '');
  let child: ChildProcess | undefined;

  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      if (child) return resolve();
      const c = spawn(PYTHON, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      child = c;
      let out = '';
      let err = '';
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(new Error(`rtsp-server.py not ready after 15 s: ${err}`));
      }, 15_000);
      c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      c.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('READY')) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (child === c) child = undefined;
        reject(new Error(`rtsp-server.py exited (${code ?? signal}) before ready: ${err}`));
      });
    });

  const kill = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    c.kill('SIGKILL');
    await waitExit(c);
    child = undefined;
  };

  await start();
  return {
    port,
    url: (path = mount, creds) => `rtsp://${creds ? `${creds.user}:${creds.password}@` : ''}127.0.0.1:${port}${path}`,
    pid: () => child?.pid,
    start,
    kill,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    stop: kill,
  };
}
