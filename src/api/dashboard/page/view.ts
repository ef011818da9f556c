/**
 * What the dashboard shows, in plain words, derived from the shared wire types (src/shared/api.ts and
 * messages.ts) in ONE place: camera states, the age x gender table, the gender split, the history by gender,
 * durations, times. The page's DOM and chart code only call these. Every lookup table is a `Record` over a
 * shared union type (`CameraState`, `Gender`, `GenderLabel`, `AgeBucket`), so a change of those shapes is a
 * compile error here rather than a silently wrong number on screen. No DOM here (unit-tested in Node:
 * test/api/dashboard-view.test.ts).
 *
 * How demographics are shown, honestly: the age x gender table holds SOFT counts (each person is shared
 * between age groups and between women and men by how likely each is), so its numbers are shown as "about 1.4"
 * with the likely range (the snapshot's 90% interval, widened to whole people); the women / men split counts
 * people by their label, and the ones whose gender was too uncertain are shown as "not sure", never folded into
 * a gender; people seen but never clearly enough for an estimate are said separately.
 */
import type { CameraState, CameraStatus, HistoryBucket, LiveDemographics, LivePersonEntered, LivePersonLeft } from '../../../shared/api.ts';
import { AGE_BUCKETS, ageBucketOf, type AgeBucket, type CountInterval, type DemographicsKey, type DemographicsLabelKey, type Gender, type GenderLabel } from '../../../shared/messages.ts';

/** The live snapshot as the wire carries it. */
export type Snapshot = NonNullable<LiveDemographics['snapshot']>;

/** A group of people in the history charts: a gender label, or `none` (seen, but no estimate). */
export type PersonGroup = GenderLabel | 'none';

interface GroupView {
  readonly label: string;
  readonly color: string;
}

/** How each group is named and coloured (the preview's box colours are the same hues for women and men). */
export const GROUP_VIEW: { readonly [G in PersonGroup]: GroupView } = {
  female: { label: 'Women', color: '#d6336c' },
  male: { label: 'Men', color: '#1c7ed6' },
  unknown: { label: 'Not sure', color: '#868e96' },
  none: { label: 'Not seen clearly', color: '#99cdd6' },
};

/** How each gender of the age x gender table is named (a `Record` over `Gender`). */
export const GENDER_VIEW: { readonly [G in Gender]: GroupView & { readonly noun: string } } = {
  female: { ...GROUP_VIEW.female, noun: 'woman' },
  male: { ...GROUP_VIEW.male, noun: 'man' },
};
/** Genders in display order (the age x gender table's series). */
export const GENDER_ORDER = Object.keys(GENDER_VIEW) as readonly Gender[];
/** Gender labels in display order (the split, the history). */
export const LABEL_ORDER = ['female', 'male', 'unknown'] as const satisfies readonly GenderLabel[];
/** History groups in display order (stacked bars, bottom first). */
export const GROUP_ORDER = [...LABEL_ORDER, 'none'] as const satisfies readonly PersonGroup[];

/** What "not sure" and the soft counts mean, for the charts' notes. */
export const EXPLAIN = {
  notSure: '“Not sure”: the face was seen well enough for an age, but not to tell a woman from a man.',
  notSeen: '“Not seen clearly”: counted as a person, but the face was never clear enough for an estimate.',
  soft: 'Estimates: each person counts by how likely each group is (someone we are not sure about counts partly as a woman and partly as a man), so bars can be fractions. Thin line: the likely range.',
} as const;

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

export function labelKey(bucket: AgeBucket, label: GenderLabel): DemographicsLabelKey {
  return `${bucket}/${label}`;
}

/** "1 person", "3 people". */
export function people(n: number): string {
  return `${n} ${n === 1 ? 'person' : 'people'}`;
}

/**
 * A soft count as shown: one decimal below 10 ("1.4", "0.3"), whole people from 10 ("12"); "0" for nothing.
 * Always read with "about" in front (see {@link aboutPeople}).
 */
export function formatSoft(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0';
  if (n >= 9.95) return String(Math.round(n));
  return String(Math.round(n * 10) / 10);
}

/** "about 1.4". */
export function aboutPeople(n: number): string {
  return `about ${formatSoft(n)}`;
}

/**
 * A cell's 90% interval as whole people, widened outwards (a true count is a whole number: if it lies between
 * 0.3 and 2.6, it is 1 or 2, and 0..3 is the honest way to say "likely" without claiming more).
 */
export function wholeRange(interval: CountInterval | undefined, count: number): readonly [low: number, high: number] {
  const [lo, hi] = interval ?? [count, count];
  const eps = 1e-6;
  return [Math.max(0, Math.floor(Math.min(lo, count) + eps)), Math.max(0, Math.ceil(Math.max(hi, count) - eps))];
}

/** One cell of the age x gender table. */
export interface AgeGenderCell {
  readonly bucket: AgeBucket;
  readonly gender: Gender;
  /** Soft count, people (a fraction: each person is shared between cells by their probabilities). */
  readonly count: number;
  /** The likely range as said in words, whole people (the 90% interval widened outwards). */
  readonly low: number;
  readonly high: number;
  /** The 90% interval as the snapshot carries it, people (drawn as the bar's whisker). */
  readonly interval: CountInterval;
}

/** One series (a gender) of the age x gender table: a cell per age bucket. */
export interface AgeGenderSeries extends GroupView {
  readonly gender: Gender;
  readonly cells: readonly AgeGenderCell[];
  /** Soft total of the series, people. */
  readonly total: number;
}

/** One row of the age x gender table per gender, one column per age bucket. */
export interface AgeGenderTable {
  readonly buckets: readonly AgeBucket[];
  readonly labels: readonly string[];
  readonly series: readonly AgeGenderSeries[];
  /** People with an estimate (whole people; the soft cells add up to it). */
  readonly estimated: number;
  /** People seen since start without an estimate yet (in no cell). */
  readonly withoutEstimate: number;
}

/** The demographics fields of a snapshot the table and the split read. */
export type SnapshotDemographics = Pick<Snapshot, 'byAgeGender' | 'byAgeGenderInterval' | 'estimated' | 'withoutEstimate' | 'byGenderLabel'>;

/** The age x gender table of a live snapshot (soft counts and their likely ranges). */
export function ageGenderTable(snapshot: SnapshotDemographics | null | undefined): AgeGenderTable {
  const series = GENDER_ORDER.map((gender): AgeGenderSeries => {
    const cells = AGE_BUCKETS.map((bucket): AgeGenderCell => {
      const key = cellKey(bucket, gender);
      const count = Math.max(0, snapshot?.byAgeGender[key] ?? 0);
      const sent = snapshot?.byAgeGenderInterval[key];
      const interval: CountInterval = [Math.max(0, Math.min(sent?.[0] ?? count, count)), Math.max(sent?.[1] ?? count, count)];
      const [low, high] = wholeRange(interval, count);
      return { bucket, gender, count, low, high, interval };
    });
    return { gender, ...GENDER_VIEW[gender], cells, total: cells.reduce((a, c) => a + c.count, 0) };
  });
  return { buckets: AGE_BUCKETS, labels: AGE_BUCKETS.map((b) => AGE_VIEW[b]), series, estimated: snapshot?.estimated ?? 0, withoutEstimate: snapshot?.withoutEstimate ?? 0 };
}

/** "about 1.4 (likely 0 to 3)", "none", or "2" when the range is one number. */
export function cellAmount(cell: AgeGenderCell): string {
  if (cell.high === 0) return 'none';
  return `${aboutPeople(cell.count)} (likely ${cell.low === cell.high ? cell.low : `${cell.low} to ${cell.high}`})`;
}

/** A cell as its tooltip says it: "Women 25–34: about 1.4 (likely 0 to 3)", or "Women 25–34: none". */
export function cellText(cell: AgeGenderCell): string {
  return `${GENDER_VIEW[cell.gender].label} ${AGE_VIEW[cell.bucket]}: ${cellAmount(cell)}`;
}

/** The one-line summary under the age x gender chart. */
export function ageGenderSummary(table: AgeGenderTable): string {
  const notSeen = table.withoutEstimate > 0 ? ` ${table.withoutEstimate} more not seen clearly enough yet.` : '';
  if (table.estimated === 0) return `No age and gender estimates yet.${notSeen}`;
  let top: AgeGenderCell | undefined;
  for (const s of table.series) for (const c of s.cells) if (top === undefined || c.count > top.count) top = c;
  const most = top && top.count > 0 ? ` Largest group: ${GENDER_VIEW[top.gender].label.toLowerCase()} ${AGE_VIEW[top.bucket]}, ${cellAmount(top)}.` : '';
  const byGender = table.series.map((s) => `${s.label.toLowerCase()} ${aboutPeople(s.total)}`).join(', ');
  return `${people(table.estimated)} with an estimate: ${byGender}.${most}${notSeen}`;
}

/** A share of the women / men / not sure split. */
export interface GenderShare extends GroupView {
  readonly label: string;
  readonly gender: GenderLabel;
  /** People with this label. */
  readonly count: number;
  /** Whole percent of the people with an estimate; the three add up to 100 (0 each when nobody has one). */
  readonly percent: number;
}

/** Whole percents of `counts` that add up to 100 (largest remainder); zeros when the total is 0. */
export function wholePercents(counts: readonly number[]): number[] {
  const total = counts.reduce((a, n) => a + n, 0);
  if (!(total > 0)) return counts.map(() => 0);
  const exact = counts.map((n) => (100 * n) / total);
  const out = exact.map(Math.floor);
  let left = 100 - out.reduce((a, p) => a + p, 0);
  const byRemainder = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left <= 0) break;
    out[i] = (out[i] as number) + 1;
    left -= 1;
  }
  return out;
}

/** Women / men / not sure, from the per-person labels (the unknown share is explicit, never folded into a gender). */
export function genderSplit(labels: SnapshotDemographics['byGenderLabel'] | null | undefined): GenderShare[] {
  const counts = LABEL_ORDER.map((g) => labels?.[g] ?? 0);
  const percents = wholePercents(counts);
  return LABEL_ORDER.map((gender, i) => ({ gender, ...GROUP_VIEW[gender], count: counts[i] as number, percent: percents[i] as number }));
}

/** The gender split line in parts: one coloured part per share, then the rest; or the one sentence saying why there is none. */
export type GenderLine = { readonly kind: 'shares'; readonly shares: readonly (GroupView & { readonly gender: GenderLabel; readonly text: string })[]; readonly rest: string } | { readonly kind: 'none'; readonly text: string };

/**
 * "Women 40% · Men 30% · Not sure 30% of 10 people with an age and gender estimate · 3 more not seen clearly
 * yet", or why there is none yet (see {@link genderSentence} for the whole line as text).
 */
export function genderLine(snapshot: SnapshotDemographics | null | undefined): GenderLine {
  // Before the camera's first analysed picture there is nothing to say about faces yet.
  if (!snapshot) return { kind: 'none', text: 'No numbers from this camera yet.' };
  const estimated = snapshot.estimated;
  const without = snapshot.withoutEstimate;
  if (estimated === 0) {
    const seen = without > 0 ? ` (${people(without)} seen, none clearly enough so far)` : '';
    return { kind: 'none', text: `No age and gender estimates yet${seen}: a person gets one after a few clear looks at their face.` };
  }
  const shares = genderSplit(snapshot.byGenderLabel).map((g) => ({ gender: g.gender, label: g.label, color: g.color, text: `${g.label} ${g.percent}%` }));
  const more = without > 0 ? ` · ${without} more not seen clearly yet` : '';
  return { kind: 'shares', shares, rest: ` of ${people(estimated)} with an age and gender estimate${more}` };
}

/** {@link genderLine} as one line of text (the shares joined by " · "). */
export function genderSentence(snapshot: SnapshotDemographics | null | undefined): string {
  const line = genderLine(snapshot);
  return line.kind === 'none' ? line.text : `${line.shares.map((s) => s.text).join(' · ')}${line.rest}`;
}

/** The one-line summary under the women / men / not sure chart. */
export function splitSummary(snapshot: SnapshotDemographics | null | undefined): string {
  if (!snapshot || snapshot.estimated === 0) return 'No estimates yet.';
  const parts = genderSplit(snapshot.byGenderLabel).map((g, i) => `${i === 0 ? g.label : g.label.toLowerCase()} ${g.percent}% (${g.count})`);
  return `${parts.join(', ')}.`;
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

/** "under 1 s", "48 s", "2 min 14 s", "1 h 05 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 500) return 'under 1 s'; // "0 s" reads like a mistake
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

/** People of each gender label in a history bucket (its sparse `"<age>/<label>"` cells summed over ages). */
export function labelCounts(cells: HistoryBucket['byAgeGender']): { readonly [G in GenderLabel]: number } {
  const sum = (label: GenderLabel): number => AGE_BUCKETS.reduce((a, b) => a + (cells[labelKey(b, label)] ?? 0), 0);
  return { female: sum('female'), male: sum('male'), unknown: sum('unknown') };
}

/** One stack of the "different people" bars: a group's count per bucket, null where the camera sent no frames. */
export interface UniqueStack extends GroupView {
  readonly group: PersonGroup;
  readonly values: readonly (number | null)[];
}

/**
 * Different people per bucket as stacked bars: women, men, not sure (from the buckets' label keys) and not seen
 * clearly (the rest of `unique`); `totals` per bucket, null where the camera sent no frames.
 */
export function uniqueBars(buckets: readonly HistoryBucket[]): { readonly labels: string[]; readonly stacks: UniqueStack[]; readonly totals: (number | null)[]; readonly total: number } {
  const perBucket = buckets.map((b) => {
    const l = labelCounts(b.byAgeGender);
    return { ...l, none: Math.max(0, b.unique - l.female - l.male - l.unknown) } satisfies { readonly [G in PersonGroup]: number };
  });
  return {
    labels: buckets.map((b) => formatClock(b.startMs)),
    stacks: GROUP_ORDER.map((group) => ({ group, ...GROUP_VIEW[group], values: buckets.map((b, i) => (b.frames > 0 ? (perBucket[i] as Record<PersonGroup, number>)[group] : null)) })),
    totals: buckets.map((b) => (b.frames > 0 ? b.unique : null)),
    total: buckets.reduce((a, b) => a + b.unique, 0),
  };
}

/** "3 different people: 1 woman, 1 man, 1 not sure" (the latest bucket of the "different people" chart). */
export function uniqueBucketText(bucket: HistoryBucket | undefined): string {
  if (!bucket || bucket.frames === 0) return 'no pictures';
  const l = labelCounts(bucket.byAgeGender);
  const none = Math.max(0, bucket.unique - l.female - l.male - l.unknown);
  const parts = [l.female > 0 ? `${l.female} ${l.female === 1 ? 'woman' : 'women'}` : '', l.male > 0 ? `${l.male} ${l.male === 1 ? 'man' : 'men'}` : '', l.unknown > 0 ? `${l.unknown} not sure` : '', none > 0 ? `${none} not seen clearly` : ''].filter((p) => p !== '');
  return `${bucket.unique} different ${bucket.unique === 1 ? 'person' : 'people'}${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`;
}

/** One line of the activity list. */
export function describePersonEntered(e: LivePersonEntered): string {
  return e.returning ? 'Someone came back into view' : 'Someone new came into view';
}

export function describePersonLeft(e: LivePersonLeft): string {
  const g = e.estimate?.gender;
  // An abstaining estimate names the age only: the gender was too uncertain to say.
  const who = e.estimate ? `A visitor (${g === 'unknown' || g === undefined ? '' : `${GENDER_VIEW[g].noun}, `}${AGE_VIEW[ageBucketOf(e.estimate.ageYears)]})` : 'A visitor';
  return e.dwellMs < 500 ? `${who} left within a second` : `${who} left after ${formatDuration(e.dwellMs)}`;
}
