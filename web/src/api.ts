// Typed client for the subset of MLflow's REST API the UI uses. Every URL is
// relative (no leading slash) so the UI works under any static prefix.

export interface KV { key: string; value: string }
export interface Metric { key: string; value: number; timestamp: number; step: number; run_id?: string }
export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage: string;
  last_update_time?: number;
  creation_time?: number;
  tags?: KV[];
}
export interface RunInfo {
  run_id: string;
  run_name?: string;
  experiment_id: string;
  user_id?: string;
  status: string;
  start_time?: number;
  end_time?: number;
  artifact_uri?: string;
  lifecycle_stage: string;
}
export interface Dataset {
  name: string;
  digest: string;
  source_type: string;
  source: string;
  schema?: string;
  profile?: string;
}
export interface DatasetInput { tags?: KV[]; dataset: Dataset }
export interface Run {
  info: RunInfo;
  data: { metrics?: Metric[]; params?: KV[]; tags?: KV[] };
  inputs?: { dataset_inputs?: DatasetInput[]; model_inputs?: { model_id: string }[] };
  outputs?: { model_outputs?: { model_id: string; step?: number | string }[] };
}

// MLflow 3 logged model. A model's metrics carry the run and the dataset they
// were computed on.
export interface ModelMetric extends Metric { dataset_name?: string; dataset_digest?: string; model_id?: string }
export interface LoggedModel {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    creation_timestamp_ms?: number | string;
    last_updated_timestamp_ms?: number | string;
    artifact_uri?: string;
    status?: string;
    status_message?: string;
    model_type?: string;
    source_run_id?: string;
    tags?: KV[];
  };
  data?: { params?: KV[]; metrics?: ModelMetric[] };
}
export interface ModelOrder { field_name: string; ascending: boolean }
export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

const BASE = 'ajax-api/2.0/mlflow/';

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  // Paths are relative to MLflow's ajax API unless they name their own root
  // (mltrack's extra read endpoints live under ajax-api/2.0/mltrack/).
  let url = path.startsWith('ajax-api/') ? path : BASE + path;
  const init: RequestInit = { method, signal, headers: { Accept: 'application/json' } };
  if (method === 'GET' && body) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) v.forEach((x) => q.append(k, String(x)));
      else q.append(k, String(v));
    }
    url += '?' + q.toString();
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', 'Cannot reach the tracking server.');
  }
  const text = await res.text();
  let json: any = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    if (!res.ok) throw new ApiError(res.status, 'HTTP_' + res.status, text.slice(0, 300) || res.statusText);
    throw new ApiError(res.status, 'BAD_RESPONSE', 'The server sent a response that is not JSON.');
  }
  if (!res.ok) throw new ApiError(res.status, json.error_code ?? 'HTTP_' + res.status, json.message ?? res.statusText);
  return json as T;
}

export const api = {
  searchExperiments: (viewType: ViewType, pageToken?: string) =>
    call<{ experiments?: Experiment[]; next_page_token?: string }>('POST', 'experiments/search', {
      max_results: 1000, view_type: viewType, order_by: ['name ASC'], page_token: pageToken,
    }),
  async allExperiments(viewType: ViewType): Promise<Experiment[]> {
    const out: Experiment[] = [];
    let token: string | undefined;
    do {
      const r = await api.searchExperiments(viewType, token);
      out.push(...(r.experiments ?? []));
      token = r.next_page_token;
    } while (token);
    return out;
  },
  getExperiment: (id: string) => call<{ experiment: Experiment }>('GET', 'experiments/get', { experiment_id: id }),
  createExperiment: (name: string) => call<{ experiment_id: string }>('POST', 'experiments/create', { name }),
  renameExperiment: (id: string, name: string) =>
    call<{}>('POST', 'experiments/update', { experiment_id: id, new_name: name }),
  deleteExperiment: (id: string) => call<{}>('POST', 'experiments/delete', { experiment_id: id }),
  restoreExperiment: (id: string) => call<{}>('POST', 'experiments/restore', { experiment_id: id }),

  searchRuns: (
    req: { experiment_ids: string[]; filter?: string; run_view_type?: ViewType; max_results?: number; order_by?: string[]; page_token?: string },
    signal?: AbortSignal,
  ) => call<{ runs?: Run[]; next_page_token?: string }>('POST', 'runs/search', req, signal),
  getRun: (id: string, signal?: AbortSignal) => call<{ run: Run }>('GET', 'runs/get', { run_id: id }, signal),
  deleteRun: (id: string) => call<{}>('POST', 'runs/delete', { run_id: id }),
  restoreRun: (id: string) => call<{}>('POST', 'runs/restore', { run_id: id }),
  setTag: (runId: string, key: string, value: string) => call<{}>('POST', 'runs/set-tag', { run_id: runId, key, value }),
  deleteTag: (runId: string, key: string) => call<{}>('POST', 'runs/delete-tag', { run_id: runId, key }),

  getLoggedModel: (id: string, signal?: AbortSignal) =>
    call<{ model: LoggedModel }>('GET', 'logged-models/' + encodeURIComponent(id), undefined, signal),
  searchLoggedModels: (
    req: { experiment_ids: string[]; filter?: string; order_by?: ModelOrder[]; max_results?: number; page_token?: string },
    signal?: AbortSignal,
  ) => call<{ models?: LoggedModel[]; next_page_token?: string }>('POST', 'logged-models/search', req, signal),

  async fullHistory(runId: string, key: string, signal?: AbortSignal): Promise<Metric[]> {
    const out: Metric[] = [];
    let token: string | undefined;
    do {
      const r = await call<{ metrics?: Metric[]; next_page_token?: string }>(
        'GET', 'metrics/get-history', { run_id: runId, metric_key: key, max_results: 25000, page_token: token }, signal);
      out.push(...(r.metrics ?? []));
      token = r.next_page_token;
    } while (token);
    return out;
  },
  // MLflow's sampled endpoint: at most max_results steps per run, keeping each
  // run's first and last step. Used for charts so long histories stay cheap.
  // Chart data: mltrack's min/max-envelope downsampling keeps every spike; a
  // plain MLflow server lacks that endpoint (404), so fall back to its
  // evenly sampled get-history-bulk-interval.
  // A step range (both ends inclusive) narrows the request, for zoom refetch.
  sampledHistory: async (runIds: string[], key: string, maxPoints = 2500, signal?: AbortSignal, range?: [number, number]): Promise<RunColumns[]> => {
    const steps = range ? { start_step: range[0], end_step: range[1] } : {};
    try {
      // format=columns: three arrays a run instead of an object a point, a
      // quarter of the bytes and far less to parse for a 100-run chart.
      const r = await call<{ runs?: WireColumns[] }>('GET', 'ajax-api/2.0/mltrack/metrics/get-history-downsampled', {
        run_ids: runIds, metric_key: key, max_points: maxPoints, format: 'columns', ...steps,
      }, signal);
      return (r.runs ?? []).map((c) => ({
        run_id: c.run_id, steps: Float64Array.from(c.steps), timestamps: Float64Array.from(c.timestamps), values: Float64Array.from(c.values, wireNumber),
      }));
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
    }
    const r = await call<{ metrics?: Metric[] }>('GET', 'metrics/get-history-bulk-interval', {
      run_ids: runIds, metric_key: key, max_results: Math.min(maxPoints, 2500), ...steps,
    }, signal);
    return columnsOf(r.metrics ?? []);
  },
};

// One run's chart points (sampledHistory) as parallel arrays in step order.
export interface RunColumns { run_id: string; steps: Float64Array; timestamps: Float64Array; values: Float64Array }
interface WireColumns { run_id: string; steps: number[]; timestamps: number[]; values: (number | string)[] }
// MLflow's JSON writes NaN and the infinities as strings.
const wireNumber = (v: number | string): number => (typeof v === 'number' ? v : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : Number(v));
// Groups MLflow's point objects (get-history-bulk-interval) by run, each in step order.
const columnsOf = (ms: Metric[]): RunColumns[] => {
  const by = new Map<string, Metric[]>();
  for (const m of ms) {
    const l = by.get(m.run_id ?? '');
    if (l) l.push(m); else by.set(m.run_id ?? '', [m]);
  }
  return [...by].map(([id, l]) => {
    l.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
    return { run_id: id, steps: Float64Array.from(l, (m) => m.step), timestamps: Float64Array.from(l, (m) => m.timestamp), values: Float64Array.from(l, (m) => wireNumber(m.value)) };
  });
};

export const tagValue = (run: Run, key: string): string | undefined =>
  run.data.tags?.find((t) => t.key === key)?.value;

export const runName = (run: Run): string => run.info.run_name || tagValue(run, 'mlflow.runName') || run.info.run_id.slice(0, 8);
