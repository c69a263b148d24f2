// Hash routing: the whole view state lives after '#', so every view is a
// shareable, reloadable URL and the server never needs to know client routes
// (the page works unchanged under any static prefix).
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'home'; q: URLSearchParams }
  | { page: 'experiment'; id: string; q: URLSearchParams }
  | { page: 'run'; id: string; q: URLSearchParams }
  | { page: 'model'; id: string; q: URLSearchParams }
  | { page: 'compare'; q: URLSearchParams };

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#/, '');
  const [path, query = ''] = splitOnce(h, '?');
  const q = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'experiments' && parts[1]) return { page: 'experiment', id: parts[1], q };
  if (parts[0] === 'runs' && parts[1]) return { page: 'run', id: parts[1], q };
  if (parts[0] === 'models' && parts[1]) return { page: 'model', id: parts[1], q };
  if (parts[0] === 'compare') return { page: 'compare', q };
  return { page: 'home', q };
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

export function href(path: string, q?: Record<string, string | undefined> | URLSearchParams): string {
  let qs = '';
  if (q) {
    const p = q instanceof URLSearchParams ? new URLSearchParams(q) : new URLSearchParams();
    if (!(q instanceof URLSearchParams)) for (const [k, v] of Object.entries(q)) if (v) p.set(k, v);
    qs = p.toString();
  }
  return '#' + path + (qs ? '?' + qs : '');
}

export function navigate(to: string, replace = false): void {
  if (replace) {
    history.replaceState(history.state, '', to);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = to.replace(/^#/, '');
  }
}

// Returns a copy of the current route's query with the given keys changed
// (empty string or undefined removes a key) and moves there.
export function updateQuery(route: Route, changes: Record<string, string | undefined>, replace = true): void {
  const q = new URLSearchParams(route.q);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
  navigate(href(path, q), replace);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
