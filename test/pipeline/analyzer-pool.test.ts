import { describe, expect, it } from 'vitest';
import type { Face, Frame } from '../../src/shared/messages.ts';
import { shareAnalyzer } from '../../src/pipeline/analyzer-pool.ts';
import { createCameraStages, createSource, wallClockSource } from '../../src/pipeline/stages.ts';
import type { AnalyzeTiming, PipelineAnalyzer } from '../../src/pipeline/standalone.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { openSource } from '../../src/ingest/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { makeClip, tempDir } from '../ingest/helpers.ts';

const logger = createLogger({ level: 'warn' });

function frame(sourceId: string, seq: number): Frame {
  return { sourceId, seq, capturedAtMs: seq * 100, ptsMs: seq * 100, width: 2, height: 2, rgb: new Uint8Array(12) };
}

/** An analyzer whose calls finish when the test says so, recording how many ran at once. */
function gatedAnalyzer(): { analyzer: PipelineAnalyzer; release(): void; running: () => number; maxRunning: () => number; order: string[]; closed: () => boolean } {
  const gates: (() => void)[] = [];
  let running = 0;
  let max = 0;
  let closed = false;
  const order: string[] = [];
  return {
    analyzer: {
      async analyze(f: Frame, _t: AnalyzeTiming): Promise<readonly Face[]> {
        running++;
        max = Math.max(max, running);
        order.push(`${f.sourceId}:${f.seq}`);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return [];
      },
      close() {
        closed = true;
      },
    },
    release: () => gates.shift()?.(),
    running: () => running,
    maxRunning: () => max,
    order,
    closed: () => closed,
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));
const timing = (): AnalyzeTiming => ({ detectMs: 0, ageGenderMs: 0, descriptorMs: 0 });

describe('shareAnalyzer', () => {
  it('bounds the calls in flight and serves waiting cameras first come, first served', async () => {
    const g = gatedAnalyzer();
    const waits: number[] = [];
    const pool = shareAnalyzer(g.analyzer, { concurrency: 2, onStart: (ms) => waits.push(ms) });
    const calls = ['a', 'b', 'c', 'd'].map((cam, i) => pool.analyze(frame(cam, i), timing()));
    await tick();
    expect(g.running()).toBe(2);
    expect(pool.inFlight).toBe(2);
    expect(pool.waiting).toBe(2);
    expect(g.order).toEqual(['a:0', 'b:1']);
    g.release();
    await tick();
    expect(g.order).toEqual(['a:0', 'b:1', 'c:2']);
    for (let i = 0; i < 3; i++) {
      g.release();
      await tick();
    }
    await Promise.all(calls);
    expect(g.maxRunning()).toBe(2);
    expect(pool.inFlight).toBe(0);
    expect(pool.waiting).toBe(0);
    expect(waits).toHaveLength(4);
    expect(waits[0]).toBe(0);
    expect(waits[2]).toBeGreaterThan(0);
  });

  it('a camera stage closes only its share; the pool closes the analyzer once', async () => {
    const g = gatedAnalyzer();
    const pool = shareAnalyzer(g.analyzer, { concurrency: 1 });
    const config = loadConfig({ env: {} });
    const stages = createCameraStages({ source: 'rtsp://127.0.0.1:1/x', sourceId: 'cam', config }, pool, { logger });
    await stages.analyzer.close();
    expect(g.closed()).toBe(false);
    await stages.source.close();
    await pool.close();
    expect(g.closed()).toBe(true);
    await expect(pool.analyze(frame('a', 0), timing())).rejects.toThrow(/after close/);
    expect(() => shareAnalyzer(g.analyzer, { concurrency: 0 })).toThrow(/concurrency/);
  });
});

describe('wallClockSource', () => {
  it('stamps a real file source with wall-clock capture times: from its start on, never decreasing, never ahead of now', async () => {
    const { dir, cleanup } = tempDir('wallclock');
    try {
      const clip = await makeClip(`${dir}/c.mp4`, 'testsrc2=size=64x36:rate=10', 1);
      const before = Date.now();
      const source = wallClockSource(openSource({ url: clip, sourceId: 'c', fps: 10, maxWidth: 64, realtime: false }, { logger }));
      const times: number[] = [];
      for await (const f of source.frames()) times.push(f.capturedAtMs);
      expect(times.length).toBe(10);
      for (const t of times) {
        expect(t).toBeGreaterThanOrEqual(before);
        expect(t).toBeLessThanOrEqual(Date.now());
      }
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1] as number);
      expect(source.status().state).toBe('stopped');
      // createSource applies it to files only when asked.
      const plain = createSource({ source: clip, sourceId: 'p', realtime: false, config: loadConfig({ env: {} }) }, { logger });
      const first = await plain.frames()[Symbol.asyncIterator]().next();
      expect(first.value?.capturedAtMs).toBe(0);
      await plain.close();
    } finally {
      cleanup();
    }
  });
});
