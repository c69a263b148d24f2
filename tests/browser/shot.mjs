// Ad-hoc: node shot.mjs URL out.png
import { launch, newPage } from './browser.mjs';
const ctx = await launch();
const problems = [];
const page = await newPage(ctx, problems);
await page.setViewportSize({ width: 1440, height: Number(process.env.H ?? 900) });
await page.goto(process.argv[2]);
await page.waitForTimeout(Number(process.argv[4] ?? 1500));
await page.screenshot({ path: process.argv[3], fullPage: true });
console.log(problems.join('\n') || 'no problems');
await ctx.close();
