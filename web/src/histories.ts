import { useEffect, useState } from 'preact/hooks';
import { api, Metric } from './api';
import { testHook } from './testhook';

const POLL_MS = 5000;

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
        await Promise.all(keys.map(async (k) => {
          const byRun: Record<string, Metric[]> = Object.fromEntries(runIds.map((id) => [id, []]));
          for (let i = 0; i < runIds.length; i += 100) {
            const r = await api.sampledHistory(runIds.slice(i, i + 100), k, 2500, ctl.signal);
            for (const m of r.metrics ?? []) (byRun[m.run_id!] ??= []).push(m);
          }
          out[k] = byRun;
        }));
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
