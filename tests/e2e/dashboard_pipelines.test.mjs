// The dashboard's Pipelines view and Kafka bridge panel in Chromium (ctest label e2e), against
// `aiot up --simulate` with the embedded pipeline runner and the bridge inside the broker, whose
// Kafka is librdkafka's mock cluster in a child process (kafka_mock_cluster).
//
// Pipelines: labelled history is published over MQTT (mosquitto_pub, through the broker into the
// training datastore) and failures are filed through the API; a real run is started through
// POST /api/v1/pipelines/continuous-learning/runs and executes the real steps. The view must show
// the run in the list, its DAG in the DAG's order with each step's status as the API has it, the
// drift report's features as bars against the threshold, champion vs challenger with the gate's
// reason, and a step's log tail. A second run with a hostile recipe fails in `train` with the
// hostile text in its reason and log tail: it must stay text. Then every string of a run, the
// run lists and the bridge (the API's real answers, with hostile strings put into the fields
// this server cannot make hostile: pipeline, step and feature names, statuses, ...) stays text.
//
// Bridge: the panel shows the bridge's state, per-mapping msg/s, latency p50/p99 and the buffer;
// with every mock broker down it turns `buffering` with records in the buffer, and `connected`
// again once they are up.
//
//   node dashboard_pipelines.test.mjs --server "<aiot up command with {kafka}>" \
//        --kafka-mock <kafka_mock_cluster binary> --artifacts <dir>
// Exit 0 = pass, 1 = fail, 77 = skipped (no chromium / playwright-core / mosquitto_pub).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifactsDir, assertClean, check, loadChromium, newWatchedPage, parseArgs, runInBrowser, skip, startServer } from './harness.mjs';

const args = parseArgs();
const artifacts = artifactsDir(args, 'aiot-e2e-pipelines');
const chromium = await loadChromium();
if (!existsSync('/usr/bin/mosquitto_pub')) skip('/usr/bin/mosquitto_pub missing (apt-get install mosquitto-clients)');
if (!args.server || !args['kafka-mock']) {
  console.error('--server "<command>" and --kafka-mock <binary> are required');
  process.exit(2);
}

const SECOND = 1000, MINUTE = 60 * SECOND, HOUR = 60 * MINUTE, DAY = 24 * HOUR;
const hostile = (tag) => `${tag}<img src=x onerror="window.__xss=(window.__xss||[]).concat('${tag}')">`;
// A recipe the server passes to `train`, which names it in its error: no comma (a recipe list).
const HOSTILE_RECIPE = '<img src=x onerror=window.__xss=1>';

// Polls `probe` (async, truthy = done) until it answers or `ms` pass; the interval is a polling
// interval, not synchronisation.
async function waitFor(probe, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// The mock cluster: "bootstrap <servers>" on stdout; commands `down` / `up` on stdin.
async function startKafka(binary) {
  const proc = spawn(binary, ['--brokers', '1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (c) => { out += c.toString(); });
  const bootstrap = (await waitFor(async () => /bootstrap (\S+)/.exec(out), 30000, 'the mock cluster'))[1];
  const command = async (cmd) => {
    const before = out.length;
    proc.stdin.write(`${cmd}\n`);
    await waitFor(async () => out.slice(before).includes(`ok ${cmd}`), 10000, `mock cluster: ${cmd}`);
  };
  return { bootstrap, command, stop: () => proc.kill('SIGTERM') };
}

const kafka = await startKafka(args['kafka-mock']);
console.log(`mock cluster at ${kafka.bootstrap}`);
const server = await startServer(args.server.replaceAll('{kafka}', kafka.bootstrap));
const { base, work } = server;
console.log(`server at ${base}`);
const token = readFileSync(join(work, 'var', 'admin.token'), 'utf8').trim();

async function api(method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* CSV or empty */ }
  return { status: r.status, json, text, headers: r.headers };
}

// Six days of ten fans ending an hour ago, every 10 minutes; five fail, running hot and vibrating
// in the day before (the datastore labels those rows faulty), as tests/pipeline/fan_history.h.
async function publishHistory(now) {
  let seed = 7;
  const uniform = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return (seed + 0.5) / 2147483648; };
  const noise = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const start = now - 6 * DAY - HOUR;
  const failures = { 'hist-0': 1.5, 'hist-1': 3.0, 'hist-2': 4.5, 'hist-3': 5.6, 'hist-4': 5.9 };
  const lines = [];
  for (let d = 0; d < 10; d++) {
    const dev = `hist-${d}`;
    const failAt = failures[dev] ? start + failures[dev] * DAY : 0;
    for (let t = start; t < start + 6 * DAY; t += 10 * MINUTE) {
      const k = failAt && t <= failAt && t >= failAt - DAY ? 1 : 0;
      lines.push(JSON.stringify({ deviceID: dev, timeStamp: new Date(t).toISOString(), rotation: 1500 + 20 * noise() - 60 * k,
        temperature: 40 + 2 * noise() + 5 * k, vibration: 150 + 8 * noise() + 30 * k, sound: 50 + 2 * noise() + 3 * k }));
    }
    if (failAt) {
      const r = await api('POST', '/api/v1/data/maintenance', { device: dev, kind: 'failure', at: new Date(failAt).toISOString(), mode: 'bearing' });
      if (r.status !== 201 && r.status !== 200) throw new Error(`maintenance record: HTTP ${r.status} ${r.text}`);
    }
  }
  const mqttPort = Number((await server.waitForLog(/MQTT broker listening on \S+ \(port (\d+)\)/))[1]);
  const pub = spawn('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', 'fan/messages', '-l'],
    { stdio: ['pipe', 'inherit', 'inherit'] });
  pub.stdin.end(`${lines.join('\n')}\n`);
  const code = await new Promise((r) => pub.on('exit', r));
  if (code !== 0) throw new Error(`mosquitto_pub exited ${code}`);
  return lines.length;
}

async function startRun(params) {
  const r = await api('POST', '/api/v1/pipelines/continuous-learning/runs', { params });
  if (r.status !== 201) throw new Error(`POST run: HTTP ${r.status} ${r.text}`);
  return r.json.id;
}
const runOf = async (id) => (await api('GET', `/api/v1/pipelines/runs/${id}`)).json;
const ended = (run) => run && !['queued', 'running'].includes(run.status);
const fmt3 = (v) => (typeof v === 'number' && isFinite(v) ? v.toFixed(3) : '–');
const go = (page, hash) => page.evaluate((h) => { location.hash = h; }, hash);

// ---------- the bridge panel ----------
async function checkBridge(page) {
  await go(page, '#/fleet');
  await page.waitForSelector('[data-testid=bridge]:not([hidden])', { timeout: 30000 });
  // Rates need two samples of the API: the panel refreshes every 5 s.
  await page.waitForFunction(() => [...document.querySelectorAll('#bridge tbody tr')]
    .some((tr) => tr.textContent.includes('fan/messages -> aiot.telemetry') && /\d\/s/.test(tr.cells[2].textContent)), null, { timeout: 30000 });
  const panel = await page.evaluate(() => {
    const box = document.querySelector('[data-testid=bridge]');
    const fig = (id) => box.querySelector(`[data-testid=bridge-${id}] b`)?.textContent;
    const row = [...box.querySelectorAll('tbody tr')].find((tr) => tr.textContent.includes('fan/messages -> aiot.telemetry'));
    return { state: box.dataset.state, text: box.textContent, p50: fig('p50'), p99: fig('p99'), buffered: fig('buffered'),
      lag: fig('lag'), rate: row ? row.cells[2].textContent : null, total: row ? Number(row.cells[3].textContent) : null };
  });
  const b = (await api('GET', '/api/v1/bridge')).json;
  check(b && b.enabled === true, `GET /api/v1/bridge: the bridge runs (${JSON.stringify(b).slice(0, 200)})`);
  check(panel.state === 'connected', `bridge panel: connected (${panel.state}: ${panel.text.slice(0, 160)})`);
  check(parseFloat(panel.rate) > 0, `bridge panel: fan/messages -> aiot.telemetry carries ${panel.rate} msg/s`);
  const apiTotal = b.mappings.find((m) => m.mapping === 'fan/messages -> aiot.telemetry')?.total ?? 0;
  check(panel.total > 0 && panel.total <= apiTotal, `bridge panel: ${panel.total} messages carried (API now ${apiTotal})`);
  check(/^\d+\.\d\d ms$/.test(panel.p50 || '') && /^\d+\.\d\d ms$/.test(panel.p99 || ''), `bridge panel: delivery latency p50 ${panel.p50}, p99 ${panel.p99}`);
  check(b.latency_ms && b.latency_ms.p50 <= b.latency_ms.p99, `API latency p50 ${b.latency_ms?.p50} ms <= p99 ${b.latency_ms?.p99} ms`);
  check(/\d.* \/ 256\.0 MiB/.test(panel.buffered || ''), `bridge panel: buffered ${panel.buffered}`);
  // The services read MQTT here; the bridge's own Kafka -> MQTT consumer (aiot.control) is listed.
  check(/^bridge aiot\.control: \d+$/.test(panel.lag || ''), `bridge panel: consumer lag of the bridge's Kafka -> MQTT side (${panel.lag})`);
  await page.screenshot({ path: join(artifacts, 'bridge-connected.png'), fullPage: true });

  // Every broker down: records wait in the disk buffer; the panel says so.
  await kafka.command('down');
  await page.waitForFunction(() => document.querySelector('[data-testid=bridge]')?.dataset.state === 'buffering', null, { timeout: 60000 });
  const down = await page.evaluate(() => ({
    reason: document.querySelector('[data-testid=bridge-reason]')?.textContent,
    buffered: document.querySelector('[data-testid=bridge-buffered] b')?.textContent,
    age: document.querySelector('[data-testid=bridge-age] b')?.textContent,
  }));
  const records = Number(/, (\d+) records/.exec(down.buffered || '')?.[1] || 0);
  check(records > 0, `Kafka down: the panel shows buffering with ${records} records (${down.buffered}; oldest ${down.age}): ${down.reason}`);
  check(/wait in the disk buffer for Kafka/.test(down.reason || ''), 'Kafka down: the panel says why');
  await page.screenshot({ path: join(artifacts, 'bridge-buffering.png'), fullPage: true });
  await kafka.command('up');
  await page.waitForFunction(() => document.querySelector('[data-testid=bridge]')?.dataset.state === 'connected', null, { timeout: 120000 });
  check(true, 'Kafka up again: the panel shows connected');
}

// ---------- the Pipelines view ----------
async function checkRun(page, run) {
  await go(page, `#/pipelines/${run.id}`);
  // The view refreshes every 5 s; the run is shown once it has its final status.
  await page.waitForFunction((id) => document.querySelector(`[data-testid=run][data-id="${id}"]`)
    && !/^(queued|running)$/.test(document.querySelector(`[data-testid=run][data-id="${id}"] .st`)?.textContent || '')
    && document.querySelector('[data-testid=pipeline-run] h2')?.textContent.startsWith(`Run #${id} `), run.id, { timeout: 60000 });
  const row = await page.$eval(`[data-testid=run][data-id="${run.id}"]`, (tr) => [...tr.cells].map((c) => c.textContent));
  check(row[1] === 'continuous-learning' && row[3] === 'api' && row[4] === run.status && row[5] !== '–' && row[6] !== '–',
    `runs list: run ${run.id} with pipeline, trigger, status, started, duration (${row.join(' | ')})`);

  // The DAG in its order, each step with the status of its last attempt.
  const boxes = await page.$$eval('[data-testid=dag-step]', (els) => els.map((e) => ({ step: e.dataset.step, status: e.dataset.status, text: e.textContent })));
  const dagOrder = run.dag.steps.map((s) => s.name);
  check(JSON.stringify(boxes.map((b) => b.step)) === JSON.stringify(dagOrder), `DAG shows the steps in order: ${boxes.map((b) => b.step).join(' → ')}`);
  const last = {};
  for (const a of run.steps) last[a.step] = a;
  const want = dagOrder.map((s) => (last[s] ? last[s].status : 'skipped'));
  check(JSON.stringify(boxes.map((b) => b.status)) === JSON.stringify(want), `DAG step statuses as the API has them: ${boxes.map((b) => `${b.step}=${b.status}`).join(', ')}`);
  check(boxes.filter((b) => last[b.step]).every((b) => /\d+(\.\d)? (ms|s)|min/.test(b.text)), 'every step that ran shows its duration');
  return { boxes, last };
}

async function checkReports(page, run, last) {
  // Drift per feature: a bar each, against the threshold's line.
  const drift = run.reports.drift;
  const plot = await page.$$eval('[data-testid=drift-feature]', (els) => els.map((e) => ({
    name: e.dataset.feature,
    psiWidth: parseFloat(e.querySelector('[data-testid=bar-psi]').style.width),
    psiOver: e.querySelector('[data-testid=bar-psi]').classList.contains('over'),
    line: parseFloat(e.querySelector('[data-testid=threshold-psi]')?.style.left),
    text: e.textContent,
  })));
  const feats = drift?.report?.features || [];
  check(feats.length >= 4 && JSON.stringify(plot.map((p) => p.name)) === JSON.stringify(feats.map((f) => f.name)),
    `drift plot: a row per feature of the report (${plot.map((p) => p.name).join(', ')})`);
  const maxPsi = Math.max(...feats.map((f) => f.psi));
  const wide = plot.find((p) => p.name === feats.find((f) => f.psi === maxPsi)?.name);
  check(wide && Math.abs(wide.line - (100 * drift.thresholds.psi) / (1.15 * Math.max(maxPsi, drift.thresholds.psi))) < 0.5 && wide.psiWidth > 0,
    `drift plot: the threshold line at ${wide?.line?.toFixed(1)}% and the largest PSI's bar ${wide?.psiWidth?.toFixed(1)}% wide`);
  check(plot.every((p, i) => p.psiOver === (feats[i].psi >= drift.thresholds.psi) && p.text.includes(feats[i].psi.toFixed(3))),
    'drift plot: bars over the threshold marked, values as in the report');

  // Champion vs challenger and the gate's reason.
  const ev = run.reports.evaluate;
  const decision = await page.$eval('[data-testid=decision]', (e) => e.textContent);
  if (ev) {
    const cells = await page.$$eval('[data-testid=metric]', (els) => Object.fromEntries(els.map((e) => [e.dataset.metric,
      [e.querySelector('[data-testid=challenger]').textContent, e.querySelector('[data-testid=champion]').textContent]])));
    const ch = ev.challenger.report, cp = ev.champion?.report;
    check(cells.f1?.[0] === fmt3(ch.f1) && cells.accuracy?.[0] === fmt3(ch.accuracy), `challenger's held-out metrics shown (${JSON.stringify(cells)})`);
    check(!cp || (cells.f1?.[1] === fmt3(cp.f1) && cells.recall?.[1] === fmt3(cp.recall)), `champion's metrics side by side (${ev.champion?.name}@${ev.champion?.version})`);
    check(decision.includes(ev.reason) && decision.includes(ev.promoted ? 'Challenger promoted' : 'Challenger not promoted'),
      `why: ${decision}`);
  } else {
    check(decision.includes(run.reason), `the run's reason shown: ${decision}`);
  }

  // A step's log tail: train's, after a click on its box.
  await page.click('[data-testid=dag-step][data-step=train]');
  await page.waitForFunction(() => document.querySelector('#pl-run')?.textContent.includes('Log: train'), null, { timeout: 10000 });
  const log = await page.$$eval('[data-testid=log-tail]', (els) => els.map((e) => e.textContent));
  check(log.length > 0 && log[log.length - 1] === last.train.log_tail && /epoch|train:/.test(log[log.length - 1]),
    `train's log tail shown as the API has it (${log.length} attempt(s), ${log[log.length - 1]?.length} chars)`);
}

// Every string of the real answers made hostile (pipeline, steps, features, statuses, reasons...).
function hostileRun(j) {
  j.pipeline = hostile('pipeline'); j.model = hostile('model'); j.trigger = hostile('trigger');
  j.decision = hostile('decision'); j.reason = hostile('reason'); j.code_version = hostile('code');
  j.status = hostile('status');
  j.params = { [hostile('pname')]: hostile('pvalue') };
  const first = j.dag.steps[0].name;
  j.dag.steps[0].name = hostile('step');
  j.dag.steps[1].depends = [hostile('step'), hostile('dep')];
  for (const s of j.steps) {
    if (s.step === first) s.step = hostile('step');
    s.log_tail = hostile('log');
    s.status = hostile('ststatus');
  }
  const d = j.reports.drift;
  if (d) {
    d.reason = hostile('drift-reason');
    d.decision = hostile('drift-decision');
    if (d.report?.features?.length) { d.report.features[0].name = hostile('feature'); d.report.features[0].psi_level = hostile('level'); }
  }
  const e = j.reports.evaluate;
  if (e) { e.reason = hostile('ev-reason'); e.metric = hostile('metric'); e.champion = { ...e.champion, name: hostile('champion') }; }
  return j;
}

async function checkHostile(context, consoleErrors, run) {
  const page = await newWatchedPage(context, consoleErrors);
  await page.route(/\/api\/v1\/pipelines\/runs\/\d+$/, async (route) => {
    const resp = await route.fetch();
    await route.fulfill({ response: resp, json: hostileRun(await resp.json()) });
  });
  await page.route(/\/api\/v1\/pipelines\/[^/]+\/runs\?/, async (route) => {
    const resp = await route.fetch();
    const j = await resp.json();
    for (const r of j.runs) Object.assign(r, { pipeline: hostile('list-pipeline'), model: hostile('list-model'), trigger: hostile('list-trigger'), status: hostile('list-status'), decision: hostile('list-decision') });
    await route.fulfill({ response: resp, json: j });
  });
  await page.route(/\/api\/v1\/pipelines$/, async (route) => {
    const resp = await route.fetch();
    const j = await resp.json();
    j.runner.model = hostile('runner-model');
    j.runner.triggers.schedule = hostile('schedule');
    await route.fulfill({ response: resp, json: j });
  });
  await page.route(/\/api\/v1\/bridge$/, async (route) => {
    const resp = await route.fetch();
    const j = await resp.json();
    Object.assign(j, { state: hostile('bstate'), reason: hostile('breason'), ack: hostile('ack'), when_full: hostile('when-full') });
    j.mappings[0].mapping = hostile('mapping');
    j.mappings[0].direction = hostile('direction');
    j.errors = [{ type: hostile('etype'), kind: hostile('ekind'), total: hostile('etotal'), recent: 1 }];
    j.consumer_lag = [{ service: hostile('service'), topic: hostile('topic'), partitions: 1, lag: hostile('lag') }];
    await route.fulfill({ response: resp, json: j });
  });
  await page.goto(`${base}/ui/#/pipelines/${run.id}`, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => document.querySelector('[data-testid=pipeline-run] h2'), null, { timeout: 30000 });
  const text = await page.$eval('#view', (e) => e.textContent);
  for (const tag of ['pipeline', 'model', 'status', 'reason', 'pname', 'pvalue', 'step', 'dep', 'list-pipeline', 'list-status', 'runner-model', 'schedule',
    ...(run.reports.drift?.report?.features?.length ? ['feature', 'level', 'drift-reason'] : []), ...(run.reports.evaluate ? ['ev-reason', 'champion'] : [])]) {
    check(text.includes(hostile(tag)), `pipelines: hostile ${tag} shown as text`);
  }
  await page.click('[data-testid=dag-step]:first-child');
  await page.waitForFunction((s) => document.querySelector('[data-testid=log-tail]')?.textContent === s, hostile('log'), { timeout: 10000 });
  check(true, 'pipelines: hostile log tail shown as text');
  await assertClean(page, 'hostile pipelines');
  await page.screenshot({ path: join(artifacts, 'pipelines-hostile.png'), fullPage: true });
  await go(page, '#/fleet');
  await page.waitForFunction((s) => document.querySelector('[data-testid=bridge]')?.textContent.includes(s), hostile('mapping'), { timeout: 30000 });
  const bridge = await page.$eval('[data-testid=bridge]', (e) => ({ text: e.textContent, state: e.dataset.state }));
  for (const tag of ['bstate', 'breason', 'ack', 'mapping', 'ekind', 'etotal', 'service', 'lag']) {
    check(bridge.text.includes(hostile(tag)), `bridge panel: hostile ${tag} shown as text`);
  }
  check(bridge.state === 'other', `bridge panel: an unknown state is no class (${bridge.state})`);
  await assertClean(page, 'hostile bridge panel');
  await page.screenshot({ path: join(artifacts, 'bridge-hostile.png'), fullPage: true });
}

await runInBrowser(chromium, server, artifacts, async (context, consoleErrors) => {
  const rows = await publishHistory(Date.now());
  const devices = Array.from({ length: 10 }, (_, d) => `hist-${d}`).join(',');
  const from = Math.floor((Date.now() - 7 * DAY) / 1000);
  await waitFor(async () => Number((await api('GET', `/api/v1/data/export?from=${from}&devices=${devices}`)).headers.get('x-aiot-rows')) >= rows,
    120000, `${rows} history rows in the training datastore`);
  check(true, `${rows} labelled history rows published over MQTT and stored`);
  const id = await startRun({ window: '2d', reference_window: '4d' });

  const page = await newWatchedPage(context, consoleErrors);
  await page.goto(`${base}/ui/#token=${encodeURIComponent(token)}`, { waitUntil: 'domcontentloaded' });
  await checkBridge(page);

  // The pipelines view while the run goes on, then once it has ended.
  await go(page, '#/pipelines');
  await page.waitForSelector(`[data-testid=run][data-id="${id}"]`, { timeout: 30000 });
  await page.screenshot({ path: join(artifacts, 'pipelines-running.png'), fullPage: true });
  const run = await waitFor(async () => { const r = await runOf(id); return ended(r) && r; }, 400000, `run ${id} to end`);
  console.log(`run ${id}: ${run.status} (${run.decision}): ${run.reason}`);
  check(run.steps.some((s) => s.step === 'evaluate'), `run ${id} reached evaluate (${run.steps.map((s) => `${s.step}#${s.attempt}=${s.status}`).join(', ')})`);
  const { last } = await checkRun(page, run);
  await checkReports(page, run, last);
  await assertClean(page, 'pipelines');
  await page.screenshot({ path: join(artifacts, 'pipelines.png'), fullPage: true });

  // A run whose step prints hostile text (the recipe it refuses): text in the reason and the log.
  const bad = await startRun({ recipe: HOSTILE_RECIPE });
  const badRun = await waitFor(async () => { const r = await runOf(bad); return ended(r) && r; }, 300000, `run ${bad} to end`);
  check(badRun.status === 'failed' && badRun.reason.includes(HOSTILE_RECIPE), `run ${bad} failed naming the recipe: ${badRun.reason}`);
  await checkRun(page, badRun);
  const shown = await page.evaluate(() => ({ reason: document.querySelector('[data-testid=run-reason]')?.textContent || '',
    log: [...document.querySelectorAll('[data-testid=log-tail]')].map((e) => e.textContent).join('\n') }));
  check(shown.reason.includes(HOSTILE_RECIPE), `hostile recipe in the run's reason shown as text: ${shown.reason}`);
  check(shown.log.includes(HOSTILE_RECIPE), 'hostile recipe in train\'s log tail shown as text');
  await assertClean(page, 'failed run with a hostile recipe');
  await page.screenshot({ path: join(artifacts, 'pipelines-failed.png'), fullPage: true });

  await checkHostile(context, consoleErrors, run);

  // Phone width: the view fits.
  await page.setViewportSize({ width: 390, height: 844 });
  await go(page, `#/pipelines/${id}`);
  await page.waitForSelector('[data-testid=dag-step]', { timeout: 30000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 1, `pipelines view fits a 390 px wide screen (overflow ${overflow} px)`);
  await page.screenshot({ path: join(artifacts, 'pipelines-phone.png'), fullPage: true });
  kafka.stop();
});
