import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import type { Frame } from '../shared/messages.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { buildFfmpegArgs } from './args.ts';
import { probeFfmpeg, type FfmpegInfo } from './binary.ts';
import { IngestError, classifyExit, type IngestErrorCode } from './errors.ts';
import { spawnFfmpeg, type FfmpegProcess } from './ffmpeg.ts';
import { parseSourceUrl, scrub, type ParsedSource, type SourceKind } from './source-url.ts';

/** Options for {@link openSource}. */
export interface SourceOptions {
  /** File path, `file:`, `rtsp:`, `rtsps:`, `http:` or `https:` URL (HLS when the path ends in `.m3u8`). May carry credentials; they are never logged. */
  readonly url: string;
  /** Id stamped on every frame (camera id, or the file path). */
  readonly sourceId: string;
  /** Output frame rate, frames/s (ffmpeg `fps` filter), 0 < fps <= 120. */
  readonly fps: number;
  /** Maximum output width, px (>= 16); smaller sources are never upscaled; width and height are made even. */
  readonly maxWidth: number;
  /** Files only: read at native speed (`-re`) like a live camera. Default true; false decodes as fast as possible. */
  readonly realtime?: boolean;
  /** Files only: loop forever. Default false. */
  readonly loop?: boolean;
  /** Kill and restart ffmpeg when no frame arrives for this long while streaming, ms. Default 10000. */
  readonly watchdogMs?: number;
  /**
   * Time allowed from each ffmpeg start to its first frame (connect, probe, first keyframe), ms; then the watchdog kills it.
   * Default `watchdogMs + connectTimeoutMs`.
   */
  readonly firstFrameTimeoutMs?: number;
  /** Socket I/O timeout for network sources (ffmpeg `-timeout`/`-stimeout`), ms. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** First reconnect delay, ms. Default 500. */
  readonly initialBackoffMs?: number;
  /** Reconnect delay cap, ms. Default 30000. */
  readonly maxBackoffMs?: number;
  /** Delay growth per consecutive failure. Default 2. */
  readonly backoffMultiplier?: number;
  /** Random spread of each delay, as a fraction (0.2 = +-20%), so many cameras do not reconnect in lockstep. Default 0.2. */
  readonly backoffJitterRatio?: number;
  /** Frames buffered for a slow consumer, >= 1. Default 2. */
  readonly queueSize?: number;
  /**
   * What happens when the queue is full. `drop`: the oldest queued frame is dropped (and counted) so the consumer
   * always gets the newest. `wait`: ffmpeg is paused (back-pressure), nothing is dropped.
   * Default: `wait` for files with `realtime: false` (analysis wants every frame), else `drop`.
   */
  readonly onSlowConsumer?: 'drop' | 'wait';
  /** ffmpeg binary; else env `FFMPEG_PATH`, `ffmpeg` on PATH, then @ffmpeg-installer's. */
  readonly ffmpegPath?: string;
  /** RTSP lower transport. Default `tcp` (no packet loss artefacts; works through NAT). */
  readonly rtspTransport?: 'tcp' | 'udp';
  /** Time between SIGTERM and SIGKILL when stopping ffmpeg, ms. Default 2000. */
  readonly killGraceMs?: number;
  /** Called on every state change (same payload as the `state` event). */
  readonly onState?: (status: SourceStatus) => void;
}

/** Lifecycle of a source. `stopped` and `failed` are final. */
export type SourceState = 'starting' | 'running' | 'reconnecting' | 'stopped' | 'failed';

/** Monotonic counters of one source. */
export interface SourceCounters {
  /** Complete frames read from ffmpeg. */
  framesIn: number;
  /** Frames handed to the consumer. */
  framesOut: number;
  /** Frames dropped because the consumer was slower than the source (queue full). */
  framesDropped: number;
  /** Incomplete frames discarded when an ffmpeg session ended mid-frame. */
  partialFramesDiscarded: number;
  /** ffmpeg restarts after a fault (watchdog kills included). */
  restarts: number;
  /** Of `restarts`, those caused by the no-frame watchdog. */
  watchdogRestarts: number;
  /** Raw bytes read from ffmpeg. */
  bytesIn: number;
}

/** Last fault, scrubbed of credentials. */
export interface SourceError {
  readonly code: IngestErrorCode;
  readonly message: string;
  readonly permanent: boolean;
  /** When it happened, ms since the Unix epoch. */
  readonly atMs: number;
}

/** Snapshot of a source, safe to log or serve (URL masked). */
export interface SourceStatus {
  readonly sourceId: string;
  /** URL with credentials masked. */
  readonly url: string;
  readonly kind: SourceKind;
  readonly state: SourceState;
  readonly lastError?: SourceError;
  readonly counters: Readonly<SourceCounters>;
  /** Current ffmpeg process id, while one runs. */
  readonly pid?: number;
  /** Output frame size of the current/last session, px. */
  readonly width?: number;
  readonly height?: number;
}

/** A video source producing RGB frames. Emits `state` (SourceStatus) on every state change. */
export interface FrameSource extends EventEmitter {
  /**
   * Frames until the source stops. Starts ffmpeg on first use; iterate once. Throws the {@link IngestError}
   * when the source fails. Leaving the loop (break/return/throw) stops ffmpeg. `frame.rgb` is reused after the next iteration.
   */
  frames(): AsyncGenerator<Frame, void, undefined>;
  status(): SourceStatus;
  /** Stops ffmpeg (SIGTERM, then SIGKILL after `killGraceMs`) and ends `frames()`. Idempotent. */
  close(): Promise<void>;
}

/** Optional collaborators of {@link openSource}. */
export interface SourceDeps {
  /** Default: the shared pino logger on stderr. */
  readonly logger?: Logger;
}

interface Session {
  proc: FfmpegProcess;
  lines: string[];
  fault: IngestError | undefined;
  framesOut: number;
}

const STDERR_LINES_KEPT = 30;
const PENDING_BYTES_MAX = 64 << 20;
const loggedBinaries = new Set<string>();

function positive(field: string, v: number | undefined, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const x = v ?? dflt;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max || (min === 0 && x <= 0)) {
    throw new RangeError(`${field}: expected a number in ${min === 0 ? '(0' : `[${min}`}, ${max}] (got ${JSON.stringify(v)})`);
  }
  return x;
}

class FfmpegFrameSource extends EventEmitter implements FrameSource {
  private readonly src: ParsedSource;
  private readonly log: Logger;
  private state: SourceState = 'starting';
  private lastError: SourceError | undefined;
  private readonly counters: SourceCounters = { framesIn: 0, framesOut: 0, framesDropped: 0, partialFramesDiscarded: 0, restarts: 0, watchdogRestarts: 0, bytesIn: 0 };
  private readonly fps: number;
  private readonly maxWidth: number;
  private readonly realtime: boolean;
  private readonly loop: boolean;
  private readonly watchdogMs: number;
  private readonly connectTimeoutMs: number;
  private readonly firstFrameTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly backoffMultiplier: number;
  private readonly jitter: number;
  private readonly queueSize: number;
  private readonly dropWhenFull: boolean;
  private readonly killGraceMs: number;

  private session: Session | undefined;
  private width: number | undefined;
  private height: number | undefined;
  private frameBytes = 0;
  private free: Buffer[] = [];
  private readonly queue: Frame[] = [];
  private waiter: (() => void) | undefined;
  private seq = 0;
  private lastCapturedAtMs = -Infinity;
  private runPromise: Promise<void> | undefined;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private wakeSleep: (() => void) | undefined;
  private iterating = false;
  private paused = false;

  constructor(
    private readonly options: SourceOptions,
    deps: SourceDeps,
  ) {
    super();
    if (typeof options.sourceId !== 'string' || options.sourceId === '') throw new RangeError(`sourceId: expected a non-empty string (got ${JSON.stringify(options.sourceId)})`);
    this.src = parseSourceUrl(options.url, 'url');
    this.fps = positive('fps', options.fps, NaN, 0, 120);
    this.maxWidth = positive('maxWidth', options.maxWidth, NaN, 16, 16384);
    this.realtime = options.realtime ?? true;
    this.loop = options.loop ?? false;
    this.watchdogMs = positive('watchdogMs', options.watchdogMs, 10_000, 100);
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 5000, 100);
    this.firstFrameTimeoutMs = positive('firstFrameTimeoutMs', options.firstFrameTimeoutMs, this.watchdogMs + this.connectTimeoutMs, 100);
    this.initialBackoffMs = positive('initialBackoffMs', options.initialBackoffMs, 500, 1);
    this.maxBackoffMs = positive('maxBackoffMs', options.maxBackoffMs, 30_000, this.initialBackoffMs);
    this.backoffMultiplier = positive('backoffMultiplier', options.backoffMultiplier, 2, 1, 100);
    this.jitter = options.backoffJitterRatio ?? 0.2;
    if (!(this.jitter >= 0 && this.jitter < 1)) throw new RangeError(`backoffJitterRatio: expected a number in [0, 1) (got ${JSON.stringify(options.backoffJitterRatio)})`);
    this.queueSize = Math.floor(positive('queueSize', options.queueSize, 2, 1, 1000));
    this.killGraceMs = positive('killGraceMs', options.killGraceMs, 2000, 0);
    const slow = options.onSlowConsumer ?? (this.src.kind === 'file' && !this.realtime ? 'wait' : 'drop');
    if (slow !== 'drop' && slow !== 'wait') throw new RangeError(`onSlowConsumer: expected "drop" or "wait" (got ${JSON.stringify(slow)})`);
    this.dropWhenFull = slow === 'drop';
    if (options.rtspTransport !== undefined && options.rtspTransport !== 'tcp' && options.rtspTransport !== 'udp') {
      throw new RangeError(`rtspTransport: expected "tcp" or "udp" (got ${JSON.stringify(options.rtspTransport)})`);
    }
    this.log = (deps.logger ?? createLogger()).child({ sourceId: options.sourceId, url: this.src.masked });
  }

  status(): SourceStatus {
    const pid = this.session?.proc.pid();
    return {
      sourceId: this.options.sourceId,
      url: this.src.masked,
      kind: this.src.kind,
      state: this.state,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      counters: { ...this.counters },
      ...(pid !== undefined ? { pid } : {}),
      ...(this.width !== undefined && this.height !== undefined ? { width: this.width, height: this.height } : {}),
    };
  }

  async *frames(): AsyncGenerator<Frame, void, undefined> {
    if (this.iterating) throw new Error(`frames(): source ${JSON.stringify(this.options.sourceId)} is already being iterated`);
    this.iterating = true;
    this.start();
    let lent: Frame | undefined;
    try {
      for (;;) {
        if (lent) this.release(lent.rgb as Buffer);
        lent = undefined;
        const frame = await this.take();
        if (!frame) return;
        this.counters.framesOut++;
        lent = frame;
        yield frame;
      }
    } finally {
      await this.close();
    }
  }

  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closing = true;
      this.wakeSleep?.();
      const s = this.session;
      if (s) {
        s.proc.stdout.destroy();
        await s.proc.kill(this.killGraceMs);
      }
      await this.runPromise;
      if (this.state !== 'failed') this.setState('stopped');
      this.wake();
    })();
    return this.closePromise;
  }

  private start(): void {
    if (this.runPromise || this.closing) return;
    this.runPromise = this.run().catch((err: unknown) => {
      // A bug here must not leave the consumer waiting forever.
      this.fail(new IngestError('FFMPEG', `internal error: ${scrub(err instanceof Error ? err.message : String(err), this.src.secrets)}`));
    });
  }

  private async run(): Promise<void> {
    let info: FfmpegInfo;
    try {
      info = await probeFfmpeg({ ffmpegPath: this.options.ffmpegPath });
    } catch (err) {
      return this.fail(new IngestError('FFMPEG', (err as Error).message));
    }
    if (!loggedBinaries.has(info.path)) {
      loggedBinaries.add(info.path);
      this.log.info({ ffmpeg: info.path, version: info.version, origin: info.origin, flavour: info.flavour }, 'using ffmpeg');
    }
    if (this.src.filePath !== undefined) {
      const fault = await this.checkFile(this.src.filePath);
      if (fault) return this.fail(fault);
    }
    let attempt = 0;
    const args = buildFfmpegArgs(this.src, info, {
      fps: this.fps,
      maxWidth: this.maxWidth,
      realtime: this.realtime,
      loop: this.loop,
      connectTimeoutMs: this.connectTimeoutMs,
      rtspTransport: this.options.rtspTransport ?? 'tcp',
    });
    for (;;) {
      if (this.closing) return;
      const s = await this.runSession(info, args);
      if (this.closing) return;
      if (s.framesOut > 0) attempt = 0;
      let fault = s.fault;
      if (!fault) return this.setState('stopped'); // a file that ended normally
      // A live source that has streamed before is a working camera having a bad moment: even 404/401 may be a reboot.
      if (this.src.live && fault.permanent && this.counters.framesIn > 0) fault = new IngestError(fault.code, fault.message, false);
      if (fault.permanent || !this.src.live) return this.fail(fault);
      const delayMs = this.backoff(attempt++);
      this.recordError(fault);
      this.setState('reconnecting');
      this.log.warn({ code: fault.code, err: fault.message, retryInMs: Math.round(delayMs), attempt }, 'source fault, reconnecting');
      await this.sleep(delayMs);
      if (this.closing) return;
      this.counters.restarts++;
      if (fault.code === 'WATCHDOG') this.counters.watchdogRestarts++;
    }
  }

  private async checkFile(path: string): Promise<IngestError | undefined> {
    try {
      const st = await stat(path);
      if (!st.isFile()) return new IngestError('NOT_VIDEO', `not a regular file: ${path}`);
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return new IngestError('FILE_NOT_FOUND', `file not found: ${path}`);
      return new IngestError('FILE_NOT_FOUND', `cannot read file ${path}: ${code ?? (err as Error).message}`);
    }
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * this.backoffMultiplier ** attempt);
    return Math.min(this.maxBackoffMs, base * (1 - this.jitter + 2 * this.jitter * Math.random()));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeSleep = done;
    }).then(() => {
      this.wakeSleep = undefined;
    });
  }

  private async runSession(info: FfmpegInfo, args: { inputOptions: string[]; outputOptions: string[] }): Promise<Session> {
    let inOutput = false;
    let dims: { w: number; h: number } | undefined;
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    let fill: Buffer | undefined;
    let fillPos = 0;
    let sessionFrames = 0;
    let anchorMs: number | undefined;
    let lastProgressMs = Date.now();

    const onLine = (raw: string): void => {
      const line = scrub(raw, this.src.secrets);
      s.lines.push(line);
      if (s.lines.length > STDERR_LINES_KEPT) s.lines.shift();
      this.log.debug({ line }, 'ffmpeg');
      if (/^Output #0/.test(line)) inOutput = true;
      else if (inOutput && !dims) {
        const m = /Stream #0:0.*Video: rawvideo.*?, (\d+)x(\d+)[\s,[]/.exec(line);
        if (m) {
          dims = { w: Number(m[1]), h: Number(m[2]) };
          this.setDims(dims.w, dims.h);
          const held = pending.splice(0);
          pendingBytes = 0;
          for (const c of held) onData(c);
        }
      }
    };

    const onData = (chunk: Buffer): void => {
      if (!dims) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes > PENDING_BYTES_MAX && !s.fault) {
          s.fault = new IngestError('FFMPEG', `no output frame size in ffmpeg's log after ${pendingBytes} bytes`);
          void s.proc.kill(this.killGraceMs);
        }
        return;
      }
      let off = 0;
      while (off < chunk.length) {
        fill ??= this.acquire();
        const n = Math.min(this.frameBytes - fillPos, chunk.length - off);
        chunk.copy(fill, fillPos, off, off + n);
        fillPos += n;
        off += n;
        if (fillPos === this.frameBytes) {
          const now = Date.now();
          lastProgressMs = now;
          const ptsMs = (sessionFrames * 1000) / this.fps;
          let capturedAtMs: number;
          if (this.src.live) {
            // Anchor pts to the wall clock at the session's first frame; never let it run ahead of now.
            anchorMs ??= now;
            if (anchorMs + ptsMs > now) anchorMs = now - ptsMs;
            capturedAtMs = Math.max(anchorMs + ptsMs, this.lastCapturedAtMs);
          } else {
            capturedAtMs = ptsMs;
          }
          this.lastCapturedAtMs = capturedAtMs;
          sessionFrames++;
          s.framesOut++;
          this.counters.framesIn++;
          this.push({ sourceId: this.options.sourceId, seq: this.seq++, capturedAtMs, ptsMs, width: dims.w, height: dims.h, rgb: fill });
          fill = undefined;
          fillPos = 0;
        }
      }
    };

    const proc = spawnFfmpeg({ ffmpegPath: info.path, input: this.src.input, ...args }, onLine);
    const s: Session = { proc, lines: [], fault: undefined, framesOut: 0 };
    this.session = s;
    this.paused = false;
    proc.stdout.on('data', (chunk: Buffer) => {
      this.counters.bytesIn += chunk.length;
      onData(chunk);
    });
    const ended = new Promise<void>((resolve) => {
      proc.stdout.once('end', resolve);
      proc.stdout.once('close', resolve);
      proc.stdout.once('error', (err) => {
        this.log.debug({ err: scrub(err.message, this.src.secrets) }, 'ffmpeg stdout error');
        resolve();
      });
    });
    const tick = Math.max(20, Math.min(250, this.watchdogMs / 4, this.firstFrameTimeoutMs / 4));
    const watchdog = setInterval(() => {
      const now = Date.now();
      // Back-pressure (wait mode) stalls ffmpeg on purpose: that is not a hang.
      if (this.paused) lastProgressMs = now;
      const limitMs = sessionFrames === 0 ? this.firstFrameTimeoutMs : this.watchdogMs;
      if (now - lastProgressMs > limitMs && !s.fault) {
        s.fault = new IngestError('WATCHDOG', `no frame for ${limitMs} ms${sessionFrames === 0 ? ' after start' : ''}; ffmpeg killed`);
        this.log.warn({ limitMs }, 'watchdog: no frames, killing ffmpeg');
        void proc.kill(this.killGraceMs);
      }
    }, tick);
    this.log.debug({ pid: proc.pid() }, 'ffmpeg spawned');

    const exit = await proc.exited;
    await ended;
    clearInterval(watchdog);
    this.session = undefined;
    if (fill && fillPos > 0) this.counters.partialFramesDiscarded++;
    if (fill) this.release(fill);
    if (this.closing) return s;
    if (exit.spawnError) {
      s.fault ??= new IngestError('FFMPEG', `cannot run ffmpeg ${JSON.stringify(info.path)}: ${scrub(exit.spawnError, this.src.secrets)}`);
      return s;
    }
    s.fault ??= classifyExit(s.lines, exit.code, exit.signal, this.src.live);
    if (s.fault && !this.src.live && s.framesOut > 0 && s.fault.code === 'STREAM_ENDED') s.fault = undefined;
    if (!s.fault && s.framesOut === 0 && !this.src.live) {
      s.fault = new IngestError('NOT_VIDEO', `no frames decoded${s.lines.length ? `: ${s.lines.slice(-2).join(' | ')}` : ''}`);
    }
    return s;
  }

  private setDims(w: number, h: number): void {
    if (w !== this.width || h !== this.height) {
      this.width = w;
      this.height = h;
      this.free = [];
    }
    this.frameBytes = w * h * 3;
  }

  /** Buffers are recycled: the queue, the frame being filled and the one lent to the consumer. */
  private acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.frameBytes);
  }

  private release(buf: Buffer): void {
    if (buf.length === this.frameBytes && this.free.length < this.queueSize + 2) this.free.push(buf);
  }

  private push(frame: Frame): void {
    if (this.state !== 'running' && !this.closing) this.setState('running');
    if (this.dropWhenFull && this.queue.length >= this.queueSize) {
      const stale = this.queue.shift();
      if (stale) {
        this.counters.framesDropped++;
        this.release(stale.rgb as Buffer);
      }
    }
    this.queue.push(frame);
    if (!this.dropWhenFull && this.queue.length >= this.queueSize && this.session && !this.paused) {
      this.paused = true;
      this.session.proc.stdout.pause();
    }
    this.wake();
  }

  private async take(): Promise<Frame | undefined> {
    for (;;) {
      const f = this.queue.shift();
      if (f) {
        if (this.paused && this.queue.length < this.queueSize) {
          this.paused = false;
          this.session?.proc.stdout.resume();
        }
        return f;
      }
      if (this.state === 'failed' && this.lastError) {
        throw new IngestError(this.lastError.code, this.lastError.message, this.lastError.permanent);
      }
      if (this.state === 'stopped' || this.closing) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private recordError(err: IngestError): void {
    this.lastError = { code: err.code, message: scrub(err.message, this.src.secrets), permanent: err.permanent, atMs: Date.now() };
  }

  private fail(err: IngestError): void {
    this.recordError(err);
    this.log.error({ code: err.code, err: this.lastError?.message }, 'source failed');
    this.setState('failed');
  }

  private setState(next: SourceState): void {
    if (this.state === next) return;
    if (this.state === 'failed' || (this.state === 'stopped' && next !== 'failed')) return;
    this.state = next;
    this.log.info({ state: next }, 'source state');
    const status = this.status();
    this.options.onState?.(status);
    this.emit('state', status);
    this.wake();
  }
}

/**
 * Opens a video source (file, RTSP/RTSPS, HTTP progressive, HLS) as a stream of RGB24 frames at `fps`,
 * at most `maxWidth` wide. Validates options at once (throws {@link IngestError} `BAD_URL` or RangeError naming the field);
 * ffmpeg starts when `frames()` is first iterated.
 */
export function openSource(options: SourceOptions, deps: SourceDeps = {}): FrameSource {
  return new FfmpegFrameSource(options, deps);
}
