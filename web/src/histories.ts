import { useEffect, useState } from 'preact/hooks';
import { api, Metric } from './api';
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
// Runs per request: the server reads run by run, so several small requests
// in flight (browsers allow six per host) spread the reading over its cores.
const RUNS_PER_CALL = 10;

// One metric's chart data for several runs, optionally limited to a step range.
export async function loadHistory(runIds: string[], key: string, signal: AbortSignal, range?: [number, number]): Promise<Record<string, Metric[]>> {
  const byRun: Record<string, Metric[]> = Object.fromEntries(runIds.map((id) => [id, []]));
  const calls: Promise<void>[] = [];
  for (let i = 0; i < runIds.length; i += RUNS_PER_CALL) {
    calls.push(api.sampledHistory(runIds.slice(i, i + RUNS_PER_CALL), key, pointsPerRun(runIds.length), signal, range).then((r) => {
      for (const m of r.metrics ?? []) (byRun[m.run_id!] ??= []).push(m);
    }));
  }
  await Promise.all(calls);
  return byRun;
}

// Loads the chart histories of several runs for several metric keys, and
// reloads them periodically while `live` is true (some run is RUNNING).
export function useHistories(runIds: string[], keys: string[], live: boolean) {
  const [data, setData] = useState<Record<string, Record<string, Metric[]>>>({});
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const sig = runIds.join(',') + '|' + keys.join('\u0000');

  useEffect(() => { setData({}); }, [sig]);

  useEffect(() => {
    if (!runIds.length || !keys.length) return;
    const ctl = new AbortController();
    (async () => {
      try {
        const out: Record<string, Record<string, Metric[]>> = {};
        await Promise.all(keys.map(async (k) => { out[k] = await loadHistory(runIds, k, ctl.signal); }));
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
