import { describe, expect, it } from 'vitest';
import { BoxKalman, boxToMeasurement, measurementToBox } from '../../src/track/kalman.ts';
import type { BoxXyxy } from '../../src/shared/messages.ts';

describe('BoxKalman', () => {
  it('converts boxes to [cx, cy, area, aspect] and back', () => {
    const b: BoxXyxy = [10, 20, 50, 100];
    expect(boxToMeasurement(b)).toEqual([30, 60, 3200, 0.5]);
    const back = measurementToBox(30, 60, 3200, 0.5) as BoxXyxy;
    back.forEach((v, i) => expect(v).toBeCloseTo(b[i] as number, 9));
    expect(measurementToBox(0, 0, -1, 1)).toBeNull();
  });

  it('learns the velocity per ms and predicts by elapsed time, not by step count', () => {
    // 0.5 px/ms to the right, measured every 40 ms.
    const one = new BoxKalman([0, 0, 30, 60]);
    const two = new BoxKalman([0, 0, 30, 60]);
    for (let k = 1; k <= 10; k++) for (const f of [one, two]) {
      f.predict(40);
      f.update([20 * k, 0, 20 * k + 30, 60]);
    }
    // 200 ms in one step or in five steps lands at the same place: about 200 + 100 px.
    one.predict(200);
    for (let k = 0; k < 5; k++) two.predict(40);
    const a = one.box() as BoxXyxy;
    const b = two.box() as BoxXyxy;
    expect(Math.abs(a[0] - 300)).toBeLessThan(3);
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i] as number, 6));
    expect(a[2] - a[0]).toBeCloseTo(30, 0);
  });

  it('rejects a non-positive time step unit', () => {
    expect(() => new BoxKalman([0, 0, 1, 1], { stepMs: 0, positionVar: 1, velocityVar: 1, areaVelocityVar: 1, measurePositionVar: 1, measureShapeVar: 1 })).toThrow(/stepMs.*0/);
  });
});
