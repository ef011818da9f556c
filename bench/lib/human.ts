/**
 * @vladmandic/human 3.3.6 as the speed reference: its node-wasm build on @tensorflow/tfjs-backend-wasm,
 * single-threaded, face detector (blazeface) + description (faceres: age, gender, descriptor) only.
 * Models load from node_modules/@vladmandic/human/models/ through a file:// load router, because
 * tfjs without tfjs-node has no file:// handler and node's fetch refuses file URLs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import type { RgbImage } from '../../src/infer/types.ts';
import { REPO_ROOT } from './faces.ts';

const require = createRequire(import.meta.url);

/** Minimal shapes of the parts of tfjs and human used here (their typings are heavy and not needed). */
interface TfLike {
  io: {
    registerLoadRouter(router: (url: string | string[]) => unknown): void;
    getModelArtifactsForJSON(json: unknown, loadWeights: (manifest: { paths: string[] }[]) => Promise<[unknown, ArrayBuffer]>): Promise<unknown>;
  };
  env(): { set(flag: string, value: unknown): void; getAsync(flag: string): Promise<unknown> };
  tensor(values: Uint8Array | Float32Array, shape: number[], dtype: string): { dispose(): void };
}
interface HumanResult {
  face: { age?: number; gender?: string; genderScore?: number; box: [number, number, number, number]; score: number }[];
}
interface HumanLike {
  version: string;
  config: { backend: string };
  tf: TfLike & { getBackend(): string };
  init(): Promise<void>;
  load(): Promise<void>;
  warmup(): Promise<unknown>;
  detect(input: unknown): Promise<HumanResult>;
}

export const HUMAN_MODELS_DIR = path.join(REPO_ROOT, 'node_modules', '@vladmandic', 'human', 'models');
const WASM_DIR = path.join(REPO_ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep;

/** A face as human reports it (box x, y, w, h in source pixels). */
export interface HumanFace {
  readonly box: readonly [number, number, number, number];
  readonly score: number;
  readonly ageYears: number | undefined;
  readonly gender: string | undefined;
}

/** A loaded, warmed-up human instance. */
export interface HumanRunner {
  readonly version: string;
  readonly backend: string;
  /** Thread settings as reported by the wasm backend. */
  readonly threads: string;
  detect(image: RgbImage): Promise<HumanFace[]>;
}

export async function createHumanRunner(options: { maxFaces?: number; minConfidence?: number } = {}): Promise<HumanRunner> {
  const tf = require('@tensorflow/tfjs-core') as TfLike;
  const wasm = require('@tensorflow/tfjs-backend-wasm') as { setThreadsCount?: (n: number) => void; setWasmPaths(p: string): void };
  // One thread: the wasm backend in node has no worker-thread support, so this states what runs anyway.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setThreadsCount?.(1);
  tf.io.registerLoadRouter((url) => {
    if (typeof url !== 'string' || !url.startsWith('file://')) return null;
    const file = fileURLToPath(url);
    return {
      load: async () => {
        const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
        return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
          const specs: unknown[] = [];
          const buffers: Buffer[] = [];
          for (const group of manifest as unknown as { paths: string[]; weights: unknown[] }[]) {
            specs.push(...group.weights);
            for (const p of group.paths) buffers.push(readFileSync(path.join(path.dirname(file), p)));
          }
          const all = Buffer.concat(buffers);
          return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer];
        });
      },
    };
  });
  // By file path: the package's "exports" keys lack the "./" prefix, so node refuses every subpath.
  const { Human } = require(path.join(REPO_ROOT, 'node_modules', '@vladmandic', 'human', 'dist', 'human.node-wasm.js')) as { Human: new (config: unknown) => HumanLike };
  const human = new Human({
    backend: 'wasm',
    wasmPath: WASM_DIR,
    wasmPlatformFetch: false,
    modelBasePath: pathToFileURL(HUMAN_MODELS_DIR).href + '/',
    debug: false,
    async: false,
    warmup: 'none',
    cacheSensitivity: 0, // no frame-to-frame result caching: every image is a new scene
    filter: { enabled: false },
    face: {
      enabled: true,
      detector: { enabled: true, rotation: false, maxDetected: options.maxFaces ?? 20, minConfidence: options.minConfidence ?? 0.2, return: false, skipFrames: 0, skipTime: 0 },
      mesh: { enabled: false },
      attention: { enabled: false },
      iris: { enabled: false },
      description: { enabled: true, skipFrames: 0, skipTime: 0 },
      emotion: { enabled: false },
      antispoof: { enabled: false },
      liveness: { enabled: false },
      gear: { enabled: false },
    },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    gesture: { enabled: false },
    segmentation: { enabled: false },
  });
  await human.init();
  await human.load();
  const multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const runner: HumanRunner = {
    version: human.version,
    backend: human.tf.getBackend(),
    threads: `wasm multithread=${String(multithread)} simd=${String(simd)} threads=1`,
    async detect(image) {
      const t = human.tf.tensor(image.data, [1, image.height, image.width, 3], 'int32');
      try {
        const res = await human.detect(t);
        return res.face.map((f) => ({ box: f.box, score: f.score, ageYears: f.age, gender: f.gender }));
      } finally {
        t.dispose();
      }
    },
  };
  return runner;
}
