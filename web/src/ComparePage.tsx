import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, Run, runName } from './api';
import { ChartControls, MetricChart, settingsFrom } from './Chart';
import { fmtNum } from './format';
import { useHistories } from './histories';
import { href, Route, updateQuery } from './route';
import { StatusBadge } from './StatusBadge';

export function ComparePage({ route, onExperiment }: { route: Extract<Route, { page: 'compare' }>; onExperiment: (id: string) => void }) {
  const ids = useMemo(() => (route.q.get('runs') ?? '').split(',').filter(Boolean), [route.q.get('runs')]);
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const settings = settingsFrom(route.q);

  useEffect(() => {
    Promise.all(ids.map((id) => api.getRun(id).then((r) => r.run)))
      .then((r) => { setRuns(r); setError(''); if (r[0]) onExperiment(r[0].info.experiment_id); })
      .catch((e: Error) => setError(e.message));
  }, [ids.join(','), tick]);

  const live = (runs ?? []).some((r) => r.info.status === 'RUNNING');
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setTick((n) => n + 1), 5000);
    return () => clearInterval(t);
  }, [live]);

  const keys = useMemo(() => [...new Set((runs ?? []).flatMap((r) => (r.data.metrics ?? []).map((m) => m.key)))].sort(), [runs]);
  const { data: hist, error: histError } = useHistories(runs ? ids : [], keys, live);

  if (!ids.length) return <div class="page"><div class="empty"><h2>Nothing to compare</h2><p class="muted">Select runs in an experiment's table, then press Compare.</p></div></div>;
  if (error) return <div class="page"><div class="empty error-state" role="alert"><h2>Cannot load runs</h2><p>{error}</p></div></div>;
  if (!runs) return <div class="page"><div class="empty muted">Loading runs…</div></div>;

  const paramKeys = [...new Set(runs.flatMap((r) => (r.data.params ?? []).map((p) => p.key)))].sort();
  const val = (r: Run, k: string) => r.data.params?.find((p) => p.key === k)?.value;
  const metricVal = (r: Run, k: string) => r.data.metrics?.find((m) => m.key === k)?.value;
  const exp = route.q.get('exp') ?? runs[0]?.info.experiment_id;

  return (
    <div class="page compare-page">
      <header class="page-head">
        <div>
          <div class="crumbs"><a href={href('/experiments/' + exp, { sel: ids.join(',') })}>Experiment {exp}</a> / Compare</div>
          <h1>Comparing {runs.length} run{runs.length === 1 ? '' : 's'}</h1>
        </div>
      </header>
      <section class="card">
        <div class="table-wrap">
          <table class="compare" data-testid="compare-table">
            <thead><tr><th />{runs.map((r, i) => (
              <th key={r.info.run_id}><span class={'swatch c' + (i % 10)} /> <a href={href('/runs/' + r.info.run_id)}>{runName(r)}</a> <StatusBadge status={r.info.status} /></th>
            ))}</tr></thead>
            <tbody>
              {paramKeys.map((k) => {
                const vals = runs.map((r) => val(r, k));
                const differs = new Set(vals).size > 1;
                return <tr key={'p' + k} class={differs ? 'differs' : ''}><th><span class="kind">p</span>{k}</th>{vals.map((v, i) => <td key={i} class="mono">{v ?? '—'}</td>)}</tr>;
              })}
              {keys.map((k) => <tr key={'m' + k}><th><span class="kind m">m</span>{k}</th>{runs.map((r, i) => <td key={i} class="num">{fmtNum(metricVal(r, k)) || '—'}</td>)}</tr>)}
            </tbody>
          </table>
        </div>
      </section>
      <section class="charts-section">
        <div class="section-head">
          <h2>Charts</h2>
          <ChartControls settings={settings} onChange={(c) => updateQuery(route, c)} />
        </div>
        {histError && <div class="error" role="alert">{histError}</div>}
        <div class="chart-grid">
          {keys.map((k) => (
            <MetricChart key={k} metricKey={k} settings={settings}
              series={runs.map((r) => ({ runId: r.info.run_id, label: runName(r), points: hist[k]?.[r.info.run_id] ?? [] }))} />
          ))}
        </div>
      </section>
    </div>
  );
}
