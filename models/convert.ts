/**
 * Reproducible converter: pretrained weights shipped in npm packages -> ONNX files in models/onnx/.
 *   npm run models:convert            # (re)write models/onnx/*.onnx and *.json
 *   npm run models:convert -- --check # convert in memory, fail if any committed file differs
 * Running it twice gives byte-identical files (see models/README.md).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { humanConverters } from './src/human.ts';
import { faceApiConverters } from './src/faceapi.ts';
import type { Converter } from './src/types.ts';

export const MODELS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'onnx');
export const converters: readonly Converter[] = [...faceApiConverters, ...humanConverters];

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  const only = argv.filter((a) => !a.startsWith('--'));
  mkdirSync(MODELS_DIR, { recursive: true });
  let failures = 0;
  const selected = converters.filter((c) => only.length === 0 || only.includes(c.name));
  for (const [i, c] of selected.entries()) {
    process.stderr.write(`[${i + 1}/${selected.length}] ${c.name}: converting\n`);
    const { manifest, onnx } = await c.convert();
    const full = { ...manifest, onnx: { file: `${manifest.name}.onnx`, sha256: sha256(onnx), bytes: onnx.length } };
    const json = `${JSON.stringify(full, null, 2)}\n`;
    const onnxPath = path.join(MODELS_DIR, `${manifest.name}.onnx`);
    const jsonPath = path.join(MODELS_DIR, `${manifest.name}.json`);
    if (check) {
      const same = existsSync(onnxPath) && sha256(readFileSync(onnxPath)) === full.onnx.sha256 && existsSync(jsonPath) && readFileSync(jsonPath, 'utf8') === json;
      process.stderr.write(`    ${same ? 'identical' : 'DIFFERS from committed file'} (sha256 ${full.onnx.sha256.slice(0, 16)}…)\n`);
      if (!same) failures++;
    } else {
      writeFileSync(onnxPath, onnx);
      writeFileSync(jsonPath, json);
      process.stderr.write(`    wrote ${path.relative(process.cwd(), onnxPath)} (${(onnx.length / 1e6).toFixed(2)} MB, sha256 ${full.onnx.sha256.slice(0, 16)}…)\n`);
    }
  }
  return failures ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`convert failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
