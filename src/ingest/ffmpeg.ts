/**
 * The only module that touches fluent-ffmpeg (archived upstream): everything else sees
 * {@link spawnFfmpeg}'s small interface, so swapping it for a plain `child_process.spawn` is local.
 */
import type { ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';

/** What to run: `ffmpeg [inputOptions] -i input [outputOptions] pipe:1`. */
export interface FfmpegSpec {
  readonly ffmpegPath: string;
  readonly input: string;
  readonly inputOptions: readonly string[];
  readonly outputOptions: readonly string[];
}

/** How an ffmpeg process ended. */
export interface FfmpegExit {
  /** Exit code; null when killed by a signal or when it never started. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT); unscrubbed, may contain the input URL. */
  readonly spawnError?: string;
}

/** A running ffmpeg. */
export interface FfmpegProcess {
  /** Raw output bytes (ffmpeg's stdout). Pausing it back-pressures ffmpeg. */
  readonly stdout: Readable;
  /** Process id once spawned. */
  pid(): number | undefined;
  /** Resolves once the process has exited (or failed to start). Never rejects. */
  readonly exited: Promise<FfmpegExit>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. Safe to call repeatedly, and before spawn. */
  kill(graceMs: number): Promise<FfmpegExit>;
}

/** Starts ffmpeg. `onStderrLine` gets each stderr line, unscrubbed: the caller must scrub before logging. */
export function spawnFfmpeg(spec: FfmpegSpec, onStderrLine: (line: string) => void): FfmpegProcess {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let proc: ChildProcess | undefined;
  let killGraceMs: number | undefined;
  let done = false;
  let resolveExit!: (e: FfmpegExit) => void;
  const exited = new Promise<FfmpegExit>((r) => (resolveExit = r));
  const finish = (e: FfmpegExit): void => {
    if (done) return;
    done = true;
    resolveExit(e);
  };

  const command = ffmpeg({ stdoutLines: 20 }) // ring size of both stdout and stderr lines; 0 would mean unbounded
    .setFfmpegPath(spec.ffmpegPath)
    .input(spec.input)
    .inputOptions([...spec.inputOptions])
    .outputOptions([...spec.outputOptions]);
  command.on('start', () => {
    proc = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
    if (!proc) return finish({ code: null, signal: null, spawnError: 'fluent-ffmpeg started without a process' });
    proc.once('exit', (code, signal) => finish({ code, signal }));
    if (proc.exitCode !== null || proc.signalCode !== null) finish({ code: proc.exitCode, signal: proc.signalCode });
    // A kill requested during fluent-ffmpeg's asynchronous start-up must still land, or ffmpeg is orphaned.
    if (killGraceMs !== undefined) signalKill(killGraceMs);
  });
  command.on('stderr', onStderrLine);
  // fluent-ffmpeg reports every non-zero exit, kill and spawn failure here; the exit itself is read from the process.
  // stdout ends through the pipe when the process exits, so buffered frames are still read after an error.
  command.on('error', (err: Error) => {
    if (proc) return;
    finish({ code: null, signal: null, spawnError: err.message });
    out.end();
  });
  command.on('end', () => undefined);
  command.pipe(out, { end: true });

  function signalKill(graceMs: number): void {
    if (!proc || done) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!done) proc?.kill('SIGKILL');
    }, graceMs);
    void exited.then(() => clearTimeout(timer));
  }

  const kill = (graceMs: number): Promise<FfmpegExit> => {
    if (killGraceMs === undefined) {
      killGraceMs = graceMs;
      signalKill(graceMs);
    }
    return exited;
  };

  return { stdout: out, pid: () => proc?.pid, exited, kill };
}
