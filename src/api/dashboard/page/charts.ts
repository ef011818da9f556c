/**
 * The live charts of the selected camera, drawn with Chart.js 4 (tree-shaken: only the controllers used here are
 * registered, bundled from node_modules, nothing from a CDN). Data comes from ./view.ts, the one place that turns
 * the shared shapes into numbers and labels. Each chart's <figure> carries `data-points` (points drawn) and
 * `data-updates` (times redrawn), which the end-to-end test reads, and a one-line text summary for people who
 * cannot see the canvas.
 */
import { ArcElement, BarController, BarElement, CategoryScale, Chart, DoughnutController, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartConfiguration } from 'chart.js';
import { BarWithErrorBar, BarWithErrorBarsController, type IErrorBarYDataPoint } from 'chartjs-chart-error-bars';
import type { CameraDemographics } from '../../../shared/api.ts';
import { ageGenderSummary, ageGenderTable, axisStart, cellText, dwellPerMinute, EXPLAIN, formatClock, formatDuration, formatTime, fromFirstData, genderSplit, peopleMax, peoplePerMinute, people, splitSummary, timeTicks, uniqueBars, uniqueBucketText, type AgeGenderTable, type Snapshot, type TimePoint } from './view.ts';

// chartjs-chart-error-bars (MIT, by a Chart.js plugin maintainer): the likely range of each age x gender bar.
Chart.register(LineController, BarController, BarWithErrorBarsController, DoughnutController, LineElement, PointElement, BarElement, BarWithErrorBar, ArcElement, LinearScale, CategoryScale, Tooltip, Legend, Filler);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#495057';
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

/** The live "people in view" line keeps this much, ms. */
export const LIVE_WINDOW_MS = 15 * 60_000;
const ACCENT = '#0b7285';
const MUTED = '#adb5bd';
const GRID = '#e9ecef';

export interface ChartCanvases {
  readonly peopleNow: HTMLCanvasElement;
  readonly unique: HTMLCanvasElement;
  readonly ageGender: HTMLCanvasElement;
  readonly genderSplit: HTMLCanvasElement;
  readonly dwell: HTMLCanvasElement;
}

export type UniqueMode = 'minute' | 'hour';

function figureOf(canvas: HTMLCanvasElement): HTMLElement | null {
  return canvas.closest('figure');
}

/** Marks a redraw on the chart's figure and updates its text summary. */
function mark(canvas: HTMLCanvasElement, points: number, summary: string): void {
  const fig = figureOf(canvas);
  if (!fig) return;
  fig.dataset['points'] = String(points);
  fig.dataset['updates'] = String(Number(fig.dataset['updates'] ?? '0') + 1);
  const text = fig.querySelector('.chart-summary');
  if (text) text.textContent = summary;
}

/** Sets the figure's explanation line (what its groups mean). */
function hint(canvas: HTMLCanvasElement, text: string): void {
  const el = figureOf(canvas)?.querySelector('.chart-hint');
  if (el) el.textContent = text;
}

function timeAxis(minMs: number, maxMs: number): NonNullable<NonNullable<ChartConfiguration<'line'>['options']>['scales']> {
  return {
    x: {
      type: 'linear',
      min: minMs,
      max: maxMs,
      grid: { color: GRID },
      ticks: { callback: (v) => formatClock(Number(v)) },
      afterBuildTicks: (scale) => {
        scale.ticks = timeTicks(scale.min, scale.max, scale.width < 400 ? 4 : 6).map((value) => ({ value }));
      },
    },
    y: { beginAtZero: true, grid: { color: GRID }, ticks: { precision: 0 } },
  };
}

export class CameraCharts {
  private readonly peopleNow: Chart<'line', TimePoint[]>;
  private readonly unique: Chart<'bar', (number | null)[], string>;
  private readonly ageGender: Chart<'barWithErrorBars', IErrorBarYDataPoint[], string>;
  private table: AgeGenderTable = ageGenderTable(null);
  private readonly split: Chart<'doughnut', number[], string>;
  private readonly dwell: Chart<'line', TimePoint[]>;
  private live: TimePoint[] = [];
  private history: CameraDemographics | null = null;
  private uniqueMode: UniqueMode = 'minute';
  private uniqueTotals: (number | null)[] = [];
  /** People with an estimate in the split shown (0: the grey "no estimates yet" ring, no tooltip numbers). */
  private splitEstimated = 0;

  constructor(private readonly canvases: ChartCanvases) {
    hint(canvases.ageGender, EXPLAIN.soft);
    hint(canvases.genderSplit, EXPLAIN.notSure);
    hint(canvases.unique, EXPLAIN.notSeen);
    const tooltipTime = { callbacks: { title: (items: { parsed: { x: number | null } }[]) => (items[0]?.parsed.x != null ? formatTime(items[0].parsed.x) : '') } };
    this.peopleNow = new Chart(canvases.peopleNow, {
      type: 'line',
      data: {
        datasets: [
          { label: 'Live (every second)', data: [], borderColor: ACCENT, backgroundColor: 'rgba(11,114,133,0.12)', fill: true, pointRadius: 0, borderWidth: 2, stepped: true },
          { label: 'Average per minute', data: [], borderColor: MUTED, pointRadius: 2, borderWidth: 1.5, borderDash: [4, 3], clip: 6 },
        ],
      },
      options: { scales: timeAxis(Date.now() - LIVE_WINDOW_MS, Date.now()), plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } }, tooltip: tooltipTime }, parsing: false, normalized: true },
    });
    this.unique = new Chart(canvases.unique, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      options: {
        scales: { x: { stacked: true, grid: { display: false }, ticks: { maxTicksLimit: 8, maxRotation: 0 } }, y: { stacked: true, beginAtZero: true, grid: { color: GRID }, ticks: { precision: 0 } } },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: { mode: 'index', filter: (item) => Number(item.raw) > 0, callbacks: { footer: (items) => (items[0] ? `${people(this.uniqueTotals[items[0].dataIndex] ?? 0)} in all` : '') } },
        },
      },
    });
    this.ageGender = new Chart(canvases.ageGender, {
      type: 'barWithErrorBars',
      data: { labels: [], datasets: [] },
      options: {
        scales: { x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: false, font: { size: 11 } } }, y: { beginAtZero: true, grid: { color: GRID }, ticks: { precision: 0 } } },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              title: (items) => (items[0] ? `Age ${String(items[0].label)}` : ''),
              label: (item) => {
                const cell = this.table.series[item.datasetIndex]?.cells[item.dataIndex];
                return cell ? cellText(cell) : '';
              },
            },
          },
        },
      },
    });
    this.split = new Chart(canvases.genderSplit, {
      type: 'doughnut',
      data: { labels: [], datasets: [{ data: [], backgroundColor: [], borderWidth: 1 }] },
      options: { cutout: '62%', plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } }, tooltip: { callbacks: { label: (item) => (this.splitEstimated > 0 ? ` ${people(Number(item.raw))}` : '') } } } },
    });
    this.dwell = new Chart(canvases.dwell, {
      type: 'line',
      data: { datasets: [{ label: 'Average time in view (s)', data: [], borderColor: ACCENT, backgroundColor: ACCENT, pointRadius: 2.5, borderWidth: 2, spanGaps: false, clip: 6 }] },
      options: {
        scales: timeAxis(Date.now() - 3_600_000, Date.now()),
        plugins: { legend: { display: false }, tooltip: { callbacks: { title: tooltipTime.callbacks.title, label: (item) => formatDuration(Number(item.parsed.y) * 1000) } } },
        parsing: false,
      },
    });
  }

  /** Empties every chart (another camera was selected). */
  reset(): void {
    this.live = [];
    this.history = null;
    this.setSnapshot(null);
    this.drawPeople(Date.now());
    this.drawUnique();
    this.drawDwell(Date.now());
  }

  /** History buckets from `GET /api/cameras/:id/demographics` (first paint, then refreshed now and then). */
  setHistory(d: CameraDemographics): void {
    this.history = d;
    this.drawPeople(d.atMs);
    this.drawUnique();
    this.drawDwell(d.atMs);
  }

  /** One live `demographics` event: the people-in-view line moves on, the age/gender charts follow the snapshot. */
  addLive(atMs: number, snapshot: Snapshot | null): void {
    if (snapshot) {
      this.live.push({ x: atMs, y: snapshot.peopleNow });
      const from = atMs - LIVE_WINDOW_MS;
      while (this.live.length > 0 && (this.live[0] as TimePoint).x < from) this.live.shift();
    }
    this.drawPeople(atMs);
    this.setSnapshot(snapshot);
  }

  setUniqueMode(mode: UniqueMode): void {
    this.uniqueMode = mode;
    this.drawUnique();
  }

  private drawPeople(nowMs: number): void {
    const all = this.history ? peoplePerMinute(this.history.minutes, nowMs) : [];
    const firstMs = Math.min(this.live[0]?.x ?? Infinity, ...all.filter((p) => p.x >= nowMs - LIVE_WINDOW_MS).map((p) => p.x - 30_000));
    const from = axisStart(nowMs, LIVE_WINDOW_MS, 2 * 60_000, Number.isFinite(firstMs) ? firstMs : undefined);
    const perMinute = all.filter((p) => p.x >= from);
    const c = this.peopleNow;
    (c.data.datasets[0] as { data: TimePoint[] }).data = [...this.live];
    (c.data.datasets[1] as { data: TimePoint[] }).data = perMinute;
    const x = c.options.scales?.['x'];
    if (x) {
      x.min = from;
      x.max = nowMs;
    }
    c.update('none');
    const last = this.live[this.live.length - 1];
    const max = Math.max(0, ...this.live.map((p) => p.y), this.history ? peopleMax(this.history.minutes, from) : 0);
    mark(this.canvases.peopleNow, this.live.length + perMinute.length, last ? `Now ${last.y}; at most ${max} in view since ${formatClock(from)}.` : 'No live numbers yet.');
  }

  private drawUnique(): void {
    const buckets = this.history ? (this.uniqueMode === 'minute' ? fromFirstData(this.history.minutes, 10) : fromFirstData(this.history.hours, 6)) : [];
    const bars = uniqueBars(buckets);
    const c = this.unique;
    c.data.labels = bars.labels;
    c.data.datasets = bars.stacks.map((st) => ({ label: st.label, data: [...st.values], backgroundColor: st.color, borderRadius: 2, borderSkipped: false }));
    this.uniqueTotals = bars.totals;
    c.update('none');
    const withData = bars.totals.filter((v) => v !== null).length;
    const latest = uniqueBucketText(buckets[buckets.length - 1]);
    mark(this.canvases.unique, withData, this.uniqueMode === 'minute' ? `Different people per minute over the last hour; latest minute: ${latest}.` : `Different people per hour over the last day; this hour: ${latest}.`);
  }

  private drawDwell(nowMs: number): void {
    const points = this.history ? dwellPerMinute(this.history.minutes, nowMs) : [];
    const c = this.dwell;
    (c.data.datasets[0] as { data: TimePoint[] }).data = points;
    const x = c.options.scales?.['x'];
    if (x) {
      x.min = axisStart(nowMs, 3_600_000, 10 * 60_000, this.history ? fromFirstData(this.history.minutes, 0)[0]?.startMs : undefined);
      x.max = nowMs;
    }
    c.update('none');
    const last = points[points.length - 1];
    mark(this.canvases.dwell, points.length, last ? `Latest: ${formatDuration(last.y * 1000)} (people who left at ${formatClock(last.x)}).` : 'Nobody has left the view yet in the last hour.');
  }

  private setSnapshot(snapshot: Snapshot | null): void {
    const table = ageGenderTable(snapshot);
    this.table = table;
    const ag = this.ageGender;
    ag.data.labels = [...table.labels];
    ag.data.datasets = table.series.map((s) => ({
      label: s.label,
      // The bar is the soft count; the whisker its likely range in whole people (none where the range is 0..0).
      // The whisker is the snapshot's 90% interval as sent; the tooltip says it in whole people (cellText).
      data: s.cells.map((c) => ({ y: c.count, yMin: c.interval[0], yMax: c.interval[1] })),
      backgroundColor: s.color,
      borderRadius: 2,
      errorBarColor: '#6c757d',
      errorBarWhiskerColor: '#6c757d',
      errorBarLineWidth: 1,
      errorBarWhiskerLineWidth: 1,
      errorBarWhiskerRatio: 0.3,
    }));
    ag.update('none');
    mark(this.canvases.ageGender, table.estimated, ageGenderSummary(table));

    const split = genderSplit(snapshot?.byGenderLabel);
    const estimated = snapshot?.estimated ?? 0;
    this.splitEstimated = estimated;
    const sp = this.split;
    const ds = sp.data.datasets[0] as { data: number[]; backgroundColor: string[] };
    if (estimated > 0) {
      sp.data.labels = split.map((g) => `${g.label} ${g.percent}%`);
      ds.data = split.map((g) => g.count);
      ds.backgroundColor = split.map((g) => g.color);
    } else {
      sp.data.labels = ['No estimates yet'];
      ds.data = [1];
      ds.backgroundColor = [GRID];
    }
    sp.update('none');
    mark(this.canvases.genderSplit, estimated, splitSummary(snapshot));
  }
}
