import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TinyFaceDetector } from '../../src/infer/tinyface.ts';
import { iou } from '../../src/shared/geometry.ts';
import { decodeRgb, DEMO_DIR, goldenFixture, SHARED_DATA, type GoldenDetection } from './faceapi-helpers.ts';

interface TinyGolden {
  readonly images: readonly { image: string; inputSize: number; width: number; height: number; detections: GoldenDetection[] }[];
}

describe('TinyFaceDetector', () => {
  it("finds face-api's own detections on its demo photos at input sizes 416 and 320", async () => {
    const { images } = goldenFixture<TinyGolden>('faceapi-tiny_face_detector.json');
    const detectors = new Map<number, TinyFaceDetector>();
    for (const size of [416, 320]) detectors.set(size, await TinyFaceDetector.create({ inputSize: size }));
    let compared = 0;
    for (const g of images) {
      const det = detectors.get(g.inputSize) as TinyFaceDetector;
      const faces = await det.detect(await decodeRgb(path.join(DEMO_DIR, g.image)));
      expect(faces.length, `${g.image}@${g.inputSize}`).toBe(g.detections.length);
      // face-api returns NMS picks in score order too.
      faces.forEach((f, i) => {
        const want = g.detections[i] as GoldenDetection;
        expect(Math.abs(f.score - want.score), `${g.image}@${g.inputSize} #${i} score`).toBeLessThan(1e-3);
        // face-api maps boxes back through rounded resize dimensions and does not clip them; compare overlap.
        expect(iou(f.box, want.box), `${g.image}@${g.inputSize} #${i} IoU`).toBeGreaterThan(0.97);
        expect(f.box[0] >= 0 && f.box[1] >= 0 && f.box[2] <= g.width && f.box[3] <= g.height).toBe(true);
        compared++;
      });
    }
    expect(compared).toBeGreaterThanOrEqual(20);
  });

  it('finds the two faces in two_people.jpg', async () => {
    const det = await TinyFaceDetector.create();
    const faces = await det.detect(await decodeRgb(path.join(SHARED_DATA, 'videos', 'two_people.jpg')));
    expect(faces).toHaveLength(2);
    const [a, b] = faces as [(typeof faces)[0], (typeof faces)[0]];
    expect(iou(a.box, b.box)).toBe(0);
    expect(Math.min(a.score, b.score)).toBeGreaterThan(0.5);
  });

  it('rejects an input size that is not a multiple of 32 and a bad minScore, naming the field', async () => {
    await expect(TinyFaceDetector.create({ inputSize: 400 })).rejects.toThrow(/inputSize/);
    await expect(TinyFaceDetector.create({ minScore: 0 })).rejects.toThrow(/minScore/);
    const det = await TinyFaceDetector.create();
    await expect(det.detect({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 })).rejects.toThrow(/image\.data/);
  });
});
