/**
 * The `crowdlens ingest` role: owns cameras by lease and runs each owned camera's pipeline with its frames analysed
 * by the worker processes.
 *
 * It is the one-process service's CameraManager (src/service) with four seams filled for Redis:
 * - `owns`: a camera runs here only while this process holds its lease (src/scale's LeaseManager over every
 *   registered camera, fairly spread over the live ingest processes);
 * - `stages`: per run, the camera's own FrameSource and a CrowdTracker that continues above the highest person id
 *   handed out before (and, with CROWDLENS_REID_CARRY, imports the carried people), and a RemoteAnalyzer over the
 *   camera's CameraLink: src/pipeline's runPipeline then keeps several frames in flight and tracks the results in
 *   frame order (the same loop as `crowdlens run` and the one-process service);
 * - `observer`: every run's events and frames go into the camera's aggregates in Redis (CameraReporter), flushed
 *   once a second with the live tick, fenced by the lease;
 * - the LivePublisher: every live event is published through the Socket.IO Redis emitter's wire format on the
 *   adapter's channel, by LeaseManager.publish (a Lua script that publishes only while the lease is this process's):
 *   a stalled former owner cannot reach a dashboard.
 * A camera whose lease ends (taken, expired, handed back) stops here: its in-flight frames are dropped and its
 * open tracks end (published while the lease is still held when this process gives it up itself). A new owner ends
 * the open appearances of a predecessor that died (from the live key), then tracks afresh.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Emitter } from '@socket.io/redis-emitter';
import type { CameraStatus, LiveDemographics, LivePersonEntered, LivePersonLeft, CameraChange } from '../shared/api.ts';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { PersonLeftEvent } from '../shared/messages.ts';
import type { LivePublisher } from '../shared/service.ts';
import { ALL_ROOM, cameraRoom, type ServerToClientEvents } from '../shared/socket-events.ts';
import { CrowdTracker } from '../track/crowd.ts';
import { createDetectGate, createSource, defaultTrust, trackerOptions, trackerStage } from '../pipeline/stages.ts';
import type { PipelineStages } from '../pipeline/standalone.ts';
import { CameraManager, type CameraRunContext } from '../service/camera-manager.ts';
import { createMetrics, type CrowdlensMetrics } from '../service/metrics.ts';
import { createUrlPolicy } from '../service/url-policy.ts';
import {
  CameraStateStore,
  RedisCameraRegistry,
  RemoteAnalyzer,
  newOwnerId,
  openScale,
  type CameraReporter,
  type LeaseRecord,
} from '../scale/index.ts';
import { preloadScripts } from '../scale/scripts.ts';
import { startMetricsServer, type MetricsServer } from './metrics-server.ts';

/** A running ingest role. */
export interface IngestRole {
  /** This process's owner id (in the camera leases). */
  readonly ownerId: string;
  readonly manager: CameraManager;
  /** Cameras this process owns now. */
  owned(): string[];
  readonly metrics: CrowdlensMetrics;
  collect(): Promise<void>;
  readonly metricsUrl: string | null;
  /** Hands every camera back (their open tracks end, published), stops the cameras and disconnects. */
  close(): Promise<void>;
}

/** Options of {@link startIngestRole}. */
export interface IngestRoleDeps {
  readonly logger: Logger;
  /** Metrics to update (a shared registry in `crowdlens start`); default an ingest registry of its own. */
  readonly metrics?: CrowdlensMetrics;
  /** Serve /metrics on `scale.metricsPort`. Default true. */
  readonly serveMetrics?: boolean;
}

/** What this process runs for one camera under one lease. */
interface RunContext {
  readonly run: number;
  readonly lease: LeaseRecord;
  readonly crowd: CrowdTracker;
  readonly remote: RemoteAnalyzer;
  duplicatesReported: number;
}

/** Status PX: a few live ticks; its absence tells the API that no ingest runs the camera. */
function statusTtlMs(config: Config): number {
  return Math.max(5000, 4 * config.service.liveIntervalMs);
}

/** Link epochs are unique per run: lease token x 2^16 + the run's number, so a restarted run never gets an earlier run's late results. */
function linkEpoch(token: number, run: number): number {
  return token * 65_536 + (run % 65_536);
}

export async function startIngestRole(config: Config, deps: IngestRoleDeps): Promise<IngestRole> {
  const log = deps.logger.child({ role: 'ingest' });
  const ownerId = newOwnerId();
  const scale = openScale(config, { name: 'crowdlens-ingest', logger: log });
  const { keys, redis } = scale;
  const metrics = deps.metrics ?? createMetrics({ role: 'ingest' });
  const mediaDir = path.resolve(config.service.mediaDir);
  await mkdir(mediaDir, { recursive: true });
  const urlPolicy = createUrlPolicy(mediaDir);
  const registry = new RedisCameraRegistry({ redis, keys, maxCameras: config.service.maxCameras, logger: log });
  // The trackers' fusion and the reporters' soft table use the same trust model as one process (src/infer/heads/trust.json).
  const trust = defaultTrust();
  const state = new CameraStateStore({ redis, keys, statusTtlMs: statusTtlMs(config), ageError: trust.ageError });
  const reid = scale.reidCarry(600_000);
  const inference = await scale.inference(ownerId);
  await preloadScripts(redis);

  const runs = new Map<string, RunContext>();
  const reporters = new Map<string, CameraReporter>();
  const releasing = new Set<string>();
  const reporterOf = (id: string): CameraReporter => {
    let r = reporters.get(id);
    if (!r) reporters.set(id, (r = state.reporter(id)));
    return r;
  };
  let fenced = 0;

  // Assigned once below; the publisher and the lease hook need it first.
  // eslint-disable-next-line prefer-const
  let manager: CameraManager;
  // Hand a camera back with its last events out: stop the run while the lease is still held, flush, then release.
  const leases = scale.leases(ownerId, [], {
    onRelease: async (l) => {
      const id = l.cameraId;
      const lease = leases.heldRecord(id);
      releasing.add(id);
      await manager.ownershipChanged(id);
      if (lease) await flush(id, lease).catch((err: unknown) => log.warn({ err, cameraId: id }, 'final flush failed'));
    },
  });

  /** Publishes one live event of a camera through the Socket.IO emitter's format, fenced by the camera's lease. */
  const emit = <E extends keyof ServerToClientEvents>(
    cameraId: string,
    event: E,
    payload: Parameters<ServerToClientEvents[E]>[0],
  ): void => {
    const lease = leases.heldRecord(cameraId);
    if (!lease) return; // not ours (or no longer)
    const client = {
      publish: (channel: string, message: Buffer | string) => {
        leases.publish(cameraId, lease.token, channel, message).then(
          (ok) => {
            if (!ok) {
              fenced++;
              metrics.publishesFenced.inc();
            }
          },
          (err: unknown) => log.warn({ err, cameraId }, 'publishing a live event failed'),
        );
      },
    };
    (
      new Emitter(client, { key: keys.socketIo() }).to([cameraRoom(cameraId), ALL_ROOM]).emit as (ev: string, ...args: unknown[]) => boolean
    )(event, payload);
  };

  const ticking = new Set<string>();
  const tick = async (payload: LiveDemographics): Promise<void> => {
    const id = payload.cameraId;
    const lease = leases.heldRecord(id);
    if (!lease || releasing.has(id) || ticking.has(id)) return;
    ticking.add(id);
    try {
      await flush(id, lease, payload);
    } finally {
      ticking.delete(id);
    }
  };

  const flush = async (id: string, lease: LeaseRecord, payload?: LiveDemographics): Promise<void> => {
    const status = await manager.status(id);
    if (!status) return;
    const ctx = runs.get(id);
    const reporter = reporterOf(id);
    if (ctx && ctx.lease.value === lease.value) {
      // The estimates of the people in view as the tracker's own table counts them (small moves have no event).
      reporter.estimates(ctx.crowd.estimatesInView());
      if (reid) {
        const people = ctx.crowd.takeCarried();
        if (people.length > 0 && !(await reid.save(lease, people))) fenced++;
      }
    }
    // The final flush of a hand-back has no tick: it stores the run's last snapshot.
    const snapshot = payload ? payload.snapshot : ((await manager.demographics(id))?.live ?? null);
    const res = await reporter.flush(lease, status, snapshot);
    if (res === null) return;
    if (!res.ok) {
      fenced++;
      metrics.publishesFenced.inc();
      return;
    }
    if (payload) emit(id, 'demographics', { ...payload, snapshot: res.snapshot ?? payload.snapshot });
  };

  const publisher: LivePublisher = {
    demographics: (payload: LiveDemographics) => {
      tick(payload).catch((err: unknown) => log.warn({ err, cameraId: payload.cameraId }, 'camera state flush failed'));
    },
    personEntered: (payload: LivePersonEntered) => emit(payload.cameraId, 'person.entered', payload),
    personLeft: (payload: LivePersonLeft) => emit(payload.cameraId, 'person.left', payload),
    cameraStatus: (payload: CameraStatus) => emit(payload.cameraId, 'camera.status', reporterOf(payload.cameraId).adjust(payload)),
    // The API nodes tell their clients about registry changes.
    cameraChanged: (_payload: CameraChange) => undefined,
  };

  const stages = async (ctx: CameraRunContext): Promise<PipelineStages> => {
    const { record } = ctx;
    const id = record.id;
    const lease = leases.heldRecord(id);
    if (!lease || releasing.has(id)) throw new Error(`camera ${id}: its lease is no longer held by this process`);
    const reporter = reporterOf(id);
    const prev = await state.previousOwner(id);
    const carried = reid ? await reid.load(id) : [];
    // The tracker of one process (src/pipeline's trackerOptions: the trust model's fusion floor, reporting threshold
    // and age error), continuing above the ids handed out before.
    const crowd = new CrowdTracker(
      trackerOptions(id, { snapshotEveryMs: 0, firstPersonId: prev.maxPersonId + 1, carry: reid !== null }, trust),
    );
    if (carried.length > 0) crowd.importCarried(carried);
    reporter.seed(carried.map((c) => ({ personId: c.personId, estimate: c.lastReported })));
    if (prev.token !== null && prev.token !== lease.token && prev.open.length > 0) {
      // The previous owner died with people in view: their appearances end here (as of its last flush).
      reporter.seed(prev.open);
      const lefts: PersonLeftEvent[] = prev.open.map((o) => ({
        type: 'person.left',
        sourceId: id,
        personId: o.personId,
        atMs: o.lastSeenMs,
        box: [0, 0, 0, 0], // not published, not kept
        firstSeenMs: o.firstSeenMs,
        lastSeenMs: o.lastSeenMs,
        dwellMs: o.lastSeenMs - o.firstSeenMs,
        estimate: o.estimate,
      }));
      reporter.events(lefts);
      for (const e of lefts)
        emit(id, 'person.left', {
          cameraId: id,
          personId: e.personId,
          atMs: e.atMs,
          firstSeenMs: e.firstSeenMs,
          lastSeenMs: e.lastSeenMs,
          dwellMs: e.dwellMs,
          estimate: e.estimate,
        });
      log.info({ cameraId: id, people: lefts.length, previousToken: prev.token }, "ended the previous owner's open appearances");
    }
    const remote = new RemoteAnalyzer({
      open: (handlers) => inference.camera(id, linkEpoch(lease.token, ctx.run), handlers),
      onResult: (info) => {
        metrics.resultRoundTripSeconds.observe(info.roundTripMs / 1000);
        metrics.queueWaitSeconds.observe(info.timing.queueWaitMs / 1000);
      },
    });
    const source = createSource(
      {
        source: ctx.source,
        sourceId: id,
        loop: record.loop,
        config,
        realtime: true,
        wallClock: true,
        ...(record.fps !== null ? { fps: record.fps } : {}),
        ...(record.maxWidth !== null ? { maxWidth: record.maxWidth } : {}),
      },
      { logger: ctx.logger },
    );
    const { motion, scheduler } = createDetectGate(config.infer);
    runs.set(id, { run: ctx.run, lease, crowd, remote, duplicatesReported: 0 });
    return { source, analyzer: remote, tracker: trackerStage(crowd, scheduler), ...(motion ? { motion } : {}) };
  };

  manager = new CameraManager({
    registry,
    urlPolicy,
    config,
    publisher,
    metrics,
    logger: log,
    publishChanges: false,
    owns: (id) => leases.heldRecord(id) !== null && !releasing.has(id),
    stages,
    observer: {
      events: (id, run, events) => {
        const ctx = runs.get(id);
        if (!ctx || ctx.run !== run) return;
        const reporter = reporterOf(id);
        for (const e of events) {
          // Before the entry is published (same connection, so in order): the next owner starts above this id.
          if (e.type === 'person.entered')
            void reporter.notePersonId(ctx.lease, e.personId).catch((err: unknown) => log.debug({ err }, 'noting a person id failed'));
        }
        reporter.events(events);
      },
      frame: (id, run, f) => {
        const ctx = runs.get(id);
        if (!ctx || ctx.run !== run) return;
        reporterOf(id).frame(
          f.capturedAtMs,
          f.tracks.map((t) => t.trackId),
        );
      },
    },
  });

  leases.on('acquired', (l) => void manager.ownershipChanged(l.cameraId));
  leases.on('lost', (l, reason) => {
    releasing.delete(l.cameraId);
    metrics.leasesLost.inc({ reason });
    runs.delete(l.cameraId);
    if (reason === 'removed') reporters.delete(l.cameraId);
    void manager.ownershipChanged(l.cameraId);
  });

  const refreshCameras = async (): Promise<void> => {
    leases.setCameras((await registry.list()).map((r) => r.id));
  };
  registry.subscribe(() => void refreshCameras().catch((err: unknown) => log.warn({ err }, 'reading the camera list failed')));
  await registry.ready();
  await refreshCameras();
  await manager.start();
  leases.start();

  const reported = { redisErrors: 0 };
  const collect = async (): Promise<void> => {
    manager.syncMetrics();
    metrics.camerasOwned.set(leases.owned().length);
    for (const [id, ctx] of runs) {
      const d = ctx.remote.counters().duplicates;
      if (d > ctx.duplicatesReported) metrics.resultsDuplicate.inc({ camera: id }, d - ctx.duplicatesReported);
      ctx.duplicatesReported = d;
    }
    const errors = scale.redisErrors();
    if (errors > reported.redisErrors) metrics.redisErrors.inc(errors - reported.redisErrors);
    reported.redisErrors = errors;
    try {
      const counts = await inference.queue.getJobCounts('waiting', 'active');
      metrics.jobsWaiting.set(counts['waiting'] ?? 0);
      metrics.jobsActive.set(counts['active'] ?? 0);
    } catch (err) {
      log.debug({ err }, 'reading the job counts failed');
    }
  };
  let server: MetricsServer | null = null;
  if (deps.serveMetrics ?? true) {
    server = await startMetricsServer({
      host: config.scale.metricsHost,
      port: config.scale.metricsPort,
      registry: metrics.registry,
      collect,
      ready: () => redis.status === 'ready',
      token: config.api.token,
      publicRead: config.api.publicRead,
      logger: log,
    });
  }
  log.info(
    { owner: ownerId, prefix: config.scale.prefix, leaseMs: config.scale.leaseMs, reidCarry: reid !== null, metrics: server?.url },
    'crowdlens ingest: sharing the cameras',
  );

  let closing: Promise<void> | null = null;
  return {
    ownerId,
    manager,
    owned: () => leases.owned().map((l) => l.cameraId),
    metrics,
    collect,
    metricsUrl: server?.url ?? null,
    close: () =>
      (closing ??= (async () => {
        await leases.stop();
        await manager.stop();
        await inference.close();
        await registry.close();
        await server?.close();
        scale.close();
        log.info({ owner: ownerId, fenced }, 'crowdlens ingest: stopped');
      })()),
  };
}
