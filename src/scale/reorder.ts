/**
 * ReorderWindow: hands a camera's results to its tracker in frame order, once each.
 *
 * The camera owner registers every frame it submits ({@link ReorderWindow.expect}, seqs increasing);
 * results and losses arrive in any order from any worker ({@link ReorderWindow.deliver},
 * {@link ReorderWindow.lose}). Releases go out strictly by seq: a result waits until every earlier
 * frame is released or given up; a frame whose result has not come `deadlineMs` after it was
 * expected is released as lost (`deadline`), never waited for for ever. A seq is released at most
 * once: a second result for it (a job retried after a stall that had already delivered) or one that
 * comes after the frame was given up is counted and dropped. Pure: no I/O, the clock is passed in.
 */
import type { FrameLostReason } from '../shared/messages.ts';

/** What the window releases, in seq order. */
export type Released<T> =
  | { readonly kind: 'result'; readonly seq: number; readonly value: T }
  | { readonly kind: 'lost'; readonly seq: number; readonly reason: FrameLostReason };

/** Options of {@link ReorderWindow}. */
export interface ReorderWindowOptions {
  /** How long a frame may wait for its result after {@link ReorderWindow.expect}, ms (> 0). */
  readonly deadlineMs: number;
  /** Frames pending at most; {@link ReorderWindow.expect} beyond it throws (callers check {@link ReorderWindow.full}). Default 64. */
  readonly maxPending?: number;
}

/** Counters of a window. */
export interface ReorderStats {
  /** Frames registered by expect. */
  expected: number;
  /** Frames released with a result. */
  released: number;
  /** Frames released as lost, by reason. */
  lost: Record<FrameLostReason, number>;
  /** Frames withdrawn by cancel (never submitted). */
  cancelled: number;
  /** Second results or losses for a seq already released with a result, or pending with one (dropped). */
  duplicates: number;
  /** Results or losses for a seq already given up (released as lost; dropped). */
  late: number;
  /** Results or losses for a seq never expected (dropped). */
  unexpected: number;
}

interface Pending<T> {
  readonly deadlineAtMs: number;
  done: Released<T> | null;
}

/** Seqs given up or cancelled recently, remembered to tell a late result from a duplicate (counting only). */
const RECENT_MEMORY = 1024;

export class ReorderWindow<T> {
  readonly deadlineMs: number;
  readonly maxPending: number;
  /** Insertion order = seq order (expect enforces increasing seqs). */
  private readonly pending = new Map<number, Pending<T>>();
  private readonly recent = new Map<number, 'lost' | 'cancelled'>();
  private lastExpected = -Infinity;
  private lastReleased = -Infinity;
  private readonly counters: ReorderStats = {
    expected: 0,
    released: 0,
    lost: { deadline: 0, expired: 0, failed: 0 },
    cancelled: 0,
    duplicates: 0,
    late: 0,
    unexpected: 0,
  };

  constructor(options: ReorderWindowOptions) {
    if (!(Number.isFinite(options.deadlineMs) && options.deadlineMs > 0))
      throw new RangeError(`reorder deadlineMs must be a finite number > 0, got ${String(options.deadlineMs)}`);
    const max = options.maxPending ?? 64;
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`reorder maxPending must be an integer >= 1, got ${String(max)}`);
    this.deadlineMs = options.deadlineMs;
    this.maxPending = max;
  }

  /** Frames expected and not yet released: the camera's frames in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** True when {@link expect} would throw: `maxPending` frames are in flight. */
  get full(): boolean {
    return this.pending.size >= this.maxPending;
  }

  /** When the oldest pending frame will be given up, ms (null when nothing is pending). */
  get nextDeadlineMs(): number | null {
    for (const p of this.pending.values()) return p.deadlineAtMs;
    return null;
  }

  /** Registers a submitted frame. `seq` must be an integer above every seq expected before. */
  expect(seq: number, nowMs: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`reorder expect: seq must be an integer >= 0, got ${String(seq)}`);
    if (seq <= this.lastExpected)
      throw new RangeError(`reorder expect: seq ${seq} is not above the last expected seq ${this.lastExpected}`);
    if (this.full)
      throw new RangeError(`reorder expect: ${this.pending.size} frames already pending (maxPending ${this.maxPending}); check full first`);
    this.lastExpected = seq;
    this.pending.set(seq, { deadlineAtMs: nowMs + this.deadlineMs, done: null });
    this.counters.expected++;
  }

  /** A result for `seq`; returns what can be released now, in order. */
  deliver(seq: number, value: T, nowMs: number): Released<T>[] {
    return this.settle(seq, { kind: 'result', seq, value }, nowMs);
  }

  /** A worker's word that `seq` will have no result (`expired`, `failed`); returns what can be released now. */
  lose(seq: number, reason: Exclude<FrameLostReason, 'deadline'>, nowMs: number): Released<T>[] {
    return this.settle(seq, { kind: 'lost', seq, reason }, nowMs);
  }

  /** Withdraws an expected frame that was never submitted (its submission failed); returns what can be released now. */
  cancel(seq: number, nowMs: number): Released<T>[] {
    if (this.pending.delete(seq)) {
      this.counters.cancelled++;
      this.remember(seq, 'cancelled');
    }
    return this.poll(nowMs);
  }

  /** Gives up frames past their deadline and releases what is then ready; call on a timer. */
  poll(nowMs: number): Released<T>[] {
    const out: Released<T>[] = [];
    for (const [seq, p] of this.pending) {
      let r = p.done;
      if (r === null) {
        if (nowMs < p.deadlineAtMs) break;
        r = { kind: 'lost', seq, reason: 'deadline' };
      }
      this.pending.delete(seq);
      this.lastReleased = seq;
      if (r.kind === 'result') this.counters.released++;
      else {
        this.counters.lost[r.reason]++;
        this.remember(seq, 'lost');
      }
      out.push(r);
    }
    return out;
  }

  /** Drops everything pending (the camera closed); returns the dropped seqs, unreleased. */
  clear(): number[] {
    const seqs = [...this.pending.keys()];
    this.pending.clear();
    return seqs;
  }

  stats(): ReorderStats {
    return { ...this.counters, lost: { ...this.counters.lost } };
  }

  private remember(seq: number, what: 'lost' | 'cancelled'): void {
    this.recent.set(seq, what);
    if (this.recent.size > RECENT_MEMORY) this.recent.delete(this.recent.keys().next().value as number);
  }

  private settle(seq: number, done: Released<T>, nowMs: number): Released<T>[] {
    const p = this.pending.get(seq);
    if (p === undefined) {
      const recent = this.recent.get(seq);
      if (!(seq <= this.lastExpected) || recent === 'cancelled') this.counters.unexpected++;
      else if (recent === 'lost') this.counters.late++;
      else if (seq <= this.lastReleased) this.counters.duplicates++;
      else this.counters.unexpected++; // a seq skipped before submission
    } else if (p.done !== null) this.counters.duplicates++;
    else p.done = done;
    return this.poll(nowMs);
  }
}
