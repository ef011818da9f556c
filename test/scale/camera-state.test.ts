import { afterAll, describe, expect, it } from 'vitest';
import { DEMOGRAPHICS_KEYS, type CameraStatus } from '../../src/shared/api.ts';
import type { DemographicsSnapshot, PersonEstimate, TrackEvent } from '../../src/shared/messages.ts';
import { loadTrustModel } from '../../src/infer/trust.ts';
import { Demographics } from '../../src/track/demographics.ts';
import { CameraStateStore, RedisCameraReads } from '../../src/scale/camera-state.ts';
import { tryAcquireLease, releaseLease } from '../../src/scale/lease.ts';
import { RedisCameraRegistry } from '../../src/scale/registry-redis.ts';
import { testRedis } from '../support/redis.ts';

const r = testRedis('crowdlens-test-camera-state');
afterAll(() => r.cleanup());

const T0 = Date.UTC(2026, 0, 5, 10, 0, 10);
const est: PersonEstimate = { ageYears: 30, gender: 'female', genderScore: 0.9, maleProbability: 0.1, samples: 5 };

function status(sampled: number): CameraStatus {
  return {
    cameraId: 'hall',
    state: 'running',
    enabled: true,
    sinceMs: T0,
    fpsIn: 5,
    fpsOut: 5,
    frames: { read: sampled, sampled },
    framesDropped: { queueFull: 0, partial: 0, inFlight: 1, redisError: 0, lost: 0 },
    restarts: 0,
    watchdogRestarts: 0,
    retries: 0,
    lastError: null,
    width: 480,
    height: 270,
    lastFrameAtMs: T0,
  };
}

function snap(atMs: number, peopleNow: number): DemographicsSnapshot {
  const cells = Object.fromEntries(
    ['0-12', '13-17', '18-24', '25-34', '35-44', '45-54', '55-64', '65+'].flatMap((b) => [
      [`${b}/female`, 0],
      [`${b}/male`, 0],
    ]),
  ) as DemographicsSnapshot['byAgeGender'];
  const intervals = Object.fromEntries(
    Object.keys(cells).map((k) => [k, [0, 0]]),
  ) as unknown as DemographicsSnapshot['byAgeGenderInterval'];
  return {
    type: 'demographics',
    sourceId: 'hall',
    atMs,
    peopleNow,
    unique: { lastMinute: 0, lastHour: 0, lastDay: 0, sinceStart: 0 },
    byAgeGender: cells,
    byAgeGenderInterval: intervals,
    estimated: 0,
    withoutEstimate: 0,
    byGenderLabel: { female: 0, male: 0, unknown: 0 },
    averageDwellMs: 0,
  };
}

const box = [0, 0, 10, 10] as const;
const entered = (personId: number, atMs: number, returning = false): TrackEvent => ({
  type: 'person.entered',
  sourceId: 'hall',
  personId,
  atMs,
  box,
  returning,
});
const updated = (personId: number, atMs: number, estimate: PersonEstimate = est): TrackEvent => ({
  type: 'person.updated',
  sourceId: 'hall',
  personId,
  atMs,
  box,
  estimate,
});
const left = (personId: number, firstSeenMs: number, atMs: number, estimate: PersonEstimate | null = est): TrackEvent => ({
  type: 'person.left',
  sourceId: 'hall',
  personId,
  atMs,
  box,
  firstSeenMs,
  lastSeenMs: atMs,
  dwellMs: atMs - firstSeenMs,
  estimate,
});

describe('camera state in Redis (real Redis)', () => {
  it('aggregates over two owners: counters and unique people continue, a carried person is not counted twice, a stale owner writes nothing; the API reads it back', async () => {
    const store = new CameraStateStore({ redis: r.redis, keys: r.keys, statusTtlMs: 5000 });
    const registry = new RedisCameraRegistry({ redis: r.redis, keys: r.keys });
    await registry.create({ name: 'Hall', url: 'rtsp://192.0.2.1/live' });
    const reads = new RedisCameraReads(store, registry, () => T0 + 30_000);

    // Owner 1: persons 1 and 2 come, 1 leaves.
    const lease1 = await tryAcquireLease(r.redis, r.keys, 'hall', 'owner-1', 60_000);
    if (!lease1) throw new Error('no lease');
    const rep1 = store.reporter('hall');
    rep1.events([entered(1, T0), entered(2, T0 + 200), updated(1, T0 + 400)]);
    for (let i = 0; i < 10; i++) rep1.frame(T0 + i * 200, i < 5 ? [1, 2] : [2]);
    rep1.events([left(1, T0, T0 + 1000)]);
    expect(await rep1.notePersonId(lease1, 2)).toBe(true);
    const f1 = await rep1.flush(lease1, status(10), snap(T0 + 1800, 1));
    expect(f1?.ok).toBe(true);
    expect(f1?.snapshot?.unique).toEqual({ lastMinute: 2, lastHour: 2, lastDay: 2, sinceStart: 2 });
    // Soft counts: person 1 (P(male) 0.1) adds 0.9 and 0.1; person 2 has no estimate yet.
    expect(f1?.snapshot?.byAgeGender['25-34/female']).toBeCloseTo(0.9, 9);
    expect(f1?.snapshot?.byAgeGender['25-34/male']).toBeCloseTo(0.1, 9);
    expect(f1?.snapshot).toMatchObject({ estimated: 1, withoutEstimate: 1, byGenderLabel: { female: 1, male: 0, unknown: 0 } });
    expect(f1?.snapshot?.averageDwellMs).toBe(1000);
    expect(f1?.status.frames.sampled).toBe(10);

    // Owner 1 dies; owner 2 takes over, learns what it left, and continues.
    await releaseLease(r.redis, r.keys, lease1);
    const lease2 = await tryAcquireLease(r.redis, r.keys, 'hall', 'owner-2', 60_000);
    if (!lease2) throw new Error('no lease');
    const prev = await store.previousOwner('hall');
    expect(prev).toMatchObject({ token: lease1.token, maxPersonId: 2 });
    expect(prev.open.map((o) => o.personId)).toEqual([2]);
    const rep2 = store.reporter('hall');
    // Person 1 was carried (re-id) and comes back with the same id: returning, not new, same cell.
    rep2.seed([{ personId: 1, estimate: est }]);
    rep2.events([entered(1, T0 + 5000, true), updated(1, T0 + 5200), entered(3, T0 + 5400)]);
    rep2.frame(T0 + 5400, [1, 3]);
    const f2 = await rep2.flush(lease2, status(4), snap(T0 + 5400, 2));
    expect(f2?.snapshot?.unique.sinceStart).toBe(3);
    expect(f2?.snapshot?.unique.lastMinute).toBe(3);
    // Person 1 is counted once (seeded with what owner 1 counted); person 3 has no estimate.
    expect(f2?.snapshot?.byAgeGender['25-34/female']).toBeCloseTo(0.9, 9);
    expect(f2?.snapshot).toMatchObject({ estimated: 1, withoutEstimate: 2, byGenderLabel: { female: 1, male: 0, unknown: 0 } });
    // Frame counters add up over owners.
    expect(f2?.status.frames.sampled).toBe(14);
    expect(f2?.status.framesDropped.inFlight).toBe(2);

    // The stale owner's writes are refused and change nothing.
    rep1.events([entered(9, T0 + 6000)]);
    const stale = await rep1.flush(lease1, status(20), snap(T0 + 6000, 5));
    expect(stale?.ok).toBe(false);
    expect(await rep1.notePersonId(lease1, 99)).toBe(false);
    expect((await store.previousOwner('hall')).maxPersonId).toBe(3); // owner 2's person 3, not the stale 9 or 99

    // What the API reads.
    const st = await reads.status('hall');
    expect(st).toMatchObject({ state: 'running', frames: { sampled: 14 } });
    const d = await reads.demographics('hall');
    expect(d?.live?.unique.sinceStart).toBe(3);
    const minute = d?.minutes.find((m) => m.startMs === Math.floor(T0 / 60_000) * 60_000);
    expect(minute).toMatchObject({ frames: 11, entered: 4, returning: 1, left: 1, averageDwellMs: 1000, peopleNowMax: 2 });
    // Distinct people per owner and bucket: 1 and 2 (owner 1), 1 again and 3 (owner 2: person 1 straddles the takeover).
    expect(minute?.unique).toBe(4);
    // History cells by label: person 1 under each owner (2 and 3 have no estimate).
    expect(minute?.byAgeGender).toEqual({ '25-34/female': 2 });
    expect(d?.hours.at(-1)?.frames).toBe(11);
    expect(await reads.status('nope')).toBeNull();

    // Every key of the camera's state has a TTL.
    for (const key of await r.keyList()) {
      if (key.includes(':cam:')) expect(await r.redis.pttl(key)).toBeGreaterThan(0);
    }
    // Removing the camera removes its state.
    await registry.remove('hall');
    expect(
      await r.redis.exists(r.keys.cameraAgg('hall'), r.keys.cameraLive('hall'), r.keys.cameraSeen('hall'), r.keys.cameraStatus('hall')),
    ).toBe(0);
    await registry.close();
  });

  it('merges the soft age x gender table, its intervals, the estimate and label counts over owners exactly as one process counts them', async () => {
    const ageError = loadTrustModel().ageError;
    const store = new CameraStateStore({ redis: r.redis, keys: r.keys, statusTtlMs: 5000, ageError });
    // The one-process reference: src/track's Demographics fed the same people and estimates (with the same age error model).
    const one = new Demographics('hall', { ageError });
    const e = (ageYears: number, maleProbability: number, gender: PersonEstimate['gender']): PersonEstimate => ({
      ageYears,
      gender,
      genderScore: Math.max(maleProbability, 1 - maleProbability),
      maleProbability,
      samples: 4,
    });
    const e1 = e(23, 0.15, 'female');
    const e1b = e(24.5, 0.12, 'female');
    const e2 = e(41, 0.93, 'male');
    const e3 = e(67, 0.55, 'unknown');
    const e3drift = e(67.4, 0.58, 'unknown');

    // Owner 1: persons 1 and 2; person 1 leaves with a later estimate than its last update; person 2 is in view when owner 1 dies.
    const lease1 = await tryAcquireLease(r.redis, r.keys, 'gate', 'owner-1', 60_000);
    if (!lease1) throw new Error('no lease');
    const rep1 = store.reporter('gate');
    rep1.events([entered(1, T0), updated(1, T0 + 200, e1), entered(2, T0 + 200), updated(2, T0 + 400, e2)]);
    rep1.frame(T0 + 400, [1, 2]);
    rep1.events([left(1, T0, T0 + 1000, e1b)]);
    one.enter(1, T0, false);
    one.estimate(1, e1);
    one.enter(2, T0 + 200, false);
    one.estimate(2, e2);
    one.estimate(1, e1b);
    one.leave(1, T0 + 1000, 1000);
    // A flush in flight does not lose what happens meanwhile: person 5 enters while it runs.
    const inFlight = rep1.flush(lease1, status(5), snap(T0 + 1200, 1));
    rep1.events([entered(5, T0 + 1300)]);
    one.enter(5, T0 + 1300, false);
    expect((await inFlight)?.ok).toBe(true);
    expect((await rep1.flush(lease1, status(6), snap(T0 + 1400, 2)))?.snapshot?.unique.sinceStart).toBe(3);
    await releaseLease(r.redis, r.keys, lease1);

    // Owner 2 ends owner 1's open appearances (as the ingest role does), recognises person 1 (carried, returning) and
    // sees person 3, whose estimate moves a little without an event (the tracker reports small moves silently).
    const lease2 = await tryAcquireLease(r.redis, r.keys, 'gate', 'owner-2', 60_000);
    if (!lease2) throw new Error('no lease');
    const prev = await store.previousOwner('gate');
    expect(prev.open.find((o) => o.personId === 2)?.estimate).toEqual(e2);
    const rep2 = store.reporter('gate');
    rep2.seed([{ personId: 1, estimate: e1b }]);
    rep2.seed(prev.open);
    rep2.events(prev.open.map((o) => left(o.personId, o.firstSeenMs, o.lastSeenMs, o.estimate)));
    one.leave(2, T0 + 400, 200);
    one.leave(5, T0 + 1300, 0);
    rep2.events([entered(1, T0 + 5000, true), updated(1, T0 + 5200, e1), entered(3, T0 + 5400), updated(3, T0 + 5400, e3)]);
    rep2.frame(T0 + 5400, [1, 3]);
    rep2.estimates([{ personId: 3, estimate: e3drift }]);
    one.enter(1, T0 + 5000, true);
    one.estimate(1, e1);
    one.enter(3, T0 + 5400, false);
    one.estimate(3, e3);
    one.estimate(3, e3drift);
    const f = await rep2.flush(lease2, status(3), snap(T0 + 5400, 2));
    const merged = f?.snapshot;
    const expected = one.snapshot(T0 + 5400);
    expect(merged).toBeTruthy();
    expect(expected.byGenderLabel).toEqual({ female: 1, male: 1, unknown: 1 });
    for (const k of DEMOGRAPHICS_KEYS) {
      expect(merged?.byAgeGender[k]).toBeCloseTo(expected.byAgeGender[k], 6);
      expect(merged?.byAgeGenderInterval[k][0]).toBeCloseTo(expected.byAgeGenderInterval[k][0], 6);
      expect(merged?.byAgeGenderInterval[k][1]).toBeCloseTo(expected.byAgeGenderInterval[k][1], 6);
    }
    // Spread over buckets by the age error (a 23-year-old adds to 18-24 and to 25-34), summing to the people estimated.
    expect(merged?.byAgeGender['25-34/female']).toBeGreaterThan(0);
    expect(DEMOGRAPHICS_KEYS.reduce((sum, k) => sum + (merged?.byAgeGender[k] ?? 0), 0)).toBeCloseTo(3, 2);
    expect(merged).toMatchObject({
      estimated: expected.estimated,
      withoutEstimate: expected.withoutEstimate,
      byGenderLabel: expected.byGenderLabel,
      unique: { sinceStart: expected.unique.sinceStart },
    });
    // The history counts people by label, `unknown` included.
    const minute = (await store.history('gate', T0 + 5400)).minutes.at(-1);
    expect(minute?.byAgeGender).toEqual({ '18-24/female': 2, '35-44/male': 1, '65+/unknown': 1 });
    await releaseLease(r.redis, r.keys, lease2);
  });
});
