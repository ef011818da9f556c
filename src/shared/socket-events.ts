/**
 * The Socket.IO event maps of the live API, declared once for the server (src/api/socket.ts), the dashboard
 * and the tests: `new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>()` and
 * `io(url) as Socket<ServerToClientEvents, ClientToServerEvents>`. Payload schemas live in ./api.ts.
 *
 * Protocol: connect (token in `auth: { token }` or an `Authorization: Bearer` header, unless reads are public),
 * then `subscribe` with a camera id or `'*'` (every camera, including ones registered later). Each subscribed
 * camera then gets `demographics` every CROWDLENS_LIVE_INTERVAL_MS (also while it is down: the last snapshot and
 * its state), `person.entered` / `person.left` as they happen, and `camera.status` when its state or last error
 * changes. `'*'` subscribers also get `camera.changed` for every registry change. No event carries a face box,
 * crop or descriptor.
 */
import type { CameraChange, CameraStatus, LiveDemographics, LivePersonEntered, LivePersonLeft, SubscribeAck, UnsubscribeAck } from './api.ts';

export { ALL_CAMERAS } from './api.ts';

/** Path of the Socket.IO endpoint on the API server. */
export const SOCKET_PATH = '/socket.io';

/** Events the server sends. */
export interface ServerToClientEvents {
  demographics: (payload: LiveDemographics) => void;
  'person.entered': (payload: LivePersonEntered) => void;
  'person.left': (payload: LivePersonLeft) => void;
  'camera.status': (payload: CameraStatus) => void;
  'camera.changed': (payload: CameraChange) => void;
}

/** Events a client sends; each answers through its ack callback. */
export interface ClientToServerEvents {
  /** Joins a camera's room (or every camera's, with `'*'`); the ack lists the cameras with their status, or the error (e.g. unknown camera). */
  subscribe: (target: string, ack: (result: SubscribeAck) => void) => void;
  unsubscribe: (target: string, ack: (result: UnsubscribeAck) => void) => void;
}

/** Between Socket.IO servers (none in one process; the Redis adapter of the scale-out uses the same maps). */
export type InterServerEvents = Record<string, never>;

/** Per-connection data set at the handshake. */
export interface SocketData {
  /** Whether the connection presented the API token (false with public reads and no token). */
  authenticated: boolean;
}

/** Room of one camera's events. */
export function cameraRoom(cameraId: string): string {
  return `camera:${cameraId}`;
}

/** Room of the `'*'` subscribers. */
export const ALL_ROOM = 'cameras:*';
