import { Run, tagValue } from './api';

// A user-chosen column: a param, the latest value of a metric, or a tag.
export interface Col { kind: 'p' | 'm' | 't'; key: string }

export const colId = (c: Col) => c.kind + ':' + c.key;

export function encodeCols(cols: Col[]): string {
  return cols.length ? cols.map((c) => encodeURIComponent(colId(c))).join(',') : '-';
}

export function decodeCols(s: string | null): Col[] | null {
  if (s === null) return null;
  if (s === '-' || s === '') return [];
  return s.split(',').map(decodeURIComponent).flatMap((id) => {
    const k = id.slice(0, 1);
    if ((k === 'p' || k === 'm' || k === 't') && id[1] === ':') return [{ kind: k, key: id.slice(2) } as Col];
    return [];
  });
}

// Backquoted identifiers let keys with spaces or dots appear in order_by.
export const quoteKey = (k: string) => '`' + k.replace(/`/g, '') + '`';

export function colOrderKey(c: Col): string {
  return ({ p: 'params.', m: 'metrics.', t: 'tags.' } as const)[c.kind] + quoteKey(c.key);
}

export function colValue(run: Run, c: Col): string | number | undefined {
  if (c.kind === 'p') return run.data.params?.find((p) => p.key === c.key)?.value;
  if (c.kind === 'm') return run.data.metrics?.find((m) => m.key === c.key)?.value;
  return tagValue(run, c.key);
}

export interface KeySets { params: string[]; metrics: string[]; tags: string[] }

export function collectKeys(runs: Run[]): KeySets {
  const p = new Set<string>(), m = new Set<string>(), t = new Set<string>();
  for (const r of runs) {
    r.data.params?.forEach((x) => p.add(x.key));
    r.data.metrics?.forEach((x) => m.add(x.key));
    r.data.tags?.forEach((x) => { if (!x.key.startsWith('mlflow.')) t.add(x.key); });
  }
  const s = (x: Set<string>) => [...x].sort();
  return { params: s(p), metrics: s(m), tags: s(t) };
}

export function defaultCols(keys: KeySets): Col[] {
  return [
    ...keys.metrics.slice(0, 6).map((key) => ({ kind: 'm', key }) as Col),
    ...keys.params.slice(0, 6).map((key) => ({ kind: 'p', key }) as Col),
  ];
}
