import { afterAll, describe, expect, it } from 'vitest';
import type { BoxXyxy, Face, FrameDetections, PersonEnteredEvent, TrackEvent } from '../../src/shared/messages.ts';
import { CrowdTracker } from '../../src/track/crowd.ts';
import { releaseLease, tryAcquireLease } from '../../src/scale/lease.ts';
import { ReidCarryStore } from '../../src/scale/reid-carry.ts';
import { testRedis } from '../support/redis.ts';
import { unitVector } from '../support/vectors.ts';

const r = testRedis('crowdlens-test-reid-carry');
afterAll(() => r.cleanup());

const TRACKER = { minHits: 3, maxMissedMs: 500, iouThreshold: 0.3, minScore: 0.5, motion: true };
const FRAME_MS = 100;

/** One frame with the given people (id -> box) in view; each person's descriptor is a fixed unit vector, lightly perturbed. */
function frame(k: number, people: Record<number, BoxXyxy>, baseMs = 0): FrameDetections {
  const faces: Face[] = Object.entries(people).map(([id, box]) => {
    const d = unitVector(Number(id));
    const noise = unitVector(1000 + k * 10 + Number(id));
    const descriptor = d.map((v, i) => v + 0.05 * (noise[i] as number));
    return { box, score: 0.9, ageYears: 20 + Number(id) * 10, gender: Number(id) % 2 ? 'male' : 'female', genderScore: 0.9, descriptor };
  });
  return { sourceId: 'door', seq: k, capturedAtMs: baseMs + k * FRAME_MS, width: 1280, height: 720, faces };
}

const box = (x: number): BoxXyxy => [x, 100, x + 90, 200];
const entered = (ev: readonly TrackEvent[]): PersonEnteredEvent[] => ev.filter((e): e is PersonEnteredEvent => e.type === 'person.entered');

describe('re-identification carried across an owner change (opt-in)', () => {
  it('a person who left, and one still in view when the owner died, are recognised by the next owner; a stale owner cannot write', async () => {
    const store = new ReidCarryStore({ redis: r.redis, keys: r.keys, windowMs: 600_000 });
    const leaseA = await tryAcquireLease(r.redis, r.keys, 'door', 'owner-a', 10_000);
    expect(leaseA).not.toBeNull();
    const a = new CrowdTracker({ sourceId: 'door', tracker: TRACKER, snapshotEveryMs: 0, carry: true });
    const evA: TrackEvent[] = [];
    // Person 1 walks through and leaves; person 2 arrives and is still in view when owner A dies.
    for (let k = 0; k < 20; k++) {
      const people: Record<number, BoxXyxy> = {};
      if (k < 10) people[1] = box(100 + k * 5);
      if (k >= 8) people[2] = box(600 + k * 5);
      evA.push(...a.update(frame(k, people)));
      // The owner writes what the tracker recorded as it goes (it may die at any moment).
      expect(await store.save(leaseA!, a.takeCarried())).toBe(true);
    }
    expect(entered(evA).map((e) => e.personId)).toEqual([1, 2]);

    // A dies without a goodbye; B takes the camera under a new token and imports the stream.
    await r.redis.del(r.keys.lease('door'));
    const leaseB = await tryAcquireLease(r.redis, r.keys, 'door', 'owner-b', 10_000);
    expect(leaseB!.token).toBeGreaterThan(leaseA!.token);
    // A stale owner's write is refused and leaves the stream as it was.
    const before = await r.redis.xlen(r.keys.reid('door'));
    expect(
      await store.save(leaseA!, [
        {
          personId: 99,
          lastSeenMs: 0,
          inView: false,
          descriptor: unitVector(99),
          descriptorCount: 1,
          fusion: { samples: 0, ignored: 0, withoutAttributes: 0, droppedAgeSamples: 0, bestQuality: 0, totalWeight: 0, sumSquaredWeight: 0, weightedLogOdds: 0, ages: [] },
          lastReported: null,
        },
      ]),
    ).toBe(false);
    expect(await r.redis.xlen(r.keys.reid('door'))).toBe(before);
    const pttl = await r.redis.pttl(r.keys.reid('door'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(600_000);

    const carried = await store.load('door');
    expect(carried.map((p) => [p.personId, p.inView])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(carried[0]?.fusion.samples).toBe(10);
    const b = new CrowdTracker({ sourceId: 'door', tracker: TRACKER, snapshotEveryMs: 0, carry: true });
    b.importCarried(carried);
    // Both come back into view of the new owner (frame time continues), and a newcomer, person 3.
    const evB: TrackEvent[] = [];
    for (let k = 30; k < 40; k++) evB.push(...b.update(frame(k, { 1: box(100 + k), 2: box(600 + k), 3: box(1000) })));
    const e = entered(evB);
    expect(
      e
        .filter((x) => x.returning)
        .map((x) => x.personId)
        .sort(),
    ).toEqual([1, 2]);
    const newcomer = e.find((x) => !x.returning);
    expect(newcomer?.personId).toBe(3);
    expect(b.stats()).toMatchObject({ carryImported: 2, returning: 2 });
    // Person 1's earlier evidence came along: their estimate reflects 10 earlier samples plus the new ones.
    expect(b.persons().find((p) => p.id === 1)?.samples).toBeGreaterThanOrEqual(10 + 3);
    await releaseLease(r.redis, r.keys, leaseB!);
  });

  it("with descriptors only where the tracker asks (attribute schedule on): a person in view from the first frame to the death of the owner is recognised when the next owner confirms them", async () => {
    const store = new ReidCarryStore({ redis: r.redis, keys: r.keys, windowMs: 600_000 });
    const lease = await tryAcquireLease(r.redis, r.keys, 'porch', 'owner-a', 10_000);
    expect(lease).not.toBeNull();
    const quality = { score: 0.6, sidePx: 95, rollDeg: 0, yaw: 0 };
    /** As the pipeline feeds the tracker: a face keeps its descriptor only where wantsDescriptor asked for it. */
    const feed = (crowd: CrowdTracker, f: FrameDetections): TrackEvent[] =>
      crowd.update({
        ...f,
        sourceId: 'porch',
        faces: f.faces.map((face) => {
          const withQ = { ...face, quality };
          if (crowd.wantsDescriptor(withQ, f.capturedAtMs)) return withQ;
          const { descriptor: _dropped, ...rest } = withQ;
          return rest;
        }),
      });
    const a = new CrowdTracker({ sourceId: 'porch', tracker: TRACKER, snapshotEveryMs: 0, carry: true });
    // The first face of a fresh run waits for its second sighting (nobody to recognise yet): the person is confirmed on their third face.
    const evA: TrackEvent[] = [];
    for (let k = 0; k < 10; k++) {
      evA.push(...feed(a, frame(k, { 4: box(300 + k * 3) })));
      expect(await store.save(lease!, a.takeCarried())).toBe(true);
    }
    expect(entered(evA).map((e) => e.personId)).toEqual([1]);
    // Recorded once the descriptors came (the owner dies with the person still in view).
    const carried = await store.load('porch');
    expect(carried.map((p) => [p.personId, p.inView, p.descriptorCount])).toEqual([[1, true, 3]]);

    const b = new CrowdTracker({ sourceId: 'porch', tracker: TRACKER, snapshotEveryMs: 0, carry: true, firstPersonId: 5 });
    b.importCarried(carried);
    // In B's first frames, with people to recognise, every face gets its descriptor; the person is recognised at confirmation (third face).
    expect(b.descriptorPlan(3000).newTracksWait).toBe(false);
    const evB: TrackEvent[] = [];
    for (let k = 30; k < 33; k++) {
      evB.push(...feed(b, frame(k, { 4: box(340 + (k - 30) * 3) })));
      if (k < 32) expect(entered(evB)).toEqual([]);
    }
    expect(entered(evB)).toEqual([expect.objectContaining({ personId: 1, returning: true })]);
    await releaseLease(r.redis, r.keys, lease!);
  });

  it('without carried evidence the same return is counted as a new person (what the opt-in prevents)', () => {
    const b = new CrowdTracker({ sourceId: 'door', tracker: TRACKER, snapshotEveryMs: 0, firstPersonId: 1_000_001 });
    const ev: TrackEvent[] = [];
    for (let k = 30; k < 40; k++) ev.push(...b.update(frame(k, { 1: box(100 + k) })));
    expect(entered(ev)).toEqual([expect.objectContaining({ personId: 1_000_001, returning: false })]);
    expect(b.takeCarried()).toEqual([]);
  });
});
