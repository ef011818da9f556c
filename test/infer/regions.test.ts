import { describe, expect, it } from 'vitest';
import { cropImage } from '../../src/infer/analyzer.ts';
import { resizeBilinear, resizeBilinearInto } from '../../src/infer/image.ts';
import { DEFAULT_REGION_OPTIONS, mapCanvasDetections, planRegions, type Cell, type RegionOptions } from '../../src/infer/regions.ts';
import type { BoxXyxy } from '../../src/shared/messages.ts';
import { seededRandom } from '../../bench/lib/stats.ts';

const W = 1280;
const H = 720;
const OPTS: RegionOptions = { ...DEFAULT_REGION_OPTIONS, canvas: 256, discoveryScale: 5 };

function overlaps(a: Cell, b: Cell): boolean {
  return a.canvas === b.canvas && a.dx < b.dx + b.dw && b.dx < a.dx + a.dw && a.dy < b.dy + b.dh && b.dy < a.dy + a.dh;
}

function expectValid(cells: readonly Cell[], S: number): void {
  for (const c of cells) {
    expect(c.sx).toBeGreaterThanOrEqual(0);
    expect(c.sy).toBeGreaterThanOrEqual(0);
    expect(c.sx + c.sw).toBeLessThanOrEqual(W);
    expect(c.sy + c.sh).toBeLessThanOrEqual(H);
    expect(c.dx + c.dw).toBeLessThanOrEqual(S);
    expect(c.dy + c.dh).toBeLessThanOrEqual(S);
    for (const v of [c.sx, c.sy, c.sw, c.sh, c.dx, c.dy, c.dw, c.dh]) expect(Number.isInteger(v)).toBe(true);
    // Never enlarged: at most one input pixel per source pixel.
    expect(c.dw).toBeLessThanOrEqual(c.sw);
    expect(c.dh).toBeLessThanOrEqual(c.sh);
  }
  for (let i = 0; i < cells.length; i++) for (let j = i + 1; j < cells.length; j++) expect(overlaps(cells[i] as Cell, cells[j] as Cell)).toBe(false);
}

describe('planRegions', () => {
  it('gives each track a cell context x its face, the face scaled to targetFacePx, centred and kept inside the frame', () => {
    const face: BoxXyxy = [600, 300, 680, 380]; // 80 px face
    const corner: BoxXyxy = [0, 0, 60, 60]; // against the top-left corner
    const plan = planRegions(W, H, { tracks: [face, corner], motion: [] }, OPTS);
    expect(plan.canvases).toBe(1);
    expectValid(plan.cells, 256);
    const [a, b] = [...plan.cells].sort((x, y) => y.sw - x.sw) as [Cell, Cell];
    expect(a.kind).toBe('track');
    expect(a.sw).toBe(OPTS.context * 80);
    expect(a.sx + a.sw / 2).toBeCloseTo(640, 0);
    expect(a.sy + a.sh / 2).toBeCloseTo(340, 0);
    // 80 px face at 40 px: half scale.
    expect(a.dw).toBe(Math.round((OPTS.context * 80 * OPTS.targetFacePx) / 80));
    // The corner cell is moved inside, not cut: full size, at the origin.
    expect([b.sx, b.sy, b.sw, b.sh]).toEqual([0, 0, 120, 120]);
  });

  it('drops moving areas the track cells explain, zooms small unexplained ones and splits large ones into canvas-sized pieces', () => {
    const track: BoxXyxy = [600, 300, 680, 380];
    const explained: BoxXyxy = [610, 310, 690, 390];
    const small: BoxXyxy = [100, 100, 164, 164];
    const plan = planRegions(W, H, { tracks: [track], motion: [explained, small] }, OPTS);
    const motion = plan.cells.filter((c) => c.kind === 'motion');
    expect(motion).toHaveLength(1);
    // 64 px: below motionCellPx, so 1:1.
    expect(motion[0]).toMatchObject({ sx: 100, sy: 100, sw: 64, sh: 64, dw: 64, dh: 64 });

    const huge = planRegions(W, H, { tracks: [], motion: [[0, 0, W, H]] }, { ...OPTS, discoveryScale: 2 });
    expectValid(huge.cells, 256);
    // Covered completely by pieces of at most 512 source px, each drawn at scale 2.
    const covered = new Uint8Array(W * H);
    for (const c of huge.cells) {
      expect(c.sw).toBeLessThanOrEqual(512);
      expect(c.dw).toBe(Math.round(c.sw / 2));
      for (let y = c.sy; y < c.sy + c.sh; y += 8) for (let x = c.sx; x < c.sx + c.sw; x += 8) covered[y * W + x] = 1;
    }
    for (let y = 0; y < H; y += 8) for (let x = 0; x < W; x += 8) expect(covered[y * W + x]).toBe(1);
  });

  it('packs many cells into canvases without overlap, and shrinks a frame that just overflows one canvas back into one', () => {
    const rand = seededRandom(3);
    const tracks: BoxXyxy[] = Array.from({ length: 12 }, () => {
      const x = rand() * 1100;
      const y = rand() * 560;
      const s = 60 + rand() * 80;
      return [x, y, x + s, y + s];
    });
    const noShrink = planRegions(W, H, { tracks, motion: [] }, { ...OPTS, shrink: [] });
    expectValid(noShrink.cells, 256);
    expect(noShrink.cells).toHaveLength(12);
    expect(noShrink.canvases).toBe(2);
    const shrunk = planRegions(W, H, { tracks, motion: [] }, OPTS);
    expectValid(shrunk.cells, 256);
    expect(shrunk.canvases).toBe(1);
    expect(Math.max(...shrunk.cells.map((c) => c.dw))).toBeLessThan(Math.max(...noShrink.cells.map((c) => c.dw)));
    expect(planRegions(W, H, { tracks: [], motion: [] }, OPTS)).toEqual({ cells: [], canvases: 0 });
  });
});

describe('mapCanvasDetections', () => {
  const cells: Cell[] = [
    { sx: 400, sy: 200, sw: 160, sh: 160, dx: 0, dy: 0, dw: 80, dh: 80, canvas: 0, kind: 'track' },
    { sx: 0, sy: 0, sw: 80, sh: 80, dx: 84, dy: 0, dw: 80, dh: 80, canvas: 0, kind: 'motion' },
    { sx: 800, sy: 400, sw: 80, sh: 80, dx: 0, dy: 0, dw: 80, dh: 80, canvas: 1, kind: 'motion' },
  ];

  it('maps boxes back to source pixels through the cell holding their centre, flags cuts at inner frame edges only', () => {
    const out = mapCanvasDetections(
      [
        { box: [20, 20, 60, 60], score: 0.9 }, // inside cell 0: scale 2
        { box: [60, 20, 90, 60], score: 0.8 }, // centre in cell 0, runs past its right edge: clipped, cut
        { box: [84, 0, 120, 40], score: 0.7 }, // cell 1 at the frame's top-left corner: touching edges are frame edges
        { box: [200, 200, 240, 240], score: 0.6 }, // empty canvas area: dropped
      ],
      cells,
      0,
      W,
      H,
    );
    expect(out).toHaveLength(3);
    expect(out[0]).toEqual({ box: [440, 240, 520, 320], score: 0.9, cut: false });
    expect(out[1]?.box).toEqual([520, 240, 560, 320]);
    expect(out[1]?.cut).toBe(true);
    expect(out[2]).toEqual({ box: [0, 0, 36, 40], score: 0.7, cut: false });
    // Canvas 1's detections go through canvas 1's cells only.
    expect(mapCanvasDetections([{ box: [10, 10, 30, 30], score: 0.5 }], cells, 1, W, H)).toEqual([{ box: [810, 410, 830, 430], score: 0.5, cut: false }]);
  });
});

describe('resizeBilinearInto', () => {
  it('draws the same pixels as crop + TF-bilinear resize (to rounding) at the destination, and nothing else', () => {
    const rand = seededRandom(11);
    const src = { data: new Uint8Array(200 * 120 * 3).map(() => Math.floor(rand() * 256)), width: 200, height: 120, channels: 3 };
    const from = { x: 37, y: 11, width: 90, height: 70 };
    const to = { x: 5, y: 9, width: 41, height: 33 };
    const dst = new Uint8Array(64 * 64 * 3);
    resizeBilinearInto(src, from, dst, 64, to);
    const ref = resizeBilinear(cropImage(src, from), to.width, to.height);
    let maxDiff = 0;
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        for (let k = 0; k < 3; k++) {
          const v = dst[(y * 64 + x) * 3 + k] as number;
          const inside = x >= to.x && x < to.x + to.width && y >= to.y && y < to.y + to.height;
          if (!inside) expect(v).toBe(0);
          else maxDiff = Math.max(maxDiff, Math.abs(v - (ref[((y - to.y) * to.width + (x - to.x)) * 3 + k] as number)));
        }
      }
    }
    expect(maxDiff).toBeLessThanOrEqual(0.5 + 1e-6);
    expect(() => resizeBilinearInto(src, { x: 150, y: 0, width: 60, height: 10 }, dst, 64, to)).toThrow(/outside the 200x120 image/);
    expect(() => resizeBilinearInto(src, from, dst, 64, { x: 40, y: 0, width: 30, height: 10 })).toThrow(/outside the destination/);
  });
});
