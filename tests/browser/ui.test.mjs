// Browser tests for the web UI, driven through the system Chromium against a
// live server (BASE_URL) that was filled by the real MLflow client (seed.py,
// whose summary is in SEED_JSON). Screenshots go to OUT_DIR.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openTestPage } from './browser.mjs';

const BASE = (process.env.BASE_URL ?? 'http://127.0.0.1:19003/mlflow/').replace(/\/?$/, '/');
const seed = JSON.parse(readFileSync(process.env.SEED_JSON ?? 'test-results/seed.json', 'utf8'));
const OUT = process.env.OUT_DIR ?? 'test-results/screenshots';
mkdirSync(OUT, { recursive: true });

const byName = Object.fromEntries(seed.runs.map((r) => [r.name, r]));
const expUrl = (q = '') => `${BASE}#/experiments/${seed.experiment_id}${q}`;

let ctx;
let page;
const problems = [];

before(async () => {
  ({ context: ctx, page } = await openTestPage(problems, 700));
});
after(async () => { await ctx?.close(); });

async function rowNames() {
  return page.$$eval('[data-testid="runs-table"] [data-run-id] [data-testid="run-link"]', (els) => els.map((e) => e.textContent));
}
async function waitRows(n) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="runs-table"] [data-run-id]').length === n, n, { timeout: 30000 });
}
// Waits until the seeded runs (ignoring others) appear in exactly this order.
async function waitOrder(names) {
  await page.waitForFunction((want) => {
    const got = [...document.querySelectorAll('[data-testid="runs-table"] [data-run-id] [data-testid="run-link"]')]
      .map((e) => e.textContent).filter((n) => want.includes(n));
    return JSON.stringify(got) === JSON.stringify(want);
  }, names, { timeout: 30000 });
}
async function hashParam(name) {
  return page.evaluate((n) => new URLSearchParams(location.hash.split('?')[1] ?? '').get(n), name);
}
async function chartSeries(key) {
  return page.evaluate((k) => window.__mltrack.charts[k]?.series, key);
}
async function shot(name) {
  await page.screenshot({ path: join(OUT, name + '.png') });
}

describe('web UI', () => {
  test('runs table shows logged runs and their values', async () => {
    await page.goto(expUrl());
    // Top level: 4 trained runs + live + crashed; the 2 trials are nested under resnet-small.
    await waitRows(6);
    const names = await rowNames();
    for (const n of ['resnet-small', 'resnet-large', 'vit-base', 'mlp-baseline', 'live-run', 'crashed']) assert.ok(names.includes(n), n);
    assert.equal(await page.textContent('[data-testid="exp-title"]'), seed.experiment_name);
    for (const r of seed.runs) {
      const cell = await page.textContent(`[data-run-id="${r.run_id}"] [data-col="m:loss"]`);
      assert.ok(Math.abs(Number(cell) - r.final_loss) < 1e-5, `${r.name}: ${cell} vs ${r.final_loss}`);
      assert.equal((await page.textContent(`[data-run-id="${r.run_id}"] [data-col="p:optimizer"]`)).trim(), r.optimizer);
    }
    await shot('01-runs-table');
  });

  test('nested runs expand under their parent', async () => {
    const parent = byName['resnet-small'].run_id;
    await page.click(`[data-run-id="${parent}"] .twisty`);
    await waitRows(8);
    const names = await rowNames();
    const i = names.indexOf('resnet-small');
    assert.deepEqual(names.slice(i + 1, i + 3).sort(), ['trial-0', 'trial-1']);
    await page.click(`[data-run-id="${parent}"] .twisty`);
    await waitRows(6);
  });

  test('filter narrows rows and a bad filter shows the server error inline', async () => {
    await page.fill('[data-testid="filter"]', "params.optimizer = 'sgd'");
    await page.press('[data-testid="filter"]', 'Enter');
    await waitRows(2);
    assert.deepEqual((await rowNames()).sort(), ['mlp-baseline', 'vit-base']);
    assert.equal(await hashParam('filter'), "params.optimizer = 'sgd'");
    await shot('02-filtered');

    await page.fill('[data-testid="filter"]', 'metrics.loss <<< 1');
    await page.press('[data-testid="filter"]', 'Enter');
    const err = await page.waitForSelector('[data-testid="filter-error"]');
    assert.match(await err.textContent(), /INVALID_PARAMETER_VALUE/);
    await shot('03-filter-error');
    await page.fill('[data-testid="filter"]', '');
    await page.press('[data-testid="filter"]', 'Enter');
    await waitRows(6);
  });

  test('clicking a column header sorts through order_by', async () => {
    const lossHeader = '[data-testid="runs-table"] .th.kind-m:has-text("loss") button';
    await page.click(lossHeader);
    await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1]).get('order') === 'metrics.`loss` ASC');
    const expected = [...seed.runs].sort((a, b) => a.final_loss - b.final_loss).map((r) => r.name);
    await waitOrder(expected);
    await page.click(lossHeader);
    await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1]).get('order') === 'metrics.`loss` DESC');
    await waitOrder([...expected].reverse());
  });

  test('keyboard: arrows move, Enter opens the run', async () => {
    await page.goto(expUrl('?order=' + encodeURIComponent('attributes.run_name ASC')));
    // Only the hash changed, so wait for the re-sorted rows, not the old ones.
    await waitOrder(['crashed', 'live-run', 'mlp-baseline', 'resnet-large', 'resnet-small', 'vit-base']);
    await page.focus('[data-testid="runs-table"] .scroll');
    await page.keyboard.press('ArrowDown'); // crashed -> live-run
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="run-title"]');
    assert.match(await page.textContent('[data-testid="run-title"]'), /live-run/);
  });

  test('run page shows params, min/max and a chart with exactly the logged points', async () => {
    const r = byName['resnet-small'];
    await page.goto(`${BASE}#/runs/${r.run_id}`);
    await page.waitForSelector('[data-testid="params"]');
    const params = await page.$$eval('[data-testid="params"] tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.querySelector('th').textContent, tr.querySelector('td').textContent])));
    assert.deepEqual(params, { batch_size: r.batch_size, lr: r.lr, optimizer: r.optimizer });
    await page.waitForFunction((id) => window.__mltrack.charts.loss?.series[id]?.length === 200, r.run_id);
    const plotted = (await chartSeries('loss'))[r.run_id];
    assert.deepEqual(plotted, r.loss);
    // The spike logged at step 137 is plotted and reported as the max.
    assert.deepEqual(plotted.find((p) => p[0] === 137), [137, 9.5]);
    await page.waitForFunction(() => document.querySelector('[data-metric="loss"] td:nth-of-type(3)')?.textContent === '9.5');
    assert.match(await page.textContent('[data-testid="children"]'), /trial-0/);
    assert.match(await page.textContent('[data-testid="description"]'), /Baseline run/);
    await shot('04-run-page');
  });

  test('description and tags are editable', async () => {
    await page.click('[data-testid="description"] button:has-text("Edit")');
    await page.fill('[data-testid="description"] textarea', 'Edited in the browser test');
    await page.click('[data-testid="description"] button:has-text("Save")');
    await page.waitForSelector('[data-testid="description"] .note:has-text("Edited in the browser test")');
    await page.fill('[aria-label="New tag key"]', 'reviewed');
    await page.fill('[aria-label="New tag value"]', 'yes');
    await page.click('button:has-text("Add tag")');
    await page.waitForSelector('[data-testid="tags"] th:has-text("reviewed")');
  });

  test('chart settings live in the URL: relative time, log scale, smoothing', async () => {
    const r = byName['resnet-small'];
    await page.goto(`${BASE}#/runs/${r.run_id}?x=rel&log=1&smooth=0.8`);
    await page.waitForFunction((id) => window.__mltrack.charts.loss?.series[id]?.length === 200, r.run_id);
    const c = await page.evaluate(() => window.__mltrack.charts.loss);
    assert.equal(c.x, 'rel');
    // Relative time starts at 0 and the seed logs one point per second.
    assert.equal(c.series[r.run_id][0][0], 0);
    assert.equal(c.series[r.run_id][10][0], 10);
    assert.equal(await page.isChecked('[data-testid="logscale"]'), true);
    await shot('05-run-chart-settings');
  });

  test('comparing two selected runs overlays both', async () => {
    const a = byName['resnet-small'], b = byName['vit-base'];
    await page.goto(expUrl());
    await waitRows(6);
    await page.check(`[data-run-id="${a.run_id}"] input[type=checkbox]`);
    await page.check(`[data-run-id="${b.run_id}"] input[type=checkbox]`);
    await page.click('[data-testid="compare"]');
    await page.waitForFunction(([x, y]) => {
      const s = window.__mltrack.charts.loss?.series;
      return s && s[x]?.length === 200 && s[y]?.length === 200;
    }, [a.run_id, b.run_id]);
    const s = await chartSeries('loss');
    assert.deepEqual(s[a.run_id], a.loss);
    assert.deepEqual(s[b.run_id], b.loss);
    assert.equal(await page.locator('[data-testid="compare-table"] thead th a').count(), 2);
    await shot('06-compare');
  });

  test('zooming a chart refetches that step range at full detail', async () => {
    const id = seed.long_run_id, all = seed.long_loss;
    await page.goto(`${BASE}#/runs/${id}`);
    // The full view is downsampled: fewer points than logged, first and last kept.
    await page.waitForFunction((id) => (window.__mltrack.charts.loss?.series[id]?.length ?? 0) > 0, id);
    const whole = (await chartSeries('loss'))[id];
    assert.ok(whole.length < all.length, `full view has ${whole.length} of ${all.length} points`);
    assert.deepEqual(whole[0], [0, all[0]]);
    const reqs = [];
    const onReq = (r) => { if (/get-history-(downsampled|bulk-interval)/.test(r.url())) reqs.push(new URL(r.url())); };
    page.on('request', onReq);
    const box = await page.locator('[data-metric="loss"] .u-over').boundingBox();
    await page.mouse.move(box.x + box.width * 0.40, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.43, box.y + box.height / 2, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.45, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => window.__mltrack.charts.loss?.zoom != null, null, { timeout: 10000 });
    page.off('request', onReq);
    const c = await page.evaluate(() => window.__mltrack.charts.loss);
    const [start, end] = c.zoom;
    const req = reqs.find((u) => u.searchParams.has('start_step'));
    assert.ok(req, 'a request carried start_step/end_step');
    assert.equal(Number(req.searchParams.get('start_step')), start);
    assert.equal(Number(req.searchParams.get('end_step')), end);
    assert.ok(start > 0 && end < all.length - 1 && end - start < 2500, `range ${start}-${end}`);
    // Every logged point of the range, exactly; none outside it.
    assert.deepEqual(c.series[id], all.slice(start, end + 1).map((v, i) => [start + i, v]));
    assert.match(await page.textContent('[data-testid="zoom-range"]'), new RegExp(`steps ${start}–${end}`));
    await shot('11-zoomed');
    await page.dblclick('[data-metric="loss"] .u-over');
    await page.waitForFunction(() => window.__mltrack.charts.loss?.zoom == null);
    assert.equal((await chartSeries('loss'))[id].length, whole.length);
  });

  test('grouping runs by a param plots each group\'s mean with a band', async () => {
    const four = ['resnet-small', 'resnet-large', 'vit-base', 'mlp-baseline'].map((n) => byName[n]);
    await page.goto(`${BASE}#/compare?runs=${four.map((r) => r.run_id).join(',')}&group=p%3Aoptimizer`);
    const labels = { adam: 'optimizer=adam (2)', sgd: 'optimizer=sgd (2)' };
    await page.waitForFunction((ls) => ls.every((l) => window.__mltrack.charts.loss?.series[l]?.length === 200), Object.values(labels));
    const expected = (opt, band) => {
      const rs = four.filter((r) => r.optimizer === opt);
      return rs[0].loss.map(([step], i) => {
        const vs = rs.map((r) => r.loss[i][1]);
        const mean = vs.reduce((a, b) => a + b, 0) / vs.length;
        const sd = Math.sqrt(vs.reduce((a, v) => a + (v - mean) ** 2, 0) / vs.length);
        return { step, mean, lo: band === 'std' ? mean - sd : Math.min(...vs), hi: band === 'std' ? mean + sd : Math.max(...vs) };
      });
    };
    const close = (a, b) => Math.abs(a - b) < 1e-9;
    const check = async (band) => {
      const c = await page.evaluate(() => window.__mltrack.charts.loss);
      assert.deepEqual(Object.keys(c.series).sort(), Object.values(labels).sort());
      for (const [opt, label] of Object.entries(labels)) {
        const want = expected(opt, band);
        c.series[label].forEach(([x, y], i) => { assert.equal(x, want[i].step); assert.ok(close(y, want[i].mean), `${label} step ${x}: ${y} vs ${want[i].mean}`); });
        c.bands[label].forEach(([x, lo, hi], i) => { assert.ok(close(lo, want[i].lo) && close(hi, want[i].hi), `${band} band ${label} step ${x}`); });
      }
    };
    await check('minmax');
    await page.evaluate(() => document.querySelector('.charts-section').scrollIntoView());
    await shot('12-grouped-minmax');
    await page.selectOption('[data-testid="band"]', 'std');
    await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1]).get('band') === 'std');
    await page.waitForFunction((l) => { const b = window.__mltrack.charts.loss?.bands?.[l]; return b && b[0][1] !== b[0][2] && b.length === 200; }, labels.adam);
    await check('std');
  });

  test('compare view draws parallel coordinates and a param/metric scatter', async () => {
    const four = ['resnet-small', 'resnet-large', 'vit-base', 'mlp-baseline'].map((n) => byName[n]);
    await page.goto(`${BASE}#/compare?runs=${four.map((r) => r.run_id).join(',')}`);
    await page.waitForSelector('[data-testid="parcoords"] polyline');
    assert.equal(await page.locator('[data-testid="parcoords"] polyline').count(), 4);
    let pc = await page.evaluate(() => window.__mltrack.parcoords);
    assert.deepEqual(pc.axes, ['p:batch_size', 'p:lr', 'p:optimizer', 'm:accuracy', 'm:loss']);
    for (const r of four) {
      const [bs, lr, opt, , loss] = pc.lines[r.run_id];
      assert.deepEqual([bs, lr, opt], [Number(r.batch_size), Number(r.lr), r.optimizer]);
      assert.ok(Math.abs(loss - r.final_loss) < 1e-9);
    }
    // Dropping a metric removes its axis.
    await page.uncheck('[data-testid="pc-metrics"] label:has-text("accuracy") input');
    await page.waitForFunction(() => window.__mltrack.parcoords.axes.length === 4);
    pc = await page.evaluate(() => window.__mltrack.parcoords);
    assert.deepEqual(pc.axes, ['p:batch_size', 'p:lr', 'p:optimizer', 'm:loss']);

    await page.selectOption('[data-testid="scatter-x"]', 'lr');
    await page.selectOption('[data-testid="scatter-y"]', 'loss');
    await page.waitForFunction(() => window.__mltrack.scatter?.x === 'lr' && window.__mltrack.scatter?.y === 'loss');
    assert.equal(await page.locator('[data-testid="scatter"] circle').count(), 4);
    const sc = await page.evaluate(() => window.__mltrack.scatter.points);
    for (const r of four) {
      assert.equal(sc[r.run_id][0], Number(r.lr));
      assert.ok(Math.abs(sc[r.run_id][1] - r.final_loss) < 1e-9);
    }
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot('13-compare-plots');
  });

  test('new runs appear in the table without Refresh while runs are RUNNING', async () => {
    // The other experiment's only run ("lonely") is still RUNNING.
    await page.goto(`${BASE}#/experiments/${seed.other_experiment_id}`);
    await waitRows(1);
    const r = await fetch(`${BASE}ajax-api/2.0/mlflow/runs/create`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ experiment_id: seed.other_experiment_id, run_name: 'late-arrival', start_time: Date.now() }),
    });
    assert.equal(r.status, 200);
    await waitRows(2);
    assert.deepEqual((await rowNames()).sort(), ['late-arrival', 'lonely']);
  });

  test('a deep link restores filter, sort, columns and selection after reload', async () => {
    const a = byName['resnet-large'];
    const q = new URLSearchParams({ filter: "params.optimizer = 'adam'", order: 'metrics.`loss` DESC', cols: 'p%3Alr,m%3Aloss', sel: a.run_id });
    const url = expUrl('?' + q.toString());
    await page.goto(url);
    await page.reload();
    await waitRows(2);
    assert.equal(await page.inputValue('[data-testid="filter"]'), "params.optimizer = 'adam'");
    assert.deepEqual(await rowNames(), [...seed.runs].filter((r) => r.optimizer === 'adam').sort((x, y) => y.final_loss - x.final_loss).map((r) => r.name));
    const headers = await page.$$eval('[data-testid="runs-table"] .th.kind-m, [data-testid="runs-table"] .th.kind-p', (e) => e.map((x) => x.querySelector('.th-label').textContent));
    assert.deepEqual(headers, ['lr', 'loss']);
    assert.equal(await page.isChecked(`[data-run-id="${a.run_id}"] input[type=checkbox]`), true);
    assert.match(await page.textContent('[data-testid="selbar"]'), /1 selected/);
  });

  test('lifecycle view shows deleted runs', async () => {
    await page.goto(expUrl('?view=deleted'));
    await waitRows(1);
    assert.deepEqual(await rowNames(), ['deleted-run']);
  });

  test('a wide table renders only the columns in view, aligned with their headers', async () => {
    const post = async (path, body) => {
      const r = await fetch(`${BASE}ajax-api/2.0/mlflow/${path}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      assert.equal(r.status, 200, path);
      return r.json();
    };
    const { experiment_id: exp } = await post('experiments/create', { name: `wide-${Date.now()}` });
    const { run } = await post('runs/create', { experiment_id: exp, run_name: 'wide', start_time: Date.now() });
    const keys = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    await post('runs/log-batch', {
      run_id: run.info.run_id,
      metrics: keys.map((i) => ({ key: `w_m${i}`, value: i + 0.5, timestamp: 1, step: 0 })),
      params: keys.map((i) => ({ key: `w_p${i}`, value: `v${i}` })),
    });
    // All 20 columns, through the URL as a shared link would have them.
    const cols = [...keys.map((i) => `m:w_m${i}`), ...keys.map((i) => `p:w_p${i}`)].map(encodeURIComponent).join(',');
    await page.goto(`${BASE}#/experiments/${exp}?cols=${encodeURIComponent(cols)}`);
    await waitRows(1);
    const row = `[data-run-id="${run.info.run_id}"]`;
    // Every header is there; the cells far beyond the right edge are not.
    assert.equal(await page.locator('[data-testid="runs-table"] .th.kind-m, [data-testid="runs-table"] .th.kind-p').count(), 20);
    assert.equal(await page.textContent(`${row} [data-col="m:w_m0"]`), '0.5');
    assert.equal(await page.locator(`${row} [data-col="p:w_p9"]`).count(), 0, 'a column far out of view is rendered');
    // Scrolled to the right end: the last column is there, under its header.
    await page.evaluate(() => { const el = document.querySelector('[data-testid="runs-table"] .scroll'); el.scrollLeft = el.scrollWidth; });
    await page.waitForSelector(`${row} [data-col="p:w_p9"]`);
    assert.equal(await page.textContent(`${row} [data-col="p:w_p9"]`), 'v9');
    assert.equal(await page.locator(`${row} [data-col="m:w_m0"]`).count(), 0, 'a column scrolled out of view is still rendered');
    for (const col of ['p:w_p9', 'p:w_p5', 'm:w_m9']) {
      const key = col.slice(2);
      const cell = await page.locator(`${row} [data-col="${col}"]`).boundingBox();
      const head = await page.locator(`[data-testid="runs-table"] .th[title="${col[0] === 'm' ? 'metric' : 'param'}: ${key}"]`).boundingBox();
      assert.ok(Math.abs(cell.x - head.x) < 1 && Math.abs(cell.width - head.width) < 1, `${col} cell at ${cell.x}+${cell.width}, header at ${head.x}+${head.width}`);
    }
    await shot('16-wide-table-scrolled');
    await post('experiments/delete', { experiment_id: exp });
  });

  test('live: a RUNNING run refreshes its row and chart without reload', async () => {
    const id = seed.live_run_id;
    await page.goto(`${BASE}#/runs/${id}`);
    await page.waitForFunction((id) => window.__mltrack.charts.loss?.series[id]?.length === 1, id);
    const post = (path, body) => fetch(`${BASE}ajax-api/2.0/mlflow/${path}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    }).then((r) => assert.equal(r.status, 200, path));
    await post('runs/log-metric', { run_id: id, key: 'loss', value: 0.25, timestamp: Date.now(), step: 1 });
    await page.waitForFunction((id) => window.__mltrack.charts.loss?.series[id]?.length === 2, id, { timeout: 10000 });

    await page.goto(expUrl());
    await waitRows(6);
    assert.match(await page.textContent(`[data-run-id="${id}"]`), /Running/);
    await post('runs/update', { run_id: id, status: 'FINISHED', end_time: Date.now() });
    await page.waitForFunction((id) => /Finished/.test(document.querySelector(`[data-run-id="${id}"]`)?.textContent ?? ''), id, { timeout: 10000 });
  });

  test('experiments: search, create, rename, delete and restore', async () => {
    page.on('dialog', (d) => d.accept());
    await page.goto(BASE + '#/');
    await page.waitForSelector('[data-testid="exp-list"] a');
    await page.fill('[data-testid="exp-search"]', seed.experiment_name);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="exp-list"] a').length === 1);
    const name = 'ui-created-' + Date.now();
    await page.click('[data-testid="exp-create"]');
    await page.fill('.name-form input', name);
    await page.click('.name-form button[type=submit]');
    await page.waitForSelector(`[data-testid="exp-title"]:has-text("${name}")`);
    await page.waitForSelector('[data-testid="no-runs"]');
    await page.fill('[data-testid="exp-search"]', name);
    await page.hover(`.exp-item:has-text("${name}")`);
    await page.click(`[aria-label="Rename ${name}"]`);
    await page.fill('.exp-item .name-form input', name + '-renamed');
    await page.click('.exp-item .name-form button[type=submit]');
    await page.waitForSelector(`.exp-item a:has-text("${name}-renamed")`);
    await page.fill('[data-testid="exp-search"]', name + '-renamed');
    await page.hover(`.exp-item:has-text("${name}-renamed")`);
    await page.click(`[aria-label="Delete ${name}-renamed"]`);
    await page.waitForSelector(`.exp-item:has-text("${name}-renamed")`, { state: 'detached' });
    await page.check('.sidebar .check input');
    await page.hover(`.exp-item.deleted:has-text("${name}-renamed")`);
    await shot('10-experiments-deleted');
    await page.click(`[aria-label="Restore ${name}-renamed"]`);
    await page.waitForSelector(`.exp-item:not(.deleted):has-text("${name}-renamed")`);
    await page.uncheck('.sidebar .check input');
    await page.fill('[data-testid="exp-search"]', '');
  });

  test('artifacts: tree, safe previews, downloads', async () => {
    const r = byName['resnet-small'];
    const a = seed.artifacts;
    const tree = '[data-testid="artifact-tree"]';
    const pv = '[data-testid="artifact-preview"]';
    const select = async (path) => {
      await page.click(`${tree} li[data-path="${path}"] > button`);
      await page.waitForFunction(([p]) => document.querySelector('[data-testid="preview-path"]')?.textContent === p, [path]);
    };
    await page.goto(`${BASE}#/runs/${r.run_id}`);
    await page.waitForSelector(tree);
    const top = await page.$$eval(`${tree} > li`, (lis) => lis.map((li) => li.dataset.path));
    assert.deepEqual(top, ['eval', 'plots', 'config.json', 'report.html', 'train.log']);
    // Directories load on expand, nested ones too.
    await page.click(`${tree} li[data-path="eval"] > button`);
    await page.waitForSelector(`${tree} li[data-path="eval/scores.csv"]`);
    await page.click(`${tree} li[data-path="eval/deep"] > button`);
    await page.waitForSelector(`${tree} li[data-path="eval/deep/notes.txt"]`);
    await page.click(`${tree} li[data-path="plots"] > button`);
    await page.waitForSelector(`${tree} li[data-path="plots/sample.png"]`);
    assert.match(await page.textContent(`${tree} li[data-path="train.log"] .art-size`), /^\d+ B$/);
    // Download links are relative get-artifact URLs.
    const dl = await page.getAttribute(`${tree} li[data-path="eval/scores.csv"] a`, 'href');
    assert.equal(dl, `get-artifact?run_id=${r.run_id}&path=eval%2Fscores.csv`);
    const abs = await page.$eval(`${tree} li[data-path="eval/scores.csv"] a`, (el) => el.href);
    assert.equal(abs, `${BASE}get-artifact?run_id=${r.run_id}&path=eval%2Fscores.csv`);

    await select('train.log');
    await page.waitForSelector(`${pv} [data-testid="preview-text"]`);
    assert.equal(await page.textContent(`${pv} [data-testid="preview-text"]`), a.text);
    assert.equal(await page.$$eval(`${pv} pre b`, (b) => b.length), 0);

    await select('config.json');
    await page.waitForSelector(`${pv} [data-testid="preview-text"][data-kind="json"]`);
    assert.equal(await page.textContent(`${pv} [data-testid="preview-text"]`), JSON.stringify(a.config, null, 2));

    await select('eval/scores.csv');
    await page.waitForSelector(`${pv} [data-testid="preview-table"]`);
    const cells = await page.$$eval(`${pv} [data-testid="preview-table"] tr`, (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    assert.deepEqual(cells, a.csv_rows);

    await select('plots/sample.png');
    await page.waitForFunction(() => document.querySelector('[data-testid="preview-image"]')?.complete && document.querySelector('[data-testid="preview-image"]').naturalWidth > 0);
    const size = await page.$eval('[data-testid="preview-image"]', (i) => [i.naturalWidth, i.naturalHeight]);
    assert.deepEqual(size, a.image);
    await page.$eval('[data-testid="artifacts"]', (el) => el.scrollIntoView());
    await shot('20-artifacts-image');

    for (const [path, src] of [['report.html', a.html], ['plots/evil.svg', a.svg]]) {
      await select(path);
      await page.waitForSelector(`${pv} [data-testid="preview-text"]`);
      assert.equal(await page.textContent(`${pv} [data-testid="preview-text"]`), src);
      assert.equal(await page.$$eval(`${pv} script, ${pv} svg, ${pv} iframe, ${pv} object, ${pv} embed`, (e) => e.length), 0);
      await page.waitForTimeout(300);
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
    }
    await page.$eval('[data-testid="artifacts"]', (el) => el.scrollIntoView());
    await shot('21-artifacts-svg');
    await select('eval/scores.csv');
    await page.waitForSelector(`${pv} [data-testid="preview-table"]`);
    await page.click('[data-testid="theme"]');
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await page.$eval('[data-testid="artifacts"]', (el) => el.scrollIntoView());
    await shot('22-artifacts-csv-dark');
    await select('config.json');
    await page.waitForSelector(`${pv} [data-testid="preview-text"][data-kind="json"]`);
    await shot('23-artifacts-json-dark');
    await page.click('[data-testid="theme"]');
    await page.waitForFunction(() => document.documentElement.dataset.theme !== 'dark');
  });

  test('run page lists the run\'s logged models, model inputs and datasets', async () => {
    assert.equal(seed.models.error, undefined);
    const { models, dataset: ds } = seed.models;
    const [tiny, other] = models;
    await page.goto(`${BASE}#/runs/${tiny.run_id}`);
    const row = `[data-testid="logged-models"] [data-model-id="${tiny.model_id}"]`;
    await page.waitForSelector(`${row} [data-testid="model-link"]`);
    assert.equal(await page.textContent(`${row} [data-testid="model-link"]`), tiny.name);
    assert.equal(await page.getAttribute(`${row} [data-testid="model-link"]`, 'href'), `#/models/${tiny.model_id}`);
    assert.equal(await page.textContent(`${row} [data-testid="model-status"]`), 'Ready');
    assert.equal(await page.textContent(`${row} [data-col="type"]`), tiny.model_type);
    assert.equal(await page.textContent(`${row} [data-col="step"]`), String(tiny.step));
    assert.equal(await page.locator('[data-testid="logged-models"] tr[data-model-id]').count(), 1);

    const card = `[data-testid="datasets"] [data-dataset="${ds.name}"]`;
    await page.waitForSelector(card);
    assert.equal(await page.locator('[data-testid="datasets"] [data-dataset]').count(), 1);
    assert.equal(await page.textContent(`${card} [data-testid="dataset-name"]`), ds.name);
    assert.equal(await page.textContent(`${card} [data-testid="dataset-digest"]`), ds.digest);
    assert.equal(await page.textContent(`${card} [data-testid="dataset-context"]`), ds.context);
    assert.equal(await page.textContent(`${card} [data-testid="dataset-source-type"]`), ds.source_type);
    assert.equal(await page.textContent(`${card} [data-testid="dataset-source"]`), ds.uri);
    assert.deepEqual(await page.$$eval(`${card} [data-testid="dataset-tags"] .chip`, (e) => e.map((x) => x.textContent)),
      Object.entries(ds.tags).map(([k, v]) => `${k}: ${v}`));
    assert.deepEqual(await page.$$eval(`${card} [data-testid="dataset-profile"] .chip`, (e) => e.map((x) => x.textContent)),
      Object.entries(JSON.parse(ds.profile)).map(([k, v]) => `${k}: ${v}`));
    // The schema is collapsed until asked for, then pretty-printed.
    assert.equal(await page.isVisible(`${card} [data-testid="dataset-schema"]`), false);
    await page.click(`${card} .dataset-schema summary`);
    assert.equal(await page.textContent(`${card} [data-testid="dataset-schema"]`), JSON.stringify(JSON.parse(ds.schema), null, 2));
    await page.$eval('[data-testid="logged-models"]', (el) => el.scrollIntoView());
    await shot('30-run-models-datasets');

    // The second run was started from the first model: listed as a model input.
    await page.goto(`${BASE}#/runs/${other.run_id}`);
    await page.waitForSelector(`[data-testid="logged-models"] [data-model-id="${other.model_id}"] [data-testid="model-link"]`);
    await page.waitForSelector(`[data-testid="model-inputs"] [data-model-id="${tiny.model_id}"] [data-testid="model-link"]`);
    assert.equal(await page.textContent(`[data-testid="model-inputs"] [data-model-id="${tiny.model_id}"] [data-testid="model-link"]`), tiny.name);

    // A run without models or datasets says so.
    await page.goto(`${BASE}#/runs/${byName['vit-base'].run_id}`);
    await page.waitForSelector('[data-testid="logged-models"]');
    assert.match(await page.textContent('[data-testid="logged-models"]'), /logged no models/);
    assert.match(await page.textContent('[data-testid="datasets"]'), /No dataset inputs/);
  });

  test('experiment Models tab lists, sorts and filters logged models', async () => {
    assert.equal(seed.models.error, undefined);
    const { models, experiment_id: expId } = seed.models;
    const [tiny, other] = models;
    const names = () => page.$$eval('[data-testid="models-table"] tr[data-model-id] [data-testid="model-link"]', (e) => e.map((x) => x.textContent));
    const waitModels = (want) => page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll(
      '[data-testid="models-table"] tr[data-model-id] [data-testid="model-link"]')].map((e) => e.textContent)) === JSON.stringify(w), want, { timeout: 30000 });
    await page.goto(`${BASE}#/experiments/${expId}`);
    await page.click('[data-testid="tab-models"]');
    assert.equal(await hashParam('tab'), 'models');
    // MLflow's default order: newest first.
    await waitModels([other.name, tiny.name]);
    for (const m of models) {
      const row = `[data-testid="models-table"] tr[data-model-id="${m.model_id}"]`;
      assert.equal(await page.textContent(`${row} [data-testid="model-status"]`), 'Ready');
      // Run names arrive in one search after the models.
      await page.waitForFunction(([sel, n]) => document.querySelector(sel)?.textContent === n, [`${row} [data-col="source-run"] a`, m.run_name]);
      assert.equal(await page.getAttribute(`${row} [data-col="source-run"] a`, 'href'), `#/runs/${m.run_id}`);
      assert.deepEqual(await page.$$eval(`${row} [data-col="params"] .chip`, (e) => e.map((x) => x.textContent)), [`alpha=${m.alpha}`, 'depth=3']);
      assert.equal(Number(await page.textContent(`${row} [data-col="m:rmse"]`)), m.rmse);
    }
    await shot('31-models-tab');

    await page.click('[data-testid="models-table"] [data-sort="metrics.rmse"]');
    await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1]).get('morder') === 'metrics.rmse ASC');
    await waitModels([tiny.name, other.name]);
    await page.click('[data-testid="models-table"] [data-sort="metrics.rmse"]');
    await waitModels([other.name, tiny.name]);
    await page.click('[data-testid="models-table"] [data-sort="name"]');
    await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1]).get('morder') === 'name ASC');
    await waitModels([other.name, tiny.name].sort());

    await page.fill('[data-testid="models-filter"]', "params.alpha = '0.5'");
    await page.press('[data-testid="models-filter"]', 'Enter');
    await waitModels([tiny.name]);
    assert.equal(await hashParam('mfilter'), "params.alpha = '0.5'");
    await page.fill('[data-testid="models-filter"]', 'metrics.rmse > 0.5');
    await page.press('[data-testid="models-filter"]', 'Enter');
    await waitModels([other.name]);

    // Paging follows next_page_token: one model per page here.
    await page.evaluate(() => { window.__mltrack.modelsPageSize = 1; });
    await page.fill('[data-testid="models-filter"]', "params.depth = '3'");
    await page.press('[data-testid="models-filter"]', 'Enter');
    await waitModels([other.name]);
    await page.waitForSelector('[data-testid="models-more"]:not([disabled])');
    assert.equal(await page.textContent('[data-testid="model-count"]'), '1+ model');
    await page.click('[data-testid="models-more"]');
    await waitModels([other.name, tiny.name]);
    await page.waitForSelector('[data-testid="models-more"]', { state: 'detached' });
    assert.equal(await page.textContent('[data-testid="model-count"]'), '2 models');
    await page.evaluate(() => { delete window.__mltrack.modelsPageSize; });

    await page.fill('[data-testid="models-filter"]', 'name <<< 1');
    await page.press('[data-testid="models-filter"]', 'Enter');
    const err = await page.waitForSelector('[data-testid="models-filter-error"]');
    assert.match(await err.textContent(), /INVALID_PARAMETER_VALUE/);
    assert.equal(await page.locator('[data-testid="models-table"]').count(), 0);
    await shot('32-models-filter-error');

    await page.fill('[data-testid="models-filter"]', "name = 'no-such-model'");
    await page.press('[data-testid="models-filter"]', 'Enter');
    await page.waitForSelector('[data-testid="no-models"]');
    assert.match(await page.textContent('[data-testid="no-models"]'), /No models match/);

    // An experiment without models shows the empty state, not an error.
    await page.goto(`${BASE}#/experiments/${seed.other_experiment_id}?tab=models`);
    await page.waitForSelector('[data-testid="no-models"]');
    assert.match(await page.textContent('[data-testid="no-models"]'), /No logged models/);
  });

  test('model page shows info, params, metrics, tags and previews MLmodel', async () => {
    assert.equal(seed.models.error, undefined);
    const { models, dataset: ds, mlmodel } = seed.models;
    const [tiny] = models;
    await page.goto(`${BASE}#/experiments/${seed.models.experiment_id}?tab=models&mfilter=${encodeURIComponent(`name = '${tiny.name}'`)}`);
    await page.click(`[data-testid="models-table"] tr[data-model-id="${tiny.model_id}"] [data-testid="model-link"]`);
    await page.waitForSelector('[data-testid="model-title"]');
    assert.equal(await page.evaluate(() => location.hash), `#/models/${tiny.model_id}`);
    assert.match(await page.textContent('[data-testid="model-title"]'), new RegExp(`^${tiny.name}\\s*Ready$`));
    assert.equal(await page.textContent('[data-testid="model-id"]'), tiny.model_id);
    assert.equal(await page.textContent('[data-testid="model-type"]'), tiny.model_type);
    await page.waitForFunction((n) => document.querySelector('[data-testid="model-source-run"] a')?.textContent === n, tiny.run_name);
    assert.equal(await page.getAttribute('[data-testid="model-source-run"] a', 'href'), `#/runs/${tiny.run_id}`);
    const kv = (sel) => page.$$eval(`${sel} tbody tr`, (trs) => Object.fromEntries(trs.map((tr) => [tr.querySelector('th').textContent, tr.querySelector('td').textContent])));
    assert.deepEqual(await kv('[data-testid="model-params"]'), { alpha: tiny.alpha, depth: '3' });
    assert.deepEqual(await kv('[data-testid="model-tags"] > table'), { owner: 'alice' });
    const metric = await page.$$eval('[data-testid="model-metrics"] tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    assert.deepEqual(metric, [['rmse', String(tiny.rmse), String(tiny.step), `${ds.name} ${ds.digest}`, tiny.run_name]]);

    // MLmodel is previewed on arrival, as text.
    const tree = '[data-testid="artifact-tree"]';
    await page.waitForFunction(() => document.querySelector('[data-testid="preview-path"]')?.textContent === 'MLmodel');
    await page.waitForSelector('[data-testid="artifact-preview"] [data-testid="preview-text"]');
    assert.equal(await page.textContent('[data-testid="artifact-preview"] [data-testid="preview-text"]'), mlmodel);
    assert.equal(await page.getAttribute('[data-testid="artifact-preview"] [data-testid="preview-text"]', 'data-kind'), 'text');
    const top = await page.$$eval(`${tree} > li`, (lis) => lis.map((li) => li.dataset.path));
    for (const f of ['MLmodel', 'python_model.pkl', 'requirements.txt']) assert.ok(top.includes(f), `${f} in ${top}`);
    assert.equal(await page.getAttribute(`${tree} li[data-path="MLmodel"] a`, 'href'),
      `ajax-api/2.0/mlflow/logged-models/${tiny.model_id}/artifacts/files?artifact_file_path=MLmodel`);
    await page.$eval('[data-testid="artifacts"]', (el) => el.scrollIntoView());
    await shot('33-model-page');
    // YAML is text; the pickle is binary and not decoded.
    await page.click(`${tree} li[data-path="python_env.yaml"] > button`);
    await page.waitForSelector('[data-testid="artifact-preview"] [data-testid="preview-text"][data-kind="text"]');
    assert.match(await page.textContent('[data-testid="artifact-preview"] [data-testid="preview-text"]'), /python:/);
    await page.click(`${tree} li[data-path="python_model.pkl"] > button`);
    await page.waitForSelector('[data-testid="preview-binary"]');

    await page.goto(`${BASE}#/models/m-00000000000000000000000000000000`);
    await page.waitForSelector('[data-testid="model-error"]');
    assert.match(await page.textContent('[data-testid="model-error"]'), /not found/i);
    await shot('34-model-not-found');
  });

  test('dark theme and empty states render', async () => {
    await page.goto(`${BASE}#/experiments/${seed.other_experiment_id}?filter=${encodeURIComponent("params.nope = 'x'")}`);
    await page.waitForSelector('[data-testid="no-runs"]');
    await page.click('[data-testid="theme"]');
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await shot('07-empty-dark');
    await page.goto(expUrl());
    await waitRows(6);
    await shot('08-runs-dark');
    await page.goto(`${BASE}#/runs/${byName['vit-base'].run_id}`);
    await page.waitForFunction((id) => window.__mltrack.charts.loss?.series[id]?.length === 200, byName['vit-base'].run_id);
    await shot('09-run-dark');
    await page.click('[data-testid="theme"]');
  });

  test('no CSP violations or page errors', () => {
    assert.deepEqual(problems, []);
  });
});
