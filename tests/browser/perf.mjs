// UI benchmark (not a test): fills a tracking server through raw REST calls,
// then measures the UI in headless Chromium. Run through perf.sh, which builds
// and starts mltrack; or point BASE_URL at a server that serves the UI.
//
//   BASE_URL        UI + API root, e.g. http://127.0.0.1:19200/mlflow/
//   TABLE_RUNS      runs in the table experiment (10000), each with 10 params and 10 metrics
//   CHART_RUNS      runs in the chart set (100)
//   CHART_STEPS     steps of the one charted metric per chart run (100000)
//   SKIP_FILL=1     reuse the experiments named in $OUT_DIR/perf-ids.json
//   SKIP_CHART=1    measure the table only
//   SKIP_TABLE=1    measure the compare chart only
//   FILL_ONLY=1     fill (and write perf-ids.json), measure nothing
//   SCROLL_PX       pixels scrolled per frame (200: a fast wheel; the table is 34 px a row)
//   CHART_NAVS      navigations to the compare chart (3): the first is what a fresh server does
//   RESULT_FILE     result file name in $OUT_DIR (perf.json)
//   CHART_KEY       the charted metric of the chart runs ('loss', what the fill logs)
import { launch } from './browser.mjs';
import { gzipSync } from 'node:zlib';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.BASE_URL ?? 'http://127.0.0.1:19200/mlflow/').replace(/\/?$/, '/');
const API = BASE + 'ajax-api/2.0/mlflow/';
const TABLE_RUNS = Number(process.env.TABLE_RUNS ?? 10000);
const CHART_RUNS = Number(process.env.CHART_RUNS ?? 100);
const CHART_STEPS = Number(process.env.CHART_STEPS ?? 100000);
const SCROLL_PX = Number(process.env.SCROLL_PX ?? 200);
const CHART_NAVS = Number(process.env.CHART_NAVS ?? 3);
const RESULT_FILE = process.env.RESULT_FILE ?? 'perf.json';
const CHART_KEY = process.env.CHART_KEY ?? 'loss';
const OUT = process.env.OUT_DIR ?? join(HERE, 'test-results');
mkdirSync(OUT, { recursive: true });

async function post(path, body) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(API + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (r.ok) return r.json();
    const text = await r.text();
    if (attempt >= 5 || r.status < 500) throw new Error(`${path}: ${r.status} ${text.slice(0, 200)}`);
    await new Promise((res) => setTimeout(res, 200 * (attempt + 1)));
  }
}
// Runs f(0..n-1) with at most `width` calls in flight.
async function pool(n, width, f) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) { const i = next++; await f(i); }
  }));
}

async function fill() {
  const stamp = Date.now();
  const t0 = performance.now();
  const table = (await post('experiments/create', { name: `perf-table-${stamp}` })).experiment_id;
  const start = Date.now() - 86_400_000;
  await pool(TABLE_RUNS, 32, async (i) => {
    const run = (await post('runs/create', { experiment_id: table, run_name: `run-${i}`, start_time: start + i * 1000 })).run;
    const id = run.info.run_id;
    await post('runs/log-batch', {
      run_id: id,
      params: Array.from({ length: 10 }, (_, k) => ({ key: `param_${k}`, value: String((i * 7 + k) % 97) })),
      metrics: Array.from({ length: 10 }, (_, k) => ({ key: `metric_${k}`, value: Math.sin(i + k), timestamp: start + i * 1000, step: 0 })),
    });
    await post('runs/update', { run_id: id, status: 'FINISHED', end_time: start + i * 1000 + 500 });
  });
  const tTable = performance.now() - t0;
  console.log(`filled table: ${TABLE_RUNS} runs in ${(tTable / 1000).toFixed(1)} s`);

  const t1 = performance.now();
  const chart = (await post('experiments/create', { name: `perf-chart-${stamp}` })).experiment_id;
  const chartRuns = [];
  for (let i = 0; i < CHART_RUNS; i++) {
    chartRuns.push((await post('runs/create', { experiment_id: chart, run_name: `chart-${i}`, start_time: start })).run.info.run_id);
  }
  // Eight runs train at a time, each logging its steps in order, as a
  // training loop does (batches of one run in flight together would commit
  // out of order, which the server's chart cache does not follow).
  const perCall = 1000;
  await pool(CHART_RUNS, 8, async (r) => {
    for (let from = 0; from < CHART_STEPS; from += perCall) {
      const metrics = [];
      for (let s = from; s < Math.min(from + perCall, CHART_STEPS); s++) {
        metrics.push({ key: 'loss', value: Math.exp(-s / CHART_STEPS * 3) + 0.05 * Math.sin(s / 50 + r) + (s % 9973 === 0 ? 2 : 0), timestamp: start + s, step: s });
      }
      await post('runs/log-batch', { run_id: chartRuns[r], metrics });
    }
  });
  for (const id of chartRuns) await post('runs/update', { run_id: id, status: 'FINISHED', end_time: start + CHART_STEPS });
  const tChart = performance.now() - t1;
  console.log(`filled chart set: ${CHART_RUNS} runs x ${CHART_STEPS} steps in ${(tChart / 1000).toFixed(1)} s`);
  const ids = { table, chart, chartRuns, fillSeconds: { table: tTable / 1000, chart: tChart / 1000 } };
  writeFileSync(join(OUT, 'perf-ids.json'), JSON.stringify(ids));
  return ids;
}

const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function measureTable(page, ids, res) {
  // 1. Runs table: cold navigation to first visible rows (median of 3 loads).
  const firsts = [];
  for (let i = 0; i < 3; i++) {
    await page.goto('about:blank');
    await page.goto(`${BASE}#/experiments/${ids.table}`);
    await page.waitForFunction(() => window.__firstRow, null, { timeout: 60000 });
    firsts.push(await page.evaluate(() => window.__firstRow));
  }
  res.firstRowsMs = q(firsts, 0.5);
  res.firstRowsAllMs = firsts;
  await page.waitForFunction((n) => window.__mltrack?.table?.complete && window.__mltrack.table.total === n, TABLE_RUNS, { timeout: 120000 });
  res.allRowsLoadedMs = await page.evaluate(() => performance.now());

  // 2. Scroll the whole table, a fixed distance per frame, recording frame deltas.
  const cpuBefore = chromiumCpuMs();
  const frames = await page.evaluate(async (px) => {
    const el = document.querySelector('[data-testid="runs-table"] .scroll');
    const deltas = [];
    let last = performance.now();
    await new Promise((done) => {
      const step = (t) => {
        deltas.push(t - last); last = t;
        if (el.scrollTop + el.clientHeight >= el.scrollHeight - 1) return done();
        el.scrollTop += px;
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    return deltas.slice(1);
  }, SCROLL_PX);
  const cpuMs = chromiumCpuMs() - cpuBefore;
  res.scroll = { pxPerFrame: SCROLL_PX, frames: frames.length, medianMs: q(frames, 0.5), p95Ms: q(frames, 0.95), maxMs: Math.max(...frames), over16_7: frames.filter((d) => d > 17.5).length };
  // CPU of every Chromium process (renderer, GPU/compositor, browser) per
  // frame: what a frame costs, which load on the machine does not change
  // (dropped frames it does). 16.7 ms per frame would be a whole core.
  res.scroll.cpuMsPerFrame = Number((cpuMs / frames.length).toFixed(2));
  // rAF deltas are whole vsync intervals (16.7 ms at 60 Hz) give or take timer
  // rounding: one above 17.5 ms means at least one frame was missed.
  res.scroll.droppedFrames = frames.reduce((a, d) => a + Math.max(0, Math.round(d / (1000 / 60)) - 1), 0);
  // Where the long frames fell (frame index: delta ms), to tell start-up
  // stalls from ones that recur while scrolling.
  res.scroll.longFrames = frames.flatMap((d, i) => (d > 17.5 ? [`${i}: ${d.toFixed(1)}`] : []));
}

// chromiumCpuMs is the CPU time (user + system) so far of every running
// Chromium process on the machine, from /proc (Linux only; 0 elsewhere).
function chromiumCpuMs() {
  let ticks = 0;
  let pids = [];
  try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return 0; }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!/chrom/i.test(comm)) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch { /* gone meanwhile */ }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

async function measure(ids) {
  const ctx = await launch();
  const page = await ctx.newPage();
  // First row visible: polled every frame from the moment the page starts.
  await page.addInitScript(() => {
    const w = window;
    const tick = () => {
      if (!w.__firstRow && document.querySelector('[data-run-id]')) w.__firstRow = performance.now();
      if (!w.__firstRow) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const res = {};
  if (!process.env.SKIP_TABLE) await measureTable(page, ids, res);

  if (process.env.SKIP_CHART) { await ctx.close(); return res; }
  // 3. Compare chart of the chart set: navigation to the last draw with all runs' data.
  // The first navigation after the server started is cold (the server's chart
  // history cache is empty, unless perf.sh waited for its start-up warm-up;
  // the database file may be in the OS page cache); the next ones are warm.
  const url = `${BASE}#/compare?runs=${ids.chartRuns.join(',')}&pm=~`;
  const draws = [];
  for (let i = 0; i < CHART_NAVS; i++) {
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForFunction(([n, k]) => {
      const s = window.__mltrack?.charts?.[k]?.series;
      return s && Object.keys(s).length === n && Object.values(s).every((p) => p.length > 0) && window.__mltrack.chartDrawMs?.[k];
    }, [ids.chartRuns.length, CHART_KEY], { timeout: 180000 });
    await page.waitForTimeout(300);
    draws.push(await page.evaluate((k) => {
      const net = performance.getEntriesByType('resource').filter((e) => /get-history-downsampled|bulk-interval/.test(e.name));
      const pts = Object.values(window.__mltrack.charts[k].series).reduce((a, p) => a + p.length, 0);
      const start = Math.min(...net.map((e) => e.startTime)), end = Math.max(...net.map((e) => e.responseEnd));
      // drawnMs = historyStartMs (page, runs) + historyFetchMs + the rest (parse, align, draw).
      return { drawnMs: window.__mltrack.chartDrawMs[k], historyRequests: net.length, historyStartMs: start, historyFetchMs: end - start,
        afterHistoryMs: window.__mltrack.chartDrawMs[k] - end, historyBytes: net.reduce((a, e) => a + e.encodedBodySize, 0), pointsPlotted: pts };
    }, CHART_KEY));
  }
  res.chartCold = draws[0];
  res.chart = draws.slice(1).sort((a, b) => a.drawnMs - b.drawnMs)[0]; // warm: the best repeat
  res.chartAll = draws;
  await page.screenshot({ path: join(OUT, 'perf-chart.png') });
  await ctx.close();
  return res;
}

function bundle() {
  const dir = join(HERE, '../../internal/webui/dist/assets');
  const out = {};
  for (const f of readdirSync(dir)) {
    const b = readFileSync(join(dir, f));
    out[f] = { bytes: b.length, gzip: gzipSync(b, { level: 9 }).length };
  }
  return out;
}

const ids = process.env.SKIP_FILL ? JSON.parse(readFileSync(join(OUT, 'perf-ids.json'), 'utf8')) : await fill();
if (process.env.FILL_ONLY) process.exit(0);
const result = { base: BASE, tableRuns: TABLE_RUNS, chartRuns: CHART_RUNS, chartSteps: CHART_STEPS, fillSeconds: ids.fillSeconds, ...(await measure(ids)), bundle: bundle() };
writeFileSync(join(OUT, RESULT_FILE), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result, null, 2));
