import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, Run, runName, tagValue } from './api';
import { ArtifactsSection, runArtifacts } from './Artifacts';
import { ChartControls, MetricChart, settingsFrom } from './Chart';
import { fmtDuration, fmtNum, fmtTime, runDuration } from './format';
import { loadHistory, useHistories } from './histories';
import { DatasetsSection, RunModelsSection } from './Models';
import { href, Route, updateQuery } from './route';
import { StatusBadge } from './StatusBadge';
import { testHook } from './testhook';

const NOTE = 'mlflow.note.content';
const POLL_MS = 5000;

export function RunPage({ route, onExperiment }: { route: Extract<Route, { page: 'run' }>; onExperiment: (id: string) => void }) {
  const id = route.id;
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState('');
  const [children, setChildren] = useState<Run[]>([]);
  const [parent, setParent] = useState<Run | null>(null);
  const [ranges, setRanges] = useState<Record<string, { min: number; max: number }>>({});
  const [reload, setReload] = useState(0);
  const settings = settingsFrom(route.q);

  useEffect(() => {
    const ctl = new AbortController();
    api.getRun(id, ctl.signal).then((r) => { setRun(r.run); setError(''); onExperiment(r.run.info.experiment_id); })
      .catch((e: Error) => { if (e.name !== 'AbortError') setError(e.message); });
    return () => ctl.abort();
  }, [id, reload]);

  const running = run?.info.status === 'RUNNING';
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setReload((n) => n + 1), testHook().pollMs ?? POLL_MS);
    return () => clearInterval(t);
  }, [running]);

  const expId = run?.info.experiment_id;
  const parentId = run ? tagValue(run, 'mlflow.parentRunId') : undefined;
  useEffect(() => {
    if (!expId) return;
    api.searchRuns({ experiment_ids: [expId], filter: `tags.mlflow.parentRunId = '${id}'`, run_view_type: 'ALL', max_results: 1000 })
      .then((r) => setChildren(r.runs ?? [])).catch(() => setChildren([]));
  }, [id, expId]);
  useEffect(() => {
    setParent(null);
    if (parentId) api.getRun(parentId).then((r) => setParent(r.run)).catch(() => undefined);
  }, [parentId]);

  const metricKeys = useMemo(() => (run?.data.metrics ?? []).map((m) => m.key).sort(), [run]);
  // Min and max come from the full history: the sampled chart data may skip
  // the extreme values of a long history.
  useEffect(() => {
    if (!metricKeys.length) return;
    const ctl = new AbortController();
    Promise.all(metricKeys.slice(0, 100).map(async (k) => {
      const h = await api.fullHistory(id, k, ctl.signal);
      let min = Infinity, max = -Infinity;
      for (const m of h) { if (m.value < min) min = m.value; if (m.value > max) max = m.value; }
      return [k, { min, max }] as const;
    })).then((e) => setRanges(Object.fromEntries(e))).catch(() => undefined);
    return () => ctl.abort();
  }, [id, metricKeys.join('\u0000'), reload]);

  const { data: hist, error: histError } = useHistories(run ? [id] : [], metricKeys, running);

  if (error) return <div class="page"><div class="empty error-state" role="alert"><h2>Run not available</h2><p>{error}</p><a href="#/">Back to experiments</a></div></div>;
  if (!run) return <div class="page"><div class="empty muted">Loading run…</div></div>;

  const info = run.info;
  const name = runName(run);
  const tags = run.data.tags ?? [];
  const userTags = tags.filter((t) => !t.key.startsWith('mlflow.')).sort((a, b) => a.key.localeCompare(b.key));
  const sysTags = tags.filter((t) => t.key.startsWith('mlflow.') && t.key !== NOTE).sort((a, b) => a.key.localeCompare(b.key));
  const params = [...(run.data.params ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  const metrics = [...(run.data.metrics ?? [])].sort((a, b) => a.key.localeCompare(b.key));

  const mutate = async (f: () => Promise<unknown>) => { await f(); setReload((n) => n + 1); };

  return (
    <div class="page run-page">
      <header class="page-head">
        <div>
          <div class="crumbs"><a href={href('/experiments/' + info.experiment_id)}>Experiment {info.experiment_id}</a> / Run</div>
          <h1 data-testid="run-title">{name} <StatusBadge status={info.status} />{info.lifecycle_stage === 'deleted' && <span class="badge deleted">deleted</span>}</h1>
        </div>
        <div class="head-actions">
          {info.lifecycle_stage === 'deleted'
            ? <button class="btn" onClick={() => mutate(() => api.restoreRun(id))}>Restore</button>
            : <button class="btn danger" onClick={() => { if (confirm('Delete this run?')) mutate(() => api.deleteRun(id)); }}>Delete</button>}
        </div>
      </header>

      <section class="card overview">
        <dl class="facts">
          <div><dt>Run ID</dt><dd class="mono">{info.run_id}</dd></div>
          <div><dt>Started</dt><dd>{fmtTime(info.start_time)}</dd></div>
          <div><dt>Ended</dt><dd>{fmtTime(info.end_time)}</dd></div>
          <div><dt>Duration</dt><dd>{fmtDuration(runDuration(info.start_time, info.end_time, info.status))}</dd></div>
          <div><dt>User</dt><dd>{tagValue(run, 'mlflow.user') ?? info.user_id ?? '—'}</dd></div>
          <div><dt>Source</dt><dd>{tagValue(run, 'mlflow.source.name') ?? '—'}</dd></div>
          <div><dt>Parent run</dt><dd data-testid="parent-link">{parentId ? <a href={href('/runs/' + parentId)}>{parent ? runName(parent) : parentId}</a> : '—'}</dd></div>
          <div><dt>Child runs</dt><dd data-testid="children">{children.length ? children.map((c) => <a key={c.info.run_id} class="chip" href={href('/runs/' + c.info.run_id)}>{runName(c)}</a>) : '—'}</dd></div>
          <div class="wide"><dt>Artifact URI</dt><dd class="mono small">{info.artifact_uri ?? '—'}</dd></div>
        </dl>
      </section>

      <Description value={tagValue(run, NOTE) ?? ''} onSave={(v) => mutate(() => api.setTag(id, NOTE, v))} />

      <div class="two-col">
        <section class="card">
          <h2>Parameters <span class="count">{params.length}</span></h2>
          {params.length === 0 ? <p class="muted">No parameters logged.</p> : (
            <table class="kv" data-testid="params"><tbody>
              {params.map((p) => <tr key={p.key}><th>{p.key}</th><td class="mono">{p.value}</td></tr>)}
            </tbody></table>
          )}
        </section>
        <section class="card">
          <h2>Metrics <span class="count">{metrics.length}</span></h2>
          {metrics.length === 0 ? <p class="muted">No metrics logged.</p> : (
            <table class="kv metrics" data-testid="metrics">
              <thead><tr><th>Key</th><th>Latest</th><th>Min</th><th>Max</th><th>Step</th></tr></thead>
              <tbody>{metrics.map((m) => (
                <tr key={m.key} data-metric={m.key}><th>{m.key}</th><td class="num">{fmtNum(m.value)}</td>
                  <td class="num">{ranges[m.key] ? fmtNum(ranges[m.key].min) : '…'}</td>
                  <td class="num">{ranges[m.key] ? fmtNum(ranges[m.key].max) : '…'}</td>
                  <td class="num">{m.step}</td></tr>
              ))}</tbody>
            </table>
          )}
        </section>
      </div>

      <section class="charts-section">
        <div class="section-head">
          <h2>Charts</h2>
          <ChartControls settings={settings} onChange={(c) => updateQuery(route, c)} />
        </div>
        {histError && <div class="error" role="alert">{histError}</div>}
        {metricKeys.length === 0 && <p class="muted">This run has no metrics to chart.</p>}
        <div class="chart-grid">
          {metricKeys.map((k) => (
            <MetricChart key={k} metricKey={k} settings={settings}
              series={[{ runId: id, label: name, points: hist[k]?.[id] ?? [] }]}
              fetchRange={(a, b, sig) => loadHistory([id], k, sig, [a, b]).then((h) => [{ runId: id, label: name, points: h[id] ?? [] }])} />
          ))}
        </div>
      </section>
      <div class="two-col top">
        <RunModelsSection run={run} />
        <DatasetsSection inputs={run.inputs?.dataset_inputs ?? []} />
      </div>
      <ArtifactsSection source={runArtifacts(id)} />
      <TagEditor tags={userTags} onSet={(k, v) => mutate(() => api.setTag(id, k, v))} onDelete={(k) => mutate(() => api.deleteTag(id, k))} />
      {sysTags.length > 0 && (
        <details class="card sys-tags">
          <summary>System tags ({sysTags.length})</summary>
          <table class="kv"><tbody>{sysTags.map((t) => <tr key={t.key}><th>{t.key}</th><td class="mono small">{t.value}</td></tr>)}</tbody></table>
        </details>
      )}

    </div>
  );
}

function Description(p: { value: string; onSave: (v: string) => Promise<void> }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(p.value);
  const [err, setErr] = useState('');
  return (
    <section class="card description" data-testid="description">
      <div class="section-head">
        <h2>Description</h2>
        {!editing && <button class="btn small" onClick={() => { setDraft(p.value); setEditing(true); }}>Edit</button>}
      </div>
      {editing ? (
        <form onSubmit={async (e) => { e.preventDefault(); try { await p.onSave(draft); setEditing(false); setErr(''); } catch (x) { setErr((x as Error).message); } }}>
          <textarea class="input textarea" value={draft} rows={5} aria-label="Description" onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)} />
          <div class="form-actions">
            <button class="btn primary small" type="submit">Save</button>
            <button class="btn small" type="button" onClick={() => setEditing(false)}>Cancel</button>
            {err && <span class="error small">{err}</span>}
          </div>
        </form>
      ) : p.value ? <p class="note">{p.value}</p> : <p class="muted">No description.</p>}
    </section>
  );
}

function TagEditor(p: { tags: { key: string; value: string }[]; onSet: (k: string, v: string) => Promise<void>; onDelete: (k: string) => Promise<void> }) {
  const [k, setK] = useState('');
  const [v, setV] = useState('');
  const [err, setErr] = useState('');
  const [edit, setEdit] = useState<string | null>(null);
  const [editV, setEditV] = useState('');
  const run = async (f: () => Promise<void>) => { try { await f(); setErr(''); } catch (e) { setErr((e as Error).message); } };
  return (
    <section class="card" data-testid="tags">
      <h2>Tags <span class="count">{p.tags.length}</span></h2>
      {p.tags.length > 0 && (
        <table class="kv"><tbody>
          {p.tags.map((t) => (
            <tr key={t.key}>
              <th>{t.key}</th>
              <td class="mono">{edit === t.key ? (
                <form class="inline-form" onSubmit={(e) => { e.preventDefault(); run(async () => { await p.onSet(t.key, editV); setEdit(null); }); }}>
                  <input class="input" value={editV} aria-label={'Value of ' + t.key} onInput={(e) => setEditV((e.target as HTMLInputElement).value)} />
                  <button class="btn small primary" type="submit">Save</button>
                  <button class="btn small" type="button" onClick={() => setEdit(null)}>Cancel</button>
                </form>
              ) : t.value}</td>
              <td class="row-actions">
                <button class="icon-btn" title="Edit" aria-label={'Edit tag ' + t.key} onClick={() => { setEdit(t.key); setEditV(t.value); }}>✎</button>
                <button class="icon-btn" title="Delete" aria-label={'Delete tag ' + t.key} onClick={() => run(() => p.onDelete(t.key))}>✕</button>
              </td>
            </tr>
          ))}
        </tbody></table>
      )}
      <form class="inline-form add-tag" onSubmit={(e) => { e.preventDefault(); if (k.trim()) run(async () => { await p.onSet(k.trim(), v); setK(''); setV(''); }); }}>
        <input class="input" placeholder="key" value={k} aria-label="New tag key" onInput={(e) => setK((e.target as HTMLInputElement).value)} />
        <input class="input" placeholder="value" value={v} aria-label="New tag value" onInput={(e) => setV((e.target as HTMLInputElement).value)} />
        <button class="btn small" type="submit">Add tag</button>
      </form>
      {err && <div class="error small" role="alert">{err}</div>}
    </section>
  );
}
