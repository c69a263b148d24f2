// The seed's own setup: training code writes an mlruns folder with the MLflow
// client, and mltrack serves the UI on that folder (run.sh starts it on the
// folder seed_mlruns.py wrote). Charts must show exactly what the files hold,
// and follow a file another process appends to, a line written in two parts
// included.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openTestPage } from './browser.mjs';

const BASE = (process.env.BASE_URL ?? 'http://127.0.0.1:19013/mlflow/').replace(/\/?$/, '/');
const seed = JSON.parse(readFileSync(process.env.SEED_JSON ?? 'test-results/seed-mlruns.json', 'utf8'));
const OUT = process.env.OUT_DIR ?? 'test-results/screenshots';
mkdirSync(OUT, { recursive: true });

let ctx;
let page;
const problems = [];
before(async () => {
  ({ context: ctx, page } = await openTestPage(problems, 500));
});
after(async () => { await ctx?.close(); });

const series = (id) => page.evaluate((id) => window.__mltrack.charts.loss?.series[id] ?? null, id);
const hasPoint = (id, step, value) => page.waitForFunction(([id, step, value]) =>
  (window.__mltrack.charts.loss?.series[id] ?? []).some((p) => p[0] === step && p[1] === value), [id, step, value], { timeout: 15000 });

describe('web UI on an mlruns folder', () => {
  test('a long history is charted with its spike, every point as logged', async () => {
    await page.goto(`${BASE}#/runs/${seed.long_id}`);
    await page.waitForFunction((id) => window.__mltrack.charts.loss?.series[id]?.length > 0, seed.long_id, { timeout: 30000 });
    const pts = await series(seed.long_id);
    // Downsampled (5,000 points > the chart's budget), but never invented.
    assert.ok(pts.length >= 1000 && pts.length <= 2500, `${pts.length} points`);
    for (const [s, v] of pts) assert.equal(v, seed.long[s], `step ${s}`);
    assert.deepEqual(pts[0], [0, seed.long[0]]);
    assert.deepEqual(pts[pts.length - 1], [seed.long.length - 1, seed.long[seed.long.length - 1]]);
    assert.ok(pts.some(([s, v]) => s === 3333 && v === 50), 'the spike at step 3333');
    await page.waitForFunction(() => document.querySelector('[data-metric="loss"] td:nth-of-type(3)')?.textContent === '50');
    await page.screenshot({ path: join(OUT, '20-mlruns-run-page.png') });
  });

  test('a RUNNING run follows its metric file as another process appends to it', async () => {
    await page.goto(`${BASE}#/runs/${seed.live_id}`);
    await page.waitForFunction((id) => window.__mltrack.charts.loss?.series[id]?.length > 0, seed.live_id, { timeout: 30000 });
    // What MLflow's file store does when the training code logs: a line appended.
    appendFileSync(seed.live_file, '1700000009000 99 3000\n');
    await hasPoint(seed.live_id, 3000, 99);
    // A line caught half written is not read until it is whole.
    appendFileSync(seed.live_file, '1700000009001 -5');
    await page.waitForTimeout(1500); // three polls
    assert.ok(!(await series(seed.live_id)).some(([s, v]) => s === 3001 || v === -5), 'a half-written line was charted');
    appendFileSync(seed.live_file, ' 3001\n');
    await hasPoint(seed.live_id, 3001, -5);
    const pts = await series(seed.live_id);
    assert.deepEqual(pts[0], [0, 1]);
    await page.screenshot({ path: join(OUT, '21-mlruns-live.png') });
  });

  test('comparing the two runs overlays both', async () => {
    await page.goto(`${BASE}#/compare?runs=${seed.long_id},${seed.live_id}`);
    await page.waitForFunction(([a, b]) => {
      const s = window.__mltrack.charts.loss?.series;
      return s?.[a]?.length > 0 && s?.[b]?.length > 0;
    }, [seed.long_id, seed.live_id], { timeout: 30000 });
    assert.ok((await series(seed.live_id)).some(([s, v]) => s === 3000 && v === 99));
  });

  test('no CSP violations or page errors', () => {
    assert.deepEqual(problems, []);
  });
});
