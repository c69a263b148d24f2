// Artifacts of a run or of a logged model: a lazily expanded tree and a
// preview of the selected file. Previews render file bytes as DATA only: text through text
// nodes, JSON re-serialised, CSV as table cells, raster images through a
// same-origin <img> (the CSP's img-src is 'self', so no blob: URLs). HTML and
// SVG are never rendered, only shown as source text, so nothing a run logged
// can execute under the app's origin.
import { useEffect, useState } from 'preact/hooks';
import { parseDelimited } from './csv';

export interface ArtifactFile { path: string; is_dir?: boolean; file_size?: number | string }

const MAX_TEXT = 1 << 20;
const MAX_ROWS = 500;

// Where a tree's listings and file bytes come from. Runs and logged models
// answer the same listing shape ({files: [{path, is_dir, file_size}]}) at
// different MLflow endpoints.
export interface ArtifactSource { key: string; listUrl: (path: string) => string; fileUrl: (path: string) => string }

export const artifactUrl = (runId: string, path: string) =>
  'get-artifact?' + new URLSearchParams({ run_id: runId, path }).toString();

export const runArtifacts = (runId: string): ArtifactSource => ({
  key: 'run:' + runId,
  listUrl: (path) => 'ajax-api/2.0/mlflow/artifacts/list?' + new URLSearchParams(path ? { run_id: runId, path } : { run_id: runId }).toString(),
  fileUrl: (path) => artifactUrl(runId, path),
});

export const modelArtifacts = (modelId: string): ArtifactSource => {
  const base = 'ajax-api/2.0/mlflow/logged-models/' + encodeURIComponent(modelId) + '/artifacts/';
  return {
    key: 'model:' + modelId,
    listUrl: (path) => base + 'directories' + (path ? '?' + new URLSearchParams({ artifact_directory_path: path }).toString() : ''),
    fileUrl: (path) => base + 'files?' + new URLSearchParams({ artifact_file_path: path }).toString(),
  };
};

async function listArtifacts(src: ArtifactSource, path: string): Promise<ArtifactFile[]> {
  const res = await fetch(src.listUrl(path), { headers: { Accept: 'application/json' } });
  const j = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(j.message ?? res.statusText);
  const files: ArtifactFile[] = j.files ?? [];
  return files.sort((a, b) => (Number(!!b.is_dir) - Number(!!a.is_dir)) || a.path.localeCompare(b.path));
}

export function fmtBytes(n?: number | string): string {
  if (n === undefined || n === '') return '';
  const v = Number(n);
  if (v < 1024) return v + ' B';
  const u = ['KB', 'MB', 'GB', 'TB'];
  let x = v / 1024, i = 0;
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return x.toFixed(x < 10 ? 1 : 0) + ' ' + u[i];
}

const baseName = (p: string) => p.slice(p.lastIndexOf('/') + 1);
type Kind = 'image' | 'json' | 'csv' | 'tsv' | 'source' | 'text';
const IMAGE = new Set(['png', 'jpg', 'jpeg', 'gif', 'webp', 'bmp']);
const SOURCE = new Set(['html', 'htm', 'svg', 'xhtml', 'xml']);
export function kindOf(path: string): Kind {
  const name = baseName(path).toLowerCase();
  const ext = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : '';
  if (IMAGE.has(ext)) return 'image';
  if (ext === 'json') return 'json';
  if (ext === 'csv') return 'csv';
  if (ext === 'tsv') return 'tsv';
  if (SOURCE.has(ext)) return 'source';
  return 'text';
}

// initial names a top-level file to preview once the listing arrives (a
// model's MLmodel says what the model is).
export function ArtifactsSection({ source, title = 'Artifacts', initial }: { source: ArtifactSource; title?: string; initial?: string }) {
  const [root, setRoot] = useState<ArtifactFile[] | null>(null);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<ArtifactFile | null>(null);
  useEffect(() => {
    setRoot(null); setSelected(null); setError('');
    listArtifacts(source, '').then((files) => {
      setRoot(files);
      const first = initial ? files.find((f) => f.path === initial && !f.is_dir) : undefined;
      if (first) setSelected(first);
    }).catch((e: Error) => setError(e.message));
  }, [source.key]);
  return (
    <section class="card artifacts" data-testid="artifacts">
      <h2>{title}</h2>
      {error ? <p class="error small" role="alert">{error}</p>
        : root === null ? <p class="muted">Loading artifacts…</p>
        : root.length === 0 ? <p class="muted">No artifacts logged.</p>
        : (
          <div class="art-layout">
            <ul class="art-tree" role="tree" data-testid="artifact-tree">
              {root.map((f) => <TreeNode key={f.path} source={source} file={f} depth={0} selected={selected?.path} onSelect={setSelected} />)}
            </ul>
            <div class="art-preview" data-testid="artifact-preview">
              {selected ? <Preview key={selected.path} source={source} file={selected} /> : <p class="muted">Select a file to preview it.</p>}
            </div>
          </div>
        )}
    </section>
  );
}

function TreeNode(p: { source: ArtifactSource; file: ArtifactFile; depth: number; selected?: string; onSelect: (f: ArtifactFile) => void }) {
  const { file } = p;
  const [open, setOpen] = useState(false);
  const [kids, setKids] = useState<ArtifactFile[] | null>(null);
  const [err, setErr] = useState('');
  const toggle = () => {
    if (!open && kids === null) listArtifacts(p.source, file.path).then(setKids).catch((e: Error) => setErr(e.message));
    setOpen(!open);
  };
  if (file.is_dir) {
    return (
      <li role="treeitem" aria-expanded={open} data-path={file.path} class="art-dir">
        <button class="art-row" onClick={toggle}>
          <span class="art-caret">{open ? '▾' : '▸'}</span><span class="art-name">{baseName(file.path)}/</span>
        </button>
        {open && (
          <ul role="group">
            {err && <li class="error small">{err}</li>}
            {kids === null && !err && <li class="muted small">Loading…</li>}
            {kids?.length === 0 && <li class="muted small">Empty</li>}
            {kids?.map((k) => <TreeNode key={k.path} {...p} file={k} depth={p.depth + 1} />)}
          </ul>
        )}
      </li>
    );
  }
  return (
    <li role="treeitem" aria-selected={p.selected === file.path} data-path={file.path} class={'art-file' + (p.selected === file.path ? ' selected' : '')}>
      <button class="art-row" onClick={() => p.onSelect(file)}>
        <span class="art-caret" /><span class="art-name">{baseName(file.path)}</span>
        <span class="art-size">{fmtBytes(file.file_size)}</span>
      </button>
      <a class="art-dl" href={p.source.fileUrl(file.path)} download={baseName(file.path)} title={'Download ' + file.path} aria-label={'Download ' + file.path}>⤓</a>
    </li>
  );
}

type Loaded = { text: string; truncated: boolean; binary: boolean } | null;

function Preview({ source, file }: { source: ArtifactSource; file: ArtifactFile }) {
  const kind = kindOf(file.path);
  const url = source.fileUrl(file.path);
  const [data, setData] = useState<Loaded>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    if (kind === 'image') return;
    const ctl = new AbortController();
    (async () => {
      const res = await fetch(url, { signal: ctl.signal });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const buf = await readCapped(res, MAX_TEXT + 1);
      const truncated = buf.length > MAX_TEXT;
      const text = new TextDecoder('utf-8', { fatal: false }).decode(truncated ? buf.subarray(0, MAX_TEXT) : buf);
      // A NUL byte near the start means binary (pickles, weights): decoding
      // it as UTF-8 would only show noise.
      setData({ text, truncated, binary: buf.subarray(0, 8192).includes(0) });
    })().catch((e: Error) => { if (e.name !== 'AbortError') setError(e.message); });
    return () => ctl.abort();
  }, [url]);

  const head = (
    <div class="art-head">
      <span class="mono art-path" data-testid="preview-path">{file.path}</span>
      <span class="muted small">{fmtBytes(file.file_size)}</span>
      <span class="spacer" />
      <a class="btn small" href={url} download={baseName(file.path)} data-testid="preview-download">Download</a>
    </div>
  );
  if (error) return <>{head}<p class="error small" role="alert">Preview failed: {error}</p></>;
  if (kind === 'image') {
    return <>{head}<div class="art-image"><img data-testid="preview-image" src={url} alt={file.path} /></div></>;
  }
  if (!data) return <>{head}<p class="muted">Loading preview…</p></>;
  if (data.binary) return <>{head}<p class="muted" data-testid="preview-binary">Binary file; download it to inspect.</p></>;
  const note = data.truncated ? <p class="muted small">Showing the first {fmtBytes(MAX_TEXT)}; download the file for the rest.</p> : null;
  if (kind === 'json' && !data.truncated) {
    try {
      const pretty = JSON.stringify(JSON.parse(data.text), null, 2);
      return <>{head}<pre class="art-text" data-testid="preview-text" data-kind="json">{pretty}</pre></>;
    } catch { /* not valid JSON: show as text */ }
  }
  if (kind === 'csv' || kind === 'tsv') {
    const { rows, truncated } = parseDelimited(data.text, kind === 'csv' ? ',' : '\t', MAX_ROWS + 1);
    const [header, ...body] = rows;
    const shown = body.slice(0, MAX_ROWS);
    return (
      <>{head}
        <div class="art-table-wrap">
          <table class="art-table" data-testid="preview-table">
            {header && <thead><tr>{header.map((c, i) => <th key={i}>{c}</th>)}</tr></thead>}
            <tbody>{shown.map((r, i) => <tr key={i}>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>)}</tbody>
          </table>
        </div>
        {(truncated || body.length > MAX_ROWS || data.truncated) && <p class="muted small">Showing the first {MAX_ROWS} rows.</p>}
      </>
    );
  }
  return (
    <>{head}
      {kind === 'source' && <p class="muted small" data-testid="preview-source-note">Shown as source text; HTML and SVG are never rendered here.</p>}
      <pre class="art-text" data-testid="preview-text" data-kind={kind}>{data.text}</pre>
      {note}
    </>
  );
}

async function readCapped(res: Response, cap: number): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(await res.arrayBuffer()).subarray(0, cap);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let len = 0;
  while (len < cap) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value); len += value.length;
  }
  if (len >= cap) reader.cancel().catch(() => undefined);
  const out = new Uint8Array(Math.min(len, cap));
  let o = 0;
  for (const p of parts) { const n = Math.min(p.length, out.length - o); out.set(p.subarray(0, n), o); o += n; if (o >= out.length) break; }
  return out;
}
