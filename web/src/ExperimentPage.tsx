import { Component, ComponentChildren } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, Experiment, Run, runName, tagValue, ViewType } from './api';
import { Col, colId, colOrderKey, colValue, collectKeys, decodeCols, defaultCols, encodeCols, quoteKey } from './columns';
import { fmtDuration, fmtNum, fmtTime, runDuration } from './format';
import { href, navigate, Route, updateQuery } from './route';
import { useVirtualRows } from './virtual';
import { ModelsTab } from './Models';
import { StatusBadge } from './StatusBadge';
import { testHook } from './testhook';

const ROW_H = 34;
const FIRST_PAGE = 1000;
const NEXT_PAGE = 5000;
const POLL_MS = 5000;

const VIEWS: Record<string, ViewType> = { active: 'ACTIVE_ONLY', deleted: 'DELETED_ONLY', all: 'ALL' };

interface Fixed { id: string; label: string; width: number; order?: string; cell: (r: Run) => string }
const FIXED: Fixed[] = [
  { id: 'status', label: 'Status', width: 100, order: 'attributes.status', cell: (r) => r.info.status },
  { id: 'start', label: 'Started', width: 150, order: 'attributes.start_time', cell: (r) => fmtTime(r.info.start_time) },
  { id: 'duration', label: 'Duration', width: 100, cell: (r) => fmtDuration(runDuration(r.info.start_time, r.info.end_time, r.info.status)) },
  { id: 'user', label: 'User', width: 110, order: 'tags.' + quoteKey('mlflow.user'), cell: (r) => tagValue(r, 'mlflow.user') ?? r.info.user_id ?? '' },
  { id: 'source', label: 'Source', width: 150, order: 'tags.' + quoteKey('mlflow.source.name'), cell: (r) => tagValue(r, 'mlflow.source.name') ?? '' },
];
const NAME_W = 230;
const COL_W = 120;
const CHECK_W = 36;

interface Row { run: Run; depth: number; children: number }

export function ExperimentPage({ route }: { route: Extract<Route, { page: 'experiment' }> }) {
  const expId = route.id;
  const filter = route.q.get('filter') ?? '';
  const order = route.q.get('order') ?? '';
  const view = route.q.get('view') ?? 'active';
  const tab = route.q.get('tab') === 'models' ? 'models' : 'runs';
  const selected = useMemo(() => new Set((route.q.get('sel') ?? '').split(',').filter(Boolean)), [route.q.get('sel')]);

  const [exp, setExp] = useState<Experiment | null>(null);
  const [expError, setExpError] = useState('');
  const [runs, setRuns] = useState<Run[]>([]);
  const [loading, setLoading] = useState(true);
  const [complete, setComplete] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [reload, setReload] = useState(0);
  const [draft, setDraft] = useState(filter);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [actionError, setActionError] = useState('');

  useEffect(() => setDraft(filter), [filter]);

  useEffect(() => {
    setExp(null); setExpError('');
    api.getExperiment(expId).then((r) => setExp(r.experiment)).catch((e: Error) => setExpError(e.message));
  }, [expId]);

  // Page through search-runs: a small first page for a fast first paint, then
  // large pages appended in the background until the result is complete.
  useEffect(() => {
    if (tab !== 'runs') return;
    const ctl = new AbortController();
    setRuns([]); setLoading(true); setComplete(false); setError(null);
    (async () => {
      let token: string | undefined;
      let first = true;
      try {
        do {
          const r = await api.searchRuns({
            experiment_ids: [expId], filter: filter || undefined, run_view_type: VIEWS[view] ?? 'ACTIVE_ONLY',
            max_results: first ? FIRST_PAGE : NEXT_PAGE, order_by: order ? [order] : undefined, page_token: token,
          }, ctl.signal);
          const page = r.runs ?? [];
          setRuns((prev) => (first ? page : prev.concat(page)));
          if (first) setLoading(false);
          first = false;
          token = r.next_page_token;
        } while (token && !ctl.signal.aborted);
        setComplete(true);
      } catch (e) {
        if ((e as Error).name === 'AbortError') return;
        setError(e as ApiError); setLoading(false);
      }
    })();
    return () => ctl.abort();
  }, [expId, filter, order, view, reload, tab]);

  // Live refresh while the experiment has RUNNING runs: re-read those rows in
  // one search by id, and re-read the first page so new runs appear without a
  // manual Refresh. When the whole result fits in the first page it simply
  // replaces the list; otherwise runs not yet listed are put first (new runs
  // sort first under the default start-time order).
  const runningIds = useMemo(() => runs.filter((r) => r.info.status === 'RUNNING').map((r) => r.info.run_id).slice(0, 500), [runs]);
  const runningKey = runningIds.join(',');
  const live = runningIds.length > 0 && tab === 'runs';
  useEffect(() => {
    if (!live) return;
    const t = setInterval(async () => {
      try {
        const [byId, first] = await Promise.all([
          api.searchRuns({
            experiment_ids: [expId], run_view_type: 'ALL', max_results: runningIds.length,
            filter: `attributes.run_id IN (${runningIds.map((id) => `'${id}'`).join(',')})`,
          }),
          api.searchRuns({
            experiment_ids: [expId], filter: filter || undefined, run_view_type: VIEWS[view] ?? 'ACTIVE_ONLY',
            max_results: FIRST_PAGE, order_by: order ? [order] : undefined,
          }),
        ]);
        const page = first.runs ?? [];
        const fresh = new Map([...(byId.runs ?? []), ...page].map((x) => [x.info.run_id, x]));
        setRuns((prev) => {
          if (!first.next_page_token && complete) return page;
          const known = new Set(prev.map((x) => x.info.run_id));
          const added = page.filter((x) => !known.has(x.info.run_id));
          return added.concat(prev.map((x) => fresh.get(x.info.run_id) ?? x));
        });
      } catch { /* transient: the next tick retries */ }
    }, testHook().pollMs ?? POLL_MS);
    return () => clearInterval(t);
  }, [runningKey, expId, filter, order, view, complete]);

  // Keys seen earlier stay offered, so a failing or empty search does not
  // make the chosen columns disappear.
  const seen = useRef(collectKeys([]));
  const keys = useMemo(() => {
    const k = collectKeys(runs);
    const merge = (a: string[], b: string[]) => [...new Set([...a, ...b])].sort();
    seen.current = { params: merge(seen.current.params, k.params), metrics: merge(seen.current.metrics, k.metrics), tags: merge(seen.current.tags, k.tags) };
    return seen.current;
  }, [runs]);
  const urlCols = decodeCols(route.q.get('cols'));
  const cols: Col[] = urlCols ?? defaultCols(keys);

  // Nest children under their parent when the parent is in the result.
  const rows: Row[] = useMemo(() => {
    const ids = new Set(runs.map((r) => r.info.run_id));
    const kids = new Map<string, Run[]>();
    const top: Run[] = [];
    for (const r of runs) {
      const p = tagValue(r, 'mlflow.parentRunId');
      if (p && p !== r.info.run_id && ids.has(p)) {
        if (!kids.has(p)) kids.set(p, []);
        kids.get(p)!.push(r);
      } else top.push(r);
    }
    const out: Row[] = [];
    const walk = (r: Run, depth: number, seen: Set<string>) => {
      const ch = kids.get(r.info.run_id) ?? [];
      out.push({ run: r, depth, children: ch.length });
      if (expanded.has(r.info.run_id) && !seen.has(r.info.run_id)) {
        seen.add(r.info.run_id);
        ch.forEach((c) => walk(c, depth + 1, seen));
      }
    };
    top.forEach((r) => walk(r, 0, new Set()));
    return out;
  }, [runs, expanded]);

  const setSel = (s: Set<string>) => updateQuery(route, { sel: [...s].join(',') });
  const toggleSel = useCallback((id: string) => {
    const s = new Set(selected);
    if (s.has(id)) s.delete(id); else s.add(id);
    setSel(s);
  }, [route, selected]);
  const toggleExpand = (id: string, open?: boolean) => {
    const s = new Set(expanded);
    if (open ?? !s.has(id)) s.add(id); else s.delete(id);
    setExpanded(s);
  };
  const sortBy = (key: string) => {
    const [cur, dir] = splitOrder(order);
    const next = cur === key ? (dir === 'ASC' ? `${key} DESC` : '') : `${key} ASC`;
    updateQuery(route, { order: next });
  };
  const openRun = (id: string) => navigate(href('/runs/' + id));

  const act = async (f: (id: string) => Promise<unknown>) => {
    setActionError('');
    try {
      await Promise.all([...selected].map(f));
      setSel(new Set());
      setReload((n) => n + 1);
    } catch (e) { setActionError((e as Error).message); }
  };

  const allSelected = useMemo(() => runs.length > 0 && runs.every((r) => selected.has(r.info.run_id)), [runs, selected]);

  testHook().table = { rows: rows.length, total: runs.length, complete };

  if (expError) return <div class="page"><div class="empty error-state" role="alert"><h2>Experiment not available</h2><p>{expError}</p></div></div>;

  return (
    <div class="page exp-page">
      <header class="page-head">
        <div>
          <div class="crumbs">Experiment {expId}</div>
          <h1 data-testid="exp-title">{exp?.name ?? '…'}{exp?.lifecycle_stage === 'deleted' && <span class="badge deleted">deleted</span>}</h1>
        </div>
        {tab === 'runs' && <div class="head-actions">
          <span class="muted small" data-testid="run-count">{error ? '' : loading ? 'Loading runs…' : `${runs.length}${complete ? '' : '+'} run${runs.length === 1 ? '' : 's'}`}</span>
          <button class="btn" onClick={() => setReload((n) => n + 1)} title="Reload runs">Refresh</button>
        </div>}
      </header>
      <nav class="tabs" role="tablist" aria-label="Experiment views">
        <button role="tab" class={'tab' + (tab === 'runs' ? ' active' : '')} aria-selected={tab === 'runs'} data-testid="tab-runs"
          onClick={() => updateQuery(route, { tab: undefined }, false)}>Runs</button>
        <button role="tab" class={'tab' + (tab === 'models' ? ' active' : '')} aria-selected={tab === 'models'} data-testid="tab-models"
          onClick={() => updateQuery(route, { tab: 'models' }, false)}>Models</button>
      </nav>
      {tab === 'models' ? <ModelsTab route={route} /> : <>

      <div class="toolbar">
        <form class="filter-form" onSubmit={(e) => { e.preventDefault(); updateQuery(route, { filter: draft.trim(), sel: undefined }); }}>
          <input class={'input mono' + (error ? ' invalid' : '')} type="search" value={draft} data-testid="filter"
            placeholder={"metrics.loss < 0.5 and params.optimizer = 'adam'"} aria-label="Filter runs"
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)} />
          <button class="btn" type="submit">Search</button>
        </form>
        <select class="input select" value={view} aria-label="Lifecycle" data-testid="view"
          onChange={(e) => updateQuery(route, { view: (e.target as HTMLSelectElement).value === 'active' ? '' : (e.target as HTMLSelectElement).value, sel: undefined })}>
          <option value="active">Active</option>
          <option value="deleted">Deleted</option>
          <option value="all">All</option>
        </select>
        <ColumnPicker keys={keys} cols={cols} onChange={(c) => updateQuery(route, { cols: encodeCols(c) })} />
      </div>
      {error && <div class="error inline-error" role="alert" data-testid="filter-error"><strong>{error.code}</strong> {error.message}</div>}

      {selected.size > 0 && (
        <div class="selbar" data-testid="selbar">
          <span>{selected.size} selected</span>
          <button class="btn primary small" data-testid="compare" disabled={selected.size < 1}
            onClick={() => navigate(href('/compare', { runs: [...selected].join(','), exp: expId }))}>Compare</button>
          {view !== 'active' && <button class="btn small" onClick={() => act(api.restoreRun)}>Restore</button>}
          {view !== 'deleted' && <button class="btn small danger" onClick={() => { if (confirm(`Delete ${selected.size} run(s)?`)) act(api.deleteRun); }}>Delete</button>}
          <button class="btn small ghost" onClick={() => setSel(new Set())}>Clear</button>
          {actionError && <span class="error small">{actionError}</span>}
        </div>
      )}

      <RunsGrid rows={rows} cols={cols} order={order} selected={selected} expanded={expanded} allSelected={allSelected}
        onSort={sortBy} onToggleSel={toggleSel} onToggleExpand={toggleExpand} onOpen={openRun}
        onSelectAll={() => setSel(allSelected ? new Set() : new Set(runs.map((r) => r.info.run_id)))}
        empty={!loading && !error && rows.length === 0 ? (
          <div class="empty" data-testid="no-runs">
            <h3>No runs {filter ? 'match this filter' : view === 'deleted' ? 'are deleted' : 'in this experiment yet'}</h3>
            <p class="muted">{filter ? 'Change or clear the filter above.' : 'Log a run with the MLflow client: mlflow.start_run()'}</p>
          </div>
        ) : loading ? <div class="empty muted">Loading runs…</div> : null} />
      <p class="hint muted small">↑/↓ move · Space selects · Enter opens · →/← expand nested runs · click a header to sort</p>
      </>}
    </div>
  );
}

interface GridProps {
  rows: Row[]; cols: Col[]; order: string; selected: Set<string>; expanded: Set<string>; allSelected: boolean;
  onSort: (k: string) => void; onToggleSel: (id: string) => void; onToggleExpand: (id: string, open?: boolean) => void;
  onOpen: (id: string) => void; onSelectAll: () => void; empty: ComponentChildren;
}

// The grid is its own component so scrolling (which re-renders on every
// virtualizer change) re-renders only the visible rows, not the whole page.
function RunsGrid(p: GridProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virt = useVirtualRows(p.rows.length, () => scrollRef.current, ROW_H);
  const [cursor, setCursor] = useState(0);
  useEffect(() => setCursor(0), [p.rows.length === 0]);
  const gridCols = [CHECK_W, NAME_W, ...FIXED.map((f) => f.width), ...p.cols.map(() => COL_W)];
  const gridTemplate = gridCols.map((w) => w + 'px').join(' ');
  const totalW = gridCols.reduce((a, b) => a + b, 0);
  const [c0, c1] = useVisibleCols(scrollRef, p.cols.length);
  // Rendered in slot order, so Preact patches rows in place and never moves
  // DOM nodes (rows are absolutely positioned, DOM order does not show).
  const vis = virt.getVirtualItems();
  const items = [...vis].sort((a, b) => (a.index % vis.length) - (b.index % vis.length));

  const onKey = (e: KeyboardEvent) => {
    if (!p.rows.length) return;
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 300) / ROW_H) - 1);
    let c = cursor;
    switch (e.key) {
      case 'ArrowDown': case 'j': c = Math.min(p.rows.length - 1, c + 1); break;
      case 'ArrowUp': case 'k': c = Math.max(0, c - 1); break;
      case 'PageDown': c = Math.min(p.rows.length - 1, c + page); break;
      case 'PageUp': c = Math.max(0, c - page); break;
      case 'Home': c = 0; break;
      case 'End': c = p.rows.length - 1; break;
      case ' ': p.onToggleSel(p.rows[c].run.info.run_id); break;
      case 'Enter': p.onOpen(p.rows[c].run.info.run_id); break;
      case 'ArrowRight': if (p.rows[c].children) p.onToggleExpand(p.rows[c].run.info.run_id, true); break;
      case 'ArrowLeft': if (p.rows[c].children) p.onToggleExpand(p.rows[c].run.info.run_id, false); break;
      default: return;
    }
    e.preventDefault();
    setCursor(c);
    virt.scrollToIndex(c);
  };

  return (
      <div class="table" role="grid" aria-rowcount={p.rows.length} aria-colcount={FIRST_COL + p.cols.length} data-testid="runs-table">
      <div class="scroll" ref={scrollRef} tabIndex={0} onKeyDown={onKey} aria-label="Runs">
        <GridHead gridTemplate={gridTemplate} width={totalW} cols={p.cols} order={p.order} allSelected={p.allSelected}
          onSort={p.onSort} onSelectAll={p.onSelectAll} />
        {p.empty}
        <div class="tbody" style={{ height: virt.getTotalSize() + 'px', width: totalW + 'px' }}>
          {items.map((vi) => {
            const row = p.rows[vi.index];
            const id = row.run.info.run_id;
            // Keyed by slot, not run id: while scrolling, a row that leaves
            // hands its DOM nodes to the row that enters, so Preact patches
            // text instead of building and discarding whole rows every frame.
            return (
              <GridRow key={vi.index % vis.length} row={row} index={vi.index} start={vi.start} gridTemplate={gridTemplate} cols={p.cols} c0={c0} c1={c1}
                selected={p.selected.has(id)} cursor={vi.index === cursor} expanded={p.expanded.has(id)}
                onToggleSel={p.onToggleSel} onToggleExpand={p.onToggleExpand} onCursor={setCursor} />
            );
          })}
        </div>
      </div>
    </div>
  );
}

// Columns to the left of the param/metric/tag columns: the checkbox, the
// name and FIXED.
const FIRST_COL = 2 + FIXED.length;
// Param/metric/tag columns rendered beyond each side of the view.
const OVERSCAN_COLS = 2;

// The range [c0, c1) of cols (the param, metric and tag columns) that a row
// renders: those within the scroller's view, plus OVERSCAN_COLS each side.
// Most of the 20 or so columns of a wide experiment lie beyond the right
// edge; laying out and painting their cells in every entering row was most
// of a scroll frame's work. It changes only when horizontal scrolling or a
// resize brings another column into reach.
function useVisibleCols(scrollRef: { current: HTMLDivElement | null }, n: number): [number, number] {
  const [range, setRange] = useState<[number, number]>([0, Math.min(n, 8)]);
  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const x0 = CHECK_W + NAME_W + FIXED.reduce((a, f) => a + f.width, 0);
    const update = () => {
      const left = el.scrollLeft, right = left + el.clientWidth;
      const a = Math.max(0, Math.floor((left - x0) / COL_W) - OVERSCAN_COLS);
      const b = Math.min(n, Math.max(a, Math.ceil((right - x0) / COL_W) + OVERSCAN_COLS));
      setRange((cur) => (cur[0] === a && cur[1] === b ? cur : [a, b]));
    };
    update();
    el.addEventListener('scroll', update, { passive: true });
    const ro = new ResizeObserver(update);
    ro.observe(el);
    return () => { el.removeEventListener('scroll', update); ro.disconnect(); };
  }, [n]);
  return [Math.min(range[0], n), Math.min(range[1], n)];
}

interface RowProps {
  row: Row; index: number; start: number; gridTemplate: string; cols: Col[]; c0: number; c1: number;
  selected: boolean; cursor: boolean; expanded: boolean;
  onToggleSel: (id: string) => void; onToggleExpand: (id: string, open?: boolean) => void; onCursor: (i: number) => void;
}

// Scrolling re-renders the grid every frame, but only the few rows entering
// the view show anything new: rows and the header re-render only when their
// own props change, not all ~60 rendered rows (with overscan) every frame.
// That is about a third less main-thread work per scroll step; what remains
// is mostly layout of the entering rows' text.
abstract class Pure<P> extends Component<P> {
  shouldComponentUpdate(next: P) {
    const cur = this.props as P;
    for (const k in next) if (next[k] !== cur[k]) return true;
    return false;
  }
}

interface HeadProps {
  gridTemplate: string; width: number; cols: Col[]; order: string; allSelected: boolean;
  onSort: (k: string) => void; onSelectAll: () => void;
}

class GridHead extends Pure<HeadProps> {
  render(p: HeadProps) {
    return (
      <div class="thead" role="row" style={{ gridTemplateColumns: p.gridTemplate, width: p.width + 'px' }}>
        <div class="th check" role="columnheader">
          <input type="checkbox" aria-label="Select all" checked={p.allSelected} onChange={p.onSelectAll} />
        </div>
        <HeaderCell label="Run name" order="attributes.run_name" current={p.order} onSort={p.onSort} />
        {FIXED.map((f) => <HeaderCell key={f.id} label={f.label} order={f.order} current={p.order} onSort={p.onSort} />)}
        {p.cols.map((c) => <HeaderCell key={colId(c)} label={c.key} kind={c.kind} order={colOrderKey(c)} current={p.order} onSort={p.onSort} />)}
      </div>
    );
  }
}

class GridRow extends Pure<RowProps> {
  render(p: RowProps) {
    const { row } = p;
    const r = row.run;
    const id = r.info.run_id;
    // Placed with `top`, not a transform: a transform gives every row its own
    // transform node, which layerization walks in every frame.
    return (
      <div role="row" data-run-id={id} aria-selected={p.selected}
        class={'tr' + (p.selected ? ' selected' : '') + (p.cursor ? ' cursor' : '') + (r.info.lifecycle_stage === 'deleted' ? ' deleted' : '')}
        style={{ gridTemplateColumns: p.gridTemplate, top: p.start + 'px', height: ROW_H + 'px' }}
        onClick={() => p.onCursor(p.index)}>
        <div class="td check" role="gridcell">
          <input type="checkbox" checked={p.selected} aria-label={'Select ' + runName(r)} onChange={() => p.onToggleSel(id)} />
        </div>
        <div class={'td name depth-' + Math.min(row.depth, 4)} role="gridcell">
          {row.children > 0
            ? <button class="twisty" aria-label={p.expanded ? 'Collapse' : 'Expand'} onClick={() => p.onToggleExpand(id)}>{p.expanded ? '▾' : '▸'}</button>
            : <span class="twisty-space" />}
          <a href={href('/runs/' + id)} data-testid="run-link">{runName(r)}</a>
          {row.children > 0 && <span class="kids muted">{row.children}</span>}
        </div>
        <div class="td" role="gridcell"><StatusBadge status={r.info.status} /></div>
        {FIXED.slice(1).map((f) => {
          const s = f.cell(r);
          return <div key={f.id} class={'td' + (fits(s, f.width, false) ? '' : ' clip')} role="gridcell" title={s}>{s}</div>;
        })}
        {p.c0 > 0 && <div class="gap" style={{ gridColumn: 'span ' + p.c0 }} />}
        {p.cols.slice(p.c0, p.c1).map((c, i) => {
          const v = colValue(r, c);
          const s = typeof v === 'number' ? fmtNum(v) : v ?? '';
          const num = c.kind === 'm';
          return <div key={colId(c)} role="gridcell" aria-colindex={FIRST_COL + p.c0 + i + 1}
            class={'td' + (num ? ' num' : '') + (fits(s, COL_W, num) ? '' : ' clip')} data-col={colId(c)} title={String(v ?? '')}>{s}</div>;
        })}
      </div>
    );
  }
}

// Whether a cell's text surely fits its column without clipping. A clipping
// cell (overflow: hidden, for the ellipsis) costs a clip node and its own paint
// chunk, and with ~20 cells in each of ~45 rendered rows those made up a fifth
// of the main thread's work per scroll frame; most values (numbers, short
// params) fit, so only cells that might overflow clip. The bound is per
// character and generous (no Latin glyph of the UI fonts is wider than 1 em,
// digits and separators about 0.65 em), so a fitting verdict is never wrong,
// only sometimes a needless clip.
const PAD_X = 16;
function fits(s: string, width: number, mono: boolean): boolean {
  const room = width - PAD_X;
  if (mono) return s.length * 0.62 * 12.5 <= room;
  let w = 0;
  for (let i = 0; i < s.length && w <= room; i++) {
    const c = s.charCodeAt(i);
    w += (c >= 48 && c <= 58) || c === 32 || c === 45 || c === 46 || c === 44 ? 0.7 * 13 : c < 128 ? 13 : 1.3 * 13;
  }
  return w <= room;
}

function splitOrder(o: string): [string, string] {
  const m = o.match(/^(.*?)\s+(ASC|DESC)$/i);
  return m ? [m[1], m[2].toUpperCase()] : [o, 'ASC'];
}

function HeaderCell(p: { label: string; kind?: string; order?: string; current: string; onSort: (k: string) => void }) {
  const [cur, dir] = splitOrder(p.current);
  const active = p.order && cur === p.order;
  const kindLabel = p.kind === 'm' ? 'metric' : p.kind === 'p' ? 'param' : p.kind === 't' ? 'tag' : '';
  return (
    <div class={'th' + (p.order ? ' sortable' : '') + (active ? ' sorted' : '') + (p.kind ? ' kind-' + p.kind : '')} role="columnheader"
      aria-sort={active ? (dir === 'ASC' ? 'ascending' : 'descending') : 'none'} title={kindLabel ? `${kindLabel}: ${p.label}` : p.label}>
      {p.order
        ? <button class="th-btn" onClick={() => p.onSort(p.order!)}>{kindLabel && <span class="kind">{kindLabel[0]}</span>}<span class="th-label">{p.label}</span>{active && <span class="arrow">{dir === 'ASC' ? '▲' : '▼'}</span>}</button>
        : <span class="th-label">{p.label}</span>}
    </div>
  );
}

function ColumnPicker(p: { keys: ReturnType<typeof collectKeys>; cols: Col[]; onChange: (c: Col[]) => void }) {
  const [q, setQ] = useState('');
  const on = new Set(p.cols.map(colId));
  const toggle = (c: Col) => p.onChange(on.has(colId(c)) ? p.cols.filter((x) => colId(x) !== colId(c)) : [...p.cols, c]);
  const group = (title: string, kind: Col['kind'], list: string[]) => {
    const f = list.filter((k) => k.toLowerCase().includes(q.toLowerCase()));
    if (!f.length) return null;
    return (
      <div class="picker-group">
        <div class="picker-title">{title}</div>
        {f.map((key) => (
          <label key={key} class="check">
            <input type="checkbox" checked={on.has(kind + ':' + key)} onChange={() => toggle({ kind, key })} /> {key}
          </label>
        ))}
      </div>
    );
  };
  return (
    <details class="picker" data-testid="columns">
      <summary class="btn">Columns ({p.cols.length})</summary>
      <div class="picker-pop">
        <input class="input" type="search" placeholder="Find a column" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        <div class="picker-list">
          {group('Metrics', 'm', p.keys.metrics)}
          {group('Parameters', 'p', p.keys.params)}
          {group('Tags', 't', p.keys.tags)}
        </div>
        <div class="picker-foot">
          <button class="btn small ghost" onClick={() => p.onChange([])}>Hide all</button>
          <button class="btn small ghost" onClick={() => p.onChange(defaultCols(p.keys))}>Defaults</button>
        </div>
      </div>
    </details>
  );
}
