import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { createSession, type LoadedSession, type SessionOptions } from './session.ts';

/** Where the converted models live (committed; see models/README.md). */
export const MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'onnx');

const manifestSchema = z.object({
  name: z.string(),
  task: z.enum(['face-detection', 'age-gender', 'face-description']),
  input: z.object({ name: z.string(), shape: z.array(z.union([z.number(), z.string()])) }).passthrough(),
  outputs: z.array(z.object({ name: z.string(), shape: z.array(z.union([z.number(), z.string()])), meaning: z.string() })),
  onnx: z.object({ file: z.string(), sha256: z.string() }),
}).passthrough();

/** The parts of a model manifest (models/onnx/NAME.json) that inference relies on. */
export type ModelInfo = z.infer<typeof manifestSchema>;

/** A model ready to run: its manifest and one reusable session. */
export interface LoadedModel extends LoadedSession {
  readonly info: ModelInfo;
}

const cache = new Map<string, Promise<LoadedModel>>();

/** Reads and validates `models/onnx/NAME.json`. Throws naming the model and the problem. */
export function readModelInfo(name: string, dir = MODELS_DIR): ModelInfo {
  const file = path.join(dir, `${name}.json`);
  if (!/^[a-z0-9_-]+$/i.test(name)) throw new Error(`model name ${JSON.stringify(name)} is not valid`);
  if (!existsSync(file)) throw new Error(`model ${JSON.stringify(name)} not found: ${file} is missing (run "npm run models:convert")`);
  const parsed = manifestSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`model manifest ${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * Loads a converted model once per process and session options; later calls share the session
 * (onnxruntime sessions are thread-safe for concurrent `run`).
 */
export function loadModel(name: string, options: SessionOptions = {}, dir = MODELS_DIR): Promise<LoadedModel> {
  const key = `${dir}|${name}|${options.provider ?? 'cpu'}|${options.intraOpThreads ?? 1}|${options.spinning ? 1 : 0}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const info = readModelInfo(name, dir);
      const loaded = await createSession(path.join(dir, info.onnx.file), options);
      return { ...loaded, info };
    })();
    // A failed load must not poison the cache for a later retry.
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}
