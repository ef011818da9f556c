/**
 * TensorFlow(.js) semantics shared by both converters: decoding tfjs weight shards exactly as
 * tfjs-core's `decodeWeights` does, and TF's 'SAME' padding rule.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SourceFile } from './types.ts';

/** One entry of a tfjs `weightsManifest` group. */
export interface WeightEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  readonly quantization?: { readonly dtype: 'uint8' | 'uint16' | 'float16'; readonly scale?: number; readonly min?: number };
}

/** A `weightsManifest` group: shard file names and the weights packed in them, in order. */
export interface WeightGroup {
  readonly paths: readonly string[];
  readonly weights: readonly WeightEntry[];
}

/** A decoded weight with its TF shape. */
export interface DecodedWeight {
  readonly dtype: 'float32' | 'int32';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** IEEE 754 half -> float32, exact (tfjs' float16 decoder is a table of the same values). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Reads and decodes the shards of `groups` (shard paths relative to `shardDir`), recording each file's sha256
 * with its path relative to `relativeTo` (the package root). Appends to `files`.
 */
export function decodeWeightGroups(groups: readonly WeightGroup[], shardDir: string, relativeTo: string, files: SourceFile[]): Map<string, DecodedWeight> {
  const weights = new Map<string, DecodedWeight>();
  for (const group of groups) {
    const shards = group.paths.map((p) => {
      const file = path.join(shardDir, p);
      const bytes = readFileSync(file);
      files.push({ path: path.relative(relativeTo, file).split(path.sep).join('/'), sha256: sha256(bytes) });
      return bytes;
    });
    const buf = Buffer.concat(shards);
    let off = 0;
    for (const w of group.weights) {
      const size = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      if (w.dtype !== 'int32' && w.dtype !== 'float32') throw new Error(`weight ${w.name}: dtype ${String(w.dtype)} is not handled`);
      const data = w.dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
      if (!q) {
        for (let i = 0; i < size; i++) data[i] = w.dtype === 'int32' ? buf.readInt32LE(off + 4 * i) : buf.readFloatLE(off + 4 * i);
        off += 4 * size;
      } else if (q.dtype === 'float16') {
        for (let i = 0; i < size; i++) data[i] = halfToFloat(buf.readUInt16LE(off + 2 * i));
        off += 2 * size;
      } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
        if (q.scale === undefined || q.min === undefined) throw new Error(`weight ${w.name}: ${q.dtype} quantisation without scale/min`);
        const bytes = q.dtype === 'uint8' ? 1 : 2;
        // tfjs: v * scale + min in float64, stored into the typed array (float32 rounding / int32 truncation).
        for (let i = 0; i < size; i++) data[i] = (bytes === 1 ? (buf[off + i] as number) : buf.readUInt16LE(off + 2 * i)) * q.scale + q.min;
        off += bytes * size;
      } else {
        throw new Error(`weight ${w.name}: quantisation dtype ${String((q as { dtype: unknown }).dtype)} is not handled`);
      }
      weights.set(w.name, { dtype: w.dtype, shape: w.shape, data });
    }
    if (off !== buf.length) throw new Error(`${shardDir}: ${buf.length - off} bytes left after the last weight of ${group.paths.join(', ')}`);
  }
  return weights;
}

/** TF's 'SAME' padding for one axis: [begin, end], the extra pixel at the end. */
export function samePads(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const eff = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + eff - size, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}
