import { Writable } from 'node:stream';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createSession } from '../../src/infer/session.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { MODELS_DIR } from '../../src/infer/models.ts';
import path from 'node:path';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createSession', () => {
  it('runs a real converted model on the CPU provider by default', async () => {
    const { session, provider } = await createSession(path.join(MODELS_DIR, 'age_gender.onnx'));
    expect(provider).toBe('cpu');
    const input = new ort.Tensor('float32', new Float32Array(112 * 112 * 3).fill(128), [1, 112, 112, 3]);
    const out = await session.run({ input });
    expect(out['age']?.dims).toEqual([1]);
    expect(out['gender']?.dims).toEqual([1, 2]);
  });

  // This machine has no CUDA provider (onnxruntime-node bundles only CPU), so asking for CUDA exercises the real fallback.
  it('falls back from cuda to cpu with one clear log line when the CUDA provider cannot load', async () => {
    const log = capture();
    const logger = createLogger({ level: 'info', destination: log.stream });
    const first = await createSession(path.join(MODELS_DIR, 'blazeface.onnx'), { provider: 'cuda', logger });
    const second = await createSession(path.join(MODELS_DIR, 'blazeface.onnx'), { provider: 'cuda', logger });
    expect(first.provider).toBe('cpu');
    expect(second.provider).toBe('cpu');
    const warnings = log.lines().filter((l) => l['level'] === 40);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.['msg'])).toMatch(/CUDA execution provider unavailable .*running on CPU/);
  });
});
