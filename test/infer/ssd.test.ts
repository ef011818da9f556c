import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SsdMobilenetV1Detector } from '../../src/infer/ssd.ts';
import { iou } from '../../src/shared/geometry.ts';
import { decodeRgb, DEMO_DIR, goldenFixture, SHARED_DATA, type GoldenDetection } from './faceapi-helpers.ts';

interface SsdGolden {
  readonly images: readonly { image: string; width: number; height: number; detections: GoldenDetection[] }[];
}

describe('SsdMobilenetV1Detector', () => {
  let detector: SsdMobilenetV1Detector;
  beforeAll(async () => {
    detector = await SsdMobilenetV1Detector.create();
  });

  it("finds face-api's own detections on its demo photos (same faces, scores within 1e-3)", async () => {
    const { images } = goldenFixture<SsdGolden>('faceapi-ssd_mobilenetv1.json');
    for (const g of images) {
      const faces = await detector.detect(await decodeRgb(path.join(DEMO_DIR, g.image)));
      expect(faces.length, g.image).toBe(g.detections.length);
      faces.forEach((f, i) => {
        const want = g.detections[i] as GoldenDetection;
        expect(Math.abs(f.score - want.score), `${g.image} #${i} score`).toBeLessThan(1e-3);
        // face-api maps boxes back through its rounded resize dimensions (up to ~0.1% of the side off);
        // we scale by the exact padded side, so compare overlap rather than pixels.
        expect(iou(f.box, want.box), `${g.image} #${i} IoU`).toBeGreaterThan(0.99);
        expect(f.box[0]).toBeGreaterThanOrEqual(0);
        expect(f.box[3]).toBeLessThanOrEqual(g.height);
      });
    }
  });

  it('finds the two faces in two_people.jpg', async () => {
    const image = await decodeRgb(path.join(SHARED_DATA, 'videos', 'two_people.jpg'));
    const faces = await detector.detect(image);
    expect(faces).toHaveLength(2);
    expect(iou((faces[0] as { box: readonly [number, number, number, number] }).box, (faces[1] as { box: readonly [number, number, number, number] }).box)).toBe(0);
    for (const f of faces) {
      expect(f.score).toBeGreaterThan(0.5);
      expect(f.box[2] - f.box[0]).toBeGreaterThan(20);
    }
  });

  it('maps boxes back to source pixels on a portrait crop (padding on the right)', async () => {
    const full = await decodeRgb(path.join(DEMO_DIR, 'sample1.jpg'));
    const ref = await detector.detect(full);
    const first = ref[0];
    expect(first).toBeDefined();
    if (!first) return;
    // A portrait window around the first face: its box must move by exactly the window offset.
    const [x1, y1, x2, y2] = first.box;
    const w = Math.round((x2 - x1) * 2);
    const h = Math.round((y2 - y1) * 3);
    const ox = Math.max(0, Math.round(x1 - (x2 - x1) / 2));
    const oy = Math.max(0, Math.round(y1 - (y2 - y1)));
    const crop = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) crop.set(full.data.subarray(((oy + y) * full.width + ox) * 3, ((oy + y) * full.width + ox + w) * 3), y * w * 3);
    const faces = await detector.detect({ data: crop, width: w, height: h, channels: 3 });
    expect(faces.length).toBeGreaterThanOrEqual(1);
    const moved = [x1 - ox, y1 - oy, x2 - ox, y2 - oy] as const;
    expect(Math.max(...faces.map((f) => iou(f.box, moved)))).toBeGreaterThan(0.7);
    for (const f of faces) expect(f.box[2] <= w && f.box[3] <= h && f.box[0] >= 0 && f.box[1] >= 0).toBe(true);
  });

  it('honours minScore per call and rejects invalid input, naming the field', async () => {
    const image = await decodeRgb(path.join(DEMO_DIR, 'sample2.jpg'));
    const strict = await detector.detect(image, { minScore: 0.95 });
    const loose = await detector.detect(image, { minScore: 0.2 });
    expect(strict.every((f) => f.score > 0.95)).toBe(true);
    expect(loose.length).toBeGreaterThan(strict.length);
    await expect(detector.detect(image, { minScore: 1.5 })).rejects.toThrow(/minScore/);
    await expect(detector.detect({ ...image, channels: 4 })).rejects.toThrow(/channels/);
    await expect(SsdMobilenetV1Detector.create({ maxResults: 0 })).rejects.toThrow(/maxResults/);
  });
});
