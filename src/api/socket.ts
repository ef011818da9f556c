/**
 * Live API over Socket.IO on the REST server's port: typed with src/shared/socket-events.ts, rooms per camera
 * (`camera:<id>`) plus one for `'*'` subscribers. The handshake needs the API token (in `auth.token` or an
 * `Authorization: Bearer` header) unless reads are public; browsers must come from the page's own origin.
 * {@link SocketIoPublisher} is the one-process LivePublisher: events go straight to the rooms.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { Server, type Socket } from 'socket.io';
import { apiErrorSchema, subscribeTargetSchema, type ApiError, type CameraChange, type CameraStatus, type LiveDemographics, type LivePersonEntered, type LivePersonLeft, type SubscribeAck } from '../shared/api.ts';
import type { Logger } from '../shared/logger.ts';
import { toPublicCamera, type CameraReads, type CameraRegistry, type LivePublisher } from '../shared/service.ts';
import { ALL_CAMERAS, ALL_ROOM, SOCKET_PATH, cameraRoom, type ClientToServerEvents, type InterServerEvents, type ServerToClientEvents, type SocketData } from '../shared/socket-events.ts';
import { bearerToken, hostOfHeader, isLoopbackHost, type AccessPolicy } from './auth.ts';

/** The typed Socket.IO server of crowdlens. */
export type LiveServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** What the live server reads. */
export interface LiveDeps {
  readonly registry: CameraRegistry;
  readonly reads: CameraReads;
  readonly policy: AccessPolicy;
  readonly logger: Logger;
}

/**
 * Browsers send Origin; a page of another site must not read the live data through the visitor's browser
 * (WebSockets are not covered by CORS). Clients without Origin (Node, curl) are not browsers.
 */
function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || origin === '') return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function error(code: ApiError['error'], message: string, field?: string): ApiError {
  return apiErrorSchema.parse({ error: code, message, ...(field !== undefined ? { field } : {}) });
}

/** Attaches the Socket.IO server to `http` (path {@link SOCKET_PATH}). */
export function attachLiveServer(http: HttpServer, deps: LiveDeps): LiveServer {
  const { policy } = deps;
  const log = deps.logger.child({ component: 'socket.io' });
  const io: LiveServer = new Server(http, {
    path: SOCKET_PATH,
    serveClient: false,
    // Clients only send small subscribe/unsubscribe messages.
    maxHttpBufferSize: 16_384,
    // Same-origin only: no CORS headers are sent, and cross-origin WebSocket upgrades are refused here.
    allowRequest: (req, callback) => {
      if (!originAllowed(req)) return callback('cross-origin connections are not allowed', false);
      if (!policy.tokenRequired && !isLoopbackHost(hostOfHeader(req.headers.host))) return callback('Host header is not a loopback name (the API runs without a token)', false);
      callback(null, true);
    },
  });

  io.use((socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const presented = typeof auth?.token === 'string' ? auth.token : bearerToken(socket.handshake.headers.authorization);
    if (!policy.canRead(presented)) {
      const err = new Error('unauthorized: pass the API token as auth.token or an Authorization: Bearer header') as Error & { data?: unknown };
      err.data = error('UNAUTHORIZED', err.message);
      return next(err);
    }
    socket.data.authenticated = policy.matches(presented);
    next();
  });

  io.on('connection', (socket: LiveSocket) => {
    log.debug({ id: socket.id }, 'live client connected');
    socket.on('subscribe', (target, ack) => {
      void subscribe(socket, target).then(
        (result) => {
          if (typeof ack === 'function') ack(result);
        },
        (err: unknown) => {
          log.error({ err }, 'subscribe failed');
          if (typeof ack === 'function') ack({ ok: false, error: error('INTERNAL', 'subscribe failed') });
        },
      );
    });
    socket.on('unsubscribe', (target, ack) => {
      const parsed = subscribeTargetSchema.safeParse(target);
      if (!parsed.success) {
        if (typeof ack === 'function') ack({ ok: false, error: error('VALIDATION', `target: expected a camera id or "${ALL_CAMERAS}" (got ${JSON.stringify(target)})`, 'target') });
        return;
      }
      void socket.leave(parsed.data === ALL_CAMERAS ? ALL_ROOM : cameraRoom(parsed.data));
      if (typeof ack === 'function') ack({ ok: true });
    });
  });

  async function subscribe(socket: LiveSocket, target: unknown): Promise<SubscribeAck> {
    const parsed = subscribeTargetSchema.safeParse(target);
    if (!parsed.success) return { ok: false, error: error('VALIDATION', `target: expected a camera id or "${ALL_CAMERAS}" (got ${JSON.stringify(target)})`, 'target') };
    const all = parsed.data === ALL_CAMERAS;
    const records = all ? await deps.registry.list() : [await deps.registry.get(parsed.data)].filter((r) => r !== null);
    if (!all && records.length === 0) return { ok: false, error: error('NOT_FOUND', `target: no camera ${JSON.stringify(parsed.data)}`, 'target') };
    await socket.join(all ? ALL_ROOM : cameraRoom(parsed.data));
    const statuses: CameraStatus[] = [];
    for (const r of records) {
      const s = await deps.reads.status(r.id);
      if (s) statuses.push(s);
      // The latest numbers at once, instead of after the next tick.
      const d = await deps.reads.demographics(r.id);
      if (d) socket.emit('demographics', { cameraId: r.id, atMs: d.atMs, state: d.state, snapshot: d.live });
    }
    return { ok: true, cameras: records.map(toPublicCamera), statuses };
  }

  return io;
}

/**
 * The one-process publisher: every event to its camera's room and to the `'*'` room (each socket gets it once).
 * With `local`, to this server's own clients only, not through the Socket.IO adapter to other API nodes (the
 * scale-out: each API node tells its own clients about registry changes it sees itself).
 */
export class SocketIoPublisher implements LivePublisher {
  constructor(
    private readonly io: LiveServer,
    private readonly options: { readonly local?: boolean } = {},
  ) {}

  private rooms(cameraId: string): ReturnType<LiveServer['to']> {
    return (this.options.local ? this.io.local : this.io).to([cameraRoom(cameraId), ALL_ROOM]);
  }

  demographics(payload: LiveDemographics): void {
    this.rooms(payload.cameraId).emit('demographics', payload);
  }

  personEntered(payload: LivePersonEntered): void {
    this.rooms(payload.cameraId).emit('person.entered', payload);
  }

  personLeft(payload: LivePersonLeft): void {
    this.rooms(payload.cameraId).emit('person.left', payload);
  }

  cameraStatus(payload: CameraStatus): void {
    this.rooms(payload.cameraId).emit('camera.status', payload);
  }

  cameraChanged(payload: CameraChange): void {
    this.rooms(payload.cameraId).emit('camera.changed', payload);
  }
}
