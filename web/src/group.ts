import { Metric, Run, tagValue } from './api';
import type { Point, Series } from './Chart';

export type BandKind = 'minmax' | 'std';
// What runs are grouped by: a param or a tag key, as "p:key" / "t:key" in the URL.
export interface GroupBy { kind: 'p' | 't'; key: string }

export function parseGroupBy(s: string | null): GroupBy | null {
  const m = s?.match(/^([pt]):(.+)$/);
  return m ? { kind: m[1] as 'p' | 't', key: m[2] } : null;
}

export function groupValue(r: Run, g: GroupBy): string {
  const v = g.kind === 'p' ? r.data.params?.find((p) => p.key === g.key)?.value : tagValue(r, g.key);
  return v ?? '(none)';
}

// The runs of each group, groups in order of their value.
export function groupRuns(runs: Run[], g: GroupBy): [string, Run[]][] {
  const m = new Map<string, Run[]>();
  for (const r of runs) {
    const v = groupValue(r, g);
    if (!m.has(v)) m.set(v, []);
    m.get(v)!.push(r);
  }
  return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0], undefined, { numeric: true }));
}

// Mean across runs at each step, over the runs that logged that step, with a
// min-max or mean ± population-std band. A run's repeated values at one step
// (MLflow allows them) count once, with the last logged value.
export function aggregate(histories: Metric[][], band: BandKind): Point[] {
  const at = new Map<number, { values: number[]; ts: number }>();
  for (const h of histories) {
    const last = new Map<number, Metric>();
    for (const m of h) {
      const prev = last.get(m.step);
      if (!prev || m.timestamp >= prev.timestamp) last.set(m.step, m);
    }
    for (const m of last.values()) {
      const e = at.get(m.step);
      if (e) { e.values.push(m.value); e.ts += m.timestamp; } else at.set(m.step, { values: [m.value], ts: m.timestamp });
    }
  }
  const steps = [...at.keys()].sort((a, b) => a - b);
  return steps.map((step) => {
    const { values, ts } = at.get(step)!;
    const n = values.length;
    const mean = values.reduce((a, b) => a + b, 0) / n;
    let lo: number, hi: number;
    if (band === 'std') {
      const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / n);
      lo = mean - sd; hi = mean + sd;
    } else {
      lo = Math.min(...values); hi = Math.max(...values);
    }
    return { key: '', step, value: mean, timestamp: Math.round(ts / n), lo, hi };
  });
}

// One chart series per group; the series id is the group's label.
export function groupSeries(groups: [string, Run[]][], g: GroupBy, byRun: Record<string, Metric[]>, band: BandKind): Series[] {
  return groups.map(([value, runs]) => {
    const label = `${g.key}=${value} (${runs.length})`;
    return { runId: label, label, points: aggregate(runs.map((r) => byRun[r.info.run_id] ?? []), band) };
  });
}
