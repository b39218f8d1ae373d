// Shared by the dashboard browser tests: command-line arguments, the skip rules (exit 77 without
// playwright-core or Debian's Chromium), starting the server under test and reading its ports from
// its log, launching Chromium with a fresh profile, collecting console errors, running a test body
// in the browser, and the check()/finish() bookkeeping.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';

// `--name value` pairs.
export function parseArgs(argv = process.argv.slice(2)) {
  return Object.fromEntries(argv.reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []));
}

export function artifactsDir(args, name) {
  const dir = args.artifacts || join(tmpdir(), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

// A missing peer: exit 77 (skipped), or 1 when AIOT_REQUIRE_PEERS=1 (scripts/test.sh sets it after
// installing them, so a missing install step cannot pass as green).
export function skip(why) {
  if (process.env.AIOT_REQUIRE_PEERS === '1') {
    console.log(`FAIL: ${why} (AIOT_REQUIRE_PEERS=1)`);
    process.exit(1);
  }
  console.log(`SKIP: ${why}`);
  process.exit(77);
}

// playwright-core's chromium; skip() when it or the browser is missing.
export async function loadChromium() {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    skip(`playwright-core not installed (scripts/setup.sh --test): ${e.message}`);
  }
  if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} missing (scripts/setup.sh --test)`);
  return chromium;
}

export const failures = [];
export function check(cond, what) {
  if (cond) console.log(`ok: ${what}`);
  else { console.log(`FAIL: ${what}`); failures.push(what); }
  return cond;
}

// Runs `command` through /bin/sh with "{tmp}" replaced by a fresh directory and waits until its log
// names the HTTP port ("listening on port N" or "http://127.0.0.1:N"). Returns
// { port, base, work, log(), waitForLog(re, ms), stop() }.
export async function startServer(command, timeoutMs = 120000) {
  const work = mkdtempSync(join(tmpdir(), 'aiot-e2e-server-'));
  const proc = spawn('/bin/sh', ['-c', `exec ${command.replaceAll('{tmp}', work)}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const waiters = new Set();
  const onData = (chunk) => {
    log += chunk.toString();
    for (const w of waiters) w();
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  let exited = null;
  proc.on('exit', (code) => { exited = code; for (const w of waiters) w(); });
  // Resolves with the first match of `re` in the log (waiting for it), rejects on exit or timeout.
  const waitForLog = (re, ms = timeoutMs) => new Promise((resolve, reject) => {
    const test = () => {
      const m = log.match(re);
      if (m) { done(); resolve(m); } else if (exited !== null) { done(); reject(new Error(`server exited (${exited}):\n${log}`)); }
    };
    const timer = setTimeout(() => { done(); reject(new Error(`server log did not show ${re} in ${ms / 1000} s:\n${log}`)); }, ms);
    const done = () => { clearTimeout(timer); waiters.delete(test); };
    waiters.add(test);
    test();
  });
  const stop = async () => {
    if (exited === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => { proc.kill('SIGKILL'); r(); }, 15000);
        proc.on('exit', () => { clearTimeout(t); r(); });
      });
    }
    rmSync(work, { recursive: true, force: true });
  };
  let port;
  try {
    const m = await waitForLog(/listening on port (\d+)|http:\/\/127\.0\.0\.1:(\d+)/);
    port = Number(m[1] || m[2]);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, base: `http://127.0.0.1:${port}`, work, log: () => log, waitForLog, stop };
}

// Chromium with the flags every test uses and a new, empty profile (removed by close()).
export async function launchBrowser(chromium, viewport = { width: 1280, height: 900 }) {
  const profile = mkdtempSync(join(tmpdir(), 'aiot-e2e-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const close = async () => {
    try { await context.close(); } catch { /* already gone */ }
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

// Collects `page`'s console errors and uncaught exceptions into `errors`. A resource of the optional
// platform APIs (model registry, rollouts) that fails to load is not one: they may be absent, or
// answer 401 until the page signs in, and the page renders a notice.
export function collectConsoleErrors(page, errors) {
  const optional = /\/api\/v1\/(models|rollouts)(\?|$)/;
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url || '';
    if (/Failed to load resource/.test(msg.text()) && optional.test(url)) return;
    errors.push(`${msg.text()} (${url})`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
}

// Launches Chromium and runs `body(context, consoleErrors)`, then checks that no console error was
// collected (pages pass `consoleErrors` to collectConsoleErrors). An exception is a failure,
// reported with the end of the server's log. Closes the browser, stops `server` and finish()es.
export async function runInBrowser(chromium, server, artifacts, body) {
  let browser;
  try {
    browser = await launchBrowser(chromium);
    const consoleErrors = [];
    await body(browser.context, consoleErrors);
    check(consoleErrors.length === 0, `no console errors${consoleErrors.length ? ': ' + consoleErrors.join(' | ') : ''}`);
  } catch (e) {
    failures.push(e.message);
    console.log(`FAIL: ${e.stack || e.message}`);
    console.log(`server log:\n${server.log().slice(-4000)}`);
  } finally {
    if (browser) await browser.close();
    await server.stop();
  }
  finish(artifacts);
}

// Prints the verdict and exits: 1 with failures, else 0.
export function finish(artifacts) {
  if (artifacts) console.log(`screenshots in ${artifacts}`);
  if (failures.length) {
    console.log(`${failures.length} failure(s)`);
    process.exit(1);
  }
  console.log('PASS');
  process.exit(0);
}

// ---------- hostile input (dashboard_xss.test.mjs, dashboard_pipelines.test.mjs) ----------
export const KNOWN_LEVELS = ['ok', 'warning', 'critical', 'offline', 'unknown'];
// The statuses of runs, steps and the bridge that become CSS classes (`.st`); anything else is
// shown with the class `other`.
export const KNOWN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'stopped', 'interrupted',
  'pending', 'skipped', 'connected', 'buffering', 'other'];

// A page that records CSP violations (window.__cspViolations), console errors and dialogs.
export async function newWatchedPage(context, consoleErrors) {
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI} ${e.sample}`));
  });
  collectConsoleErrors(page, consoleErrors);
  page.on('dialog', (d) => { consoleErrors.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  return page;
}

// What must never be in the page, whatever it shows: a script that ran (window.__xss), injected
// elements or handlers, CSP violations, levels or statuses that are not known ones as classes.
export async function assertClean(page, where) {
  const r = await page.evaluate(() => {
    const bad = [];
    for (const el of document.body.querySelectorAll('img, svg, script, iframe, object, embed, style, base, meta, link, form:not(#signin), math, video, audio')) {
      bad.push(el.outerHTML.slice(0, 120));
    }
    for (const el of document.querySelectorAll('*')) {
      for (const a of el.attributes) {
        if (/^on/i.test(a.name)) bad.push(`${el.tagName} ${a.name}=${a.value.slice(0, 60)}`);
        if (/^(href|src|action|formaction|xlink:href)$/i.test(a.name) && /^\s*javascript:/i.test(a.value)) bad.push(`${el.tagName} ${a.name}=${a.value.slice(0, 60)}`);
      }
    }
    const badges = [...document.querySelectorAll('.badge')].map((b) => [b.className, b.textContent.trim()]);
    const chips = [...document.querySelectorAll('.st, .dag-step')].map((b) => b.className);
    return { xss: window.__xss ?? null, violations: window.__cspViolations || [], bad, badges, chips };
  });
  check(r.xss === null, `${where}: no injected script ran (window.__xss ${JSON.stringify(r.xss)})`);
  check(r.bad.length === 0, `${where}: no injected elements or handlers${r.bad.length ? ': ' + r.bad.join(' | ') : ''}`);
  check(r.violations.length === 0, `${where}: no CSP violations${r.violations.length ? ': ' + r.violations.join(' | ') : ''}`);
  const badBadges = r.badges.filter(([cls, text]) => !KNOWN_LEVELS.includes(text) || cls.split(/\s+/).some((c) => c !== 'badge' && !KNOWN_LEVELS.includes(c)));
  check(badBadges.length === 0, `${where}: only known levels shown (${r.badges.length} badges)${badBadges.length ? ': ' + JSON.stringify(badBadges) : ''}`);
  const classes = ['st', 'dag-step', 'selected', ...KNOWN_STATUSES];
  const badChips = r.chips.filter((cls) => cls.split(/\s+/).some((c) => !classes.includes(c)));
  check(badChips.length === 0, `${where}: only known statuses as classes (${r.chips.length} chips)${badChips.length ? ': ' + JSON.stringify(badChips) : ''}`);
}
