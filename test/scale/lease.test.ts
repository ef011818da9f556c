import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.ts';
import { LeaseManager, fencedPublish, releaseLease, renewLease, tryAcquireLease, type HeldLease } from '../../src/scale/lease.ts';
import { connectRedis } from '../../src/scale/redis.ts';
import { killChild, spawnTs, type Child } from '../support/child.ts';
import { TEST_REDIS_URL, testRedis, waitUntil } from '../support/redis.ts';

const logger = createLogger({ level: 'error' });
const r = testRedis('crowdlens-test-lease');
const children: Child[] = [];
const managers: LeaseManager[] = [];
afterAll(async () => {
  for (const c of children) await killChild(c);
  for (const m of managers) await m.stop();
  await r.cleanup();
});

function manager(ownerId: string, cameras: string[], leaseMs: number): LeaseManager {
  const m = new LeaseManager({ redis: r.redis, keys: r.keys, ownerId, leaseMs, cameras, logger });
  managers.push(m);
  return m;
}

function owner(cameras: string[], leaseMs: number, ownerId: string): Child {
  const c = spawnTs('test/support/lease-child.ts', {
    REDIS_URL: TEST_REDIS_URL,
    CROWDLENS_REDIS_PREFIX: r.keys.prefix,
    LEASE_MS: String(leaseMs),
    CAMERAS: cameras.join(','),
    OWNER_ID: ownerId,
  });
  children.push(c);
  return c;
}

/** Messages published on a camera's events channel, in the order Redis ran the publishes. */
async function listen(channel: string): Promise<{ messages: { owner: string; token: number }[]; close: () => void }> {
  const sub = connectRedis(TEST_REDIS_URL, { name: 'crowdlens-test-lease-sub' });
  const messages: { owner: string; token: number }[] = [];
  sub.on('message', (_ch: string, text: string) => void messages.push(JSON.parse(text) as { owner: string; token: number }));
  await sub.subscribe(channel);
  return { messages, close: () => sub.disconnect() };
}

describe('camera leases on real Redis', () => {
  it('fences: a later owner gets a larger token, and the old lease can neither renew, release nor publish', async () => {
    const channel = r.keys.events('cam-f');
    const sub = await listen(channel);
    try {
      const first = await tryAcquireLease(r.redis, r.keys, 'cam-f', 'old', 300);
      expect(first?.token).toBeGreaterThan(0);
      expect(await tryAcquireLease(r.redis, r.keys, 'cam-f', 'new', 300)).toBeNull();
      expect(await fencedPublish(r.redis, r.keys, first!, channel, JSON.stringify({ owner: 'old', token: first!.token }))).toBe(true);
      await waitUntil('the old lease to lapse', async () => (await r.redis.exists(r.keys.lease('cam-f'))) === 0, 10_000);
      const second = await tryAcquireLease(r.redis, r.keys, 'cam-f', 'new', 10_000);
      expect(second!.token).toBeGreaterThan(first!.token);
      expect(await fencedPublish(r.redis, r.keys, first!, channel, JSON.stringify({ owner: 'old', token: first!.token }))).toBe(false);
      expect(await renewLease(r.redis, r.keys, first!, 10_000)).toBe(false);
      expect(await releaseLease(r.redis, r.keys, first!)).toBe(false);
      expect(await fencedPublish(r.redis, r.keys, second!, channel, JSON.stringify({ owner: 'new', token: second!.token }))).toBe(true);
      await waitUntil('2 messages', () => sub.messages.length === 2);
      expect(sub.messages.map((m) => m.owner)).toEqual(['old', 'new']);
      await expect(fencedPublish(r.redis, r.keys, second!, 'elsewhere:events', '{}')).rejects.toThrow(/not under the prefix/);
      expect(await releaseLease(r.redis, r.keys, second!)).toBe(true);
    } finally {
      sub.close();
    }
  });

  it('spreads cameras fairly over live managers and moves them when one stops', async () => {
    const cams = ['s1', 's2', 's3', 's4'];
    const a = manager('mgr-a', cams, 2000);
    const b = manager('mgr-b', cams, 2000);
    const events: string[] = [];
    for (const m of [a, b]) {
      m.on('acquired', (l: HeldLease) => events.push(`${m.ownerId} +${l.cameraId}#${l.token}`));
      m.on('lost', (l: HeldLease, why) => events.push(`${m.ownerId} -${l.cameraId}#${l.token} ${why}`));
    }
    a.start();
    await waitUntil('a owns all 4', () => a.owned().length === 4);
    b.start();
    await waitUntil('2 and 2', () => a.owned().length === 2 && b.owned().length === 2, 30_000);
    expect(new Set([...a.owned(), ...b.owned()].map((l) => l.cameraId))).toEqual(new Set(cams));
    expect(a.stats().lost.rebalanced).toBe(2);
    await b.stop();
    await waitUntil('a owns all 4 again', () => a.owned().length === 4, 30_000);
    expect(b.owned()).toEqual([]);
    // Tokens only grow: every acquisition of a camera got a larger one than the one before.
    const last = new Map<string, number>();
    for (const e of events) {
      const m = /\+(\w+)#(\d+)/.exec(e);
      if (!m) continue;
      expect(Number(m[2])).toBeGreaterThan(last.get(m[1] as string) ?? 0);
      last.set(m[1] as string, Number(m[2]));
    }
    await a.stop();
    expect(a.owned()).toEqual([]);
    expect(await r.redis.exists(...cams.map((c) => r.keys.lease(c)))).toBe(0);
  });

  it('takes over the cameras of an owner process killed with -9 within the lease time', async () => {
    const leaseMs = 4000;
    const cams = ['k1', 'k2', 'k3'];
    const child = owner(cams, leaseMs, 'dying-owner');
    for (const c of cams) await child.waitLine(new RegExp(`^ACQUIRED ${c} \\d+$`));
    const survivor = manager('survivor', cams, leaseMs);
    survivor.start();
    // Let the survivor take its share first (the child hands one camera back).
    await waitUntil('the survivor owns a camera', () => survivor.owned().length >= 1, 30_000);
    const childTokens = new Map(
      child.lines
        .map((l) => /^ACQUIRED (\S+) (\d+)$/.exec(l))
        .filter((m) => m !== null)
        .map((m) => [m[1] as string, Number(m[2])]),
    );
    const killedAt = Date.now();
    child.proc.kill('SIGKILL');
    await child.exited;
    await waitUntil('the survivor owns all 3', () => survivor.owned().length === 3, 30_000);
    const tookMs = Date.now() - killedAt;
    // CROWDLENS_LEASE_MS is the bound the issue sets; the design gives ~5/8 of it (lease key L/2 + a round L/8).
    expect(tookMs).toBeLessThanOrEqual(leaseMs);
    for (const l of survivor.owned()) expect(l.token).toBeGreaterThan(childTokens.get(l.cameraId) ?? 0);
    await survivor.stop();
  });

  it('refuses the publishes of a stalled owner (SIGSTOP) once its lease was taken, also after it resumes', async () => {
    const leaseMs = 2000;
    const channel = r.keys.events('cam-z');
    const sub = await listen(channel);
    const child = owner(['cam-z'], leaseMs, 'stalled-owner');
    try {
      const acquired = await child.waitLine(/^ACQUIRED cam-z \d+$/);
      const oldToken = Number(acquired.split(' ')[2]);
      await waitUntil('the owner publishing', () => sub.messages.length >= 3);
      const next = manager('next-owner', ['cam-z'], leaseMs);
      next.start();
      child.proc.kill('SIGSTOP');
      await waitUntil('the next owner has the camera', () => next.owned().length === 1, 30_000);
      const [lease] = next.owned() as [HeldLease];
      expect(lease.token).toBeGreaterThan(oldToken);
      expect(await next.publish('cam-z', lease.token, channel, JSON.stringify({ owner: 'next-owner', token: lease.token }))).toBe(true);
      // The old owner wakes up believing, for a moment, that it still owns the camera.
      child.proc.kill('SIGCONT');
      await child.waitLine(/^LOST cam-z \d+ (taken|expired)$/, 30_000);
      await new Promise((res) => setTimeout(res, 500));
      expect(await next.publish('cam-z', lease.token, channel, JSON.stringify({ owner: 'next-owner', token: lease.token }))).toBe(true);
      await waitUntil('both of the next owner messages', () => sub.messages.filter((m) => m.owner === 'next-owner').length === 2);
      const firstNew = sub.messages.findIndex((m) => m.owner === 'next-owner');
      expect(sub.messages.slice(firstNew).filter((m) => m.owner === 'stalled-owner')).toEqual([]);
      // Its own view agrees: no lease, nothing more published.
      expect(child.lines.some((l) => /^ACQUIRED cam-z/.test(l) && l !== acquired)).toBe(false);
      await next.stop();
    } finally {
      sub.close();
      await killChild(child);
    }
  });
});
