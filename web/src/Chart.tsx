import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { Metric } from './api';
import { fmtDuration, fmtNum } from './format';
import { emaDebiased } from './smooth';
import { testHook } from './testhook';

export type XMode = 'step' | 'wall' | 'rel';
export interface ChartSettings { x: XMode; log: boolean; smooth: number }
export interface Series { runId: string; label: string; points: Metric[] }

const PALETTE = ['#2563eb', '#e11d48', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#4f46e5'];
export const seriesColor = (i: number) => PALETTE[i % PALETTE.length];

interface Built { data: uPlot.AlignedData; series: uPlot.Series[]; plotted: Record<string, [number, number][]> }

// Aligns every run's points on one shared x axis (uPlot's data model); a run
// with no point at some x gets null there, and spanGaps draws through it.
export function buildData(series: Series[], s: ChartSettings): Built {
  const perRun = series.map((sr) => {
    const t0 = sr.points.reduce((m, p) => Math.min(m, p.timestamp), Infinity);
    const pts = sr.points.map((p) => [
      s.x === 'step' ? p.step : s.x === 'wall' ? p.timestamp / 1000 : (p.timestamp - t0) / 1000,
      p.value,
      p.timestamp,
    ] as [number, number, number]);
    pts.sort((a, b) => a[0] - b[0] || a[2] - b[2]);
    return pts;
  });
  const xs = [...new Set(perRun.flatMap((pts) => pts.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const data: (number | null)[][] = [xs];
  const useries: uPlot.Series[] = [{ label: s.x === 'step' ? 'Step' : s.x === 'wall' ? 'Time' : 'Elapsed', value: (_u, v) => (v == null ? '—' : s.x === 'wall' ? new Date(v * 1000).toLocaleString() : s.x === 'rel' ? fmtDuration(v * 1000) : String(v)) }];
  const plotted: Record<string, [number, number][]> = {};
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
  });
  return { data: data as uPlot.AlignedData, series: useries, plotted };
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function MetricChart(p: { metricKey: string; series: Series[]; settings: ChartSettings; height?: number }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [full, setFull] = useState(false);
  const [theme, setTheme] = useState(0);
  const zoomed = useRef(false);
  const built = useMemo(() => buildData(p.series, p.settings),
    [p.settings.x, p.settings.log, p.settings.smooth, ...p.series.flatMap((s) => [s.runId, s.label, s.points])]);
  testHook().charts[p.metricKey] = { x: p.settings.x, series: built.plotted };

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
      cursor: { drag: { x: true, y: false }, sync: { key: 'mltrack' } },
      legend: { live: true },
      hooks: { setSelect: [(u) => { if (u.select.width > 0) zoomed.current = true; }] },
    };
    zoomed.current = false;
    const u = new uPlot(opts, built.data, el);
    u.over.addEventListener('dblclick', () => { zoomed.current = false; });
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: u.height }));
    ro.observe(el);
    return () => { ro.disconnect(); u.destroy(); plot.current = null; };
  }, [shape]);

  // Keep the user's zoom across live refreshes; otherwise fit the new data.
  useEffect(() => { plot.current?.setData(built.data, !zoomed.current); }, [built]);

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
          <button class="icon-btn" title="Reset zoom" aria-label="Reset zoom" onClick={() => { zoomed.current = false; plot.current?.setData(plot.current.data, true); }}>↺</button>
          <button class="icon-btn" title={full ? 'Exit full screen (Esc)' : 'Full screen'} aria-label="Full screen" data-testid="fullscreen" onClick={() => setFull(!full)}>{full ? '✕' : '⤢'}</button>
        </span>
      </div>
      {empty && <div class="empty small muted">No values logged.</div>}
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
