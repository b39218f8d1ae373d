// Script and markup injection into the dashboard (ctest label e2e). Devices are not trusted: this
// test publishes hostile strings over MQTT (mosquitto_pub against the broker of `aiot up`) in every
// field a device controls — the device id in payloads and in status topics, level, model, event
// kind and data, alert texts, status payloads (retained), telemetry field names and values — and
// checks in Chromium, on every view, both with a page kept open while they arrive (the live
// WebSocket path) and with pages loaded after they were stored (the REST path), that:
//   - no script ran (window.__xss stays unset) and no CSP violation or console error was reported,
//   - no element was injected (no img/svg/script/iframe/..., no on* attribute, no javascript: URL),
//   - hostile text is shown as text where it is shown, and unknown levels are shown as "unknown",
//   - the dashboard is served with a strict Content-Security-Policy and the usual security headers.
//
//   node dashboard_xss.test.mjs --server "<aiot up command>" --artifacts <dir>
// Exit 0 = pass, 1 = fail, 77 = skipped (no chromium / playwright-core / mosquitto_pub; a failure
// with AIOT_REQUIRE_PEERS=1).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { artifactsDir, assertClean, check, loadChromium, newWatchedPage as newPage, parseArgs, runInBrowser, skip, startServer } from './harness.mjs';

const run = promisify(execFile);
const args = parseArgs();
const artifacts = artifactsDir(args, 'aiot-e2e-xss');
const chromium = await loadChromium();
if (!existsSync('/usr/bin/mosquitto_pub')) skip('/usr/bin/mosquitto_pub missing (apt-get install mosquitto-clients)');
if (!args.server) {
  console.error('--server "<command>" is required');
  process.exit(2);
}

// Every payload tries to set window.__xss; each carries a tag so its display can be found.
const img = (tag) => `${tag}<img src=x onerror="window.__xss=(window.__xss||[]).concat('${tag}')">`;
const svg = (tag) => `${tag}"><svg onload="window.__xss=(window.__xss||[]).concat('${tag}')">`;
const quoted = (tag) => `${tag}' onmouseover='window.__xss=1' x='<b>`;
const scriptEnd = (tag) => `${tag}</script><script>window.__xss=(window.__xss||[]).concat('${tag}')</script>`;
const jsUrl = (tag) => `javascript:window.__xss=(window.__xss||[]).concat('${tag}')`;
// The store takes only device ids that fit one topic level (src/telemetry: no '/', '+', '#').
const scriptOpen = (tag) => `${tag}<script>window.__xss=(window.__xss||[]).concat('${tag}')<\\script>`;

// Device ids carried in payloads and in topic levels.
const DEV_TELEMETRY = img('dev-tel');        // telemetry (the predictor then scores it)
const DEV_ANOMALY = svg('dev-anom');         // only anomaly messages: its model is the hostile one
const DEV_SCRIPT = scriptOpen('dev-scr');    // telemetry and an alert
const DEV_JSURL = jsUrl('dev-js');           // telemetry
const DEV_QUOTE = quoted('dev-q');           // anomaly
const DEV_STATUS = `st<img src=x onerror=window.__xss=1>`;  // fan/status/<id>
const DEV_STATUS2 = `st2"><svg onload=window.__xss=1>`;      // fan/status/<id>
const LEVEL = img('level');
const LEVEL2 = '__proto__';
const MODEL_ANOMALY = svg('model-anom');
const MODEL_STATUS = img('model-status');
const ALERT_MESSAGE = scriptEnd('alert-msg');
const EVENT_KIND = `kind<img src=x onerror=window.__xss=1>`;  // aiot/events/<kind>
const EVENT_MESSAGE = svg('event-msg');
const DRIFT_MESSAGE = img('drift-msg');
const ALL_DEVICES = [DEV_TELEMETRY, DEV_ANOMALY, DEV_SCRIPT, DEV_JSURL, DEV_QUOTE, DEV_STATUS, DEV_STATUS2];

const server = await startServer(args.server);
const { base, work } = server;
console.log(`server at ${base}`);

async function publish(topic, payload, retain = false) {
  const mqttPort = Number((await server.waitForLog(/MQTT broker listening on \S+ \(port (\d+)\)/))[1]);
  const argv = ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', topic, '-m', JSON.stringify(payload)];
  if (retain) argv.push('-r');
  await run('/usr/bin/mosquitto_pub', argv, { timeout: 20000 });
}

// Every kind of message a device (or anything with broker access) can send, each field hostile.
async function publishAll() {
  const now = Date.now();
  const tel = (id, extra = {}) => ({ deviceID: id, timeStamp: now, rotation: 1500, temperature: 40, vibration: 0.2, sound: 60, ...extra });
  await publish('fan/messages', tel(DEV_TELEMETRY, { [img('field-name')]: 1, note: img('field-value') }));
  await publish('fan/messages', tel(DEV_SCRIPT, { label: scriptEnd('field-value2') }));
  await publish('fan/messages', tel(DEV_SCRIPT, { sound: svg('sound-value') }));  // mistyped: rejected
  await publish('fan/messages', tel(DEV_JSURL, { nested: { [svg('nested')]: 2 } }));
  for (const [id, level] of [[DEV_ANOMALY, LEVEL], [DEV_QUOTE, LEVEL2], [DEV_TELEMETRY, LEVEL]]) {
    await publish('fan/anomaly', { deviceID: id, timeStamp: now, fault: 1, score: 0.9, level, model: MODEL_ANOMALY });
  }
  await publish(`fan/status/${DEV_STATUS}`, { online: true, model: MODEL_STATUS, deviceID: img('status-id') }, true);
  await publish(`fan/status/${DEV_STATUS2}`, { online: true, model: svg('model-status2'), version: img('status-version') }, true);
  await publish('aiot/alerts', { deviceID: DEV_SCRIPT, timeStamp: now, level: LEVEL, message: ALERT_MESSAGE, model: MODEL_ANOMALY, score: 0.99 });
  await publish('aiot/alerts', { deviceID: DEV_ANOMALY, timeStamp: now, level: 'critical', reason: svg('alert-reason') });
  await publish(`aiot/events/${EVENT_KIND}`, { deviceID: DEV_JSURL, message: EVENT_MESSAGE, level: LEVEL2 });
  await publish('aiot/events/drift', { event: img('drift-event'), message: DRIFT_MESSAGE, model: MODEL_ANOMALY, level: LEVEL });
}

// Waits until the store has everything publishAll() sent at or after `since` (ms; the REST path
// reads it from there).
async function waitStored(since = 0) {
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const fleet = await (await fetch(`${base}/api/v1/fleet`)).json();
      const ids = new Set(fleet.devices.map((d) => d.deviceID));
      const tl = await (await fetch(`${base}/api/v1/anomalies?from=-1h&limit=100000&kinds=alert,drift,${encodeURIComponent(EVENT_KIND)}`)).json();
      const texts = tl.entries.filter((e) => e.ts >= since - 1000).map((e) => JSON.stringify(e.data));
      if (ALL_DEVICES.every((d) => ids.has(d)) && [ALERT_MESSAGE, EVENT_MESSAGE, DRIFT_MESSAGE].every((m) => texts.some((t) => t.includes(JSON.stringify(m).slice(1, -1))))) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error('hostile messages were not stored within 60 s');
    await new Promise((r) => setTimeout(r, 250));  // polling interval, not synchronisation
  }
}

// The text of the fleet card of `id` ('' when there is none).
const cardOf = (page, id) => page.evaluate((id) => {
  const card = [...document.querySelectorAll('[data-testid=device]')].find((e) => e.dataset.device === id);
  return card ? { name: card.querySelector('.name')?.textContent, text: card.textContent, badge: card.querySelector('.badge')?.textContent } : null;
}, id);

// Visits every view of the dashboard in `page` and checks each; `live` publishes again while a
// view is open, so the WebSocket path renders into every view too.
async function visitAll(page, label, live) {
  const go = async (hash) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
  };
  // Fleet.
  await go('#/fleet');
  await page.waitForFunction((ids) => ids.every((id) => [...document.querySelectorAll('[data-testid=device]')].some((e) => e.dataset.device === id)),
    ALL_DEVICES, { timeout: 60000 });
  if (live) {
    await publishAll();
    await page.waitForFunction((m) => [...document.querySelectorAll('.toast')].some((t) => t.textContent.includes(m)), ALERT_MESSAGE, { timeout: 30000 })
      .catch(() => {});
  }
  // Re-rendering is debounced; wait for the alert in the recent-alerts list.
  await page.waitForFunction((m) => document.querySelector('#alerts')?.textContent.includes(m), ALERT_MESSAGE, { timeout: 30000 }).catch(() => {});
  for (const id of ALL_DEVICES) {
    const c = await cardOf(page, id);
    check(c && c.name === id, `${label} fleet: device ${JSON.stringify(id)} shown as text (${JSON.stringify(c?.name)})`);
  }
  const anom = await cardOf(page, DEV_ANOMALY);
  check(anom && anom.text.includes(MODEL_ANOMALY), `${label} fleet: the anomaly's model shown as text`);
  // An anomaly whose level is not a known one counts by its fault flag, as the store does.
  check(anom && anom.badge === 'warning', `${label} fleet: an anomaly with an unknown level and fault 1 is a warning (${anom?.badge})`);
  const st = await cardOf(page, DEV_STATUS);
  check(st && st.text.includes(MODEL_STATUS), `${label} fleet: the status's model shown as text`);
  const alerts = await page.$eval('#alerts', (e) => e.textContent);
  check(alerts.includes(ALERT_MESSAGE), `${label} fleet: the alert message shown as text in recent alerts`);
  const alertBadge = await page.evaluate((m) => [...document.querySelectorAll('#alerts li')].find((e) => e.textContent.includes(m))?.querySelector('.badge')?.textContent, ALERT_MESSAGE);
  check(alertBadge === 'unknown', `${label} fleet: the alert's hostile level is shown as "unknown" (${JSON.stringify(alertBadge)})`);
  if (live) {
    const toasts = await page.$$eval('.toast', (els) => els.map((e) => e.textContent));
    check(toasts.some((t) => t.includes(ALERT_MESSAGE)), `${label} fleet: the alert toast shows the message as text`);
  }
  await assertClean(page, `${label} fleet`);
  await page.screenshot({ path: join(artifacts, `${label}-fleet.png`), fullPage: true });

  // Each hostile device's page.
  for (const id of ALL_DEVICES) {
    await go(`#/device/${encodeURIComponent(id)}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=chart] canvas').length >= 5
      && document.querySelector('#dev-timeline li'), null, { timeout: 30000 });
    if (live && id === DEV_ANOMALY) {
      await publish('fan/anomaly', { deviceID: id, fault: 1, score: 0.7, level: LEVEL2, model: MODEL_ANOMALY });
      await page.waitForFunction(() => /score 0\.700/.test(document.querySelector('#dev-meta')?.textContent || ''), null, { timeout: 30000 }).catch(() => {});
    }
    const title = await page.$eval('#dev-title', (e) => e.textContent);
    check(title === id, `${label} device page: title ${JSON.stringify(title)} is the id as text`);
    if (id === DEV_ANOMALY) {
      const meta = await page.$eval('#dev-meta', (e) => e.textContent);
      check(meta.includes(MODEL_ANOMALY), `${label} device page: model shown as text`);
      const tl = await page.$eval('#dev-timeline', (e) => e.textContent);
      check(tl.includes(svg('alert-reason')), `${label} device page: the alert's reason shown as text in its timeline`);
    }
    await assertClean(page, `${label} device ${id.slice(0, 10)}`);
    if (id === DEV_ANOMALY) await page.screenshot({ path: join(artifacts, `${label}-device.png`), fullPage: true });
  }

  // Timeline.
  await go('#/timeline');
  await page.waitForSelector('[data-testid=timeline] li', { timeout: 30000 });
  // The timeline re-reads the store when an event arrives: publish, wait until stored, then send
  // one more event (live) or reload (REST).
  const since = Date.now();
  await publishAll();
  await waitStored(since);
  if (live) await publish('aiot/events/test', { message: 'refresh' });
  else await page.reload();
  await page.waitForFunction((k) => [...document.querySelectorAll('[data-testid=timeline] [data-testid=timeline-entry]')].some((e) => e.dataset.kind === k),
    EVENT_KIND, { timeout: 30000 }).catch(() => {});
  const tl = await page.$eval('[data-testid=timeline]', (e) => e.textContent);
  check(tl.includes(EVENT_MESSAGE), `${label} timeline: the event's message shown as text`);
  check(tl.includes(EVENT_KIND), `${label} timeline: the event's kind shown as text`);
  check(tl.includes(ALERT_MESSAGE), `${label} timeline: the alert's message shown as text`);
  await assertClean(page, `${label} timeline`);
  await page.screenshot({ path: join(artifacts, `${label}-timeline.png`), fullPage: true });

  // Models (with the admin token, so the registry's tables render too) and drift.
  await go('#/models');
  await page.waitForSelector('[data-testid=models] table, [data-testid=models] .empty, [data-testid=signin]', { timeout: 30000 });
  const tokenFile = join(work, 'var', 'admin.token');
  if (await page.$('[data-testid=signin]') && existsSync(tokenFile)) {
    await page.fill('#token', readFileSync(tokenFile, 'utf8').trim());
    await page.click('#signin button');
    await page.waitForSelector('[data-testid=models] table', { timeout: 30000 }).catch(() => {});
  }
  if (live) await publish('aiot/events/drift', { event: img('drift-event'), message: DRIFT_MESSAGE, model: MODEL_ANOMALY, level: LEVEL });
  await page.waitForFunction((m) => document.querySelector('#drift')?.textContent.includes(m), DRIFT_MESSAGE, { timeout: 30000 }).catch(() => {});
  const drift = await page.$eval('#drift', (e) => e.textContent);
  check(drift.includes(DRIFT_MESSAGE), `${label} models: the drift event's message shown as text`);
  await assertClean(page, `${label} models`);
  await page.screenshot({ path: join(artifacts, `${label}-models.png`), fullPage: true });

  // Pipelines (signed in above): this server has no runs; dashboard_pipelines.test.mjs has the
  // hostile runs. The page and the fleet's (hidden) bridge panel stay clean.
  await go('#/pipelines');
  await page.waitForSelector('[data-testid=pipeline-runs] .empty, [data-testid=pipeline-runs] table, [data-testid=signin]', { timeout: 30000 });
  await assertClean(page, `${label} pipelines`);
}

await runInBrowser(chromium, server, artifacts, async (context, consoleErrors) => {
  // Headers of the page and of the API.
  const page = await newPage(context, consoleErrors);
  const resp = await page.goto(`${base}/ui/`, { waitUntil: 'domcontentloaded' });
  const h = resp.headers();
  const csp = h['content-security-policy'] || '';
  console.log(`CSP: ${csp}`);
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]) {
    check(csp.split(';').map((x) => x.trim()).includes(d), `page CSP has ${d}`);
  }
  check(!/unsafe-inline|unsafe-eval|\*/.test(csp), 'page CSP allows no inline script/style, eval or wildcard');
  check(h['x-content-type-options'] === 'nosniff', `page X-Content-Type-Options (${h['x-content-type-options']})`);
  check(h['x-frame-options'] === 'DENY', `page X-Frame-Options (${h['x-frame-options']})`);
  check(h['referrer-policy'] === 'no-referrer', `page Referrer-Policy (${h['referrer-policy']})`);
  check(/no-cache|no-store/.test(h['cache-control'] || ''), `page Cache-Control (${h['cache-control']})`);
  const api = await fetch(`${base}/api/v1/fleet`);
  check(api.headers.get('x-content-type-options') === 'nosniff', 'API responses: X-Content-Type-Options nosniff');

  // Live path: the page is open before anything hostile arrives.
  await page.waitForSelector('[data-testid=live].on', { timeout: 30000 });
  await publishAll();
  await visitAll(page, 'live', true);

  // REST path: everything is stored; fresh pages load it.
  await waitStored();
  const page2 = await newPage(context, consoleErrors);
  await page2.goto(`${base}/ui/`, { waitUntil: 'domcontentloaded' });
  await visitAll(page2, 'rest', false);
  // Directly loaded device page, as a link to it would open.
  const page3 = await newPage(context, consoleErrors);
  await page3.goto(`${base}/ui/#/device/${encodeURIComponent(DEV_SCRIPT)}`, { waitUntil: 'domcontentloaded' });
  await page3.waitForFunction(() => document.querySelector('#dev-timeline li'), null, { timeout: 30000 });
  check(await page3.$eval('#dev-title', (e) => e.textContent) === DEV_SCRIPT, 'direct device link: title is the id as text');
  await assertClean(page3, 'direct device link');
});
