import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFaceAnalyzer } from '../../src/infer/analyzer.ts';
import { loadImage } from '../../src/infer/decode.ts';
import { loadModel } from '../../src/infer/models.ts';
import type { Face } from '../../src/shared/messages.ts';

const TWO_PEOPLE = '../shared/data/videos/two_people.jpg';

afterEach(() => {
  vi.restoreAllMocks();
});

const attributes = (faces: readonly Face[]): unknown[] => faces.map((f) => [f.box, f.score, f.ageYears, f.gender, f.genderScore]);

describe('--age-gender fused with --descriptors', () => {
  it('runs faceres once per face and gives the same faces and descriptors as two separate runs', async () => {
    const image = await loadImage(TWO_PEOPLE);
    // The analyzers share the process-wide faceres session: counting its runs counts every faceres pass.
    const faceres = await loadModel('faceres');
    const runs = vi.spyOn(faceres.session, 'run');

    const fusedOnly = await createFaceAnalyzer({ ageGender: 'fused' });
    const describerOnly = await createFaceAnalyzer({ descriptors: true });
    const both = await createFaceAnalyzer({ ageGender: 'fused', descriptors: true });
    try {
      const reference = await fusedOnly.analyze(image);
      const descriptors = await describerOnly.analyze(image);
      expect(reference).toHaveLength(2);
      runs.mockClear();

      const faces = await both.analyze(image);
      expect(runs).toHaveBeenCalledTimes(faces.length);
      expect(attributes(faces)).toEqual(attributes(reference));
      expect(faces.map((f) => Array.from(f.descriptor ?? []))).toEqual(descriptors.map((f) => Array.from(f.descriptor ?? [])));
      expect(faces.every((f) => f.descriptor?.length === 1024)).toBe(true);

      // Faces that need no descriptor carry none; faceres still runs once per face (the gender head needs it).
      runs.mockClear();
      const some = await both.analyze(image, { wantDescriptor: (d) => d.box[0] < image.width / 2 });
      expect(runs).toHaveBeenCalledTimes(some.length);
      expect(attributes(some)).toEqual(attributes(reference));
      expect(some.map((f) => f.descriptor !== undefined)).toEqual(some.map((f) => f.box[0] < image.width / 2));
    } finally {
      await Promise.all([fusedOnly.close(), describerOnly.close(), both.close()]);
    }
  });
});
