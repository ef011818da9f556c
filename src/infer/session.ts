import * as ort from 'onnxruntime-node';
import type { Logger } from '../shared/logger.ts';

/** How onnxruntime sessions are created. */
export interface SessionOptions {
  /** Execution provider. `cuda` falls back to `cpu` with one clear log line when it cannot load. Default `cpu`. */
  readonly provider?: 'cpu' | 'cuda';
  /** Intra-op threads; 0 lets onnxruntime decide. Default 1. */
  readonly intraOpThreads?: number;
  /** Whether idle intra-op threads spin. Default false (halves latency on 2 vCPUs). */
  readonly spinning?: boolean;
  readonly logger?: Logger;
}

/** A created session plus the provider it actually runs on. */
export interface LoadedSession {
  readonly session: ort.InferenceSession;
  readonly provider: 'cpu' | 'cuda';
}

/** Set once CUDA failed to load: later sessions go straight to CPU instead of failing (and logging) again. */
let cudaUnavailable = false;

/**
 * Creates an onnxruntime session, once per model: callers keep and reuse it.
 * onnxruntime-node does not fall back from `['cuda','cpu']` by itself when the CUDA provider
 * is missing (only CPU is bundled), so the fallback is explicit here.
 */
export async function createSession(model: string | Uint8Array, options: SessionOptions = {}): Promise<LoadedSession> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: options.intraOpThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { 'intra_op.allow_spinning': options.spinning ? '1' : '0', 'inter_op.allow_spinning': '0' } },
  };
  if (options.provider === 'cuda' && !cudaUnavailable) {
    try {
      const session = await create(model, { ...base, executionProviders: ['cuda'] });
      return { session, provider: 'cuda' };
    } catch (err) {
      // Sessions created concurrently may all get here; warn once.
      if (!cudaUnavailable) {
        cudaUnavailable = true;
        const msg = `CUDA execution provider unavailable (${firstLine((err as Error).message)}); running on CPU. See README "GPU" to install onnxruntime-node's CUDA libraries.`;
        if (options.logger) options.logger.warn({ provider: 'cuda' }, msg);
        else process.stderr.write(`${msg}\n`);
      }
    }
  }
  const session = await create(model, { ...base, executionProviders: ['cpu'] });
  return { session, provider: 'cpu' };
}

function create(model: string | Uint8Array, opts: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, opts) : ort.InferenceSession.create(model, opts);
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 200);
}
