import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { FaceresDescriber } from '../../src/infer/faceres.ts';
import type { BoxXyxy, DemographicsSnapshot, Face, FaceQuality, FrameDetections, Gender, PersonEnteredEvent, PersonLeftEvent, PersonUpdatedEvent, TrackEvent } from '../../src/shared/messages.ts';
import { CrowdTracker, DEFAULT_ATTRIBUTE_SCHEDULE } from '../../src/track/crowd.ts';
import { DEFAULT_REID_PARAMS, cosineSimilarity } from '../../src/track/reid.ts';
import { unitVector } from '../support/vectors.ts';

const FACES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data', 'faces', 'utkface-dev');
const FRAME_MS = 100;
/** Tracker lifecycle pinned here so these tests do not move with the tracker's defaults. */
const TRACKER = { minHits: 3, maxMissedMs: 500, iouThreshold: 0.3, minScore: 0.5, motion: true, confirmAtStart: false };

interface Walker {
  /** Frame index range [from, to). */
  from: number;
  to: number;
  /** Box at `from` and velocity in px per frame. */
  start: BoxXyxy;
  dx: number;
  dy?: number;
  ageYears: number | ((k: number) => number);
  gender: Gender;
  descriptor?: Float32Array;
}


/** Frames 0..n-1 at 10 fps with each walker's face where it is in view. */
function frames(n: number, walkers: readonly Walker[], sourceId = 'cam1'): FrameDetections[] {
  const out: FrameDetections[] = [];
  for (let k = 0; k < n; k++) {
    const faces: Face[] = [];
    for (const w of walkers) {
      if (k < w.from || k >= w.to) continue;
      const t = k - w.from;
      const dy = (w.dy ?? 0) * t;
      const box: BoxXyxy = [w.start[0] + w.dx * t, w.start[1] + dy, w.start[2] + w.dx * t, w.start[3] + dy];
      const ageYears = typeof w.ageYears === 'function' ? w.ageYears(k) : w.ageYears;
      faces.push({ box, score: 0.9, ageYears, gender: w.gender, genderScore: 0.9, ...(w.descriptor !== undefined ? { descriptor: w.descriptor } : {}) });
    }
    out.push({ sourceId, seq: k, capturedAtMs: k * FRAME_MS, width: 1280, height: 720, faces });
  }
  return out;
}

function run(crowd: CrowdTracker, fs: readonly FrameDetections[]): TrackEvent[] {
  return fs.flatMap((f) => crowd.update(f));
}

const entered = (ev: readonly TrackEvent[]): PersonEnteredEvent[] => ev.filter((e): e is PersonEnteredEvent => e.type === 'person.entered');
const updated = (ev: readonly TrackEvent[]): PersonUpdatedEvent[] => ev.filter((e): e is PersonUpdatedEvent => e.type === 'person.updated');
const left = (ev: readonly TrackEvent[]): PersonLeftEvent[] => ev.filter((e): e is PersonLeftEvent => e.type === 'person.left');
const snapshots = (ev: readonly TrackEvent[]): DemographicsSnapshot[] => ev.filter((e): e is DemographicsSnapshot => e.type === 'demographics');

describe('CrowdTracker on synthetic sequences', () => {
  it('enter -> update -> leave for one person, with the summary', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const ev = run(crowd, frames(30, [{ from: 0, to: 20, start: [100, 100, 190, 200], dx: 2, ageYears: 30, gender: 'female' }]));
    expect(entered(ev)).toEqual([{ type: 'person.entered', sourceId: 'cam1', personId: 1, atMs: 200, box: [104, 100, 194, 200], returning: false }]);
    // Fusion needs minSamples (3) before the first estimate, reached at confirmation; a constant estimate is reported once.
    const up = updated(ev);
    expect(up).toHaveLength(1);
    expect(up[0]).toMatchObject({ personId: 1, atMs: 200, estimate: { ageYears: 30, gender: 'female', samples: 3 } });
    const l = left(ev);
    expect(l).toHaveLength(1);
    // Unmatched for more than maxMissedMs (500): ended at frame 25 (2500 ms), last seen at 1900 ms.
    expect(l[0]).toMatchObject({ personId: 1, atMs: 2500, firstSeenMs: 0, lastSeenMs: 1900, dwellMs: 1900, estimate: { ageYears: 30, gender: 'female', samples: 20 } });
    expect(crowd.persons()).toEqual([{ id: 1, firstSeenMs: 0, lastSeenMs: 1900, appearances: 1, dwellMs: 1900, ageYears: 30, gender: 'female', genderScore: expect.any(Number), maleProbability: expect.any(Number), ageRangeYears: null, samples: 20 }]);
    const s = crowd.snapshot(3000);
    expect(s).toMatchObject({ peopleNow: 0, unique: { lastMinute: 1, sinceStart: 1 }, averageDwellMs: 1900, estimated: 1, withoutEstimate: 0, byGenderLabel: { female: 1, male: 0, unknown: 0 } });
    // Frames say female with 0.9 (uncalibrated): the person counts 0.9 female, 0.1 male.
    expect(s.byAgeGender['25-34/female']).toBeCloseTo(0.9, 3);
    expect(s.byAgeGender['25-34/male']).toBeCloseTo(0.1, 3);
  });

  it('a returning person with the same descriptor keeps their id and the unique count', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const alice = unitVector(1);
    const ev = run(crowd, frames(80, [
      { from: 0, to: 20, start: [100, 100, 190, 200], dx: 2, ageYears: 30, gender: 'female', descriptor: alice },
      { from: 50, to: 70, start: [600, 120, 690, 220], dx: -2, ageYears: 30, gender: 'female', descriptor: alice },
    ]));
    const en = entered(ev);
    expect(en.map((e) => [e.personId, e.returning, e.atMs])).toEqual([[1, false, 200], [1, true, 5200]]);
    expect(left(ev).map((e) => [e.personId, e.firstSeenMs, e.dwellMs])).toEqual([[1, 0, 1900], [1, 5000, 1900]]);
    // The returning appearance continues the earlier evidence: no new estimate event, samples accumulate.
    expect(updated(ev)).toHaveLength(1);
    expect(left(ev)[1]?.estimate?.samples).toBe(40);
    expect(crowd.persons()).toMatchObject([{ id: 1, firstSeenMs: 0, lastSeenMs: 6900, appearances: 2, dwellMs: 3800, samples: 40 }]);
    expect(crowd.snapshot(8000).unique.sinceStart).toBe(1);
    expect(crowd.stats()).toMatchObject({ persons: 1, returning: 1, reid: { matched: 1 } });
  });

  it('someone else (another descriptor, or no descriptor) gets a new id', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const ev = run(crowd, frames(110, [
      { from: 0, to: 20, start: [100, 100, 190, 200], dx: 2, ageYears: 30, gender: 'female', descriptor: unitVector(1) },
      { from: 50, to: 70, start: [100, 100, 190, 200], dx: 2, ageYears: 30, gender: 'female', descriptor: unitVector(2) },
      { from: 80, to: 100, start: [100, 100, 190, 200], dx: 2, ageYears: 30, gender: 'female' },
    ]));
    expect(entered(ev).map((e) => [e.personId, e.returning])).toEqual([[1, false], [2, false], [3, false]]);
    expect(crowd.snapshot(11_000).unique.sinceStart).toBe(3);
  });

  it('a look-alike in view at the same time as the departed person is not them', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const twin = unitVector(3);
    const ev = run(crowd, frames(60, [
      { from: 0, to: 20, start: [100, 100, 190, 200], dx: 0, ageYears: 30, gender: 'female', descriptor: twin },
      // Appears at frame 15 while the first is still in view; confirmed at frame 17, before the first leaves.
      { from: 15, to: 50, start: [700, 100, 790, 200], dx: 0, ageYears: 30, gender: 'female', descriptor: twin },
    ]));
    expect(entered(ev).map((e) => [e.personId, e.returning])).toEqual([[1, false], [2, false]]);
    expect(crowd.snapshot(6000).unique.sinceStart).toBe(2);
  });

  it('two people crossing keep their ids and their own estimates', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const ev = run(crowd, frames(50, [
      { from: 0, to: 40, start: [100, 100, 180, 190], dx: 12, ageYears: 62, gender: 'male', descriptor: unitVector(4) },
      { from: 0, to: 40, start: [580, 140, 660, 230], dx: -12, ageYears: 21, gender: 'female', descriptor: unitVector(5) },
    ]));
    expect(entered(ev)).toHaveLength(2);
    const l = left(ev);
    expect(l).toHaveLength(2);
    const byId = new Map(l.map((e) => [e.personId, e]));
    expect(byId.get(1)?.estimate).toMatchObject({ ageYears: 62, gender: 'male', samples: 40 });
    expect(byId.get(2)?.estimate).toMatchObject({ ageYears: 21, gender: 'female', samples: 40 });
    // Each left on their own side: the ids did not swap at the crossing.
    expect(byId.get(1)?.box[0]).toBeGreaterThan(500);
    expect(byId.get(2)?.box[0]).toBeLessThan(200);
    const s = crowd.snapshot(5000);
    expect(s.byAgeGender['55-64/male']).toBeCloseTo(0.9, 3);
    expect(s.byAgeGender['18-24/female']).toBeCloseTo(0.9, 3);
  });

  it('reports a changed estimate (age by >= 1 year, or a gender flip)', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const ev = run(crowd, frames(40, [{ from: 0, to: 40, start: [100, 100, 190, 200], dx: 0, ageYears: (k) => (k < 10 ? 20 : 50), gender: 'male' }]));
    const ages = updated(ev).map((e) => e.estimate.ageYears);
    expect(ages[0]).toBe(20);
    expect(ages[ages.length - 1]).toBe(50);
    for (let i = 1; i < ages.length; i++) expect(Math.abs((ages[i] as number) - (ages[i - 1] as number))).toBeGreaterThanOrEqual(1);
  });

  it('a track that never confirms makes no person', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const ev = run(crowd, frames(12, [{ from: 0, to: 2, start: [100, 100, 190, 200], dx: 0, ageYears: 30, gender: 'male' }]));
    expect(ev).toEqual([]);
    expect(crowd.stats().tentativeDiscarded).toBe(1);
    expect(crowd.persons()).toEqual([]);
  });

  it('emits a demographics snapshot every snapshotEveryMs of frame time, and finish() ends everyone', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 1000 });
    const ev = run(crowd, frames(31, [{ from: 0, to: 31, start: [100, 100, 190, 200], dx: 0, ageYears: 40, gender: 'male' }]));
    const snaps = snapshots(ev);
    expect(snaps.map((s) => s.atMs)).toEqual([1000, 2000, 3000]);
    expect(snaps[0]).toMatchObject({ sourceId: 'cam1', peopleNow: 1, unique: { lastMinute: 1, sinceStart: 1 } });
    const end = crowd.finish(3100);
    expect(left(end)).toMatchObject([{ personId: 1, firstSeenMs: 0, lastSeenMs: 3000, dwellMs: 3000, atMs: 3100 }]);
    expect(snapshots(end)).toMatchObject([{ atMs: 3100, peopleNow: 0, averageDwellMs: 3000 }]);
    expect(crowd.confirmedTracks()).toEqual([]);
  });

  it('lists the confirmed faces of the latest frame for MOT output', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const fs = frames(5, [{ from: 0, to: 5, start: [100, 100, 190, 200], dx: 1, ageYears: 40, gender: 'male' }]);
    crowd.update(fs[0] as FrameDetections);
    expect(crowd.confirmedTracks()).toEqual([]);
    for (const f of fs.slice(1)) crowd.update(f);
    expect(crowd.confirmedTracks()).toEqual([{ personId: 1, box: [104, 100, 194, 200], score: 0.9 }]);
  });

  it('validates its input, naming the field', () => {
    expect(() => new CrowdTracker({ sourceId: '' })).toThrow(/sourceId/);
    expect(() => new CrowdTracker({ sourceId: 'cam1', snapshotEveryMs: -1 })).toThrow(/snapshotEveryMs/);
    expect(() => new CrowdTracker({ sourceId: 'cam1', reid: { reidMinSimilarity: 5 } })).toThrow(/reidMinSimilarity/);
    const crowd = new CrowdTracker({ sourceId: 'cam1' });
    expect(() => crowd.update({ ...(frames(1, [], 'cam2')[0] as FrameDetections) })).toThrow(/sourceId "cam2"/);
  });
});

/** Feeds the frames as the pipeline does: a face keeps its descriptor only where `wantsDescriptor` asks for one. */
function runWanted(crowd: CrowdTracker, fs: readonly FrameDetections[]): { events: TrackEvent[]; asked: number; offered: number } {
  const events: TrackEvent[] = [];
  let asked = 0;
  let offered = 0;
  for (const f of fs) {
    const faces = f.faces.map((face) => {
      if (face.descriptor === undefined) return face;
      offered++;
      if (crowd.wantsDescriptor(face, f.capturedAtMs)) {
        asked++;
        return face;
      }
      const { descriptor: _dropped, ...rest } = face;
      return rest;
    });
    events.push(...crowd.update({ ...f, faces }));
  }
  return { events, asked, offered };
}

describe('CrowdTracker.wantsDescriptor', () => {
  const walker: Walker = { from: 0, to: 20, start: [100, 100, 190, 200], dx: 2, ageYears: 30, gender: 'female', descriptor: unitVector(1) };

  it('asks for new and tentative faces, not for a track that has descriptorsPerTrack (attribute schedule off)', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0, descriptorsPerTrack: 4, attributes: false });
    expect(crowd.descriptorsPerTrack).toBe(4);
    const fs = frames(10, [walker]);
    const faceAt = (k: number): Face => (fs[k] as FrameDetections).faces[0] as Face;
    expect(crowd.wantsDescriptor(faceAt(0), 0)).toBe(true);
    const wanted: boolean[] = [];
    for (const [k, f] of fs.entries()) {
      wanted.push(crowd.wantsDescriptor(faceAt(k), f.capturedAtMs));
      crowd.update(f);
    }
    // Frames 0..3 give the track its 4 descriptors (it is confirmed at frame 2, still short of 4).
    expect(wanted).toEqual([true, true, true, true, false, false, false, false, false, false]);
    // Someone new elsewhere in the frame is asked for; the known face is not, and asking changed nothing.
    expect(crowd.wantsDescriptor({ box: [600, 100, 690, 200], score: 0.9 }, 1000)).toBe(true);
    expect(crowd.wantsDescriptor({ box: [120, 100, 210, 200], score: 0.9 }, 1000)).toBe(false);
    expect(crowd.wantsDescriptor({ box: [120, 100, 210, 200], score: 0.9 }, 1000)).toBe(false);
    // Faces the tracker will ignore: below its minScore, or an empty box.
    expect(crowd.wantsDescriptor({ box: [600, 100, 690, 200], score: 0.3 }, 1000)).toBe(false);
    expect(crowd.wantsDescriptor({ box: [600, 100, 600, 200], score: 0.9 }, 1000)).toBe(false);
    // Once the track will have ended (unmatched for more than maxMissedMs), its place is someone new.
    expect(crowd.wantsDescriptor({ box: [120, 100, 210, 200], score: 0.9 }, 900 + TRACKER.maxMissedMs + 100)).toBe(true);
  });

  it('with the schedule on, a new face waits for its second sighting: one-frame tracks cost no descriptor', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const fs = frames(10, [walker]);
    const wanted: boolean[] = [];
    for (const f of fs) {
      const face = f.faces[0] as Face;
      const want = crowd.wantsDescriptor(face, f.capturedAtMs);
      wanted.push(want);
      const { descriptor: _unused, ...bare } = face;
      crowd.update({ ...f, faces: [want ? face : bare] });
    }
    expect(wanted).toEqual([false, true, true, true, false, false, false, false, false, false]);
    expect(crowd.wantsDescriptor({ box: [600, 100, 690, 200], score: 0.9 }, 1000)).toBe(false);
  });

  it('gives the same people, returns and events as a descriptor for every face, from a few per track', () => {
    const walkers: Walker[] = [
      walker,
      { from: 50, to: 70, start: [600, 120, 690, 220], dx: -2, ageYears: 30, gender: 'female', descriptor: unitVector(1) },
      { from: 60, to: 90, start: [100, 300, 190, 400], dx: 3, ageYears: 50, gender: 'male', descriptor: unitVector(2) },
      { from: 95, to: 110, start: [300, 300, 390, 400], dx: 0, ageYears: 50, gender: 'male', descriptor: unitVector(2) },
    ];
    const fs = frames(120, walkers);
    const every = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 1000, attributes: false });
    const expected = [...run(every, fs), ...every.finish(12_000)];
    const few = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 1000, attributes: false });
    const { events, asked, offered } = runWanted(few, fs);
    events.push(...few.finish(12_000));
    expect(events).toEqual(expected);
    expect(entered(events).map((e) => [e.personId, e.returning])).toEqual([[1, false], [1, true], [2, false], [2, true]]);
    expect(few.persons()).toEqual(every.persons());
    // 4 appearances x 3 descriptors (the default), of 85 faces.
    expect(offered).toBe(85);
    expect(asked).toBe(4 * 3);
    expect(few.stats().descriptorsIgnored).toBe(0);
    expect(every.stats().descriptorsIgnored).toBe(offered - asked);
  });

  it('re-identifies by the mean of the first descriptorsPerTrack descriptors of a track', () => {
    const alice = unitVector(7);
    const bob = unitVector(8);
    // The first appearance shows alice's descriptor for 3 frames, then (a bad crop, say) bob's.
    const fs = frames(80, [{ ...walker, descriptor: alice }, { from: 50, to: 70, start: [600, 120, 690, 220], dx: -2, ageYears: 30, gender: 'female', descriptor: alice }]).map((f, k) =>
      k >= 3 && k < 20 ? { ...f, faces: f.faces.map((face) => ({ ...face, descriptor: bob })) } : f,
    );
    const ev = run(new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 }), fs);
    expect(entered(ev).map((e) => [e.personId, e.returning])).toEqual([[1, false], [1, true]]);
    // Averaging every descriptor (the mean is then mostly bob) misses the return.
    const all = run(new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0, descriptorsPerTrack: Infinity }), fs);
    expect(entered(all).map((e) => [e.personId, e.returning])).toEqual([[1, false], [2, false]]);
  });

  it('validates descriptorsPerTrack', () => {
    expect(() => new CrowdTracker({ sourceId: 'cam1', descriptorsPerTrack: 0 })).toThrow(/descriptorsPerTrack must be an integer >= 1 or Infinity, got 0/);
    expect(() => new CrowdTracker({ sourceId: 'cam1', descriptorsPerTrack: 2.5 })).toThrow(/descriptorsPerTrack.*2\.5/);
    expect(new CrowdTracker({ sourceId: 'cam1' }).descriptorsPerTrack).toBe(3);
  });
});

/** Feeds the frames as the pipeline does: a face keeps its age/gender only where `wantsAttributes` asks for it. */
function runScheduled(crowd: CrowdTracker, fs: readonly FrameDetections[], quality = (_k: number): FaceQuality | undefined => undefined): { events: TrackEvent[]; asked: boolean[] } {
  const events: TrackEvent[] = [];
  const asked: boolean[] = [];
  for (const [k, f] of fs.entries()) {
    const faces = f.faces.map((face): Face => {
      const qy = quality(k);
      const withQ = qy ? { ...face, quality: qy } : face;
      const want = crowd.wantsAttributes(withQ, f.capturedAtMs);
      asked.push(want);
      if (want) return withQ;
      return { box: withQ.box, score: withQ.score, ...(qy ? { quality: qy } : {}), ...(face.descriptor ? { descriptor: face.descriptor } : {}) };
    });
    events.push(...crowd.update({ ...f, faces }));
  }
  return { events, asked };
}

const goodQuality = (score: number): FaceQuality => ({ score, sidePx: 95, rollDeg: 0, yaw: 0 });

describe('CrowdTracker.wantsAttributes', () => {
  const walker: Walker = { from: 0, to: 60, start: [100, 100, 190, 200], dx: 1, ageYears: 30, gender: 'female' };

  it('stops asking once the estimate is settled, re-checks every recheckMs, and asks for a much better face', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    // Quality 0.5 throughout, except one face of quality 0.8 at frame 45 (much larger / more frontal).
    const { asked } = runScheduled(crowd, frames(60, [walker]), (k) => goodQuality(k === 45 ? 0.8 : 0.5));
    const s = DEFAULT_ATTRIBUTE_SCHEDULE;
    // Estimate from frame 2 (minSamples 3); it has held for settleSamples fused observations by frame `settled`: the next frames are spared.
    const settled = 2 + s.settleSamples - 1;
    expect(asked.slice(0, settled + 1).every(Boolean)).toBe(true);
    expect(asked[settled + 1]).toBe(false);
    // Re-checks every recheckMs after the last face with attributes, and once for the much better face at frame 45.
    const askedAt = asked.map((a, k) => (a ? k : -1)).filter((k) => k >= 0);
    const recheck = s.recheckMs / FRAME_MS;
    const expected = [...Array(settled + 1).keys()];
    for (let k = settled + recheck; k < 45; k += recheck) expected.push(k);
    expected.push(45);
    for (let k = 45 + recheck; k < 60; k += recheck) expected.push(k);
    expect(askedAt).toEqual(expected);
    expect(crowd.stats().facesWithoutAttributes).toBe(60 - askedAt.length);
  });

  it('never asks for faces below the quality floor, and asks for every face with the schedule off', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0, fusion: { qualityFloor: 0.3 } });
    expect(crowd.wantsAttributes({ box: [100, 100, 190, 200], score: 0.9, quality: goodQuality(0.2) }, 0)).toBe(false);
    expect(crowd.wantsAttributes({ box: [100, 100, 190, 200], score: 0.9, quality: goodQuality(0.4) }, 0)).toBe(true);
    // Faces the tracker will ignore (score below minScore) get nothing either.
    expect(crowd.wantsAttributes({ box: [100, 100, 190, 200], score: 0.3 }, 0)).toBe(false);
    // Nor a re-id descriptor while the schedule is on, even once the face continues a track.
    crowd.update({ sourceId: 'cam1', seq: 0, capturedAtMs: 0, width: 1280, height: 720, faces: [{ box: [100, 100, 190, 200], score: 0.9, quality: goodQuality(0.4) }] });
    expect(crowd.wantsDescriptor({ box: [101, 100, 191, 200], score: 0.9, quality: goodQuality(0.2) }, 100)).toBe(false);
    expect(crowd.wantsDescriptor({ box: [101, 100, 191, 200], score: 0.9, quality: goodQuality(0.4) }, 100)).toBe(true);
    const always = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0, attributes: false, fusion: { qualityFloor: 0.3 } });
    expect(always.wantsDescriptor({ box: [100, 100, 190, 200], score: 0.9, quality: goodQuality(0.2) }, 0)).toBe(true);
    const { asked } = runScheduled(always, frames(40, [walker]));
    expect(asked.every(Boolean)).toBe(true);
  });

  it('keeps asking while the gender is unknown, until maxSamples', () => {
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0, fusion: { minGenderConfidence: 0.95 } });
    const { asked } = runScheduled(crowd, frames(40, [{ ...walker, to: 40 }]));
    // genderScore 0.9 never reaches 0.95: unknown, so the track settles only after maxSamples (15) fused observations.
    const askedAt = asked.map((a, k) => (a ? k : -1)).filter((k) => k >= 0);
    expect(askedAt.slice(0, DEFAULT_ATTRIBUTE_SCHEDULE.maxSamples)).toEqual([...Array(DEFAULT_ATTRIBUTE_SCHEDULE.maxSamples).keys()]);
    expect(asked[DEFAULT_ATTRIBUTE_SCHEDULE.maxSamples]).toBe(false);
  });

  it('gives the same people and estimates as attributes for every face (constant faces), from far fewer', () => {
    const walkers: Walker[] = [
      { from: 0, to: 50, start: [100, 100, 190, 200], dx: 2, ageYears: 30, gender: 'female', descriptor: unitVector(1) },
      { from: 10, to: 70, start: [600, 300, 690, 400], dx: -2, ageYears: 62, gender: 'male', descriptor: unitVector(2) },
    ];
    const fs = frames(80, walkers);
    const every = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0, attributes: false });
    run(every, fs);
    every.finish(8000);
    const few = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const { asked } = runScheduled(few, fs);
    few.finish(8000);
    const strip = (p: ReturnType<CrowdTracker['persons']>[number]): unknown => ({ id: p.id, ageYears: p.ageYears, gender: p.gender, maleProbability: Math.round((p.maleProbability ?? NaN) * 1e9) / 1e9 });
    expect(few.persons().map(strip)).toEqual(every.persons().map(strip));
    expect(asked.filter(Boolean).length).toBeLessThan(asked.length / 3);
  });

  it('validates the schedule', () => {
    expect(() => new CrowdTracker({ sourceId: 'cam1', attributes: { settleSamples: 0 } })).toThrow(/attributes.settleSamples/);
    expect(() => new CrowdTracker({ sourceId: 'cam1', attributes: { improveFactor: 1 } })).toThrow(/attributes.improveFactor/);
    expect(() => new CrowdTracker({ sourceId: 'cam1', attributes: { maxSamples: 2 } })).toThrow(/attributes.maxSamples/);
  });
});

/**
 * Re-identification with REAL faceres descriptors of utkface-dev faces: a person shows their face
 * (original crop), leaves, and comes back seen differently (mirrored, box shifted); someone else
 * then comes by. Face boxes in the frames are synthetic; the descriptors are the model's.
 */
describe('CrowdTracker with real faceres descriptors', () => {
  const files = ['26_1_0_20170116184837899.jpg', '35_0_0_20170105165146660.jpg'];
  const d: Float32Array[] = [];

  beforeAll(async () => {
    const faceres = await FaceresDescriber.create();
    for (const [i, file] of files.entries()) {
      const { data, info } = await sharp(path.join(FACES, file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const image = { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
      d.push(await faceres.describe(image, [40, 40, 160, 160]));
      if (i === 0) {
        const mirrored = new Uint8Array(data.length);
        for (let y = 0; y < info.height; y++) for (let x = 0; x < info.width; x++) for (let c = 0; c < 3; c++) mirrored[(y * info.width + x) * 3 + c] = data[(y * info.width + info.width - 1 - x) * 3 + c] as number;
        d.push(await faceres.describe({ ...image, data: mirrored }, [46, 34, 162, 150]));
      }
    }
  }, 60_000);

  it('the returning person keeps their id; the other person gets a new one', () => {
    const [alice, aliceAgain, bob] = d as [Float32Array, Float32Array, Float32Array];
    const sameSim = cosineSimilarity(alice, aliceAgain);
    const otherSim = cosineSimilarity(alice, bob);
    console.log(`faceres: same face mirrored+shifted ${sameSim.toFixed(3)}, different people ${otherSim.toFixed(3)}, threshold ${DEFAULT_REID_PARAMS.reidMinSimilarity}`);
    const crowd = new CrowdTracker({ sourceId: 'cam1', tracker: TRACKER, snapshotEveryMs: 0 });
    const ev = run(crowd, frames(120, [
      { from: 0, to: 20, start: [100, 100, 190, 200], dx: 2, ageYears: 26, gender: 'female', descriptor: alice },
      { from: 50, to: 70, start: [300, 100, 390, 200], dx: 2, ageYears: 26, gender: 'female', descriptor: aliceAgain },
      { from: 90, to: 110, start: [300, 100, 390, 200], dx: 2, ageYears: 35, gender: 'male', descriptor: bob },
    ]));
    expect(entered(ev).map((e) => [e.personId, e.returning])).toEqual([[1, false], [1, true], [2, false]]);
    expect(crowd.snapshot(12_000).unique.sinceStart).toBe(2);
    expect(crowd.persons().map((p) => [p.id, p.appearances, p.gender])).toEqual([[1, 2, 'female'], [2, 1, 'male']]);
  });
});
