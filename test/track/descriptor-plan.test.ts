import { describe, expect, it } from 'vitest';
import type { BoxXyxy, DescriptorPlan, Face } from '../../src/shared/messages.ts';
import { CrowdTracker, planWantsDescriptor } from '../../src/track/crowd.ts';
import { unitVector } from '../support/vectors.ts';

describe('CrowdTracker.descriptorPlan', () => {
  // With the attribute schedule off every rule is geometric; with it on (the default) the quality floor and the
  // wait for a new track's second sighting travel in the plan too.
  it.each([
    { schedule: 'off', attributes: false as const, minWanted: 50 },
    { schedule: 'on', attributes: undefined, minWanted: 3 },
  ])('as plain data (JSON round trip, as it crosses to a worker) decides exactly as wantsDescriptor (attribute schedule $schedule)', ({ attributes, minWanted }) => {
    const crowd = new CrowdTracker({
      sourceId: 'c',
      tracker: { minHits: 3, maxMissedMs: 300, iouThreshold: 0.3, minScore: 0.5, minScoreToStart: 0.7 },
      descriptorsPerTrack: 2,
      ...(attributes === false ? { attributes } : {}),
    });
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let checked = 0;
    let wanted = 0;
    for (let k = 0; k < 60; k++) {
      const faces: Face[] = [];
      for (let p = 0; p < 4; p++) {
        if ((k + p * 7) % 25 > 18) continue; // people come and go
        const x = 50 + p * 250 + k * 3;
        faces.push({
          box: [x, 100, x + 80, 190],
          score: 0.6 + 0.1 * p,
          ageYears: 30,
          gender: 'male',
          genderScore: 0.9,
          ...(rand() < 0.7 ? { descriptor: unitVector(p + 1) } : {}),
        });
      }
      const atMs = k * 100;
      const plan = JSON.parse(JSON.stringify(crowd.descriptorPlan(atMs))) as DescriptorPlan;
      for (let i = 0; i < 20; i++) {
        const x = rand() * 1100;
        const w = 20 + rand() * 100;
        const quality = { score: rand(), sidePx: w, rollDeg: 0, yaw: 0 };
        const candidate = { box: [x, 80 + rand() * 40, x + w, 180 + rand() * 40] as BoxXyxy, score: 0.3 + rand() * 0.7, ...(i % 2 === 0 ? { quality } : {}) };
        const a = crowd.wantsDescriptor(candidate, atMs);
        expect(planWantsDescriptor(plan, candidate)).toBe(a);
        checked++;
        if (a) wanted++;
      }
      crowd.update({ sourceId: 'c', seq: k, capturedAtMs: atMs, width: 1280, height: 720, faces });
    }
    expect(checked).toBe(1200);
    expect(wanted).toBeGreaterThan(minWanted);
    expect(wanted).toBeLessThan(1150);
  });
});
