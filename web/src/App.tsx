import { useEffect, useState } from 'preact/hooks';
import { ComparePage } from './ComparePage';
import { ExperimentList } from './ExperimentList';
import { ExperimentPage } from './ExperimentPage';
import { ModelPage } from './ModelPage';
import { useRoute } from './route';
import { RunPage } from './RunPage';

type Theme = 'light' | 'dark';

function initialTheme(): Theme {
  const saved = localStorage.getItem('mltrack.theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function App() {
  const route = useRoute();
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const [runExp, setRunExp] = useState<string | undefined>();

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('mltrack.theme', theme);
    window.dispatchEvent(new Event('mltrack-theme'));
  }, [theme]);

  const activeExp = route.page === 'experiment' ? route.id : route.page === 'home' ? undefined : runExp;

  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="#/"><img class="logo" src="favicon.svg" alt="" />mltrack</a>
        <span class="spacer" />
        <button class="btn ghost" data-testid="theme" aria-label="Toggle theme" onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}>
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
        </button>
      </header>
      <div class="body">
        <ExperimentList activeId={activeExp} />
        <main class="main">
          {route.page === 'home' && (
            <div class="page"><div class="empty"><h2>Choose an experiment</h2><p class="muted">Pick one from the list on the left, or create a new one.</p></div></div>
          )}
          {route.page === 'experiment' && <ExperimentPage key={route.id} route={route} />}
          {route.page === 'run' && <RunPage key={route.id} route={route} onExperiment={setRunExp} />}
          {route.page === 'model' && <ModelPage key={route.id} route={route} onExperiment={setRunExp} />}
          {route.page === 'compare' && <ComparePage route={route} onExperiment={setRunExp} />}
        </main>
      </div>
    </div>
  );
}
