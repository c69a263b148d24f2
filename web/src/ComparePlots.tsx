// Parallel coordinates and a param-vs-metric scatter for the compared runs,
// drawn as plain SVG: a few dozen lines and dots need no chart library.
import { Run, runName } from './api';
import { seriesColor } from './Chart';
import { fmtNum } from './format';
import { testHook } from './testhook';

export interface Axis { id: string; label: string; values: (string | undefined)[] }
type Scale = { numeric: boolean; pos: (v: string) => number; ticks: [string, number][] };

// viewBox sizes near the cards' real widths, so text keeps its CSS size.
const PC_W = 720, SC_W = 480, H = 300, TOP = 44, BOTTOM = 26, SIDE = 40;

export const paramValue = (r: Run, k: string) => r.data.params?.find((p) => p.key === k)?.value;
export const metricValue = (r: Run, k: string) => {
  const v = r.data.metrics?.find((m) => m.key === k)?.value;
  return v === undefined ? undefined : String(v);
};

const isNum = (s: string) => s.trim() !== '' && Number.isFinite(Number(s));

// Maps an axis's values to 0..1: numerically when every present value is a
// number, otherwise as evenly spaced sorted categories.
export function scaleOf(values: (string | undefined)[]): Scale {
  const present = values.filter((v): v is string => v !== undefined);
  if (present.length && present.every(isNum)) {
    const nums = present.map(Number);
    const min = Math.min(...nums), max = Math.max(...nums);
    const pos = (v: string) => (max === min ? 0.5 : (Number(v) - min) / (max - min));
    return { numeric: true, pos, ticks: max === min ? [[fmtNum(min), 0.5]] : [[fmtNum(min), 0], [fmtNum(max), 1]] };
  }
  const cats = [...new Set(present)].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const pos = (v: string) => (cats.length === 1 ? 0.5 : cats.indexOf(v) / (cats.length - 1));
  return { numeric: false, pos, ticks: cats.map((c) => [c, pos(c)]) };
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);
const hook = (v: string | undefined, numeric: boolean) => (v === undefined ? null : numeric ? Number(v) : v);

export function ParallelCoords({ runs, axes }: { runs: Run[]; axes: Axis[] }) {
  const W = PC_W;
  const scales = axes.map((a) => scaleOf(a.values));
  const xAt = (i: number) => (axes.length === 1 ? W / 2 : SIDE + (i * (W - 2 * SIDE)) / (axes.length - 1));
  const yAt = (t: number) => TOP + (1 - t) * (H - TOP - BOTTOM);
  testHook().parcoords = {
    axes: axes.map((a) => a.id),
    lines: Object.fromEntries(runs.map((r, ri) => [r.info.run_id, axes.map((a, ai) => hook(a.values[ri], scales[ai].numeric))])),
  };
  if (!axes.length) return <p class="muted small">Choose at least one metric, or log params, to draw axes.</p>;
  return (
    <svg class="plot-svg" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Parallel coordinates" data-testid="parcoords">
      {axes.map((a, i) => (
        <g key={a.id} class="pc-axis">
          <line x1={xAt(i)} x2={xAt(i)} y1={yAt(1)} y2={yAt(0)} />
          <text class="pc-label" x={xAt(i)} y={14} text-anchor="middle">{clip(a.label, Math.max(6, Math.floor((W - 2 * SIDE) / Math.max(1, axes.length - 1) / 8)))}<title>{a.id}</title></text>
          {scales[i].ticks.slice(0, 12).map(([t, p]) => {
            // The last axis labels its ticks on its left, inside the plot.
            const last = i === axes.length - 1 && axes.length > 1;
            return <text key={t} class="pc-tick" x={xAt(i) + (last ? -5 : 5)} y={yAt(p) + 4} text-anchor={last ? 'end' : 'start'}>{clip(t, 14)}</text>;
          })}
        </g>
      ))}
      {runs.map((r, ri) => {
        const pts = axes.flatMap((a, ai) => {
          const v = a.values[ri];
          return v === undefined ? [] : [`${xAt(ai).toFixed(1)},${yAt(scales[ai].pos(v)).toFixed(1)}`];
        });
        return (
          <polyline key={r.info.run_id} data-run-id={r.info.run_id} class="pc-line" points={pts.join(' ')} stroke={seriesColor(ri)}>
            <title>{runName(r)}</title>
          </polyline>
        );
      })}
    </svg>
  );
}

export function Scatter({ runs, x, y, xLabel, yLabel }: { runs: Run[]; x: (string | undefined)[]; y: (string | undefined)[]; xLabel: string; yLabel: string }) {
  const W = SC_W;
  const sx = scaleOf(x), sy = scaleOf(y);
  const L = 72, R = 28, T = 16, B = 44;
  // Inset so dots at the extremes do not sit on the axes.
  const px = (t: number) => L + (0.05 + 0.9 * t) * (W - L - R);
  const py = (t: number) => T + (0.95 - 0.9 * t) * (H - T - B);
  const idx = runs.map((_, i) => i).filter((i) => x[i] !== undefined && y[i] !== undefined);
  testHook().scatter = {
    x: xLabel, y: yLabel,
    points: Object.fromEntries(idx.map((i) => [runs[i].info.run_id, [hook(x[i], sx.numeric)!, Number(y[i])] as [number | string, number]])),
  };
  return (
    <svg class="plot-svg" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${yLabel} against ${xLabel}`} data-testid="scatter">
      <g class="pc-axis">
        <line x1={L} x2={W - R} y1={H - B} y2={H - B} />
        <line x1={L} x2={L} y1={T} y2={H - B} />
      </g>
      {sx.ticks.slice(0, 12).map(([t, p]) => <text key={'x' + t} class="pc-tick" x={px(p)} y={H - B + 16} text-anchor="middle">{clip(t, 14)}</text>)}
      {sy.ticks.slice(0, 12).map(([t, p]) => <text key={'y' + t} class="pc-tick" x={L - 6} y={py(p) + 4} text-anchor="end">{clip(t, 12)}</text>)}
      <text class="pc-label" x={(L + W - R) / 2} y={H - 6} text-anchor="middle">{xLabel}</text>
      <text class="pc-label" x={14} y={(T + H - B) / 2} text-anchor="middle" transform={`rotate(-90 14 ${(T + H - B) / 2})`}>{yLabel}</text>
      {idx.map((i) => (
        <circle key={runs[i].info.run_id} data-run-id={runs[i].info.run_id} class="sc-dot" r={6}
          cx={px(sx.pos(x[i]!)).toFixed(1)} cy={py(sy.pos(y[i]!)).toFixed(1)} fill={seriesColor(i)}>
          <title>{`${runName(runs[i])}: ${xLabel}=${x[i]}, ${yLabel}=${y[i]}`}</title>
        </circle>
      ))}
    </svg>
  );
}
