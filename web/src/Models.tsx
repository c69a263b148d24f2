// MLflow 3 logged models and dataset inputs: the run page's "Logged models"
// and "Datasets" sections and the experiment page's Models tab.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, DatasetInput, KV, LoggedModel, ModelMetric, ModelOrder, Run, runName } from './api';
import { fmtNum, fmtTime } from './format';
import { href, Route, updateQuery } from './route';
import { testHook } from './testhook';

const STATUS: Record<string, [string, string]> = {
  LOGGED_MODEL_READY: ['Ready', 'finished'],
  LOGGED_MODEL_PENDING: ['Pending', 'running'],
  LOGGED_MODEL_UPLOAD_FAILED: ['Upload failed', 'failed'],
};

export function ModelStatusBadge({ status }: { status?: string }) {
  const [label, cls] = STATUS[status ?? ''] ?? [status ? status.replace(/^LOGGED_MODEL_/, '').toLowerCase() : 'unknown', 'other'];
  return <span class={'badge status-' + cls} data-testid="model-status" title={status}>{label}</span>;
}

export const modelTime = (ms?: number | string) => fmtTime(ms === undefined ? undefined : Number(ms));

// A model may hold one metric key several times (per dataset, per step): the
// summary shows the latest by step, then by timestamp.
export function latestModelMetrics(m: LoggedModel): Map<string, ModelMetric> {
  const out = new Map<string, ModelMetric>();
  for (const x of m.data?.metrics ?? []) {
    const cur = out.get(x.key);
    if (!cur || Number(x.step) > Number(cur.step) || (Number(x.step) === Number(cur.step) && Number(x.timestamp) >= Number(cur.timestamp))) out.set(x.key, x);
  }
  return out;
}

const sortKV = (l?: KV[]) => [...(l ?? [])].sort((a, b) => a.key.localeCompare(b.key));

// ---------------------------------------------------------------- run page

type Loaded = { model?: LoggedModel; error?: string };

function useModels(ids: string[]): Record<string, Loaded> {
  const [got, setGot] = useState<Record<string, Loaded>>({});
  const key = ids.join(',');
  useEffect(() => {
    if (!ids.length) return;
    const ctl = new AbortController();
    ids.forEach((id) => api.getLoggedModel(id, ctl.signal)
      .then((r) => setGot((g) => ({ ...g, [id]: { model: r.model } })))
      .catch((e: Error) => { if (e.name !== 'AbortError') setGot((g) => ({ ...g, [id]: { error: e.message } })); }));
    return () => ctl.abort();
  }, [key]);
  return got;
}

export function RunModelsSection({ run }: { run: Run }) {
  const outputs = run.outputs?.model_outputs ?? [];
  const inputs = run.inputs?.model_inputs ?? [];
  const ids = useMemo(() => [...new Set([...outputs, ...inputs].map((m) => m.model_id))], [run]);
  const models = useModels(ids);
  const row = (id: string, step?: number | string) => {
    const l = models[id];
    const m = l?.model;
    return (
      <tr key={id} data-model-id={id}>
        <th>{m ? <a href={href('/models/' + id)} data-testid="model-link">{m.info.name}</a>
          : l?.error ? <span><span class="mono small">{id}</span> <span class="error small">{l.error}</span></span>
          : <span class="mono small">{id}</span>}</th>
        <td>{m ? <ModelStatusBadge status={m.info.status} /> : l ? '' : '…'}</td>
        <td data-col="type">{m?.info.model_type || '—'}</td>
        <td data-col="created">{m ? modelTime(m.info.creation_timestamp_ms) : ''}</td>
        {step !== undefined && <td class="num" data-col="step">{String(step)}</td>}
      </tr>
    );
  };
  return (
    <section class="card" data-testid="logged-models">
      <h2>Logged models <span class="count">{outputs.length}</span></h2>
      {outputs.length === 0 ? <p class="muted">This run logged no models.</p> : (
        <table class="kv models-kv">
          <thead><tr><th>Name</th><th>Status</th><th>Type</th><th>Created</th><th class="num">Step</th></tr></thead>
          <tbody>{outputs.map((o) => row(o.model_id, o.step ?? 0))}</tbody>
        </table>
      )}
      {inputs.length > 0 && (
        <div class="model-inputs" data-testid="model-inputs">
          <h3>Model inputs <span class="count">{inputs.length}</span></h3>
          <table class="kv models-kv">
            <thead><tr><th>Name</th><th>Status</th><th>Type</th><th>Created</th></tr></thead>
            <tbody>{inputs.map((i) => row(i.model_id))}</tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const CONTEXT = 'mlflow.data.context';

function prettyJSON(s?: string): string | undefined {
  if (!s) return undefined;
  try { return JSON.stringify(JSON.parse(s), null, 2); } catch { return s; }
}

// MLflow stores a dataset's source as JSON ({"uri": ...} for most sources).
function sourceText(s: string): string {
  try {
    const j = JSON.parse(s);
    if (j && typeof j === 'object') {
      const v = j.uri ?? j.url ?? j.path ?? j.table_name ?? j.delta_table_name;
      if (typeof v === 'string') return v;
    }
  } catch { /* not JSON: show as logged */ }
  return s;
}

function profileEntries(s?: string): [string, string][] | null {
  if (!s) return null;
  try {
    const j = JSON.parse(s);
    if (j && typeof j === 'object' && !Array.isArray(j)) return Object.entries(j).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
  } catch { /* shown raw below */ }
  return null;
}

export function DatasetsSection({ inputs }: { inputs: DatasetInput[] }) {
  return (
    <section class="card" data-testid="datasets">
      <h2>Datasets <span class="count">{inputs.length}</span></h2>
      {inputs.length === 0 ? <p class="muted">No dataset inputs logged.</p> : (
        <div class="datasets">
          {inputs.map((d, i) => <DatasetCard key={d.dataset.name + '@' + d.dataset.digest + ':' + i} input={d} />)}
        </div>
      )}
    </section>
  );
}

function DatasetCard({ input }: { input: DatasetInput }) {
  const d = input.dataset;
  const tags = input.tags ?? [];
  const context = tags.find((t) => t.key === CONTEXT)?.value;
  const other = sortKV(tags.filter((t) => t.key !== CONTEXT));
  const schema = prettyJSON(d.schema);
  const profile = profileEntries(d.profile);
  return (
    <div class="dataset" data-dataset={d.name} data-digest={d.digest}>
      <div class="dataset-head">
        <strong data-testid="dataset-name">{d.name}</strong>
        {context && <span class="badge ctx" data-testid="dataset-context">{context}</span>}
        <span class="mono small muted" data-testid="dataset-digest" title="Digest">{d.digest}</span>
      </div>
      <dl class="facts compact">
        <div><dt>Source type</dt><dd data-testid="dataset-source-type">{d.source_type || '—'}</dd></div>
        <div><dt>Source</dt><dd class="mono small" data-testid="dataset-source">{d.source ? sourceText(d.source) : '—'}</dd></div>
        {other.length > 0 && <div class="wide"><dt>Tags</dt><dd data-testid="dataset-tags">{other.map((t) => <span key={t.key} class="chip">{t.key}: {t.value}</span>)}</dd></div>}
        {d.profile && <div class="wide"><dt>Profile</dt><dd data-testid="dataset-profile">{profile
          ? profile.map(([k, v]) => <span key={k} class="chip">{k}: {v}</span>)
          : <span class="mono small">{d.profile}</span>}</dd></div>}
      </dl>
      {schema && (
        <details class="dataset-schema">
          <summary>Schema</summary>
          <pre class="art-text" data-testid="dataset-schema">{schema}</pre>
        </details>
      )}
    </div>
  );
}

// ------------------------------------------------------- experiment page tab

const PAGE = 50;

// The URL keeps the order as "field ASC|DESC" (e.g. "metrics.rmse DESC");
// search-logged-models wants {field_name, ascending}.
export function parseModelOrder(s: string): ModelOrder | undefined {
  const m = s.match(/^(.+?)\s+(ASC|DESC)$/i);
  if (!m) return s ? { field_name: s, ascending: true } : undefined;
  return { field_name: m[1], ascending: m[2].toUpperCase() === 'ASC' };
}

export function ModelsTab({ route }: { route: Extract<Route, { page: 'experiment' }> }) {
  const expId = route.id;
  const filter = route.q.get('mfilter') ?? '';
  const order = route.q.get('morder') ?? '';
  const [draft, setDraft] = useState(filter);
  const [models, setModels] = useState<LoggedModel[]>([]);
  const [token, setToken] = useState<string | undefined>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);
  const [reload, setReload] = useState(0);
  const [runNames, setRunNames] = useState<Record<string, string>>({});
  useEffect(() => setDraft(filter), [filter]);

  const fetchPage = (pageToken: string | undefined, signal?: AbortSignal) => {
    const ob = parseModelOrder(order);
    return api.searchLoggedModels({
      experiment_ids: [expId], filter: filter || undefined, order_by: ob ? [ob] : undefined,
      max_results: testHook().modelsPageSize ?? PAGE, page_token: pageToken,
    }, signal);
  };
  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true); setError(null); setModels([]); setToken(undefined);
    fetchPage(undefined, ctl.signal)
      .then((r) => { setModels(r.models ?? []); setToken(r.next_page_token || undefined); setLoading(false); })
      .catch((e: Error) => { if (e.name !== 'AbortError') { setError(e as ApiError); setLoading(false); } });
    return () => ctl.abort();
  }, [expId, filter, order, reload]);
  const more = () => {
    setLoading(true);
    fetchPage(token)
      .then((r) => { setModels((p) => p.concat(r.models ?? [])); setToken(r.next_page_token || undefined); setLoading(false); })
      .catch((e: Error) => { setError(e as ApiError); setLoading(false); });
  };

  // Source run names in one search, not one request per model.
  const runIds = useMemo(() => [...new Set(models.map((m) => m.info.source_run_id).filter((x): x is string => !!x && !(x in runNames)))], [models]);
  useEffect(() => {
    if (!runIds.length) return;
    api.searchRuns({ experiment_ids: [expId], run_view_type: 'ALL', max_results: runIds.length,
      filter: `attributes.run_id IN (${runIds.map((id) => `'${id}'`).join(',')})` })
      .then((r) => setRunNames((n) => ({ ...n, ...Object.fromEntries((r.runs ?? []).map((x) => [x.info.run_id, runName(x)])) })))
      .catch(() => undefined);
  }, [runIds.join(',')]);

  const latest = useMemo(() => new Map(models.map((m) => [m.info.model_id, latestModelMetrics(m)])), [models]);
  const metricKeys = useMemo(() => [...new Set(models.flatMap((m) => (m.data?.metrics ?? []).map((x) => x.key)))].sort(), [models]);

  const cur = parseModelOrder(order);
  const sortBy = (field: string) => {
    const next = cur?.field_name === field ? (cur.ascending ? `${field} DESC` : '') : `${field} ASC`;
    updateQuery(route, { morder: next });
  };
  const Head = ({ field, label, num }: { field: string; label: string; num?: boolean }) => {
    const active = cur?.field_name === field;
    return (
      <th class={'sortable' + (active ? ' sorted' : '') + (num ? ' num' : '')} aria-sort={active ? (cur!.ascending ? 'ascending' : 'descending') : 'none'}>
        <button class="th-btn" data-sort={field} onClick={() => sortBy(field)}>{label}{active && <span class="arrow">{cur!.ascending ? '▲' : '▼'}</span>}</button>
      </th>
    );
  };

  return (
    <div class="models-tab" data-testid="models-tab">
      <div class="toolbar">
        <form class="filter-form" onSubmit={(e) => { e.preventDefault(); updateQuery(route, { mfilter: draft.trim() }); }}>
          <input class={'input mono' + (error ? ' invalid' : '')} type="search" value={draft} data-testid="models-filter"
            placeholder={"metrics.accuracy > 0.9 and params.alpha = '0.5'"} aria-label="Filter models"
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)} />
          <button class="btn" type="submit">Search</button>
        </form>
        <span class="muted small" data-testid="model-count">{error ? '' : loading && !models.length ? 'Loading models…' : `${models.length}${token ? '+' : ''} model${models.length === 1 ? '' : 's'}`}</span>
        <button class="btn" onClick={() => setReload((n) => n + 1)} title="Reload models">Refresh</button>
      </div>
      {error && <div class="error inline-error" role="alert" data-testid="models-filter-error"><strong>{error.code}</strong> {error.message}</div>}
      {!error && !loading && models.length === 0 ? (
        <div class="empty card" data-testid="no-models">
          <h3>{filter ? 'No models match this filter' : 'No logged models in this experiment yet'}</h3>
          <p class="muted">{filter ? 'Change or clear the filter above.' : 'Log one with the MLflow client, e.g. mlflow.pyfunc.log_model(name=..., python_model=...)'}</p>
        </div>
      ) : models.length > 0 && (
        <div class="card table-wrap models-card">
          <table class="compare models-table" data-testid="models-table">
            <thead><tr>
              <Head field="name" label="Name" />
              <th>Status</th><th>Type</th><th>Source run</th>
              <Head field="creation_timestamp" label="Created" />
              <th>Params</th>
              {metricKeys.map((k) => <Head key={k} field={'metrics.' + k} label={k} num />)}
            </tr></thead>
            <tbody>{models.map((m) => {
              const i = m.info;
              const ms = latest.get(i.model_id)!;
              const params = sortKV(m.data?.params);
              return (
                <tr key={i.model_id} data-model-id={i.model_id}>
                  <td><a href={href('/models/' + i.model_id)} data-testid="model-link">{i.name}</a></td>
                  <td><ModelStatusBadge status={i.status} /></td>
                  <td>{i.model_type || '—'}</td>
                  <td data-col="source-run">{i.source_run_id ? <a href={href('/runs/' + i.source_run_id)}>{runNames[i.source_run_id] ?? i.source_run_id.slice(0, 8)}</a> : '—'}</td>
                  <td>{modelTime(i.creation_timestamp_ms)}</td>
                  <td class="params-cell" data-col="params">{params.slice(0, 4).map((p) => <span key={p.key} class="chip">{p.key}={p.value}</span>)}
                    {params.length > 4 && <span class="muted small">+{params.length - 4}</span>}</td>
                  {metricKeys.map((k) => {
                    const x = ms.get(k);
                    return <td key={k} class="num" data-col={'m:' + k} title={x?.dataset_name ? `${x.dataset_name} (${x.dataset_digest})` : undefined}>{x ? fmtNum(x.value) : ''}</td>;
                  })}
                </tr>
              );
            })}</tbody>
          </table>
        </div>
      )}
      {token && !error && <button class="btn" data-testid="models-more" disabled={loading} onClick={more}>{loading ? 'Loading…' : 'Load more'}</button>}
      <p class="hint muted small">Filter with MLflow's logged-model syntax: name, status, model_type, source_run_id, params.x, metrics.x, tags.x · click a header to sort</p>
    </div>
  );
}
