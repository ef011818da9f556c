/**
 * `crowdlens start` with a Redis URL: every role in one process over a real Redis (random prefix, keys deleted),
 * a camera on a real clip through real ffmpeg and the real models.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killChild, spawnCli, type Child } from '../support/child.ts';
import { VIDEOS } from '../support/frames.ts';
import { TEST_REDIS_URL, testRedis, waitUntil } from '../support/redis.ts';
import { promtoolCheck } from '../support/service.ts';

const r = testRedis('crowdlens-test-start-redis');
let child: Child | undefined;
let media: string | undefined;

afterAll(async () => {
  await killChild(child);
  await r.cleanup();
  if (media) await rm(media, { recursive: true, force: true });
});

describe('crowdlens start with REDIS_URL', () => {
  it('runs api, ingest and worker in one process over Redis: a registered camera runs, /metrics has every role, SIGTERM exits 0', async () => {
    media = await mkdtemp(path.join(tmpdir(), 'crowdlens-start-redis-'));
    await copyFile(path.join(VIDEOS, 'face-demographics-walking.mp4'), path.join(media, 'walk.mp4'));
    child = spawnCli(['start', '--port', '0'], {
      REDIS_URL: TEST_REDIS_URL,
      CROWDLENS_REDIS_PREFIX: r.keys.prefix,
      CROWDLENS_MEDIA_DIR: media,
      CROWDLENS_LOG_LEVEL: 'warn',
    });
    const url = (/dashboard at (http:\/\/\S+?)\/\s/.exec(await child.waitLine(/dashboard at/)) as RegExpExecArray)[1] as string;
    await waitUntil('ready', async () => (await fetch(`${url}/readyz`)).status === 200, 60_000, 200);
    const res = await fetch(`${url}/api/cameras`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Walk', url: 'walk.mp4' }),
    });
    expect(res.status).toBe(201);
    // The registry lives in Redis, and the camera's owner writes its state there.
    expect(await r.redis.hexists(r.keys.cameras(), 'walk')).toBe(1);
    await waitUntil(
      'frames analysed',
      async () =>
        ((await (await fetch(`${url}/api/cameras/walk/status`)).json()) as { state: string; frames: { sampled: number } }).frames.sampled >
        5,
      60_000,
      250,
    );
    expect(await r.redis.exists(r.keys.cameraStatus('walk'))).toBe(1);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const lint = await promtoolCheck(metrics);
    expect(lint).toEqual({ code: 0, out: '' });
    for (const name of [
      'crowdlens_frames_sampled_total{camera="walk"}',
      'crowdlens_worker_busy_ratio',
      'crowdlens_cameras_owned 1',
      'crowdlens_jobs_waiting',
      'crowdlens_models_ready 1',
    ])
      expect(metrics).toContain(name);
    child.proc.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });
});
