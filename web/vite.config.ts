import { defineConfig } from 'vitest/config';
import preact from '@preact/preset-vite';

// The UI talks to ajax-api/2.0/mlflow/... with relative URLs; in development those
// requests are proxied to a tracking server (the real `mlflow server` or mltrack).
const target = process.env.MLTRACK_API ?? 'http://127.0.0.1:5000';

export default defineConfig({
  plugins: [preact()],
  // Relative asset URLs: the Go handler adds <base href="{prefix}/"> so the same
  // build works at / and under any --static-prefix.
  base: './',
  build: {
    outDir: '../internal/webui/dist',
    emptyOutDir: true,
    // No inline scripts or styles, so a strict CSP (default-src 'self') holds.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    host: '127.0.0.1',
    port: Number(process.env.PORT ?? 19002),
    proxy: { '/ajax-api': target },
  },
  test: { include: ['src/**/*.test.ts'] },
});
