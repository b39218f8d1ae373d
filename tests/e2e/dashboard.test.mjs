// Browser test of the aiot dashboard (ctest label e2e): starts a server (`aiot up --simulate N`
// or tests/e2e/dashboard_server), drives Debian's Chromium with playwright-core, and checks what a
// user sees: the devices, a chart updating live, an alert appearing, a phone-width layout, and no
// console errors. Screenshots go to --artifacts.
//
//   node dashboard.test.mjs --server "<command>" --devices 4 --artifacts <dir>
// The server command must print its HTTP port ("listening on port N" or "http://127.0.0.1:N").
// Exit 0 = pass, 1 = fail, 77 = skipped (no chromium / playwright-core).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifactsDir, check, collectConsoleErrors, loadChromium, parseArgs, runInBrowser, startServer } from './harness.mjs';

const args = parseArgs();
const devices = Number(args.devices || 4);
const artifacts = artifactsDir(args, 'aiot-e2e');
const chromium = await loadChromium();
if (!args.server) {
  console.error('--server "<command>" is required');
  process.exit(2);
}

const server = await startServer(args.server);
const { base, work } = server;
console.log(`server at ${base}`);

await runInBrowser(chromium, server, artifacts, async (context, consoleErrors) => {
  const page = context.pages()[0] || await context.newPage();
  collectConsoleErrors(page, consoleErrors);

  // Fleet overview: every device is listed with a health level.
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=device]').length >= n, devices, { timeout: 60000 });
  const names = await page.$$eval('[data-testid=device]', (els) => els.map((e) => e.dataset.device));
  check(names.length >= devices, `fleet shows ${names.length} devices (want ${devices}): ${names.join(', ')}`);
  const levels = await page.$$eval('[data-testid=device] .badge', (els) => els.map((e) => e.textContent.trim()));
  check(levels.every((l) => ['ok', 'warning', 'critical', 'offline', 'unknown'].includes(l)), `health levels shown: ${levels.join(', ')}`);
  await page.waitForSelector('[data-testid=live].on', { timeout: 30000 });
  check(true, 'WebSocket live indicator on');
  // No bridge runs here (bridge.enabled is off, or dashboard_server has no bridge API): no panel.
  const bridgeApi = await fetch(`${base}/api/v1/bridge`).then((r) => (r.ok ? r.json() : { status: r.status })).catch((e) => ({ error: e.message }));
  check(bridgeApi.enabled !== true, `no bridge runs: GET /api/v1/bridge ${JSON.stringify(bridgeApi)}`);
  await page.waitForSelector('[data-testid=bridge][data-loaded]', { state: 'attached', timeout: 30000 });
  check(await page.$eval('[data-testid=bridge]', (e) => e.hidden && e.childElementCount === 0), 'the bridge panel is hidden when no bridge runs');
  // dashboard_server's faulty device reports a time-to-failure model's hours: its card shows them
  // next to the score (aiot up --simulate runs no such model).
  if (args.server.includes('dashboard_server')) {
    await page.waitForSelector('[data-testid=device] [data-testid=ttf]', { timeout: 60000 });
    const ttf = await page.$$eval('[data-testid=device] [data-testid=ttf]', (els) => els.map((e) => e.textContent));
    check(ttf.length === 1 && /^failure in ~\d+\.\d (h|d)$/.test(ttf[0]), `time to failure shown on one card: ${ttf.join(', ')}`);
  }
  await page.screenshot({ path: join(artifacts, 'fleet.png'), fullPage: true });

  // An alert appears live (toast and the recent-alerts list grows).
  const before = await page.$$eval('#alerts [data-testid=timeline-entry]', (els) => els.length);
  await page.waitForFunction((n) => document.querySelectorAll('#alerts [data-testid=timeline-entry]').length > n
    && document.querySelector('.toast'), before, { timeout: 120000 });
  const alertText = await page.$eval('.toast', (e) => e.textContent);
  check(true, `alert appeared live: "${alertText}"`);
  await page.screenshot({ path: join(artifacts, 'fleet-alert.png'), fullPage: true });

  // Per-device live charts.
  const target = names[names.length - 1];
  await page.click(`[data-testid=device][data-device="${target}"]`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=chart] canvas').length >= 5, null, { timeout: 30000 });
  const fields = await page.$$eval('[data-testid=chart]', (els) => els.map((e) => e.dataset.field));
  check(['rotation', 'temperature', 'vibration', 'sound', 'score'].every((f) => fields.includes(f)), `charts: ${fields.join(', ')}`);
  const points0 = await page.$eval('[data-testid=chart][data-field=rotation]', (e) => Number(e.dataset.points || 0));
  const now0 = await page.$eval('[data-testid=chart][data-field=rotation] .now', (e) => e.textContent);
  await page.waitForFunction((p) => Number(document.querySelector('[data-testid=chart][data-field=rotation]').dataset.points || 0) >= p + 3,
    points0, { timeout: 60000 });
  const now1 = await page.$eval('[data-testid=chart][data-field=rotation] .now', (e) => e.textContent);
  // The points must also stay inside the chart's time window, or the chart draws no line.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=chart][data-field=rotation]').dataset.shown || 0) >= 3,
    null, { timeout: 60000 }).catch(() => {});
  const shown = await page.$eval('[data-testid=chart][data-field=rotation]', (e) => Number(e.dataset.shown || 0));
  check(shown >= 3, `rotation chart draws a line (${shown} points in its window)`);
  check(true, `rotation chart updated live (${points0} -> more points; value ${now0} -> ${now1})`);
  // Screenshot once the page has painted its latest state (two animation frames), not after a pause.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: join(artifacts, 'device.png'), fullPage: true });

  // Timeline and models pages render.
  await page.click('a[data-page=timeline]');
  await page.waitForSelector('[data-testid=timeline] li', { timeout: 30000 });
  await page.screenshot({ path: join(artifacts, 'timeline.png'), fullPage: true });
  await page.click('a[data-page=models]');
  await page.waitForSelector('[data-testid=models] table, [data-testid=models] .empty, [data-testid=signin]', { timeout: 30000 });
  // `aiot up` protects the registry with the admin token it wrote to <data_dir>/admin.token.
  const tokenFile = join(work, 'var', 'admin.token');
  if (existsSync(tokenFile)) {
    check(await page.$('[data-testid=signin]') !== null, 'models page asks for a token before showing the registry');
    await page.fill('#token', readFileSync(tokenFile, 'utf8').trim());
    await page.click('#signin button');
    await page.waitForFunction(() => /production/.test(document.querySelector('[data-testid=models] table')?.textContent || ''),
      null, { timeout: 30000 }).catch(() => {});
    const models = await page.$eval('[data-testid=models]', (e) => e.textContent.replace(/\s+/g, ' ').trim());
    check(/production/.test(models), `signed in, the registry lists the production model: ${models.slice(0, 160)}`);
    check(/accuracy \d+\.\d%/.test(models) && !/\[object Object\]/.test(models), 'model metrics are shown as figures');
  }
  await page.screenshot({ path: join(artifacts, 'models.png'), fullPage: true });

  // Phone width: no horizontal scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('a[data-page=fleet]');
  await page.waitForSelector('[data-testid=device]', { timeout: 30000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 1, `fleet fits a 390 px wide screen (overflow ${overflow} px)`);
  await page.screenshot({ path: join(artifacts, 'fleet-phone.png'), fullPage: true });
  await page.goto(`${base}/ui/#/device/${encodeURIComponent(target)}`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=chart] canvas').length >= 5, null, { timeout: 30000 });
  const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow2 <= 1, `device charts fit a 390 px wide screen (overflow ${overflow2} px)`);
  await page.screenshot({ path: join(artifacts, 'device-phone.png'), fullPage: true });
});
