import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, Run, RunColumns, runName } from './api';
import { ChartControls, MetricChart, Series, settingsFrom } from './Chart';
import { fmtNum } from './format';
import { ParallelCoords, Scatter, metricValue, paramValue } from './ComparePlots';
import { BandKind, groupRuns, groupSeries, parseGroupBy } from './group';
import { columnMetrics, loadColumns, useHistoryColumns } from './histories';
import { href, Route, updateQuery } from './route';
import { StatusBadge } from './StatusBadge';

export function ComparePage({ route, onExperiment }: { route: Extract<Route, { page: 'compare' }>; onExperiment: (id: string) => void }) {
  const ids = useMemo(() => (route.q.get('runs') ?? '').split(',').filter(Boolean), [route.q.get('runs')]);
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const settings = settingsFrom(route.q);

  useEffect(() => {
    fetchRuns(ids)
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
  const { data: hist, error: histError } = useHistoryColumns(runs ? ids : [], keys, live);
  const groupBy = parseGroupBy(route.q.get('group'));
  const band: BandKind = route.q.get('band') === 'std' ? 'std' : 'minmax';
  const groups = useMemo(() => (runs && groupBy ? groupRuns(runs, groupBy) : null), [runs, route.q.get('group')]);
  // Chart series per metric: one per run, or one mean line (with a band) per group.
  // Runs' points stay in arrays (cols) unless grouping needs them one by one.
  const seriesFor = (key: string, byRun: Record<string, RunColumns>): Series[] =>
    groups && groupBy ? groupSeries(groups, groupBy, Object.fromEntries(ids.map((id) => [id, columnMetrics(key, byRun[id])])), band)
      : (runs ?? []).map((r) => ({ runId: r.info.run_id, label: runName(r), points: [], cols: byRun[r.info.run_id] }));
  const chartSeries = useMemo(() => Object.fromEntries(keys.map((k) => [k, seriesFor(k, hist[k] ?? {})])), [hist, groups, band, keys]);

  if (!ids.length) return <div class="page"><div class="empty"><h2>Nothing to compare</h2><p class="muted">Select runs in an experiment's table, then press Compare.</p></div></div>;
  if (error) return <div class="page"><div class="empty error-state" role="alert"><h2>Cannot load runs</h2><p>{error}</p></div></div>;
  if (!runs) return <div class="page"><div class="empty muted">Loading runs…</div></div>;

  const paramKeys = [...new Set(runs.flatMap((r) => (r.data.params ?? []).map((p) => p.key)))].sort();
  const val = (r: Run, k: string) => r.data.params?.find((p) => p.key === k)?.value;
  const metricVal = (r: Run, k: string) => r.data.metrics?.find((m) => m.key === k)?.value;
  const exp = route.q.get('exp') ?? runs[0]?.info.experiment_id;
  const tagKeys = [...new Set(runs.flatMap((r) => (r.data.tags ?? []).map((t) => t.key)))].filter((k) => !k.startsWith('mlflow.')).sort();

  // Parallel coordinates: every param, plus the chosen metrics ("~" = none).
  const pmRaw = route.q.get('pm');
  const pcMetrics = pmRaw === null ? keys.slice(0, 6) : pmRaw === '~' ? [] : pmRaw.split(',').filter((k) => keys.includes(k));
  const togglePm = (k: string) => {
    const next = pcMetrics.includes(k) ? pcMetrics.filter((x) => x !== k) : keys.filter((x) => x === k || pcMetrics.includes(x));
    updateQuery(route, { pm: next.length ? next.join(',') : '~' });
  };
  const axes = [
    ...paramKeys.map((k) => ({ id: 'p:' + k, label: k, values: runs.map((r) => paramValue(r, k)) })),
    ...pcMetrics.map((k) => ({ id: 'm:' + k, label: k, values: runs.map((r) => metricValue(r, k)) })),
  ];
  const firstNumericParam = paramKeys.find((k) => runs.every((r) => { const v = paramValue(r, k); return v === undefined || Number.isFinite(Number(v)); }));
  const sx = route.q.get('sx') ?? firstNumericParam ?? paramKeys[0] ?? '';
  const sy = route.q.get('sy') ?? keys[0] ?? '';

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
      {runs.length > 0 && (paramKeys.length > 0 || keys.length > 0) && (
        <div class="plot-grid">
          <section class="card" data-testid="parcoords-card">
            <div class="plot-head"><h3>Parallel coordinates</h3></div>
            {keys.length > 0 && (
              <div class="metric-chips" data-testid="pc-metrics">
                <span class="muted">Metrics:</span>
                {keys.map((k) => <label key={k}><input type="checkbox" checked={pcMetrics.includes(k)} onChange={() => togglePm(k)} /> {k}</label>)}
              </div>
            )}
            <ParallelCoords runs={runs} axes={axes} />
          </section>
          <section class="card" data-testid="scatter-card">
            <div class="plot-head">
              <h3>Scatter</h3>
              <span class="inline-form">
                <label>x <select class="input select" value={sx} data-testid="scatter-x" onChange={(e) => updateQuery(route, { sx: (e.target as HTMLSelectElement).value })}>
                  {paramKeys.map((k) => <option key={k} value={k}>{k}</option>)}
                </select></label>
                <label>y <select class="input select" value={sy} data-testid="scatter-y" onChange={(e) => updateQuery(route, { sy: (e.target as HTMLSelectElement).value })}>
                  {keys.map((k) => <option key={k} value={k}>{k}</option>)}
                </select></label>
              </span>
            </div>
            {sx && sy
              ? <Scatter runs={runs} x={runs.map((r) => paramValue(r, sx))} y={runs.map((r) => metricValue(r, sy))} xLabel={sx} yLabel={sy} />
              : <p class="muted small">A scatter needs a param and a metric.</p>}
          </section>
        </div>
      )}
      <section class="charts-section">
        <div class="section-head">
          <h2>Charts</h2>
          <div class="chart-controls">
            <label>Group by
              <select class="input select" value={route.q.get('group') ?? ''} data-testid="group-by" onChange={(e) => updateQuery(route, { group: (e.target as HTMLSelectElement).value })}>
                <option value="">None (one line per run)</option>
                {paramKeys.length > 0 && <optgroup label="Params">{paramKeys.map((k) => <option key={k} value={'p:' + k}>{k}</option>)}</optgroup>}
                {tagKeys.length > 0 && <optgroup label="Tags">{tagKeys.map((k) => <option key={k} value={'t:' + k}>{k}</option>)}</optgroup>}
              </select>
            </label>
            {groupBy && (
              <label>Band
                <select class="input select" value={band} data-testid="band" onChange={(e) => updateQuery(route, { band: (e.target as HTMLSelectElement).value === 'std' ? 'std' : '' })}>
                  <option value="minmax">min–max</option>
                  <option value="std">mean ± std</option>
                </select>
              </label>
            )}
            <ChartControls settings={settings} onChange={(c) => updateQuery(route, c)} />
          </div>
        </div>
        {histError && <div class="error" role="alert">{histError}</div>}
        <div class="chart-grid">
          {keys.map((k) => (
            <MetricChart key={k} metricKey={k} settings={settings} series={chartSeries[k] ?? []}
              fetchRange={(a, b, sig) => loadColumns(ids, k, sig, [a, b]).then((byRun) => seriesFor(k, byRun))} />
          ))}
        </div>
      </section>
    </div>
  );
}

// The compared runs, in the order asked. Runs compared together usually
// share an experiment: one search by run id fetches them all, where a get a
// run meant a hundred requests queueing six at a time for a 100-run compare;
// any the search does not return (other experiments) are fetched one by one.
async function fetchRuns(ids: string[]): Promise<Run[]> {
  if (!ids.length) return [];
  const first = (await api.getRun(ids[0])).run;
  const found = new Map<string, Run>([[first.info.run_id, first]]);
  const rest = [...new Set(ids)].filter((id) => !found.has(id));
  const quoted = (id: string) => "'" + id.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
  for (let i = 0; i < rest.length; i += 100) {
    const chunk = rest.slice(i, i + 100);
    try {
      const r = await api.searchRuns({ experiment_ids: [first.info.experiment_id], filter: `attributes.run_id IN (${chunk.map(quoted).join(', ')})`, run_view_type: 'ALL', max_results: chunk.length });
      for (const run of r.runs ?? []) found.set(run.info.run_id, run);
    } catch {
      // A server without run_id filters: the one-by-one path below.
    }
  }
  const missing = ids.filter((id) => !found.has(id));
  await Promise.all(missing.map((id) => api.getRun(id).then((r) => { found.set(id, r.run); })));
  return ids.map((id) => found.get(id)!);
}
