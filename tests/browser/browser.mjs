// Launches the system Chromium through playwright-core (no browser downloads
// here) with a fresh profile, and records CSP violations and page errors so
// tests can assert the UI runs under the strict policy.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'mltrack-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  return context;
}

export async function newPage(context, problems) {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push('CSP: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  return page;
}

// openTestPage launches Chromium and opens the page the tests drive: the UI
// polls every pollMs (so live-refresh tests need not wait the default 5 s),
// and CSP violations and page errors land in problems.
export async function openTestPage(problems, pollMs) {
  const context = await launch();
  const page = await newPage(context, problems);
  await page.addInitScript((ms) => { window.__mltrack = { charts: {}, pollMs: ms }; }, pollMs);
  return { context, page };
}
