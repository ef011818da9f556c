import { describe, expect, it } from 'vitest';
import { ReorderWindow, type Released } from '../../src/scale/reorder.ts';

const seqs = (r: readonly Released<string>[]): string[] =>
  r.map((x) => (x.kind === 'result' ? `${x.seq}=${x.value}` : `${x.seq}!${x.reason}`));

describe('ReorderWindow', () => {
  it('releases results in seq order whatever order they arrive in', () => {
    const w = new ReorderWindow<string>({ deadlineMs: 1000 });
    for (const s of [0, 1, 2, 3]) w.expect(s, 0);
    expect(seqs(w.deliver(2, 'c', 10))).toEqual([]);
    expect(seqs(w.deliver(1, 'b', 11))).toEqual([]);
    expect(seqs(w.deliver(0, 'a', 12))).toEqual(['0=a', '1=b', '2=c']);
    expect(w.inFlight).toBe(1);
    expect(seqs(w.deliver(3, 'd', 13))).toEqual(['3=d']);
    expect(w.stats()).toMatchObject({ expected: 4, released: 4, duplicates: 0 });
  });

  it('handles seq gaps (frames skipped before submission) without waiting for them', () => {
    const w = new ReorderWindow<string>({ deadlineMs: 1000 });
    w.expect(3, 0);
    w.expect(7, 0);
    expect(seqs(w.deliver(7, 'x', 1))).toEqual([]);
    expect(seqs(w.deliver(3, 'y', 2))).toEqual(['3=y', '7=x']);
  });

  it('skips a frame whose result misses the deadline, then releases what waited behind it', () => {
    const w = new ReorderWindow<string>({ deadlineMs: 100 });
    w.expect(0, 0);
    w.expect(1, 50);
    expect(seqs(w.deliver(1, 'b', 60))).toEqual([]);
    expect(w.nextDeadlineMs).toBe(100);
    expect(seqs(w.poll(99))).toEqual([]);
    expect(seqs(w.poll(100))).toEqual(['0!deadline', '1=b']);
    // Its result, arriving late, is dropped and counted.
    expect(seqs(w.deliver(0, 'late', 120))).toEqual([]);
    expect(w.stats()).toMatchObject({ released: 1, lost: { deadline: 1, expired: 0, failed: 0 }, late: 1 });
    expect(w.nextDeadlineMs).toBeNull();
  });

  it('never releases a seq twice: a second result (a job retried after a stall) is a counted duplicate', () => {
    const w = new ReorderWindow<string>({ deadlineMs: 1000 });
    w.expect(0, 0);
    w.expect(1, 0);
    expect(seqs(w.deliver(1, 'first', 1))).toEqual([]);
    expect(seqs(w.deliver(1, 'again', 2))).toEqual([]);
    expect(seqs(w.deliver(0, 'a', 3))).toEqual(['0=a', '1=first']);
    expect(seqs(w.deliver(0, 'a2', 4))).toEqual([]);
    // The retry found the bytes gone and reported the frame expired: also dropped.
    expect(seqs(w.lose(1, 'expired', 5))).toEqual([]);
    expect(w.stats()).toMatchObject({ released: 2, duplicates: 3, lost: { deadline: 0, expired: 0, failed: 0 } });
  });

  it('releases a worker-reported loss in order, without waiting for the deadline', () => {
    const w = new ReorderWindow<string>({ deadlineMs: 60_000 });
    w.expect(0, 0);
    w.expect(1, 0);
    w.expect(2, 0);
    expect(seqs(w.deliver(2, 'c', 1))).toEqual([]);
    expect(seqs(w.lose(1, 'failed', 2))).toEqual([]);
    expect(seqs(w.lose(0, 'expired', 3))).toEqual(['0!expired', '1!failed', '2=c']);
  });

  it('counts results for seqs never expected, and withdraws cancelled ones', () => {
    const w = new ReorderWindow<string>({ deadlineMs: 1000 });
    w.expect(0, 0);
    w.expect(1, 0);
    expect(seqs(w.deliver(9, 'nope', 1))).toEqual([]);
    expect(seqs(w.deliver(1, 'b', 2))).toEqual([]);
    expect(seqs(w.cancel(0, 3))).toEqual(['1=b']);
    expect(seqs(w.deliver(0, 'x', 4))).toEqual([]);
    expect(w.stats()).toMatchObject({ unexpected: 2, cancelled: 1, released: 1 });
  });

  it('bounds the frames in flight and rejects seqs that do not increase', () => {
    const w = new ReorderWindow<string>({ deadlineMs: 1000, maxPending: 2 });
    w.expect(5, 0);
    expect(() => w.expect(5, 0)).toThrow(/not above the last expected seq 5/);
    expect(() => w.expect(4, 0)).toThrow(/not above/);
    w.expect(6, 0);
    expect(w.full).toBe(true);
    expect(() => w.expect(7, 0)).toThrow(/maxPending 2/);
    w.deliver(5, 'a', 1);
    expect(w.full).toBe(false);
    expect(w.clear()).toEqual([6]);
    expect(w.inFlight).toBe(0);
    expect(() => new ReorderWindow({ deadlineMs: 0 })).toThrow(/deadlineMs/);
  });

  it('under a random arrival order with duplicates and losses, releases every seq exactly once, increasing', () => {
    let state = 12345;
    const rand = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const w = new ReorderWindow<number>({ deadlineMs: 50, maxPending: 8 });
    const released: number[] = [];
    let now = 0;
    let next = 0;
    const inflight: number[] = [];
    for (let step = 0; step < 5000; step++) {
      now += rand() * 5;
      if (!w.full && rand() < 0.5) {
        next += 1 + Math.floor(rand() * 2);
        w.expect(next, now);
        inflight.push(next);
      }
      if (inflight.length > 0 && rand() < 0.5) {
        const i = Math.floor(rand() * inflight.length);
        const seq = inflight[i] as number;
        if (rand() > 0.1) inflight.splice(i, 1); // sometimes deliver the same seq again later
        const out = rand() < 0.05 ? w.lose(seq, 'failed', now) : w.deliver(seq, seq, now);
        for (const r of out) released.push(r.seq);
      }
      for (const r of w.poll(now)) released.push(r.seq);
    }
    for (let i = 1; i < released.length; i++) expect(released[i] as number).toBeGreaterThan(released[i - 1] as number);
    const s = w.stats();
    expect(s.released + s.lost.deadline + s.lost.failed + w.inFlight).toBe(s.expected);
    expect(s.duplicates + s.late).toBeGreaterThan(0);
  });
});
