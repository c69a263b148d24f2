import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { Metric } from './api';
import { fmtDuration, fmtNum } from './format';
import { emaDebiased } from './smooth';
import { testHook } from './testhook';

export type XMode = 'step' | 'wall' | 'rel';
export interface ChartSettings { x: XMode; log: boolean; smooth: number }
// A point may carry a band (lo..hi) around its value: a group's min-max or
// mean ± std across its runs.
export type Point = Metric & { lo?: number; hi?: number };
// A series' points come either as objects (points) or, for long histories,
// as parallel arrays in step order (cols: no object a point to allocate).
export interface Series { runId: string; label: string; points: Point[]; cols?: SeriesColumns }
export interface SeriesColumns { steps: ArrayLike<number>; timestamps: ArrayLike<number>; values: ArrayLike<number> }
// Step ranges are refetched at full budget when the user zooms (step axis only).
export type RangeFetcher = (start: number, end: number, signal: AbortSignal) => Promise<Series[]>;

const PALETTE = ['#2563eb', '#e11d48', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#4f46e5'];
export const seriesColor = (i: number) => PALETTE[i % PALETTE.length];

interface Built {
  data: uPlot.AlignedData; series: uPlot.Series[]; bands: uPlot.Band[]; legendless: number[];
  plotted: Record<string, [number, number][]>; bandsPlotted: Record<string, [number, number, number][]>;
}

// One series on the chosen x axis, ordered by (x, timestamp): x, value and
// band arrays of the same length.
interface Line { x: Float64Array; y: Float64Array; lo?: (number | undefined)[]; hi?: (number | undefined)[] }

export const seriesLength = (sr: Series) => (sr.cols ? sr.cols.steps.length : sr.points.length);

function lineOf(sr: Series, mode: XMode): Line {
  const n = seriesLength(sr);
  const c = sr.cols;
  const step = (i: number) => (c ? c.steps[i] : sr.points[i].step);
  const ts = (i: number) => (c ? c.timestamps[i] : sr.points[i].timestamp);
  const val = (i: number) => (c ? c.values[i] : sr.points[i].value);
  let t0 = Infinity;
  if (mode === 'rel') for (let i = 0; i < n; i++) t0 = Math.min(t0, ts(i));
  const x = new Float64Array(n), y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = mode === 'step' ? step(i) : mode === 'wall' ? ts(i) / 1000 : (ts(i) - t0) / 1000;
    y[i] = val(i);
  }
  const banded = !c && sr.points.some((p) => p.lo !== undefined);
  let lo = banded ? sr.points.map((p) => p.lo) : undefined;
  let hi = banded ? sr.points.map((p) => p.hi) : undefined;
  // Histories arrive in step order; time axes, or points from elsewhere, may not be.
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = x[i - 1] < x[i] || (x[i - 1] === x[i] && ts(i - 1) <= ts(i));
  if (sorted) return { x, y, lo, hi };
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b] || ts(a) - ts(b));
  const xs = Float64Array.from(order, (i) => x[i]), ys = Float64Array.from(order, (i) => y[i]);
  if (lo && hi) { const l = lo, h = hi; lo = order.map((i) => l[i]); hi = order.map((i) => h[i]); }
  return { x: xs, y: ys, lo, hi };
}

// The x values of every line, ascending, each once.
function unionX(lines: Line[]): number[] {
  if (lines.length === 1) return dedupSorted(lines[0].x);
  const all = new Float64Array(lines.reduce((a, l) => a + l.x.length, 0));
  let o = 0;
  for (const l of lines) { all.set(l.x, o); o += l.x.length; }
  return dedupSorted(all.sort());
}

function dedupSorted(xs: Float64Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < xs.length; i++) if (i === 0 || xs[i] !== xs[i - 1]) out.push(xs[i]);
  return out;
}

// Snapping: a chart of 100 runs x 1,000 points has nearly 100,000 distinct
// steps, so its aligned data would be 100 columns of 100,000 slots that
// uPlot walks on every draw. On the step axis such a chart puts each point
// in one of SNAP_COLUMNS columns across the x range instead (6 to a pixel of
// a full-width chart); a point whose column a run already uses moves to the
// next one. When that would move any point more than SNAP_SLACK columns, or
// the range is too short for columns of whole steps, the data stays exact.
const SNAP_COLUMNS = 8192, SNAP_SLACK = 2, SNAP_MIN_SLOTS = 2_000_000;

function snapLines(lines: Line[], xs: number[]): { xs: number[]; lines: Line[] } | null {
  const x0 = xs[0], span = xs[xs.length - 1] - x0;
  if (!(span >= 8 * SNAP_COLUMNS)) return null;
  const scale = (SNAP_COLUMNS - 1) / span;
  const used = new Uint8Array(SNAP_COLUMNS + SNAP_SLACK + 1);
  const cols: Int32Array[] = [];
  for (const l of lines) {
    const c = new Int32Array(l.x.length);
    for (let k = 0; k < l.x.length; k++) {
      const ideal = Math.round((l.x[k] - x0) * scale);
      // A repeated step stays in its column (its last point is drawn).
      let at = k > 0 && l.x[k] === l.x[k - 1] ? c[k - 1] : ideal;
      if (k > 0 && at <= c[k - 1] && l.x[k] !== l.x[k - 1]) at = c[k - 1] + 1;
      if (at - ideal > SNAP_SLACK) return null;
      c[k] = at;
      used[at] = 1;
    }
    cols.push(c);
  }
  const column = (i: number) => Math.round(x0 + i / scale); // columns are >= 8 steps apart
  const outX: number[] = [];
  for (let i = 0; i < used.length; i++) if (used[i]) outX.push(column(i));
  return { xs: outX, lines: lines.map((l, i) => ({ ...l, x: Float64Array.from(cols[i], column) })) };
}

// Beyond this many lines, lines are 1 px wide: they overlap anyway, and a
// canvas rasterised without a GPU draws one-pixel lines on a fast path (100
// runs' lines: 7 ms a frame instead of 230 ms at 1.5 px).
const MANY_LINES = 20;

// Defines o[k] as f's result, computed on first read: the test hook's copies
// of 100,000 points are not worth building for every draw.
function lazy<T>(o: Record<string, T>, k: string, f: () => T) {
  let v: T | undefined;
  Object.defineProperty(o, k, { enumerable: true, configurable: true, get: () => (v ??= f()) });
}

// Aligns every run's points on one shared x axis (uPlot's data model); a run
// with no point at some x gets null there, and spanGaps draws through it. At
// one x a run's last point (by timestamp) is drawn. Values that cannot be
// drawn (NaN, ±Infinity; on a log scale, not above 0) are gaps. plotted
// holds every point as received, at its exact x, for tests.
export function buildData(series: Series[], s: ChartSettings): Built {
  let lines = series.map((sr) => lineOf(sr, s.x));
  const exact = lines;
  let xs = unionX(lines);
  if (s.x === 'step' && xs.length * lines.length >= SNAP_MIN_SLOTS) {
    const snapped = snapLines(lines, xs);
    if (snapped) ({ xs, lines } = snapped);
  }
  const data: (number | null)[][] = [xs];
  const useries: uPlot.Series[] = [{ label: s.x === 'step' ? 'Step' : s.x === 'wall' ? 'Time' : 'Elapsed', value: (_u, v) => (v == null ? '—' : s.x === 'wall' ? new Date(v * 1000).toLocaleString() : s.x === 'rel' ? fmtDuration(v * 1000) : String(v)) }];
  const plotted: Record<string, [number, number][]> = {};
  const bandsPlotted: Record<string, [number, number, number][]> = {};
  const bands: uPlot.Band[] = [];
  const legendless: number[] = [];
  const fmt = (_u: uPlot, v: number | null) => (v == null ? '—' : fmtNum(v));
  const drawable = (v: number | undefined) => (v === undefined || !Number.isFinite(v) || (s.log && !(v > 0)) ? null : v);
  // Fills a column of the aligned data from one line's values; both x
  // arrays ascend, so one walk finds every position.
  const align = (l: Line, get: (k: number) => number | null) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    for (let k = 0, j = 0; k < l.x.length; k++) {
      while (xs[j] < l.x[k]) j++;
      col[j] = get(k);
    }
    return col;
  };
  const lineWidth = lines.length > MANY_LINES ? 1 : 1.5;
  lines.forEach((l, i) => {
    const y = align(l, (k) => drawable(l.y[k]));
    const e = exact[i];
    lazy(plotted, series[i].runId, () => Array.from(e.x, (x, k) => [x, e.y[k]] as [number, number]));
    const color = seriesColor(i);
    if (s.smooth > 0) {
      data.push(y);
      useries.push({ label: series[i].label + ' (raw)', stroke: color + '40', width: 1, spanGaps: true, value: (_u, v) => (v == null ? '—' : fmtNum(v)) });
      data.push(emaDebiased(y, s.smooth));
      useries.push({ label: series[i].label, stroke: color, width: 2, spanGaps: true, value: (_u, v) => (v == null ? '—' : fmtNum(v)) });
    } else {
      data.push(y);
      useries.push({ label: series[i].label, stroke: color, width: lineWidth, spanGaps: true, value: (_u, v) => (v == null ? '—' : fmtNum(v)) });
    }
    if (l.lo && l.hi) {
      const lo = l.lo, hi = l.hi;
      data.push(align(l, (k) => drawable(hi[k])), align(l, (k) => drawable(lo[k])));
      useries.push({ label: series[i].label + ' (hi)', stroke: color + '55', width: 0.5, spanGaps: true, value: fmt },
        { label: series[i].label + ' (lo)', stroke: color + '55', width: 0.5, spanGaps: true, value: fmt });
      bands.push({ series: [data.length - 2, data.length - 1], fill: color + '22' });
      legendless.push(data.length - 2, data.length - 1);
      bandsPlotted[series[i].runId] = Array.from(l.x, (x, k) => [x, lo[k]!, hi[k]!] as [number, number, number]);
    }
  });
  return { data: data as uPlot.AlignedData, series: useries, bands, legendless, plotted, bandsPlotted };
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function MetricChart(p: { metricKey: string; series: Series[]; settings: ChartSettings; height?: number; fetchRange?: RangeFetcher }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [full, setFull] = useState(false);
  const [theme, setTheme] = useState(0);
  // The zoomed step range and, once fetched, its full-budget data; null when
  // showing the whole history.
  const [zoom, setZoom] = useState<[number, number] | null>(null);
  const [zoomSeries, setZoomSeries] = useState<Series[] | null>(null);
  const [zoomError, setZoomError] = useState('');
  const zoomed = useRef(false);
  const canRefetch = !!p.fetchRange && p.settings.x === 'step';
  const shown = zoomSeries ?? p.series;
  // Changes only when the base data does (p.series itself is rebuilt on every parent render).
  const base = useMemo(() => ({}), p.series.flatMap((s) => [s.runId, s.points, s.cols]));
  const built = useMemo(() => buildData(shown, p.settings),
    [p.settings.x, p.settings.log, p.settings.smooth, ...shown.flatMap((s) => [s.runId, s.label, s.points, s.cols])]);
  // The data the plot was created with: it is drawn already.
  const drawn = useRef<Built | null>(null);
  testHook().charts[p.metricKey] = { x: p.settings.x, series: built.plotted, bands: built.bandsPlotted, zoom: zoomSeries ? zoom : null };

  const unzoom = () => {
    zoomed.current = false;
    setZoom(null); setZoomSeries(null); setZoomError('');
  };

  useEffect(() => {
    const on = () => setTheme((n) => n + 1);
    window.addEventListener('mltrack-theme', on);
    return () => window.removeEventListener('mltrack-theme', on);
  }, []);

  // Options change (x mode, log, series count, theme) rebuild the plot; data
  // changes only (live refresh) go through setData to keep zoom and cursor.
  const shape = [p.settings.x, p.settings.log, p.settings.smooth > 0, built.series.map((s) => s.label).join('|'), theme, full].join('/');
  useEffect(() => {
    const el = host.current!;
    const fg = cssVar('--fg-muted'), grid = cssVar('--grid');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const xAxis: uPlot.Axis = { ...axis };
    if (p.settings.x === 'rel') xAxis.values = (_u, vals) => vals.map((v) => fmtDuration(v * 1000));
    if (p.settings.x === 'wall') xAxis.space = 90;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: full ? Math.max(200, window.innerHeight - 140) : p.height ?? 240,
      scales: { x: { time: p.settings.x === 'wall' }, y: { distr: p.settings.log ? 3 : 1 } },
      axes: [xAxis, { ...axis, size: 60, values: (_u, vals) => vals.map((v) => fmtNum(v)) }],
      series: built.series,
      bands: built.bands,
      cursor: { drag: { x: true, y: false }, sync: { key: 'mltrack' } },
      legend: { live: true },
      hooks: {
        // uPlot reports a finished drag here, just before it zooms to it: the
        // one signal that is the user's zoom and not a data update.
        setSelect: [(u) => {
          if (u.select.width <= 0) return;
          zoomed.current = true;
          if (!canRefetch) return;
          const start = Math.ceil(u.posToVal(u.select.left, 'x')), end = Math.floor(u.posToVal(u.select.left + u.select.width, 'x'));
          if (start <= end) setZoom([start, end]);
        }],
        // When the last draw with data happened (ms since navigation), for the UI benchmark.
        draw: [(u) => { if (u.data[0]?.length) (testHook().chartDrawMs ??= {})[p.metricKey] = performance.now(); }],
      },
    };
    zoomed.current = false;
    const u = new uPlot(opts, built.data, el);
    drawn.current = built;
    u.over.addEventListener('dblclick', unzoom);
    // Band edges have no legend entry of their own (set through the DOM: the CSP allows that).
    const rows = u.root.querySelectorAll<HTMLElement>('.u-legend .u-series');
    for (const i of built.legendless) if (rows[i]) rows[i].style.display = 'none';
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: u.height }));
    ro.observe(el);
    return () => { ro.disconnect(); u.destroy(); plot.current = null; };
  }, [shape]);

  // Zoom refetch: the chosen step range again at the full point budget, so
  // detail the whole-history downsampling merged away appears. Live refreshes
  // (new p.series) refetch it too.
  useEffect(() => {
    if (!zoom || !canRefetch) return;
    const ctl = new AbortController();
    p.fetchRange!(zoom[0], zoom[1], ctl.signal)
      .then((s) => { if (!ctl.signal.aborted) { setZoomSeries(s); setZoomError(''); } })
      .catch((e: Error) => { if (e.name !== 'AbortError') setZoomError(e.message); });
    return () => ctl.abort();
  }, [zoom?.[0], zoom?.[1], canRefetch, base]);
  useEffect(() => { if (!canRefetch) unzoom(); }, [canRefetch]);

  // Keep the user's zoom across live refreshes; otherwise fit the new data.
  // Zoomed-range data fits y to the range and keeps x on it.
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    if (zoomSeries && zoom) {
      drawn.current = built;
      u.setData(built.data, true);
      u.setScale('x', { min: zoom[0], max: zoom[1] });
    } else if (drawn.current !== built) {
      // Skipped right after the plot was made from this very data: a second
      // pass over 100 runs' aligned points would double the drawing.
      drawn.current = built;
      u.setData(built.data, !zoomed.current);
    }
  }, [built]);

  useEffect(() => {
    if (!full) return;
    const esc = (e: KeyboardEvent) => { if (e.key === 'Escape') setFull(false); };
    window.addEventListener('keydown', esc);
    return () => window.removeEventListener('keydown', esc);
  }, [full]);

  const empty = p.series.every((s) => seriesLength(s) === 0);
  return (
    <div class={'chart-card' + (full ? ' fullscreen' : '')} data-testid="chart" data-metric={p.metricKey}>
      <div class="chart-head">
        <h3 title={p.metricKey}>{p.metricKey}</h3>
        <span class="chart-tools">
          {zoom && <span class="muted small mono" data-testid="zoom-range" title="Zoomed step range, loaded at full detail">steps {zoom[0]}–{zoom[1]}{zoomSeries ? '' : ' …'}</span>}
          <button class="icon-btn" title="Reset zoom" aria-label="Reset zoom" onClick={() => {
            const had = !!zoomSeries;
            unzoom();
            if (!had) plot.current?.setData(plot.current.data, true);
          }}>↺</button>
          <button class="icon-btn" title={full ? 'Exit full screen (Esc)' : 'Full screen'} aria-label="Full screen" data-testid="fullscreen" onClick={() => setFull(!full)}>{full ? '✕' : '⤢'}</button>
        </span>
      </div>
      {empty && <div class="empty small muted">No values logged.</div>}
      {zoomError && <div class="error small" role="alert">{zoomError}</div>}
      <div class="chart-host" ref={host} />
    </div>
  );
}

export function ChartControls(p: { settings: ChartSettings; onChange: (c: Partial<Record<'x' | 'log' | 'smooth', string>>) => void }) {
  return (
    <div class="chart-controls" data-testid="chart-controls">
      <label>X axis
        <select class="input select" value={p.settings.x} data-testid="xaxis" onChange={(e) => p.onChange({ x: (e.target as HTMLSelectElement).value === 'step' ? '' : (e.target as HTMLSelectElement).value })}>
          <option value="step">Step</option>
          <option value="wall">Wall time</option>
          <option value="rel">Relative time</option>
        </select>
      </label>
      <label class="check"><input type="checkbox" checked={p.settings.log} data-testid="logscale" onChange={(e) => p.onChange({ log: (e.target as HTMLInputElement).checked ? '1' : '' })} /> Log scale</label>
      <label>Smoothing
        <input type="range" min="0" max="0.99" step="0.01" value={p.settings.smooth} data-testid="smoothing"
          onChange={(e) => p.onChange({ smooth: (e.target as HTMLInputElement).value === '0' ? '' : (e.target as HTMLInputElement).value })} />
        <span class="mono small">{p.settings.smooth.toFixed(2)}</span>
      </label>
      <span class="muted small">Drag to zoom · double-click to reset</span>
    </div>
  );
}

export function settingsFrom(q: URLSearchParams): ChartSettings {
  const x = q.get('x');
  const smooth = Math.min(0.99, Math.max(0, Number(q.get('smooth') ?? 0) || 0));
  return { x: x === 'wall' || x === 'rel' ? x : 'step', log: q.get('log') === '1', smooth };
}
