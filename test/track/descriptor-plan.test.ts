import { describe, expect, it } from 'vitest';
import type { AttributeRequest, BoxXyxy, DescriptorPlan, Face, FaceQuality } from '../../src/shared/messages.ts';
import { CrowdTracker, planWantsAttributes, planWantsDescriptor } from '../../src/track/crowd.ts';
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

describe('CrowdTracker.descriptorPlan: when a new face waits for its second sighting', () => {
  const face = (x: number): Face => ({ box: [x, 100, x + 90, 200], score: 0.9, quality: { score: 0.6, sidePx: 95, rollDeg: 0, yaw: 0 } });

  it('waits in a current plan, not in a stale one (frames ahead of it in flight may start the track)', () => {
    const crowd = new CrowdTracker({ sourceId: 'c' });
    crowd.update({ sourceId: 'c', seq: 0, capturedAtMs: 0, width: 1280, height: 720, faces: [face(100)] });
    expect(crowd.descriptorPlan(200).newTracksWait).toBe(true);
    expect(crowd.wantsDescriptor(face(700), 200)).toBe(false);
    const stale = crowd.descriptorPlan(200, 2);
    expect(stale.newTracksWait).toBe(false);
    expect(planWantsDescriptor(stale, face(700))).toBe(true);
  });

  it("does not wait in a run's first frames when departed people could be recognised", () => {
    const fresh = new CrowdTracker({ sourceId: 'c' });
    expect(fresh.descriptorPlan(0).newTracksWait).toBe(true);
    const carried = new CrowdTracker({ sourceId: 'c', carry: true });
    const fusion = { samples: 0, ignored: 0, withoutAttributes: 0, droppedAgeSamples: 0, bestQuality: 0, totalWeight: 0, sumSquaredWeight: 0, weightedLogOdds: 0, ages: [] };
    carried.importCarried([{ personId: 7, lastSeenMs: -1000, inView: true, descriptor: unitVector(7), descriptorCount: 3, fusion, lastReported: null }]);
    expect(carried.descriptorPlan(0).newTracksWait).toBe(false);
    expect(carried.wantsDescriptor(face(100), 0)).toBe(true);
    // Past the tracker's start (minHits frames) new tracks are tentative again: their first face waits.
    for (let k = 0; k < 4; k++) carried.update({ sourceId: 'c', seq: k, capturedAtMs: k * 200, width: 1280, height: 720, faces: [] });
    expect(carried.descriptorPlan(800).newTracksWait).toBe(true);
  });
});

describe('CrowdTracker.attributePlan', () => {
  it('as plain data (JSON round trip, as it crosses to a worker) decides exactly as wantsAttributes, through settling, re-checks and much better faces', () => {
    const crowd = new CrowdTracker({ sourceId: 'c', tracker: { minHits: 2, maxMissedMs: 300, iouThreshold: 0.3, minScore: 0.5, minScoreToStart: 0.7 }, fusion: { qualityFloor: 0.2 } });
    let seed = 11;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const quality = (score: number, sidePx: number): FaceQuality => ({ score, sidePx, rollDeg: 0, yaw: 0 });
    const outcomes = { yes: 0, no: 0, continuingYes: 0, continuingNo: 0 };
    // 100 frames of 100 ms: longer than the re-check period (3 s), so settled tracks are re-checked.
    for (let k = 0; k < 100; k++) {
      const atMs = k * 100;
      const people: Face[] = [];
      for (let p = 0; p < 3; p++) {
        if ((k + p * 11) % 40 > 33) continue; // people come and go
        const x = 60 + p * 300 + k * 2;
        people.push({ box: [x, 100, x + 90, 200], score: 0.8 + 0.05 * p, quality: quality(0.3 + 0.4 * rand(), 90) });
      }
      const plan = JSON.parse(JSON.stringify(crowd.attributePlan(atMs))) as AttributeRequest;
      // The people's own faces (continuing their tracks), jittered copies with other qualities, and faces anywhere.
      const candidates = [
        ...people,
        ...people.map((f) => ({ box: f.box.map((v) => v + (rand() - 0.5) * 20) as unknown as BoxXyxy, score: 0.4 + rand() * 0.6, quality: quality(rand(), 90) })),
        ...Array.from({ length: 6 }, (_, i) => {
          const x = rand() * 1100;
          const w = 20 + rand() * 100;
          return { box: [x, 80 + rand() * 40, x + w, 180 + rand() * 40] as BoxXyxy, score: 0.3 + rand() * 0.7, ...(i % 2 === 0 ? { quality: quality(rand(), w) } : {}) };
        }),
      ];
      for (const [i, c] of candidates.entries()) {
        const a = crowd.wantsAttributes(c, atMs);
        expect(planWantsAttributes(plan, c)).toBe(a);
        outcomes[a ? 'yes' : 'no']++;
        if (i < people.length) outcomes[a ? 'continuingYes' : 'continuingNo']++;
      }
      // As the pipeline does: the people's faces carry age/gender only where the tracker asked.
      const faces = people.map((f): Face => (crowd.wantsAttributes(f, atMs) ? { ...f, ageYears: 30 + f.box[0] / 100, gender: 'male', genderScore: 0.95, maleProbability: 0.95 } : f));
      crowd.update({ sourceId: 'c', seq: k, capturedAtMs: atMs, width: 1280, height: 720, faces });
    }
    // Every branch was taken: settled tracks spared, their re-checks and much better faces asked for, new faces and floors.
    expect(outcomes.continuingNo).toBeGreaterThan(50);
    expect(outcomes.continuingYes).toBeGreaterThan(30);
    expect(outcomes.no).toBeGreaterThan(outcomes.continuingNo);
    expect(outcomes.yes).toBeGreaterThan(outcomes.continuingYes);
    expect(crowd.stats().facesWithoutAttributes).toBeGreaterThan(50);
  });

  it('is `all` with the schedule off', () => {
    const crowd = new CrowdTracker({ sourceId: 'c', attributes: false });
    expect(crowd.attributePlan(0)).toBe('all');
    expect(planWantsAttributes('all', { box: [0, 0, 1, 1], score: 0.01 })).toBe(true);
  });
});
