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
export interface Series { runId: string; label: string; points: Point[] }
// Step ranges are refetched at full budget when the user zooms (step axis only).
export type RangeFetcher = (start: number, end: number, signal: AbortSignal) => Promise<Series[]>;

const PALETTE = ['#2563eb', '#e11d48', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#4f46e5'];
export const seriesColor = (i: number) => PALETTE[i % PALETTE.length];

interface Built {
  data: uPlot.AlignedData; series: uPlot.Series[]; bands: uPlot.Band[]; legendless: number[];
  plotted: Record<string, [number, number][]>; bandsPlotted: Record<string, [number, number, number][]>;
}

// Aligns every run's points on one shared x axis (uPlot's data model); a run
// with no point at some x gets null there, and spanGaps draws through it.
export function buildData(series: Series[], s: ChartSettings): Built {
  const perRun = series.map((sr) => {
    const t0 = sr.points.reduce((m, p) => Math.min(m, p.timestamp), Infinity);
    const pts = sr.points.map((p) => [
      s.x === 'step' ? p.step : s.x === 'wall' ? p.timestamp / 1000 : (p.timestamp - t0) / 1000,
      p.value,
      p.timestamp,
      p.lo,
      p.hi,
    ] as [number, number, number, number | undefined, number | undefined]);
    pts.sort((a, b) => a[0] - b[0] || a[2] - b[2]);
    return pts;
  });
  const xs = [...new Set(perRun.flatMap((pts) => pts.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const data: (number | null)[][] = [xs];
  const useries: uPlot.Series[] = [{ label: s.x === 'step' ? 'Step' : s.x === 'wall' ? 'Time' : 'Elapsed', value: (_u, v) => (v == null ? '—' : s.x === 'wall' ? new Date(v * 1000).toLocaleString() : s.x === 'rel' ? fmtDuration(v * 1000) : String(v)) }];
  const plotted: Record<string, [number, number][]> = {};
  const bandsPlotted: Record<string, [number, number, number][]> = {};
  const bands: uPlot.Band[] = [];
  const legendless: number[] = [];
  const fmt = (_u: uPlot, v: number | null) => (v == null ? '—' : fmtNum(v));
  const ok = (v: number | undefined) => (v === undefined || (s.log && !(v > 0)) ? null : v);
  perRun.forEach((pts, i) => {
    const y: (number | null)[] = new Array(xs.length).fill(null);
    for (const [x, v] of pts) y[index.get(x)!] = s.log && !(v > 0) ? null : v;
    plotted[series[i].runId] = pts.map((p) => [p[0], p[1]]);
    const color = seriesColor(i);
    if (s.smooth > 0) {
      data.push(y);
      useries.push({ label: series[i].label + ' (raw)', stroke: color + '40', width: 1, spanGaps: true, value: (_u, v) => (v == null ? '—' : fmtNum(v)) });
      data.push(emaDebiased(y, s.smooth));
      useries.push({ label: series[i].label, stroke: color, width: 2, spanGaps: true, value: (_u, v) => (v == null ? '—' : fmtNum(v)) });
    } else {
      data.push(y);
      useries.push({ label: series[i].label, stroke: color, width: 1.5, spanGaps: true, value: (_u, v) => (v == null ? '—' : fmtNum(v)) });
    }
    if (pts.some((p) => p[3] !== undefined)) {
      const lo: (number | null)[] = new Array(xs.length).fill(null);
      const hi: (number | null)[] = new Array(xs.length).fill(null);
      for (const p of pts) { lo[index.get(p[0])!] = ok(p[3]); hi[index.get(p[0])!] = ok(p[4]); }
      data.push(hi, lo);
      useries.push({ label: series[i].label + ' (hi)', stroke: color + '55', width: 0.5, spanGaps: true, value: fmt },
        { label: series[i].label + ' (lo)', stroke: color + '55', width: 0.5, spanGaps: true, value: fmt });
      bands.push({ series: [data.length - 2, data.length - 1], fill: color + '22' });
      legendless.push(data.length - 2, data.length - 1);
      bandsPlotted[series[i].runId] = pts.map((p) => [p[0], p[3]!, p[4]!]);
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
  const base = useMemo(() => ({}), p.series.flatMap((s) => [s.runId, s.points]));
  const built = useMemo(() => buildData(shown, p.settings),
    [p.settings.x, p.settings.log, p.settings.smooth, ...shown.flatMap((s) => [s.runId, s.label, s.points])]);
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
      u.setData(built.data, true);
      u.setScale('x', { min: zoom[0], max: zoom[1] });
    } else {
      u.setData(built.data, !zoomed.current);
    }
  }, [built]);

  useEffect(() => {
    if (!full) return;
    const esc = (e: KeyboardEvent) => { if (e.key === 'Escape') setFull(false); };
    window.addEventListener('keydown', esc);
    return () => window.removeEventListener('keydown', esc);
  }, [full]);

  const empty = p.series.every((s) => s.points.length === 0);
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
