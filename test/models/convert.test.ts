/**
 * The committed ONNX files are exactly what the converter produces from the pinned npm packages:
 * every converter re-runs in-process and must match the committed bytes and manifest.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { converters, MODELS_DIR, sha256 } from '../../models/convert.ts';

describe('models:convert is reproducible', () => {
  it('covers the five shipped models', () => {
    expect(converters.map((c) => c.name).sort()).toEqual(['age_gender', 'blazeface', 'faceres', 'ssd_mobilenetv1', 'tiny_face_detector']);
  });

  for (const c of converters) {
    it(`${c.name}: byte-identical ONNX and manifest`, async () => {
      const { manifest, onnx } = await c.convert();
      const committed = readFileSync(path.join(MODELS_DIR, `${c.name}.onnx`));
      expect(sha256(onnx)).toBe(sha256(committed));
      const json = JSON.parse(readFileSync(path.join(MODELS_DIR, `${c.name}.json`), 'utf8')) as Record<string, unknown>;
      expect({ ...manifest, onnx: json['onnx'] }).toEqual(json);
      expect(json['onnx']).toMatchObject({ sha256: sha256(onnx), bytes: onnx.length });
      // Provenance every manifest must carry.
      expect(manifest.source.license).toBe('MIT');
      expect(manifest.source.files.length).toBeGreaterThan(0);
      for (const f of manifest.source.files) expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
    });
  }
});
