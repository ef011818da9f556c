/**
 * An ingest-like camera owner in its own process, for lease tests. Env: REDIS_URL,
 * CROWDLENS_REDIS_PREFIX, LEASE_MS, CAMERAS (comma-separated), OWNER_ID. Prints `ACQUIRED <camera> <token>`
 * and `LOST <camera> <token> <reason>`; every 50 ms it publishes `{"owner","token","n"}` on each owned
 * camera's events channel through the fenced publish, printing `FENCED <camera> <token>` when refused.
 */
import { ScaleKeys } from '../../src/scale/keys.ts';
import { LeaseManager } from '../../src/scale/lease.ts';
import { connectRedis } from '../../src/scale/redis.ts';

const env = process.env;
const redis = connectRedis(env['REDIS_URL'] as string, { name: 'crowdlens-test-lease-child' });
const keys = new ScaleKeys(env['CROWDLENS_REDIS_PREFIX'] as string);
const owner = env['OWNER_ID'] as string;
const leases = new LeaseManager({
  redis,
  keys,
  ownerId: owner,
  leaseMs: Number(env['LEASE_MS']),
  cameras: (env['CAMERAS'] as string).split(','),
});
leases.on('acquired', (l) => process.stdout.write(`ACQUIRED ${l.cameraId} ${l.token}\n`));
leases.on('lost', (l, reason) => process.stdout.write(`LOST ${l.cameraId} ${l.token} ${reason}\n`));
leases.start();
let n = 0;
setInterval(() => {
  for (const l of leases.owned()) {
    const message = JSON.stringify({ owner, token: l.token, n: n++ });
    void leases.publish(l.cameraId, l.token, keys.events(l.cameraId), message).then(
      (ok) => ok || process.stdout.write(`FENCED ${l.cameraId} ${l.token}\n`),
      (err: unknown) => process.stdout.write(`ERROR ${String(err)}\n`),
    );
  }
}, 50);
