// One MLflow 3 logged model (#/models/{model_id}): its info, params, metrics
// with the run and dataset each was computed on, tags and its files.
import { useEffect, useState } from 'preact/hooks';
import { api, LoggedModel, Run, runName } from './api';
import { ArtifactsSection, modelArtifacts } from './Artifacts';
import { fmtNum } from './format';
import { ModelStatusBadge, modelTime } from './Models';
import { href, Route } from './route';

export function ModelPage({ route, onExperiment }: { route: Extract<Route, { page: 'model' }>; onExperiment: (id: string) => void }) {
  const id = route.id;
  const [model, setModel] = useState<LoggedModel | null>(null);
  const [error, setError] = useState('');
  const [runs, setRuns] = useState<Record<string, Run>>({});

  useEffect(() => {
    const ctl = new AbortController();
    api.getLoggedModel(id, ctl.signal)
      .then((r) => { setModel(r.model); onExperiment(r.model.info.experiment_id); })
      .catch((e: Error) => { if (e.name !== 'AbortError') setError(e.message); });
    return () => ctl.abort();
  }, [id]);

  // Names for the source run and for every run a metric was logged from.
  const runIds = model ? [...new Set([model.info.source_run_id, ...(model.data?.metrics ?? []).map((m) => m.run_id)].filter((x): x is string => !!x))] : [];
  useEffect(() => {
    if (!model || !runIds.length) return;
    api.searchRuns({ experiment_ids: [model.info.experiment_id], run_view_type: 'ALL', max_results: runIds.length,
      filter: `attributes.run_id IN (${runIds.map((r) => `'${r}'`).join(',')})` })
      .then((r) => setRuns(Object.fromEntries((r.runs ?? []).map((x) => [x.info.run_id, x]))))
      .catch(() => undefined);
  }, [runIds.join(',')]);

  if (error) return <div class="page"><div class="empty error-state" role="alert" data-testid="model-error"><h2>Model not available</h2><p>{error}</p><a href="#/">Back to experiments</a></div></div>;
  if (!model) return <div class="page"><div class="empty muted">Loading model…</div></div>;

  const info = model.info;
  const params = [...(model.data?.params ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  const metrics = [...(model.data?.metrics ?? [])].sort((a, b) => a.key.localeCompare(b.key) || Number(a.step) - Number(b.step));
  const tags = [...(info.tags ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  const userTags = tags.filter((t) => !t.key.startsWith('mlflow.'));
  const sysTags = tags.filter((t) => t.key.startsWith('mlflow.'));
  const runLink = (rid?: string) => rid ? <a href={href('/runs/' + rid)}>{runs[rid] ? runName(runs[rid]) : rid}</a> : '—';

  return (
    <div class="page model-page">
      <header class="page-head">
        <div>
          <div class="crumbs">
            <a href={href('/experiments/' + info.experiment_id)}>Experiment {info.experiment_id}</a>
            {' / '}<a href={href('/experiments/' + info.experiment_id, { tab: 'models' })}>Models</a> / Model
          </div>
          <h1 data-testid="model-title">{info.name} <ModelStatusBadge status={info.status} /></h1>
        </div>
      </header>

      <section class="card overview">
        <dl class="facts">
          <div><dt>Model ID</dt><dd class="mono" data-testid="model-id">{info.model_id}</dd></div>
          <div><dt>Type</dt><dd data-testid="model-type">{info.model_type || '—'}</dd></div>
          <div><dt>Created</dt><dd>{modelTime(info.creation_timestamp_ms)}</dd></div>
          <div><dt>Last updated</dt><dd>{modelTime(info.last_updated_timestamp_ms)}</dd></div>
          <div><dt>Source run</dt><dd data-testid="model-source-run">{runLink(info.source_run_id)}</dd></div>
          {info.status_message && <div class="wide"><dt>Status message</dt><dd>{info.status_message}</dd></div>}
          <div class="wide"><dt>Artifact URI</dt><dd class="mono small">{info.artifact_uri ?? '—'}</dd></div>
        </dl>
      </section>

      <div class="two-col">
        <section class="card">
          <h2>Parameters <span class="count">{params.length}</span></h2>
          {params.length === 0 ? <p class="muted">No parameters logged with this model.</p> : (
            <table class="kv" data-testid="model-params"><tbody>
              {params.map((p) => <tr key={p.key}><th>{p.key}</th><td class="mono">{p.value}</td></tr>)}
            </tbody></table>
          )}
        </section>
        <section class="card">
          <h2>Metrics <span class="count">{metrics.length}</span></h2>
          {metrics.length === 0 ? <p class="muted">No metrics logged for this model.</p> : (
            <table class="kv metrics" data-testid="model-metrics">
              <thead><tr><th>Key</th><th class="num">Value</th><th class="num">Step</th><th>Dataset</th><th>Run</th></tr></thead>
              <tbody>{metrics.map((m, i) => (
                <tr key={m.key + ':' + i} data-metric={m.key}>
                  <th>{m.key}</th>
                  <td class="num">{fmtNum(m.value)}</td>
                  <td class="num">{String(m.step ?? 0)}</td>
                  <td data-col="dataset">{m.dataset_name ? <>{m.dataset_name} <span class="mono small muted">{m.dataset_digest}</span></> : '—'}</td>
                  <td data-col="run">{runLink(m.run_id)}</td>
                </tr>
              ))}</tbody>
            </table>
          )}
        </section>
      </div>

      <section class="card" data-testid="model-tags">
        <h2>Tags <span class="count">{userTags.length}</span></h2>
        {userTags.length === 0 ? <p class="muted">No tags.</p> : (
          <table class="kv"><tbody>{userTags.map((t) => <tr key={t.key}><th>{t.key}</th><td class="mono">{t.value}</td></tr>)}</tbody></table>
        )}
        {sysTags.length > 0 && (
          <details class="sys-tags">
            <summary>System tags ({sysTags.length})</summary>
            <table class="kv"><tbody>{sysTags.map((t) => <tr key={t.key}><th>{t.key}</th><td class="mono small">{t.value}</td></tr>)}</tbody></table>
          </details>
        )}
      </section>

      <ArtifactsSection source={modelArtifacts(id)} title="Model files" initial="MLmodel" />
    </div>
  );
}
