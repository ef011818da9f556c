/**
 * What the dashboard shows, in plain words, derived from the shared wire types (src/shared/api.ts and
 * messages.ts) in ONE place: camera states, the age x gender table, the gender split, durations, times. The
 * page's DOM and chart code only call these. Every lookup table is a `Record` over a shared union type
 * (`CameraState`, `Gender`, `AgeBucket`), so a change of those shapes is a compile error here rather than a
 * silently wrong number on screen. No DOM here (unit-tested in Node: test/api/dashboard-view.test.ts).
 */
import type { CameraState, CameraStatus, HistoryBucket, LiveDemographics, LivePersonEntered, LivePersonLeft } from '../../../shared/api.ts';
import { AGE_BUCKETS, ageBucketOf, type AgeBucket, type DemographicsKey, type Gender } from '../../../shared/messages.ts';

/** The live snapshot as the wire carries it. */
export type Snapshot = NonNullable<LiveDemographics['snapshot']>;
/** Age x gender counts: complete in a snapshot, sparse in a history bucket. */
export type AgeGenderCounts = Partial<Readonly<Record<DemographicsKey, number>>>;

/** How each gender is named and coloured (the preview's box colours are the same hues). */
export const GENDER_VIEW: { readonly [G in Gender]: { readonly label: string; readonly noun: string; readonly color: string } } = {
  female: { label: 'Women', noun: 'woman', color: '#d6336c' },
  male: { label: 'Men', noun: 'man', color: '#1c7ed6' },
};
/** Genders in display order. */
export const GENDER_ORDER = Object.keys(GENDER_VIEW) as readonly Gender[];

/** Age buckets as people read them (short enough for a chart axis on a phone). */
export const AGE_VIEW: { readonly [B in AgeBucket]: string } = {
  '0-12': '0–12',
  '13-17': '13–17',
  '18-24': '18–24',
  '25-34': '25–34',
  '35-44': '35–44',
  '45-54': '45–54',
  '55-64': '55–64',
  '65+': '65+',
};

export function cellKey(bucket: AgeBucket, gender: Gender): DemographicsKey {
  return `${bucket}/${gender}`;
}

/** One row of the age x gender table per gender, one column per age bucket. */
export interface AgeGenderTable {
  readonly buckets: readonly AgeBucket[];
  readonly labels: readonly string[];
  readonly series: readonly { readonly gender: Gender; readonly label: string; readonly color: string; readonly counts: readonly number[]; readonly total: number }[];
  /** People with an estimate. */
  readonly total: number;
}

/** The age x gender table of a snapshot (or of a history bucket). */
export function ageGenderTable(counts: AgeGenderCounts | null | undefined): AgeGenderTable {
  const series = GENDER_ORDER.map((gender) => {
    const row = AGE_BUCKETS.map((b) => counts?.[cellKey(b, gender)] ?? 0);
    return { gender, label: GENDER_VIEW[gender].label, color: GENDER_VIEW[gender].color, counts: row, total: row.reduce((a, n) => a + n, 0) };
  });
  return { buckets: AGE_BUCKETS, labels: AGE_BUCKETS.map((b) => AGE_VIEW[b]), series, total: series.reduce((a, s) => a + s.total, 0) };
}

/** Share of each gender, whole percents that add up to 100 (largest remainder). */
export function genderSplit(table: AgeGenderTable): { readonly gender: Gender; readonly label: string; readonly color: string; readonly count: number; readonly percent: number }[] {
  const total = table.total;
  const raw = table.series.map((s) => ({ gender: s.gender, label: s.label, color: s.color, count: s.total, exact: total > 0 ? (100 * s.total) / total : 0 }));
  const out = raw.map((r) => ({ ...r, percent: Math.floor(r.exact) }));
  if (total > 0) {
    let left = 100 - out.reduce((a, r) => a + r.percent, 0);
    for (const r of [...out].sort((a, b) => b.exact - Math.floor(b.exact) - (a.exact - Math.floor(a.exact)))) {
      if (left <= 0) break;
      r.percent += 1;
      left -= 1;
    }
  }
  return out.map(({ exact: _exact, ...r }) => r);
}

/** "Women 55% · Men 45% of 20 people with an age and gender estimate", or why there is none. */
export function genderSentence(table: AgeGenderTable): string {
  if (table.total === 0) return 'No age and gender estimates yet: a person gets one after a few clear looks at their face.';
  const parts = genderSplit(table).map((g) => `${g.label} ${g.percent}%`);
  return `${parts.join(' · ')} of ${table.total} ${table.total === 1 ? 'person' : 'people'} with an age and gender estimate`;
}

/** How a camera's state reads. `down`: it sends no numbers now and the page says why. */
export interface StateView {
  readonly label: string;
  readonly tone: 'ok' | 'busy' | 'down' | 'off';
  readonly down: boolean;
  /** A sentence for the banner of a camera that is not live. */
  readonly explain: string;
}

export const STATE_VIEW: { readonly [S in CameraState]: StateView } = {
  running: { label: 'Live', tone: 'ok', down: false, explain: 'Live.' },
  pending: { label: 'Starting', tone: 'busy', down: false, explain: 'Starting: the face models are loading.' },
  starting: { label: 'Connecting', tone: 'busy', down: false, explain: 'Connecting to the camera…' },
  reconnecting: { label: 'Down', tone: 'down', down: true, explain: 'Camera down: the stream stopped and crowdlens keeps trying to reconnect.' },
  failed: { label: 'Down', tone: 'down', down: true, explain: 'Camera down: it could not be opened; crowdlens tries again shortly.' },
  ended: { label: 'Ended', tone: 'off', down: true, explain: 'The video file reached its end (looping is off).' },
  disabled: { label: 'Off', tone: 'off', down: false, explain: 'Turned off: this camera is registered but not watched.' },
  stopped: { label: 'Stopped', tone: 'off', down: true, explain: 'Stopped: the service is shutting down.' },
};

/** No new analysed frame for this long on a "running" camera reads as stalled, ms. */
export const STALL_MS = 15_000;

/** The camera's health as shown: state, whether it is down, and why (the API's last error, credentials masked by the server). */
export function cameraHealth(state: CameraState, status: CameraStatus | null, nowMs: number): StateView & { readonly reason: string | null; readonly sinceMs: number | null } {
  const view = STATE_VIEW[state];
  const sinceMs = status?.sinceMs ?? null;
  if (state === 'running' && status?.lastFrameAtMs != null && nowMs - status.lastFrameAtMs > STALL_MS) {
    return { label: 'Stalled', tone: 'down', down: true, explain: `No new picture for ${formatDuration(nowMs - status.lastFrameAtMs)}.`, reason: status.lastError?.message ?? null, sinceMs: status.lastFrameAtMs };
  }
  const reason = view.down && status?.lastError ? status.lastError.message : null;
  return { ...view, reason, sinceMs };
}

/** "48 s", "2 min 14 s", "1 h 05 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** Local "14:05". */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Local "14:05:09". */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${formatClock(ms)}:${pad(d.getSeconds())}`;
}

/** Frames per second as shown: "5.0 fps". */
export function formatFps(fps: number): string {
  return `${fps.toFixed(1)} fps`;
}

/** The big numbers of a camera, from its latest snapshot (zeros before the first frame). */
export function bigNumbers(snapshot: Snapshot | null): { readonly peopleNow: number; readonly lastMinute: number; readonly lastHour: number; readonly lastDay: number; readonly averageDwellMs: number } {
  return {
    peopleNow: snapshot?.peopleNow ?? 0,
    lastMinute: snapshot?.unique.lastMinute ?? 0,
    lastHour: snapshot?.unique.lastHour ?? 0,
    lastDay: snapshot?.unique.lastDay ?? 0,
    averageDwellMs: snapshot?.averageDwellMs ?? 0,
  };
}

/** A point of a time chart: x in ms since the epoch. */
export interface TimePoint {
  readonly x: number;
  readonly y: number;
}

/** Where a bucket's point goes on a time axis: its middle, or now for the minute still running. */
function bucketX(b: HistoryBucket, nowMs: number): number {
  return Math.min((b.startMs + b.endMs) / 2, nowMs);
}

/** People in view per minute (mean over the minute), for buckets with data. */
export function peoplePerMinute(minutes: readonly HistoryBucket[], nowMs: number): TimePoint[] {
  return minutes.filter((b) => b.frames > 0).map((b) => ({ x: bucketX(b, nowMs), y: Math.round(b.peopleNowMean * 10) / 10 }));
}

/** The most people in view at once in the buckets that end after `fromMs`. */
export function peopleMax(minutes: readonly HistoryBucket[], fromMs: number): number {
  return minutes.filter((b) => b.frames > 0 && b.endMs > fromMs).reduce((a, b) => Math.max(a, b.peopleNowMax), 0);
}

/** Average time in view (s) of the people who left in each minute. */
export function dwellPerMinute(minutes: readonly HistoryBucket[], nowMs: number): TimePoint[] {
  return minutes.filter((b) => b.averageDwellMs !== null).map((b) => ({ x: bucketX(b, nowMs), y: Math.round((b.averageDwellMs as number) / 100) / 10 }));
}

const TICK_STEPS_MIN = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

/**
 * Tick positions of a time axis: whole local minutes (or hours) at a step that gives at most `maxCount` ticks,
 * so that labels like "14:05" are never repeated or odd.
 */
export function timeTicks(minMs: number, maxMs: number, maxCount = 6): number[] {
  if (!(maxMs > minMs)) return [];
  const stepMin = TICK_STEPS_MIN.find((s) => (maxMs - minMs) / (s * 60_000) <= maxCount) ?? 1440;
  const step = stepMin * 60_000;
  const offsetMs = -new Date(minMs).getTimezoneOffset() * 60_000;
  const ticks: number[] = [];
  for (let t = Math.ceil((minMs + offsetMs) / step) * step - offsetMs; t <= maxMs; t += step) ticks.push(t);
  return ticks;
}

/**
 * The buckets from the first one with data on, keeping at least the last `minKeep`: a camera registered ten
 * minutes ago shows its ten minutes, not fifty empty ones.
 */
export function fromFirstData(buckets: readonly HistoryBucket[], minKeep: number): readonly HistoryBucket[] {
  const first = buckets.findIndex((b) => b.frames > 0);
  const start = Math.min(first < 0 ? buckets.length : first, Math.max(0, buckets.length - minKeep));
  return buckets.slice(start);
}

/** Start of a time axis: `windowMs` before now, or later when the data starts later (but at least `minMs` before now). */
export function axisStart(nowMs: number, windowMs: number, minMs: number, firstDataMs: number | undefined): number {
  return Math.max(nowMs - windowMs, Math.min(firstDataMs ?? nowMs, nowMs - minMs));
}

/** Unique people per bucket as bars: a label per bucket, null where the camera sent no frames. */
export function uniqueBars(buckets: readonly HistoryBucket[]): { readonly labels: string[]; readonly values: (number | null)[]; readonly total: number } {
  return {
    labels: buckets.map((b) => formatClock(b.startMs)),
    values: buckets.map((b) => (b.frames > 0 ? b.unique : null)),
    total: buckets.reduce((a, b) => a + b.unique, 0),
  };
}

/** One line of the activity list. */
export function describePersonEntered(e: LivePersonEntered): string {
  return e.returning ? 'Someone came back into view' : 'Someone new came into view';
}

export function describePersonLeft(e: LivePersonLeft): string {
  const g = e.estimate?.gender;
  // An abstaining estimate names the age only: the gender was too uncertain to say.
  const who = e.estimate ? `A visitor (${g === 'unknown' || g === undefined ? '' : `${GENDER_VIEW[g].noun}, `}${AGE_VIEW[ageBucketOf(e.estimate.ageYears)]})` : 'A visitor';
  return `${who} left after ${formatDuration(e.dwellMs)}`;
}
