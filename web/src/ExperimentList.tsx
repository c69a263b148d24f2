import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, Experiment } from './api';
import { href, navigate } from './route';

interface Props { activeId?: string }

export function ExperimentList({ activeId }: Props) {
  const [exps, setExps] = useState<Experiment[] | null>(null);
  const [error, setError] = useState<string>('');
  const [query, setQuery] = useState('');
  const [showDeleted, setShowDeleted] = useState(false);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let live = true;
    api.allExperiments(showDeleted ? 'ALL' : 'ACTIVE_ONLY')
      .then((e) => { if (live) { setExps(e); setError(''); } })
      .catch((e: ApiError) => { if (live) setError(e.message); });
    return () => { live = false; };
  }, [showDeleted, reload]);

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return (exps ?? []).filter((e) => !q || e.name.toLowerCase().includes(q) || e.experiment_id === q);
  }, [exps, query]);

  const act = async (f: () => Promise<unknown>) => {
    try { await f(); setError(''); setReload((n) => n + 1); } catch (e) { setError((e as Error).message); }
  };

  return (
    <nav class="sidebar" aria-label="Experiments">
      <div class="sidebar-head">
        <h2>Experiments</h2>
        <button class="btn small primary" onClick={() => setCreating(true)} title="Create experiment" data-testid="exp-create">+ New</button>
      </div>
      <input class="input" type="search" placeholder="Search experiments" value={query}
        aria-label="Search experiments" data-testid="exp-search"
        onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
      {creating && (
        <NameForm initial="" label="Create" onCancel={() => setCreating(false)}
          onSubmit={(name) => act(async () => {
            const r = await api.createExperiment(name);
            setCreating(false);
            navigate(href('/experiments/' + r.experiment_id));
          })} />
      )}
      {error && <div class="error small" role="alert">{error}</div>}
      <ul class="exp-list" data-testid="exp-list">
        {exps === null && !error && <li class="muted pad">Loading…</li>}
        {exps !== null && shown.length === 0 && <li class="muted pad">{query ? 'No experiment matches.' : 'No experiments yet.'}</li>}
        {shown.map((e) => (
          <li key={e.experiment_id} class={'exp-item' + (e.experiment_id === activeId ? ' active' : '') + (e.lifecycle_stage === 'deleted' ? ' deleted' : '')}>
            {editing === e.experiment_id ? (
              <NameForm initial={e.name} label="Rename" onCancel={() => setEditing(null)}
                onSubmit={(name) => act(async () => { await api.renameExperiment(e.experiment_id, name); setEditing(null); })} />
            ) : (
              <>
                <a href={href('/experiments/' + e.experiment_id)} title={e.name}>{e.name}</a>
                <span class="exp-actions">
                  {e.lifecycle_stage === 'deleted' ? (
                    <button class="icon-btn" title="Restore" aria-label={'Restore ' + e.name}
                      onClick={() => act(() => api.restoreExperiment(e.experiment_id))}>↺</button>
                  ) : (
                    <>
                      <button class="icon-btn" title="Rename" aria-label={'Rename ' + e.name} onClick={() => setEditing(e.experiment_id)}>✎</button>
                      <button class="icon-btn" title="Delete" aria-label={'Delete ' + e.name}
                        onClick={() => { if (confirm(`Delete experiment "${e.name}"? It can be restored.`)) act(() => api.deleteExperiment(e.experiment_id)); }}>🗑</button>
                    </>
                  )}
                </span>
              </>
            )}
          </li>
        ))}
      </ul>
      <label class="check small">
        <input type="checkbox" checked={showDeleted} onChange={(e) => setShowDeleted((e.target as HTMLInputElement).checked)} /> Show deleted
      </label>
    </nav>
  );
}

function NameForm(p: { initial: string; label: string; onSubmit: (name: string) => void; onCancel: () => void }) {
  const [v, setV] = useState(p.initial);
  return (
    <form class="name-form" onSubmit={(e) => { e.preventDefault(); if (v.trim()) p.onSubmit(v.trim()); }}>
      <input class="input" value={v} autoFocus aria-label="Experiment name" placeholder="Experiment name"
        onInput={(e) => setV((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => { if (e.key === 'Escape') p.onCancel(); }} />
      <button class="btn small primary" type="submit">{p.label}</button>
      <button class="btn small" type="button" onClick={p.onCancel}>Cancel</button>
    </form>
  );
}
