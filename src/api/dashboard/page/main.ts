/**
 * The crowdlens dashboard: the camera list with state and fps, a form to register, edit, turn off/on and delete
 * cameras, and for the selected camera its big numbers, live charts, why it is down when it is, and the
 * annotated preview when the service has it on. REST for first paint and changes (./api.ts), Socket.IO for
 * everything live, both typed with the shared maps and shapes of src/shared. Every number and word about
 * demographics and states comes from ./view.ts; user-provided text (camera names, errors) only ever goes
 * through textContent.
 */
import { io, type Socket } from 'socket.io-client';
import type { ALL_CAMERAS as ALL_CAMERAS_VALUE, Camera, CameraCreate, CameraPatch, CameraState, CameraStatus, LiveDemographics, LivePersonEntered, LivePersonLeft } from '../../../shared/api.ts';
import type { ClientToServerEvents, ServerToClientEvents, SOCKET_PATH as SOCKET_PATH_VALUE } from '../../../shared/socket-events.ts';
import { api, ApiCallError, fetchPreview, getToken, setToken } from './api.ts';
import { CameraCharts, type UniqueMode } from './charts.ts';
import { bigNumbers, cameraHealth, describePersonEntered, describePersonLeft, formatDuration, formatFps, formatTime, genderLine, type Snapshot } from './view.ts';

// The shared constants' types, so that a change of either on the server is a compile error here (their values
// are restated because importing them would bundle zod with the page).
const SOCKET_PATH: typeof SOCKET_PATH_VALUE = '/socket.io';
const ALL_CAMERAS: typeof ALL_CAMERAS_VALUE = '*';

/** How often camera statuses (fps, errors) and the selected camera's history are fetched again, ms. */
const STATUS_EVERY_MS = 5000;
const HISTORY_EVERY_MS = 15_000;
const PREVIEW_EVERY_MS = 1000;
const ACTIVITY_KEPT = 8;

// ---------- DOM helpers ----------

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard: #${id} is missing from index.html`);
  return el as T;
}

function make<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// ---------- state ----------

interface RowRefs {
  readonly li: HTMLLIElement;
  readonly button: HTMLButtonElement;
  readonly name: HTMLElement;
  readonly badge: HTMLElement;
  readonly now: HTMLElement;
  readonly day: HTMLElement;
  readonly fps: HTMLElement;
}

interface Entry {
  camera: Camera;
  status: CameraStatus | null;
  /** The latest state from any source (status, live event). */
  state: CameraState;
  live: LiveDemographics | null;
  activity: { atMs: number; text: string }[];
  row: RowRefs | null;
}

const entries = new Map<string, Entry>();
let order: string[] = [];
let selected: string | null = null;
/** Camera being edited in the form; null: the form adds a new one. */
let editing: string | null = null;
let previewMode: 'unknown' | 'on' | 'off' = 'unknown';
let previewUrl: string | null = null;
let uniqueMode: UniqueMode = 'minute';

const charts = new CameraCharts({
  peopleNow: byId<HTMLCanvasElement>('chart-people'),
  unique: byId<HTMLCanvasElement>('chart-unique'),
  ageGender: byId<HTMLCanvasElement>('chart-age'),
  genderSplit: byId<HTMLCanvasElement>('chart-split'),
  dwell: byId<HTMLCanvasElement>('chart-dwell'),
});

// ---------- connection + token ----------

type Conn = 'connecting' | 'live' | 'reconnecting' | 'token' | 'offline';
const CONN_TEXT: { readonly [C in Conn]: string } = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  token: 'Token needed',
  offline: 'Service unreachable',
};

function setConn(state: Conn): void {
  const el = byId('conn');
  el.dataset['state'] = state;
  el.textContent = CONN_TEXT[state];
}

function showTokenPanel(message?: string): void {
  const panel = byId('token-panel');
  panel.hidden = false;
  byId('token-error').textContent = message ?? '';
  byId<HTMLInputElement>('token-input').focus();
}

function needToken(message: string): void {
  setConn('token');
  showTokenPanel(message);
}

let toastTimer: number | undefined;
function toast(text: string, tone: 'ok' | 'error' = 'ok'): void {
  const el = byId('toast');
  el.textContent = text;
  el.dataset['tone'] = tone;
  el.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (el.hidden = true), 5000);
}

// ---------- camera list ----------

function entryOf(camera: Camera): Entry {
  let e = entries.get(camera.id);
  if (!e) {
    e = { camera, status: null, state: camera.enabled ? 'pending' : 'disabled', live: null, activity: [], row: null };
    entries.set(camera.id, e);
  } else {
    e.camera = camera;
  }
  return e;
}

function setCameras(cameras: readonly Camera[], statuses: readonly CameraStatus[] = []): void {
  const ids = new Set(cameras.map((c) => c.id));
  for (const id of [...entries.keys()]) if (!ids.has(id)) removeEntry(id);
  for (const c of cameras) entryOf(c);
  for (const s of statuses) applyStatus(s);
  order = cameras.map((c) => c.id);
  renderList();
  if (selected === null || !entries.has(selected)) {
    const fromHash = /^#camera=([a-z0-9-]+)$/.exec(location.hash)?.[1];
    const first = fromHash && entries.has(fromHash) ? fromHash : order[0];
    if (first) select(first);
    else renderDetail();
  } else {
    renderDetail();
  }
}

function removeEntry(id: string): void {
  const e = entries.get(id);
  e?.row?.li.remove();
  entries.delete(id);
  order = order.filter((x) => x !== id);
  if (selected === id) {
    selected = null;
    const next = order[0];
    if (next) select(next);
    else renderDetail();
  }
}

function makeRow(e: Entry): RowRefs {
  const li = make('li');
  const button = make('button', 'cam');
  button.type = 'button';
  button.dataset['cameraId'] = e.camera.id;
  const top = make('span', 'cam-top');
  const name = make('span', 'cam-name');
  const badge = make('span', 'badge');
  top.append(name, badge);
  const stats = make('span', 'cam-stats');
  const now = make('span', 'cam-now');
  const day = make('span', 'cam-day');
  const fps = make('span', 'cam-fps');
  stats.append(now, day, fps);
  button.append(top, stats);
  button.addEventListener('click', () => select(e.camera.id));
  li.append(button);
  return { li, button, name, badge, now, day, fps };
}

function setBadge(el: HTMLElement, e: Entry): void {
  const h = cameraHealth(e.state, e.status, Date.now());
  el.textContent = h.label;
  el.dataset['tone'] = h.tone;
}

/** "3 in view" with the number in bold. */
function setStat(el: HTMLElement, value: number, words: string): void {
  const b = make('b', undefined, String(value));
  el.replaceChildren(b, document.createTextNode(` ${words}`));
  el.dataset['value'] = String(value);
}

function renderRow(e: Entry): void {
  const r = (e.row ??= makeRow(e));
  r.name.textContent = e.camera.name;
  setBadge(r.badge, e);
  const n = bigNumbers(e.live?.snapshot ?? null);
  setStat(r.now, n.peopleNow, 'in view');
  setStat(r.day, n.lastDay, 'today');
  r.fps.textContent = e.state === 'running' && e.status ? formatFps(e.status.fpsOut) : '';
  r.button.setAttribute('aria-pressed', String(selected === e.camera.id));
  r.li.dataset['state'] = e.state;
}

function renderList(): void {
  const list = byId('camera-list');
  for (const id of order) {
    const e = entries.get(id);
    if (!e) continue;
    renderRow(e);
    list.append((e.row as RowRefs).li); // re-appending keeps the registry order
  }
  byId('camera-empty').hidden = order.length > 0;
}

// ---------- selected camera ----------

function setTile(id: string, value: number, shown: string): void {
  const tile = byId(id);
  tile.dataset['value'] = String(value);
  const v = tile.querySelector('.tile-value');
  if (v) v.textContent = shown;
}

function renderNumbers(e: Entry): void {
  const snapshot = e.live?.snapshot ?? null;
  const n = bigNumbers(snapshot);
  // Before a camera's first analysed frame there is no number to show, not a zero.
  const shown = (v: number): string => (snapshot ? String(v) : '–');
  setTile('t-now', n.peopleNow, shown(n.peopleNow));
  setTile('t-minute', n.lastMinute, shown(n.lastMinute));
  setTile('t-hour', n.lastHour, shown(n.lastHour));
  setTile('t-day', n.lastDay, shown(n.lastDay));
  setTile('t-dwell', n.averageDwellMs, n.averageDwellMs > 0 ? formatDuration(n.averageDwellMs) : '–');
  // A camera that is down shows its last numbers, dimmed.
  byId('d-tiles').dataset['stale'] = String(cameraHealth(e.state, e.status, Date.now()).down);
  renderSplit(snapshot);
}

/** The women / men / not sure line: a coloured dot per share (the charts' colours), the words from view.ts. */
function renderSplit(snapshot: Snapshot | null): void {
  const el = byId('d-split');
  const line = genderLine(snapshot);
  if (line.kind === 'none') {
    el.textContent = line.text;
    return;
  }
  const nodes: Node[] = [];
  line.shares.forEach((share, i) => {
    if (i > 0) nodes.push(document.createTextNode(' · '));
    const span = make('span', 'share', share.text);
    span.dataset['gender'] = share.gender;
    span.style.setProperty('--swatch', share.color);
    nodes.push(span);
  });
  nodes.push(document.createTextNode(line.rest));
  el.replaceChildren(...nodes);
}

function renderHealth(e: Entry): void {
  const h = cameraHealth(e.state, e.status, Date.now());
  setBadge(byId('d-state'), e);
  const banner = byId('d-down');
  const notLive = h.down || e.state === 'starting' || e.state === 'pending' || e.state === 'disabled';
  banner.hidden = !notLive;
  banner.dataset['tone'] = h.tone;
  byId('d-down-title').textContent = h.explain;
  byId('d-down-since').textContent = h.sinceMs !== null && e.state !== 'disabled' ? ` Since ${formatTime(h.sinceMs)}.` : '';
  const reason = byId('d-down-reason');
  reason.textContent = h.reason ? `Reason: ${h.reason}` : '';
  reason.hidden = !h.reason;
  byId('d-toggle').textContent = e.camera.enabled ? 'Turn off' : 'Turn on';
}

function renderTech(e: Entry): void {
  const s = e.status;
  const rows: [string, string][] = [
    ['Stream', e.camera.url],
    ['Analysed', s ? `${formatFps(s.fpsOut)} (reads ${formatFps(s.fpsIn)}, asked ${e.camera.fps ?? 'default'})` : '–'],
    ['Picture', s?.width && s.height ? `${s.width} × ${s.height} px` : '–'],
    ['Last picture', s?.lastFrameAtMs ? formatTime(s.lastFrameAtMs) : '–'],
    ['Frames skipped', s ? `${s.framesDropped.queueFull} (analysis busy), ${s.framesDropped.partial} (incomplete)` : '–'],
    ['Reconnects', s ? `${s.restarts} (watchdog ${s.watchdogRestarts}), retries ${s.retries}` : '–'],
    ['Last error', s?.lastError ? `${formatTime(s.lastError.atMs)}: ${s.lastError.message}` : 'none'],
  ];
  const dl = byId('d-tech');
  dl.replaceChildren(...rows.flatMap(([k, v]) => [make('dt', undefined, k), make('dd', undefined, v)]));
}

function renderActivity(e: Entry): void {
  const list = byId('d-activity');
  list.replaceChildren(
    ...e.activity.map((a) => {
      const li = make('li');
      li.append(make('time', undefined, formatTime(a.atMs)), document.createTextNode(` ${a.text}`));
      return li;
    }),
  );
  byId('d-activity-empty').hidden = e.activity.length > 0;
}

function renderDetail(): void {
  const e = selected !== null ? entries.get(selected) : undefined;
  byId('detail-empty').hidden = e !== undefined;
  byId('detail-body').hidden = e === undefined;
  if (!e) return;
  byId('d-name').textContent = e.camera.name;
  renderHealth(e);
  renderNumbers(e);
  renderTech(e);
  renderActivity(e);
}

function select(id: string): void {
  if (!entries.has(id)) return;
  const changed = selected !== id;
  selected = id;
  if (location.hash !== `#camera=${id}`) history.replaceState(null, '', `#camera=${id}`);
  for (const e of entries.values()) e.row?.button.setAttribute('aria-pressed', String(e.camera.id === id));
  if (changed) {
    charts.reset();
    resetPreview();
    void loadHistory(id);
    void refreshPreview();
  }
  renderDetail();
}

async function loadHistory(id: string): Promise<void> {
  try {
    const d = await api.demographics(id);
    if (selected !== id) return;
    const e = entries.get(id);
    charts.setHistory(d);
    // A newer snapshot than the last live event: numbers and charts both move to it, so they never disagree.
    if (e && (!e.live || d.atMs >= e.live.atMs)) {
      e.live = { cameraId: id, atMs: d.atMs, state: d.state, snapshot: d.live };
      charts.addLive(d.atMs, d.live);
    }
    renderDetail();
  } catch (err) {
    handleError(err, 'history');
  }
}

// ---------- preview ----------

function resetPreview(): void {
  const img = byId<HTMLImageElement>('d-preview-img');
  img.removeAttribute('src');
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  byId('d-preview').hidden = true;
}

let previewBusy = false;
async function refreshPreview(): Promise<void> {
  if (previewMode === 'off' || selected === null || previewBusy || document.visibilityState === 'hidden') return;
  previewBusy = true;
  const id = selected;
  try {
    const r = await fetchPreview(id);
    if (selected !== id) return;
    const fig = byId('d-preview');
    const note = byId('d-preview-note');
    const img = byId<HTMLImageElement>('d-preview-img');
    if (r.kind === 'off') {
      previewMode = 'off';
      fig.hidden = true;
      return;
    }
    previewMode = 'on';
    fig.hidden = false;
    if (r.kind === 'image') {
      const url = URL.createObjectURL(r.blob);
      img.src = url;
      img.hidden = false;
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = url;
      note.textContent = `${formatTime(r.capturedAtMs)} · ${r.faces} ${r.faces === 1 ? 'face' : 'faces'} · ${r.blurred ? 'faces blurred' : 'faces NOT blurred'}`;
      fig.dataset['blurred'] = String(r.blurred);
    } else {
      img.hidden = true;
      note.textContent = r.kind === 'none' ? 'No recent picture: the camera is starting or down.' : r.error.message;
      if (r.kind === 'error' && r.error.status === 401) needToken('The API token is needed to see the preview.');
    }
  } finally {
    previewBusy = false;
  }
}

// ---------- live events ----------

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
  path: SOCKET_PATH,
  autoConnect: false,
  // A function, so that a reconnect after the token was entered presents the new one.
  auth: (cb) => cb({ token: getToken() ?? '' }),
});

socket.on('connect', () => {
  setConn('connecting');
  socket.emit('subscribe', ALL_CAMERAS, (ack) => {
    if (!ack.ok) {
      toast(`Live updates refused: ${ack.error.message}`, 'error');
      setConn('offline');
      return;
    }
    setConn('live');
    setCameras(ack.cameras, ack.statuses);
  });
});
socket.on('disconnect', () => setConn('reconnecting'));
socket.on('connect_error', (err) => {
  if (/unauthori[sz]ed/i.test(err.message)) needToken(getToken() ? 'That token was not accepted. Check CROWDLENS_API_TOKEN.' : 'This service needs its API token to show live numbers.');
  else setConn(socket.active ? 'reconnecting' : 'offline');
});

socket.on('demographics', (d) => {
  const e = entries.get(d.cameraId);
  if (!e) return;
  e.live = d;
  e.state = d.state;
  if (e.status) e.status = { ...e.status, state: d.state };
  renderRow(e);
  if (selected === d.cameraId) {
    charts.addLive(d.atMs, d.snapshot);
    renderNumbers(e);
    renderHealth(e);
  }
});

function applyStatus(s: CameraStatus): void {
  const e = entries.get(s.cameraId);
  if (!e) return;
  e.status = s;
  e.state = s.state;
}

socket.on('camera.status', (s) => {
  applyStatus(s);
  const e = entries.get(s.cameraId);
  if (!e) return;
  renderRow(e);
  if (selected === s.cameraId) renderDetail();
});

socket.on('camera.changed', (c) => {
  if (c.camera === null) {
    removeEntry(c.cameraId);
    renderList();
    return;
  }
  const known = entries.has(c.cameraId);
  entryOf(c.camera);
  if (!known) order.push(c.cameraId);
  renderList();
  if (selected === c.cameraId) renderDetail();
  else if (selected === null) select(c.cameraId);
});

function addActivity(cameraId: string, atMs: number, text: string): void {
  const e = entries.get(cameraId);
  if (!e) return;
  e.activity.unshift({ atMs, text });
  e.activity.length = Math.min(e.activity.length, ACTIVITY_KEPT);
  if (selected === cameraId) renderActivity(e);
}
socket.on('person.entered', (p: LivePersonEntered) => addActivity(p.cameraId, p.atMs, describePersonEntered(p)));
socket.on('person.left', (p: LivePersonLeft) => addActivity(p.cameraId, p.atMs, describePersonLeft(p)));

// ---------- polling (fps and errors are not pushed every second) ----------

async function refreshStatuses(): Promise<void> {
  const ids = [...entries.keys()];
  const results = await Promise.allSettled(ids.map((id) => api.status(id)));
  for (const r of results) {
    if (r.status === 'fulfilled') applyStatus(r.value);
    else handleError(r.reason, 'status');
  }
  renderList();
  if (selected !== null) {
    const e = entries.get(selected);
    if (e) {
      renderHealth(e);
      renderTech(e);
    }
  }
}

function handleError(err: unknown, what: string): void {
  if (err instanceof ApiCallError) {
    if (err.status === 401) return needToken('This service needs its API token.');
    if (err.status === 404 && what !== 'form') return; // a camera deleted meanwhile
    if (err.status === 0) return setConn('offline');
  }
  console.warn(`crowdlens dashboard: ${what} failed`, err);
}

// ---------- the camera form ----------

const form = byId<HTMLFormElement>('camera-form');
const FORM_FIELDS = ['name', 'url', 'fps', 'maxWidth', 'enabled', 'loop'] as const satisfies readonly (keyof CameraCreate)[];
type FormField = (typeof FORM_FIELDS)[number];

function input(name: FormField): HTMLInputElement {
  return byId<HTMLInputElement>(`f-${name}`);
}

function clearErrors(): void {
  for (const el of form.querySelectorAll<HTMLElement>('[data-error-for]')) el.textContent = '';
  for (const name of FORM_FIELDS) input(name).removeAttribute('aria-invalid');
}

function showFieldError(field: string, message: string): void {
  const known = (FORM_FIELDS as readonly string[]).includes(field);
  const slot = form.querySelector<HTMLElement>(`[data-error-for="${known ? field : 'form'}"]`);
  if (slot) slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
  if (known) {
    const el = input(field as FormField);
    el.setAttribute('aria-invalid', 'true');
  }
}

function openForm(camera: Camera | null): void {
  editing = camera?.id ?? null;
  clearErrors();
  byId('form-title').textContent = camera ? `Edit “${camera.name}”` : 'Add a camera';
  byId('form-submit').textContent = camera ? 'Save changes' : 'Add camera';
  input('name').value = camera?.name ?? '';
  input('url').value = camera?.url ?? '';
  input('fps').value = camera?.fps != null ? String(camera.fps) : '';
  input('maxWidth').value = camera?.maxWidth != null ? String(camera.maxWidth) : '';
  input('enabled').checked = camera?.enabled ?? true;
  input('loop').checked = camera?.loop ?? true;
  const panel = byId('camera-form-panel');
  panel.hidden = false;
  panel.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  input('name').focus();
}

function closeForm(): void {
  byId('camera-form-panel').hidden = true;
  editing = null;
}

/** A number field: empty means "the default"; anything else goes to the API as typed, which says what is wrong. */
function numberValue(name: 'fps' | 'maxWidth'): number | string | null {
  const text = input(name).value.trim();
  if (text === '') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void submitForm();
});

async function submitForm(): Promise<void> {
  clearErrors();
  const button = byId<HTMLButtonElement>('form-submit');
  button.disabled = true;
  const fps = numberValue('fps');
  const maxWidth = numberValue('maxWidth');
  try {
    if (editing === null) {
      // Values the API rejects (e.g. fps "fast") are sent as typed: its 400 names the field, shown next to it.
      const body = { name: input('name').value, url: input('url').value.trim(), enabled: input('enabled').checked, loop: input('loop').checked, ...(fps !== null ? { fps } : {}), ...(maxWidth !== null ? { maxWidth } : {}) } as CameraCreate;
      const created = await api.create(body);
      const e = entryOf(created);
      if (!order.includes(created.id)) order.push(created.id);
      renderRow(e);
      renderList();
      closeForm();
      select(created.id);
      toast(`“${created.name}” added. Its numbers appear within a few seconds.`);
    } else {
      const id = editing;
      const patch = { name: input('name').value, url: input('url').value.trim(), enabled: input('enabled').checked, loop: input('loop').checked, fps, maxWidth } as CameraPatch;
      const updated = await api.update(id, patch);
      entryOf(updated);
      renderList();
      closeForm();
      renderDetail();
      toast(`“${updated.name}” saved.`);
    }
  } catch (err) {
    if (err instanceof ApiCallError) {
      if (err.status === 401) {
        needToken('Changes need the API token.');
        showFieldError('form', 'Changes need the API token: enter it above, then try again.');
      } else {
        const issues = err.body.issues?.length ? err.body.issues : [{ field: err.body.field ?? 'form', message: err.body.message }];
        for (const i of issues) showFieldError(i.field, i.message);
      }
    } else {
      showFieldError('form', (err as Error).message);
    }
  } finally {
    button.disabled = false;
  }
}

byId('form-cancel').addEventListener('click', closeForm);
byId('add-camera').addEventListener('click', () => openForm(null));
byId('d-edit').addEventListener('click', () => {
  const e = selected !== null ? entries.get(selected) : undefined;
  if (e) openForm(e.camera);
});

byId('d-toggle').addEventListener('click', () => {
  const e = selected !== null ? entries.get(selected) : undefined;
  if (!e) return;
  const enabled = !e.camera.enabled;
  api.update(e.camera.id, { enabled }).then(
    (c) => {
      entryOf(c);
      renderList();
      renderDetail();
      toast(enabled ? `“${c.name}” turned on.` : `“${c.name}” turned off.`);
    },
    (err: unknown) => {
      handleError(err, 'toggle');
      if (err instanceof ApiCallError && err.status !== 401) toast(err.message, 'error');
    },
  );
});

let deleteArmed: number | undefined;
byId('d-delete').addEventListener('click', () => {
  const e = selected !== null ? entries.get(selected) : undefined;
  const button = byId<HTMLButtonElement>('d-delete');
  if (!e) return;
  // Two clicks instead of a blocking confirm() dialog, which phones render badly.
  if (deleteArmed === undefined) {
    button.textContent = 'Click again to delete';
    button.dataset['armed'] = 'true';
    deleteArmed = window.setTimeout(() => {
      deleteArmed = undefined;
      button.textContent = 'Delete';
      delete button.dataset['armed'];
    }, 4000);
    return;
  }
  window.clearTimeout(deleteArmed);
  deleteArmed = undefined;
  button.textContent = 'Delete';
  delete button.dataset['armed'];
  const { id, name } = e.camera;
  api.remove(id).then(
    () => {
      removeEntry(id);
      renderList();
      toast(`“${name}” deleted.`);
    },
    (err: unknown) => {
      handleError(err, 'delete');
      if (err instanceof ApiCallError && err.status !== 401) toast(err.message, 'error');
    },
  );
});

for (const mode of ['minute', 'hour'] as const) {
  byId(`u-${mode}`).addEventListener('click', () => {
    uniqueMode = mode;
    charts.setUniqueMode(mode);
    byId('u-minute').setAttribute('aria-pressed', String(uniqueMode === 'minute'));
    byId('u-hour').setAttribute('aria-pressed', String(uniqueMode === 'hour'));
  });
}

// ---------- token form ----------

byId('token-toggle').addEventListener('click', () => {
  const panel = byId('token-panel');
  if (panel.hidden) showTokenPanel();
  else panel.hidden = true;
});
byId<HTMLFormElement>('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = byId<HTMLInputElement>('token-input').value.trim();
  if (value === '') {
    byId('token-error').textContent = 'Enter the token first.';
    return;
  }
  setToken(value);
  byId<HTMLInputElement>('token-input').value = '';
  byId('token-panel').hidden = true;
  void boot();
});
byId('token-forget').addEventListener('click', () => {
  setToken(null);
  byId('token-error').textContent = 'Token forgotten.';
  socket.disconnect();
  setConn('token');
});

// ---------- start ----------

async function boot(): Promise<void> {
  setConn('connecting');
  try {
    setCameras(await api.cameras());
  } catch (err) {
    if (err instanceof ApiCallError && err.status === 401) return needToken(getToken() ? 'That token was not accepted. Check CROWDLENS_API_TOKEN.' : 'This service needs its API token (CROWDLENS_API_TOKEN) to show cameras.');
    if (err instanceof ApiCallError && err.status === 0) return setConn('offline');
    handleError(err, 'cameras');
  }
  if (socket.connected) socket.disconnect();
  socket.connect();
}

window.setInterval(() => void refreshStatuses(), STATUS_EVERY_MS);
window.setInterval(() => {
  if (selected !== null && document.visibilityState !== 'hidden') void loadHistory(selected);
}, HISTORY_EVERY_MS);
window.setInterval(() => void refreshPreview(), PREVIEW_EVERY_MS);
// Health (e.g. "stalled") depends on the clock too.
window.setInterval(() => {
  const e = selected !== null ? entries.get(selected) : undefined;
  if (e) renderHealth(e);
}, 1000);
window.addEventListener('hashchange', () => {
  const id = /^#camera=([a-z0-9-]+)$/.exec(location.hash)?.[1];
  if (id && id !== selected) select(id);
});

void boot();
