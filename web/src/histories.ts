import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, Metric, RunColumns } from './api';
import { testHook } from './testhook';

const POLL_MS = 5000;
// Points per run per chart: the whole history at first, and the same budget
// again for a zoomed step range. Many runs share a total budget, since every
// point costs JSON parsing, alignment and drawing; 1,000 per run is still two
// (min and max) per pixel column of a full-width chart.
export const CHART_POINTS = 2500;
const TOTAL_POINTS = 100_000;
const MIN_POINTS = 1000;
export const pointsPerRun = (runs: number) => Math.max(MIN_POINTS, Math.min(CHART_POINTS, Math.floor(TOTAL_POINTS / Math.max(1, runs))));
// Runs per request: the server reads the runs of one request concurrently,
// and several requests in flight (browsers allow six per host) also overlap
// the transfer and parsing of one answer with the reading of the next.
const RUNS_PER_CALL = 10;

// One metric's chart data for several runs, optionally limited to a step
// range, as arrays by run id; a run without points is absent.
export async function loadColumns(runIds: string[], key: string, signal: AbortSignal, range?: [number, number]): Promise<Record<string, RunColumns>> {
  const byRun: Record<string, RunColumns> = {};
  const calls: Promise<void>[] = [];
  for (let i = 0; i < runIds.length; i += RUNS_PER_CALL) {
    calls.push(api.sampledHistory(runIds.slice(i, i + RUNS_PER_CALL), key, pointsPerRun(runIds.length), signal, range).then((rs) => {
      for (const c of rs) byRun[c.run_id] = c;
    }));
  }
  await Promise.all(calls);
  return byRun;
}

// A run's chart data as metric objects, for code that works point by point.
export function columnMetrics(key: string, c: RunColumns | undefined): Metric[] {
  if (!c) return [];
  const out: Metric[] = new Array(c.steps.length);
  for (let i = 0; i < out.length; i++) out[i] = { key, step: c.steps[i], timestamp: c.timestamps[i], value: c.values[i], run_id: c.run_id };
  return out;
}

const metricsOf = (key: string, runIds: string[], byRun: Record<string, RunColumns>): Record<string, Metric[]> =>
  Object.fromEntries(runIds.map((id) => [id, columnMetrics(key, byRun[id])]));

// loadColumns as metric objects, every run present.
export async function loadHistory(runIds: string[], key: string, signal: AbortSignal, range?: [number, number]): Promise<Record<string, Metric[]>> {
  return metricsOf(key, runIds, await loadColumns(runIds, key, signal, range));
}

// Loads the chart data of several runs for several metric keys (by key, then
// run id), and reloads it periodically while `live` is true (some run is
// RUNNING).
export function useHistoryColumns(runIds: string[], keys: string[], live: boolean) {
  const [data, setData] = useState<Record<string, Record<string, RunColumns>>>({});
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const sig = runIds.join(',') + '|' + keys.join('\u0000');

  useEffect(() => { setData({}); }, [sig]);

  useEffect(() => {
    if (!runIds.length || !keys.length) return;
    const ctl = new AbortController();
    (async () => {
      try {
        const out: Record<string, Record<string, RunColumns>> = {};
        await Promise.all(keys.map(async (k) => { out[k] = await loadColumns(runIds, k, ctl.signal); }));
        if (!ctl.signal.aborted) { setData(out); setError(''); }
      } catch (e) {
        if ((e as Error).name !== 'AbortError') setError((e as Error).message);
      }
    })();
    return () => ctl.abort();
  }, [sig, tick]);

  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setTick((n) => n + 1), testHook().pollMs ?? POLL_MS);
    return () => clearInterval(t);
  }, [live]);

  return { data, error };
}

// useHistoryColumns as metric objects, every run present under every key loaded.
export function useHistories(runIds: string[], keys: string[], live: boolean) {
  const { data, error } = useHistoryColumns(runIds, keys, live);
  const metrics = useMemo(() => Object.fromEntries(Object.entries(data).map(([k, byRun]) => [k, metricsOf(k, runIds, byRun)])), [data]);
  return { data: metrics, error };
}
