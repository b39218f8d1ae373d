// aiot dashboard: plain ES module, no build step. Data from the store's HTTP API
// (/api/v1/fleet, /api/v1/series, /api/v1/anomalies), the model registry (/api/v1/models, if
// present), the pipeline runs (/api/v1/pipelines/...), the Kafka bridge (/api/v1/bridge) and live
// updates over the WebSocket hub (channels telemetry/<id>, anomaly/<id>,
// status/<id>, alerts, events/<kind>).
//
// Everything that comes from the network (device ids, levels, models, event data, registry
// entries...) is hostile: the page is built with createElement/textContent (h() below), never from
// HTML strings, only known levels become CSS classes, and links are only ever built here. The
// server sends a CSP without inline script or style and requires Trusted Types, so an HTML sink
// (innerHTML and the like) would throw instead of parsing.
import uPlot from './vendor/uplot/uPlot.esm.js';

// The telemetry fields shown: the platform's field schema, from config.json (`fields`); the
// reference fan's until it has loaded.
let FIELDS = ['rotation', 'temperature', 'vibration', 'sound'];
const UNITS = { rotation: 'rpm', temperature: '°C', vibration: '', sound: 'dB', score: '' };
const unitOf = (f) => (Object.hasOwn(UNITS, f) ? UNITS[f] : '');
const WINDOW_S = 600;  // live charts show the last 10 minutes
const API = '../api/v1';

const state = {
  devices: new Map(),  // deviceID -> device (as /api/v1/fleet returns, kept current by WS)
  alerts: [],          // newest first
  route: null,
  charts: null,        // device page: { device, series: {field: {xs, ys, plot, label}} }
  ws: null,
  wsPath: '/api/v1/ws',
};

// ---------- helpers ----------
const $ = (sel, root = document) => root.querySelector(sel);
// An element: h('a', { class: 'card', href: '#/x', dataset: { testid: 'device' } }, 'text', node...).
// Children are nodes or text (never parsed as markup); null, undefined and false are skipped.
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
// Replaces the children of `el` (a selector or an element).
function fill(el, ...children) {
  if (typeof el === 'string') el = $(el);
  if (!el) return null;
  el.replaceChildren();
  return append(el, children);
}
// A string from the network for display: strings as they are, finite numbers as text, else ''.
function str(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && isFinite(v)) return String(v);
  return '';
}
// A device id from a message (the store accepts strings and integers), or null.
function idOf(v) {
  const s = str(v);
  return s === '' ? null : s;
}
// Alert levels (src/services/levels.h) and the other names the store reads as them
// (ParseLevel in src/store/records.cc). Anything else is "unknown".
const LEVEL_NAMES = new Map([['ok', 'ok'], ['normal', 'ok'], ['info', 'ok'], ['warning', 'warning'],
  ['warn', 'warning'], ['critical', 'critical'], ['error', 'critical'], ['alarm', 'critical']]);
function knownLevel(v) {
  return typeof v === 'string' && LEVEL_NAMES.has(v) ? LEVEL_NAMES.get(v) : 'unknown';
}
const BADGES = new Set(['ok', 'warning', 'critical', 'offline', 'unknown']);
function badge(level) {
  const l = BADGES.has(level) ? level : 'unknown';
  return h('span', { class: `badge ${l}` }, l);
}
const deviceHref = (id) => `#/device/${encodeURIComponent(id)}`;
const validMs = (t) => typeof t === 'number' && Number.isFinite(t) && Math.abs(t) <= 8.64e15;
function when(ms) {
  return validMs(ms) ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '–';
}
function fmt(v, digits = 1) {
  return (typeof v === 'number' && isFinite(v)) ? v.toFixed(digits) : '–';
}
function ago(ms) {
  if (!ms || !validMs(ms)) return 'never';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}
function tsOf(msg) {
  const t = msg && msg.timeStamp;
  const p = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN;
  return validMs(p) ? p : Date.now();
}
// A bearer token for the registry's routes (models, rollouts). `aiot up` writes one to
// <data_dir>/admin.token and prints a sign-in link `.../#token=<token>`; it is kept in this
// browser's localStorage and never put in a URL the server sees.
const TOKEN_KEY = 'aiot.token';
function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}
function setToken(t) {
  try { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ }
}
function takeTokenFromHash() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return;
  try { setToken(decodeURIComponent(m[1])); } catch { /* malformed link */ }
  history.replaceState(null, '', `${location.pathname}${location.search}#/fleet`);
}
async function getJson(url) {
  const headers = { Accept: 'application/json' };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const r = await fetch(url, { headers });
  if (!r.ok) { const e = new Error(`${url}: HTTP ${r.status}`); e.status = r.status; throw e; }
  return r.json();
}
function levelOf(d) {
  if (d.online === false) return 'offline';
  return knownLevel(d.level);
}
function toast(text, level) {
  const el = h('div', { class: `toast ${knownLevel(level)}` }, text);
  $('#toasts').appendChild(el);
  setTimeout(() => el.remove(), 6000);
}

// ---------- live updates ----------
function connect() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${proto}://${location.host}${state.wsPath}?subscribe=telemetry/*,anomaly/*,status/*,alerts,events/*`;
  let ws;
  try { ws = new WebSocket(url); } catch (e) { setTimeout(connect, 3000); return; }
  state.ws = ws;
  ws.onopen = () => { const l = $('#live'); l.textContent = 'live'; l.className = 'live on'; };
  ws.onclose = () => {
    const l = $('#live'); l.textContent = 'offline'; l.className = 'live off';
    setTimeout(connect, 2000);
  };
  ws.onerror = () => {};
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    if (!m || typeof m.channel !== 'string' || m.data === undefined) return;
    onLive(m.channel, m.data);
  };
}

function device(id) {
  let d = state.devices.get(id);
  if (!d) {
    d = { deviceID: id, level: 'unknown', latest: {}, online: null, model: null, score: null, ttf: null, last_seen: null };
    state.devices.set(id, d);
  }
  return d;
}

function onLive(channel, data) {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return;
  const kind = channel.split('/')[0];
  const id = idOf(data.deviceID);
  if (kind === 'telemetry' && id !== null) {
    const d = device(id);
    const t = tsOf(data);
    d.last_seen = Math.max(d.last_seen || 0, t);
    for (const f of FIELDS) if (typeof data[f] === 'number') d.latest[f] = data[f];
    chartAppend(d.deviceID, t, data);
    scheduleRender();
  } else if (kind === 'anomaly' && id !== null) {
    const d = device(id);
    // As the store does: a level it does not know counts by the fault flag.
    const fault = data.fault === true || (typeof data.fault === 'number' && data.fault !== 0);
    const level = knownLevel(data.level);
    d.level = level !== 'unknown' ? level : fault ? 'warning' : 'ok';
    d.score = typeof data.score === 'number' ? data.score : null;
    // Hours to failure from a time-to-failure model scored beside the fault model (if any).
    d.ttf = typeof data.time_to_failure_h === 'number' && isFinite(data.time_to_failure_h) && data.time_to_failure_h >= 0
      ? data.time_to_failure_h : null;
    if (str(data.model)) d.model = d.model || str(data.model);
    chartAppend(d.deviceID, tsOf(data), { score: d.score });
    scheduleRender();
  } else if (kind === 'status') {
    const d = device(channel.slice('status/'.length));
    if (typeof data.online === 'boolean') d.online = data.online;
    if (str(data.model)) d.model = str(data.model);
    scheduleRender();
  } else if (kind === 'alerts') {
    const level = knownLevel(data.level);
    const entry = { ts: tsOf(data), kind: 'alert', deviceID: id, level, data };
    state.alerts.unshift(entry);
    state.alerts.length = Math.min(state.alerts.length, 100);
    toast(`${level === 'unknown' ? 'alert' : level}: ${id ?? ''} ${str(data.message)}`, level);
    scheduleRender(true);
  } else if (kind === 'events') {
    if (state.route && (state.route.page === 'models' || state.route.page === 'timeline')) scheduleRender(true);
  }
}

let renderPending = false;
let renderTimeline = false;
function scheduleRender(timeline = false) {
  renderTimeline = renderTimeline || timeline;
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    const r = state.route;
    if (!r) return;
    if (r.page === 'fleet') renderFleet();
    else if (r.page === 'device') renderDeviceHeader();
    else if (r.page === 'timeline' && renderTimeline) showTimeline();
    renderTimeline = false;
  }, 500);
}

// ---------- fleet ----------
async function showFleet() {
  fill('#view', h('h1', null, 'Fleet'), h('div', { class: 'summary', id: 'summary' }),
    h('section', { id: 'bridge', class: 'bridge', hidden: true, dataset: { testid: 'bridge' } }),
    h('div', { class: 'grid', id: 'fleet', dataset: { testid: 'fleet' } }),
    h('h2', null, 'Recent alerts'), h('ul', { class: 'timeline', id: 'alerts', dataset: { testid: 'alerts' } }));
  try {
    const [devs, tl] = await Promise.all([
      getJson(`${API}/fleet`),
      getJson(`${API}/anomalies?kinds=alert&limit=20`),
    ]);
    for (const d of list(devs, 'devices')) mergeDevice(d);
    const seen = new Set(state.alerts.map((a) => `${a.ts}|${a.deviceID}`));
    for (const e of list(tl, 'entries')) if (!seen.has(`${e.ts}|${e.deviceID}`)) state.alerts.push(e);
    state.alerts.sort((a, b) => b.ts - a.ts);
  } catch (e) {
    fill('#fleet', h('div', { class: 'empty' }, `Cannot load devices: ${e.message}`));
    return;
  }
  renderFleet();
  refreshBridge();
}

// A device of /api/v1/fleet into the state: only the fields the page uses, of the types it uses.
function mergeDevice(d) {
  const id = d && idOf(d.deviceID);
  if (id === null) return;
  const cur = device(id);
  if (typeof d.online === 'boolean' || d.online === null) cur.online = d.online;
  cur.model = str(d.model) || cur.model;
  cur.level = knownLevel(d.level);
  if (typeof d.score === 'number') cur.score = d.score;
  if (validMs(d.last_seen)) cur.last_seen = Math.max(cur.last_seen || 0, d.last_seen);
  for (const f of FIELDS) if (typeof d.latest?.[f] === 'number') cur.latest[f] = d.latest[f];
}

// The predicted time to failure next to the score, when a time-to-failure model reports one.
function ttfSpan(d) {
  if (typeof d.ttf !== 'number') return null;
  const text = d.ttf >= 48 ? `${fmt(d.ttf / 24, 1)} d` : `${fmt(d.ttf, 1)} h`;
  return h('span', { title: 'predicted time to failure', dataset: { testid: 'ttf' } }, `failure in ~${text}`);
}

function renderFleet() {
  const grid = $('#fleet');
  if (!grid) return;
  const devs = [...state.devices.values()].sort((a, b) => a.deviceID.localeCompare(b.deviceID));
  const counts = {};
  for (const d of devs) counts[levelOf(d)] = (counts[levelOf(d)] || 0) + 1;
  fill('#summary', h('span', { class: 'pill' }, `${devs.length} devices`),
    ['critical', 'warning', 'ok', 'offline', 'unknown'].filter((l) => counts[l])
      .map((l) => h('span', { class: 'pill' }, badge(l), ` ${counts[l]}`)));
  fill(grid, devs.length ? devs.map((d) => h('a', { class: 'card', href: deviceHref(d.deviceID), dataset: { testid: 'device', device: d.deviceID } },
    h('div', { class: 'head' }, h('span', { class: 'name' }, d.deviceID), badge(levelOf(d))),
    h('div', { class: 'meta' }, h('span', { title: 'last telemetry' }, `seen ${ago(d.last_seen)}`),
      h('span', { title: 'model version' }, d.model || 'no model'),
      h('span', { title: 'anomaly score' }, `score ${fmt(d.score, 2)}`),
      ttfSpan(d)),
    h('div', { class: 'values' }, FIELDS.map((f) => h('div', null, h('span', null, f), ' ', h('b', null, fmt(d.latest?.[f])))))))
    : h('div', { class: 'empty' }, 'No devices yet. Telemetry on fan/messages will appear here.'));
  fill('#alerts', state.alerts.length ? state.alerts.slice(0, 20).map(timelineItem)
    : h('li', { class: 'empty' }, 'No alerts.'));
}

// One entry of /api/v1/anomalies (or a live alert) as a list item.
// A drift event in words: its message, or (older events) started/ended with the drifted
// features; never the bare word "drift" next to the kind.
function driftText(data) {
  if (str(data.message)) return str(data.message);
  const feats = Array.isArray(data.report?.features)
    ? data.report.features.filter((f) => f && (f.ks_drift === true || f.psi_level === 'significant')).map((f) => str(f.name)).filter(Boolean)
    : [];
  if (data.drift === false) return `ended (${str(data.model)})`;
  return `started${feats.length ? ' in ' + feats.join(', ') : ''} (${str(data.model)})`;
}

function timelineItem(e) {
  const data = e.data && typeof e.data === 'object' && !Array.isArray(e.data) ? e.data : {};
  const kind = str(e.kind) || 'event';
  const id = idOf(e.deviceID);
  const what = kind === 'anomaly'
    ? `anomaly score ${fmt(e.score, 2)} (${str(e.model)})`
    : kind === 'drift'
      ? driftText(data)
      : str(data.message) || str(data.reason) || str(data.event) || (Object.keys(data).length ? JSON.stringify(data).slice(0, 160) : kind);
  // A drift event without a level (from before events carried one) still says start or end.
  let level = knownLevel(e.level);
  if (level === 'unknown' && kind === 'drift' && typeof data.drift === 'boolean') level = data.drift ? 'warning' : 'ok';
  return h('li', { dataset: { testid: 'timeline-entry', kind } },
    h('span', { class: 'when' }, when(e.ts)), badge(level),
    h('span', { class: 'what' }, h('b', null, kind), ' ', id !== null ? h('a', { href: deviceHref(id) }, id) : null, ' ', what));
}

// ---------- device ----------
async function showDevice(id) {
  fill('#view', h('a', { class: 'back', href: '#/fleet' }, '← fleet'),
    h('h1', { id: 'dev-title' }, id), h('div', { class: 'meta', id: 'dev-meta' }),
    h('div', { class: 'charts', id: 'charts' }),
    h('h2', null, 'Anomalies and alerts'), h('ul', { class: 'timeline', id: 'dev-timeline' }));
  const fields = [...FIELDS, 'score'];
  const charts = { device: id, series: {} };
  state.charts = charts;
  const now = Date.now();
  let hist = { series: [] };
  try {
    hist = await getJson(`${API}/series?devices=${encodeURIComponent(id)}&fields=${fields.map(encodeURIComponent).join(',')}&from=${now - WINDOW_S * 1000}&to=${now + 60000}&limit=5000`);
  } catch (e) { /* charts start empty */ }
  if (state.charts !== charts) return;
  const box = $('#charts');
  for (const f of fields) {
    const s = list(hist, 'series').find((x) => x && x.field === f && Array.isArray(x.t) && Array.isArray(x.v)
      && x.t.length === x.v.length) || { t: [], v: [] };
    const el = h('div', { class: 'chart', dataset: { testid: 'chart', field: f } },
      h('h3', null, h('span', null, `${f}${unitOf(f) ? ` (${unitOf(f)})` : ''}`),
        h('span', { class: 'now', dataset: { testid: 'chart-now' } }, fmt(s.v[s.v.length - 1], f === 'score' ? 3 : 1))));
    box.appendChild(el);
    const xs = [];
    const ys = [];
    s.t.forEach((t, i) => { if (validMs(t)) { xs.push(t / 1000); ys.push(typeof s.v[i] === 'number' ? s.v[i] : null); } });
    const plot = new uPlot({
      width: Math.max(280, el.clientWidth - 16), height: 180,
      cursor: { drag: { x: false, y: false } },
      legend: { show: false },
      scales: { x: { time: true }, y: f === 'score' ? { range: [0, 1] } : {} },
      axes: [{ stroke: '#8b98a5', grid: { stroke: '#2a3440' }, ticks: { stroke: '#2a3440' } },
        { stroke: '#8b98a5', grid: { stroke: '#2a3440' }, ticks: { stroke: '#2a3440' }, size: 50 }],
      series: [{}, { label: f, stroke: f === 'score' ? '#f85149' : '#2f7df6', width: 1.5, points: { show: false } }],
    }, [xs, ys], el);
    charts.series[f] = { xs, ys, plot, el, count: xs.length };
    el.dataset.shown = String(xs.length);
  }
  el_resize();
  renderDeviceHeader();
  try {
    const tl = list(await getJson(`${API}/anomalies?devices=${encodeURIComponent(id)}&limit=50`), 'entries');
    fill('#dev-timeline', tl.length ? tl.map(timelineItem) : h('li', { class: 'empty' }, 'Nothing yet.'));
  } catch (e) {
    fill('#dev-timeline', h('li', { class: 'empty' }, e.message));
  }
}

function renderDeviceHeader() {
  const c = state.charts;
  if (!c || !$('#dev-meta')) return;
  const d = state.devices.get(c.device) || { level: 'unknown' };
  fill('#dev-meta', badge(levelOf(d)), h('span', null, `seen ${ago(d.last_seen)}`),
    h('span', null, `model ${d.model || '–'}`), h('span', null, `score ${fmt(d.score, 3)}`), ttfSpan(d));
}

let drawPending = false;
function chartAppend(id, t, values) {
  const c = state.charts;
  if (!c || c.device !== id) return;
  for (const [f, s] of Object.entries(c.series)) {
    const v = values[f];
    if (typeof v !== 'number') continue;
    const x = t / 1000;
    // Keep time order (late messages are inserted in place).
    let i = s.xs.length;
    while (i > 0 && s.xs[i - 1] > x) i--;
    s.xs.splice(i, 0, x);
    s.ys.splice(i, 0, v);
    const cutoff = x - WINDOW_S;
    let drop = 0;
    while (drop < s.xs.length && s.xs[drop] < cutoff) drop++;
    if (drop) { s.xs.splice(0, drop); s.ys.splice(0, drop); }
    s.count++;
    s.dirty = true;
    const now = s.el.querySelector('.now');
    now.textContent = fmt(s.ys[s.ys.length - 1], f === 'score' ? 3 : 1);
    s.el.dataset.points = String(s.count);
    s.el.dataset.shown = String(s.xs.length);
  }
  if (!drawPending) {
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      if (state.charts !== c) return;
      for (const s of Object.values(c.series)) {
        if (s.dirty) { s.plot.setData([s.xs, s.ys]); s.dirty = false; }
      }
    });
  }
}

function el_resize() {
  const c = state.charts;
  if (!c) return;
  for (const s of Object.values(c.series)) s.plot.setSize({ width: Math.max(280, s.el.clientWidth - 16), height: 180 });
}
window.addEventListener('resize', () => el_resize());

// ---------- timeline ----------
async function showTimeline() {
  if (!$('#timeline')) {
    fill('#view', h('h1', null, 'Anomalies, alerts and events'), h('ul', { class: 'timeline', id: 'timeline', dataset: { testid: 'timeline' } }));
  }
  try {
    const tl = list(await getJson(`${API}/anomalies?limit=200`), 'entries');
    fill('#timeline', tl.length ? tl.map(timelineItem) : h('li', { class: 'empty' }, 'Nothing in the last day.'));
  } catch (e) {
    fill('#timeline', h('li', { class: 'empty' }, `Cannot load the timeline: ${e.message}`));
  }
}

// ---------- models, drift, rollouts ----------
async function optionalJson(url) {
  try { return await getJson(url); } catch (e) { return { unavailable: true, error: e.message, status: e.status }; }
}

function list(x, ...keys) {
  if (Array.isArray(x)) return x;
  for (const k of keys) if (x && Array.isArray(x[k])) return x[k];
  return [];
}

// A registry entry's metrics in a line: the test split's figures (float, then int8) when the
// model was trained here, else its top-level numbers.
function metricsSummary(m) {
  if (!m || typeof m !== 'object') return '';
  const pct = (v) => `${(100 * v).toFixed(1)}%`;
  const parts = [];
  if (m.test && typeof m.test === 'object') {
    const t = m.test;
    if (typeof t.accuracy === 'number') parts.push(`accuracy ${pct(t.accuracy)}`);
    if (typeof t.f1 === 'number') parts.push(`F1 ${t.f1.toFixed(3)}`);
    if (typeof t.roc_auc === 'number') parts.push(`AUC ${t.roc_auc.toFixed(3)}`);
  }
  if (m.int8 && typeof m.int8 === 'object') {
    if (m.int8.test && typeof m.int8.test.accuracy === 'number') parts.push(`int8 accuracy ${pct(m.int8.test.accuracy)}`);
    if (typeof m.int8.decision_agreement === 'number') parts.push(`int8 agreement ${pct(m.int8.decision_agreement)}`);
  }
  if (m.train && typeof m.train.rows === 'number') parts.push(`${m.train.rows} training rows`);
  if (parts.length) return parts.join(', ');
  return Object.entries(m).filter(([, v]) => (typeof v === 'number' && isFinite(v)) || typeof v === 'string')
    .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(3) : v}`).join(', ');
}

// The sign-in form of the pages behind a token: `what` needs one; `retry` shows the page again.
function signinForm(what, retry) {
  const form = h('form', { class: 'signin', id: 'signin', dataset: { testid: 'signin' } },
    h('p', null, `${what} needs a token${token() ? ' (the saved one was refused)' : ''}. `,
      h('code', null, 'aiot up'), ' wrote an admin token to ', h('code', null, 'var/aiot/admin.token'),
      ' and printed a sign-in link.'),
    h('input', { id: 'token', type: 'password', autocomplete: 'off', placeholder: 'paste a token', 'aria-label': 'token' }),
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken($('#token').value.trim());
    retry();
  });
  return form;
}

async function showModels() {
  fill('#view', h('h1', null, 'Models'), h('div', { id: 'models', dataset: { testid: 'models' } }),
    h('h2', null, 'Rollouts'), h('div', { id: 'rollouts' }),
    h('h2', null, 'Drift'), h('ul', { class: 'timeline', id: 'drift' }));
  const [models, rollouts, drift] = await Promise.all([
    optionalJson(`${API}/models`),
    optionalJson(`${API}/rollouts`),
    optionalJson(`${API}/anomalies?kinds=drift&from=-30d&limit=50`),
  ]);
  // Drift events are not behind the registry's token.
  const de = drift.unavailable ? [] : list(drift, 'entries');
  fill('#drift', de.length ? de.map(timelineItem) : h('li', { class: 'empty' }, 'No drift events in the last 30 days.'));
  if (models.status === 401 || rollouts.status === 401) {
    fill('#models', signinForm('The model registry', showModels));
    fill('#rollouts', h('div', { class: 'empty' }, 'Sign in to see rollouts.'));
    return;
  }
  const rows = [];
  if (!models.unavailable) {
    for (const m of list(models, 'models', 'items')) {
      if (!m || typeof m !== 'object') continue;
      const versions = list(m.versions || [], 'versions');
      if (versions.length) {
        for (const v of versions) rows.push({ name: m.name, ...v });
      } else {
        rows.push(m);
      }
    }
  }
  fill('#models', models.unavailable
    ? h('div', { class: 'empty' }, `Model registry not available here (${models.error}).`)
    : rows.length ? table(['model', 'version', 'stage', 'metrics', 'created'],
      rows.map((r) => [str(r.name), str(r.version), str(r.stage), metricsSummary(r.metrics), str(r.created_at) || str(r.created)]))
      : h('div', { class: 'empty' }, 'No models registered yet.'));
  const rl = list(rollouts, 'rollouts', 'items').filter((r) => r && typeof r === 'object');
  fill('#rollouts', rollouts.unavailable
    ? h('div', { class: 'empty' }, `Rollout status not available here (${rollouts.error}).`)
    : rl.length ? table(['model', 'version', 'state', 'devices'],
      rl.map((r) => [str(r.model) || str(r.name), str(r.version), str(r.state) || str(r.status),
        `${str(r.done ?? r.updated)}${r.total != null ? ` / ${str(r.total)}` : ''}`]))
      : h('div', { class: 'empty' }, 'No rollouts.'));
}

// A table of text cells.
function table(head, rows) {
  return h('table', null, h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', null, c))))));
}

// ---------- pipelines (the continuous-learning runs, src/pipeline) ----------
// Runs, a run's DAG with each step's status and duration, champion vs challenger, the decision
// and its reason, the drift report per feature and the step logs. Everything in a run (names,
// reasons, log tails, feature names) is text; only known statuses become CSS classes.
const PIPELINES = ['continuous-learning', 'extract-data'];
const RUN_STATES = new Set(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
const STEP_STATES = new Set(['running', 'succeeded', 'failed', 'stopped', 'interrupted', 'pending', 'skipped']);
const isObj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const num = (v) => (typeof v === 'number' && isFinite(v) ? v : 0);
const nsToMs = (ns) => (typeof ns === 'number' && ns > 0 ? ns / 1e6 : null);

// A status as a chip (not a .badge: those are alert levels).
function chip(status, known) {
  const s = str(status);
  return h('span', { class: `st ${known.has(s) ? s : 'other'}` }, s || '–');
}
function duration(ms) {
  if (typeof ms !== 'number' || !isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
// A run's or an attempt's duration: as recorded, or so far while it runs.
function elapsed(x) {
  if (typeof x.duration_ms === 'number') return x.duration_ms;
  const started = nsToMs(x.started_ns);
  return started && x.status === 'running' ? Date.now() - started : null;
}

// The run shown, its selected step, the JSON last rendered, a refresh in progress.
const pl = { run: null, step: null, shown: '', loading: false };

async function showPipelines(id) {
  if (!$('#pl-runs')) {
    fill('#view', h('h1', null, 'Pipelines'), h('div', { class: 'meta', id: 'pl-runner', dataset: { testid: 'pipeline-runner' } }),
      h('div', { id: 'pl-runs', dataset: { testid: 'pipeline-runs' } }), h('div', { id: 'pl-run', dataset: { testid: 'pipeline-run' } }));
  }
  const [info, ...runLists] = await Promise.all([optionalJson(`${API}/pipelines`),
    ...PIPELINES.map((p) => optionalJson(`${API}/pipelines/${p}/runs?limit=50`))]);
  if (state.route?.page !== 'pipelines') return;
  const refused = [info, ...runLists].find((x) => x.status === 401 || x.status === 403);
  if (refused) {
    fill('#pl-runner');
    fill('#pl-run');
    fill('#pl-runs', refused.status === 401 ? signinForm('The pipeline runs', () => route())
      : h('div', { class: 'empty' }, 'Pipeline runs need a token with the admin or operator role.'));
    return;
  }
  if (info.unavailable) {
    fill('#pl-runs', h('div', { class: 'empty' }, `Pipelines not available here (${info.error}).`));
    return;
  }
  fill('#pl-runner', runnerText(info.runner));
  const runs = runLists.flatMap((l) => list(l, 'runs')).filter((r) => isObj(r) && typeof r.id === 'number')
    .sort((a, b) => b.id - a.id);
  const shown = id !== null ? Number(id) : runs[0]?.id;
  fill('#pl-runs', runs.length ? runsTable(runs, shown)
    : h('div', { class: 'empty' }, 'No runs yet. A drift event, the schedule, new labelled rows, `aiot pipeline trigger` or POST /api/v1/pipelines/continuous-learning/runs start one.'));
  if (!Number.isInteger(shown) || shown < 1) { fill('#pl-run'); return; }
  let run;
  try {
    run = await getJson(`${API}/pipelines/runs/${shown}`);
  } catch (e) {
    fill('#pl-run', h('div', { class: 'empty' }, `Cannot load run ${shown}: ${e.message}`));
    return;
  }
  if (state.route?.page !== 'pipelines' || !isObj(run)) return;
  if (pl.run?.id !== run.id) pl.step = null;
  // Redrawn when it changed, or while it runs (durations so far); the log keeps its scroll else.
  const text = JSON.stringify(run);
  const active = run.status === 'queued' || run.status === 'running';
  if (text === pl.shown && !active && $('#pl-run').childElementCount) return;
  pl.shown = text;
  pl.run = run;
  renderRun();
}

function runnerText(r) {
  if (!isObj(r)) return '';
  const t = isObj(r.triggers) ? r.triggers : {};
  const parts = [`runner ${r.enabled === true ? 'on' : 'off'}`, `model ${str(r.model) || '–'}`];
  if (t.drift === true) parts.push(`drift trigger (cooldown ${str(t.drift_cooldown_s)} s)`);
  if (str(t.schedule)) parts.push(`schedule ${str(t.schedule)}${str(t.next_scheduled) ? `, next ${str(t.next_scheduled)}` : ''}`);
  if (num(t.min_new_rows) > 0) parts.push(`every ${str(t.min_new_rows)} new labelled rows`);
  return parts.map((p) => h('span', null, p));
}

function runsTable(runs, shown) {
  return h('table', { class: 'runs' },
    h('thead', null, h('tr', null, ['run', 'pipeline', 'model', 'trigger', 'status', 'started', 'duration', 'decision'].map((c) => h('th', null, c)))),
    h('tbody', null, runs.map((r) => h('tr', { class: r.id === shown ? 'selected' : null, dataset: { testid: 'run', id: String(r.id) } },
      h('td', null, h('a', { href: `#/pipelines/${r.id}` }, `#${r.id}`)), h('td', null, str(r.pipeline)), h('td', null, str(r.model)),
      h('td', null, str(r.trigger)), h('td', null, chip(r.status, RUN_STATES)), h('td', null, when(nsToMs(r.started_ns) ?? nsToMs(r.created_ns))),
      h('td', null, duration(elapsed(r))), h('td', null, str(r.decision) || '–')))));
}

function renderRun() {
  const run = pl.run;
  if (!run || !$('#pl-run')) return;
  const reports = isObj(run.reports) ? run.reports : {};
  const attempts = list(run.steps).filter((a) => isObj(a) && str(a.step));
  if (!pl.step) pl.step = defaultStep(attempts);
  fill('#pl-run',
    h('h2', null, `Run #${str(run.id)} · ${str(run.pipeline)} · ${str(run.model)}`),
    h('div', { class: 'meta' }, chip(run.status, RUN_STATES), h('span', null, `trigger ${str(run.trigger)}`),
      h('span', null, `started ${when(nsToMs(run.started_ns))}`), h('span', null, `duration ${duration(elapsed(run))}`),
      h('span', null, `code ${str(run.code_version)}`),
      isObj(run.params) && Object.keys(run.params).length
        ? h('span', { dataset: { testid: 'run-params' } }, `params ${Object.entries(run.params).map(([k, v]) => `${k}=${str(v)}`).join(', ')}`) : null),
    decisionView(run, reports.evaluate),
    h('h3', null, 'Steps'), dagView(run, attempts),
    h('h3', null, 'Champion vs challenger'), evaluateView(reports.evaluate),
    h('h3', null, 'Drift per feature'), driftView(reports.drift),
    h('h3', null, `Log: ${pl.step || '–'}`), logView(attempts, pl.step));
}

// The step to show the log of: the one that failed or is running, else the last that ran.
function defaultStep(attempts) {
  const pick = attempts.findLast((a) => ['failed', 'interrupted', 'running'].includes(a.status)) || attempts[attempts.length - 1];
  return pick ? str(pick.step) : null;
}

function decisionView(run, ev) {
  const promoted = isObj(ev) && typeof ev.promoted === 'boolean' ? ev.promoted : null;
  const active = run.status === 'queued' || run.status === 'running';
  const cls = run.status === 'failed' ? 'bad' : promoted === true ? 'good' : promoted === false ? 'warn' : 'neutral';
  const title = promoted === true ? 'Challenger promoted' : promoted === false ? 'Challenger not promoted'
    : active ? 'Running: no decision yet' : `Decision: ${str(run.decision) || '–'}`;
  const evReason = isObj(ev) ? str(ev.reason) : '';
  return h('div', { class: `decision ${cls}`, dataset: { testid: 'decision' } },
    h('b', null, title), evReason ? h('div', { dataset: { testid: 'evaluate-reason' } }, evReason) : null,
    str(run.reason) && str(run.reason) !== evReason
      ? h('div', { class: 'why', dataset: { testid: 'run-reason' } }, `run ${str(run.status)}${str(run.decision) ? ` (${str(run.decision)})` : ''}: ${str(run.reason)}`) : null);
}

// The DAG: a column per depth (longest path from a root), boxes in declaration order, arrows
// between the columns. A step's box shows its last attempt.
function dagView(run, attempts) {
  const steps = list(run.dag, 'steps').filter((s) => isObj(s) && str(s.name));
  const byStep = new Map();
  for (const a of attempts) byStep.set(str(a.step), [...(byStep.get(str(a.step)) || []), a]);
  const names = steps.length ? steps.map((s) => str(s.name)) : [...byStep.keys()];
  const depends = new Map(steps.map((s) => [str(s.name), Array.isArray(s.depends) ? s.depends.map(str) : []]));
  const depth = new Map();
  const depthOf = (n, path = new Set()) => {
    if (depth.has(n)) return depth.get(n);
    if (path.has(n) || !names.includes(n)) return -1;  // a cycle or an unknown step
    path.add(n);
    const d = 1 + Math.max(-1, ...(depends.get(n) || []).map((x) => depthOf(x, path)));
    depth.set(n, d);
    return d;
  };
  const columns = [];
  for (const n of names) (columns[depthOf(n)] ||= []).push(n);
  const active = run.status === 'queued' || run.status === 'running';
  const box = (n) => {
    const tries = byStep.get(n) || [];
    const last = tries[tries.length - 1];
    const status = last ? str(last.status) : active ? 'pending' : 'skipped';
    const deps = depends.get(n) || [];
    const b = h('button', { type: 'button', class: `dag-step ${STEP_STATES.has(status) ? status : 'other'}${pl.step === n ? ' selected' : ''}`,
      dataset: { testid: 'dag-step', step: n, status }, 'aria-pressed': String(pl.step === n) },
    h('span', { class: 'name' }, n), h('span', { class: 'st-text' }, status),
    h('span', { class: 'dur' }, last ? duration(elapsed(last)) : '–'),
    tries.length > 1 ? h('span', { class: 'tries' }, `${tries.length} attempts`) : null,
    deps.length > 1 ? h('span', { class: 'deps' }, `after ${deps.join(', ')}`) : null);
    b.addEventListener('click', () => { pl.step = n; renderRun(); });
    return b;
  };
  return h('div', { class: 'dag', dataset: { testid: 'dag' } },
    columns.filter(Boolean).map((col, i) => [i ? h('span', { class: 'arrow', 'aria-hidden': 'true' }, '→') : null,
      h('div', { class: 'dag-col' }, col.map(box))]));
}

const METRICS = ['f1', 'accuracy', 'precision', 'recall', 'roc_auc'];
function evaluateView(ev) {
  if (!isObj(ev)) return h('div', { class: 'empty' }, 'No evaluation in this run (it has not reached evaluate, or stopped before it).');
  const metric = str(ev.metric) || 'f1';
  const ch = isObj(ev.challenger) && isObj(ev.challenger.report) ? ev.challenger.report : {};
  const cp = isObj(ev.champion) ? ev.champion : {};
  const cpr = isObj(cp.report) ? cp.report : null;
  const champ = str(cp.name) ? `${str(cp.name)}@${str(cp.version)}` : str(cp.path) || 'none';
  return [h('table', { class: 'compare', dataset: { testid: 'compare' } },
    h('thead', null, h('tr', null, h('th', null, 'held-out metric'), h('th', null, 'challenger'), h('th', null, `champion (${champ})`))),
    h('tbody', null, METRICS.map((k) => h('tr', { class: k === metric ? 'gate' : null, dataset: { testid: 'metric', metric: k } },
      h('th', null, k === metric ? `${k} (gate)` : k), h('td', { dataset: { testid: 'challenger' } }, fmt(ch[k], 3)),
      h('td', { dataset: { testid: 'champion' } }, cpr ? fmt(cpr[k], 3) : '–'))),
    h('tr', null, h('th', null, 'rows'), h('td', null, str(ch.samples)), h('td', null, cpr ? str(cpr.samples) : '–')))),
  h('p', { class: 'meta' }, `Gate: the challenger's ${metric} at least ${fmt(ev.floor, 2)}, and not below the champion's by more than ${fmt(ev.margin, 3)}.`)];
}

function driftView(dr) {
  if (!isObj(dr)) return h('div', { class: 'empty' }, 'No drift report in this run.');
  const feats = list(dr.report, 'features').filter(isObj);
  const psiT = typeof dr.thresholds?.psi === 'number' ? dr.thresholds.psi : null;
  const alpha = typeof dr.report?.ks_alpha_per_feature === 'number' && dr.report.ks_alpha_per_feature > 0 ? dr.report.ks_alpha_per_feature : null;
  const head = h('p', { class: 'meta', dataset: { testid: 'drift-reason' } },
    `${str(dr.reason) || str(dr.decision) || '–'} (${str(dr.rows)} current rows, ${str(dr.reference_rows)} reference rows)`);
  if (!feats.length) return [head, h('div', { class: 'empty' }, 'No per-feature figures (nothing to compare with).')];
  // KS as -log10(p) against -log10(alpha per feature): a longer bar is stronger evidence.
  const nlog = (p) => (typeof p === 'number' && p > 0 ? -Math.log10(p) : p === 0 ? 16 : 0);
  const ksT = alpha ? -Math.log10(alpha) : null;
  const psiMax = 1.15 * Math.max(psiT ?? 0, ...feats.map((f) => num(f.psi))) || 1;
  const ksMax = 1.15 * Math.max(ksT ?? 0, ...feats.map((f) => nlog(f.ks_p_value))) || 1;
  return [head, h('div', { class: 'bars', dataset: { testid: 'drift-plot' } },
    h('div', { class: 'bar-row head' }, h('span', null, 'feature'), h('span', null, `PSI, threshold ${fmt(psiT, 2)}`),
      h('span', null, `KS −log10 p, threshold α/n ${alpha ? alpha.toPrecision(2) : '–'}`)),
    feats.map((f) => h('div', { class: 'bar-row', dataset: { testid: 'drift-feature', feature: str(f.name) } },
      h('span', { class: 'fname' }, str(f.name)),
      bar(num(f.psi), psiMax, psiT, psiT !== null && num(f.psi) >= psiT, `${fmt(f.psi, 3)} ${str(f.psi_level)}`, 'psi'),
      bar(nlog(f.ks_p_value), ksMax, ksT, f.ks_drift === true, `D ${fmt(f.ks_statistic, 3)}, p ${typeof f.ks_p_value === 'number' ? f.ks_p_value.toPrecision(2) : '–'}`, 'ks'))))];
}

// A horizontal bar of `v` on 0..max with the threshold's line; widths are set through the CSSOM
// (the CSP allows no style attributes).
function bar(v, max, threshold, over, label, kind) {
  const track = h('div', { class: 'track' });
  const fillEl = h('div', { class: `fill${over ? ' over' : ''}`, dataset: { testid: `bar-${kind}` } });
  fillEl.style.width = `${Math.min(100, Math.max(0, (100 * v) / max))}%`;
  track.append(fillEl);
  if (threshold !== null) {
    const line = h('div', { class: 'threshold', title: `threshold ${threshold}`, dataset: { testid: `threshold-${kind}` } });
    line.style.left = `${Math.min(100, (100 * threshold) / max)}%`;
    track.append(line);
  }
  return h('div', { class: `bar${over ? ' over' : ''}` }, track, h('span', { class: 'val' }, label));
}

function logView(attempts, step) {
  const tries = attempts.filter((a) => str(a.step) === step);
  if (!tries.length) return h('div', { class: 'empty' }, step ? `Step ${step} has not run.` : 'No step has run yet.');
  return tries.map((a) => h('div', { class: 'attempt' },
    h('div', { class: 'meta' }, h('span', null, `attempt ${str(a.attempt)}`), chip(a.status, STEP_STATES),
      h('span', null, `exit ${a.exit_code === null || a.exit_code === undefined ? '–' : str(a.exit_code)}`), h('span', null, duration(elapsed(a)))),
    h('pre', { class: 'log', dataset: { testid: 'log-tail' } }, str(a.log_tail) || '(no output)')));
}

// ---------- the Kafka bridge (fleet page; hidden when no bridge runs) ----------
const BRIDGE_STATES = new Set(['connected', 'buffering', 'failed']);
function bytes(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

async function refreshBridge() {
  const box = $('#bridge');
  if (!box) return;
  let b = null;
  try { b = await getJson(`${API}/bridge`); } catch { /* no bridge API: hidden */ }
  box.dataset.loaded = 'true';
  if (!isObj(b) || b.enabled !== true) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const st = BRIDGE_STATES.has(b.state) ? b.state : 'other';
  box.hidden = false;
  box.dataset.state = st;
  const lat = isObj(b.latency_ms) ? b.latency_ms : null;
  const buf = isObj(b.buffer) ? b.buffer : {};
  const rate = (v) => (typeof v === 'number' ? `${fmt(v, 1)}/s` : '–');
  const lag = list(b.consumer_lag).filter(isObj);
  const figure = (label, value, id) => h('div', { class: 'figure', dataset: { testid: `bridge-${id}` } }, h('span', null, label), h('b', null, value));
  fill(box,
    h('h2', null, 'Kafka bridge ', h('span', { class: `st ${st}`, dataset: { testid: 'bridge-state' } }, str(b.state) || '–')),
    h('p', { class: 'meta', dataset: { testid: 'bridge-reason' } }, str(b.reason), ` · ack ${str(b.ack)}, when full ${str(b.when_full)}`),
    h('div', { class: 'figures' },
      figure('delivered', rate(b.delivered?.per_s), 'delivered'),
      figure(`latency p50${lat && lat.over === 'start' ? ' (since start)' : ''}`, lat ? `${fmt(lat.p50, 2)} ms` : '–', 'p50'),
      figure('latency p99', lat ? `${fmt(lat.p99, 2)} ms` : '–', 'p99'),
      figure('buffered', `${bytes(buf.bytes)} / ${bytes(buf.max_bytes)}, ${str(buf.records)} records`, 'buffered'),
      figure('oldest buffered', typeof buf.oldest_age_s === 'number' && buf.records > 0 ? `${fmt(buf.oldest_age_s, 1)} s` : '–', 'age'),
      figure('consumer lag', lag.length ? lag.map((l) => `${str(l.service)} ${str(l.topic)}: ${str(l.lag)}`).join(', ') : 'no Kafka consumers', 'lag')),
    table(['direction', 'mapping', 'msg/s', 'total'], list(b.mappings).filter(isObj)
      .map((m) => [str(m.direction).replaceAll('_', ' '), str(m.mapping), rate(m.per_s), str(m.total)])),
    list(b.errors).filter(isObj).length
      ? table(['error', 'kind', 'total', 'recent'], list(b.errors).filter(isObj).map((e) => [str(e.type).replace('_', ' '), str(e.kind), str(e.total), str(e.recent)]))
      : h('p', { class: 'meta', dataset: { testid: 'bridge-no-errors' } }, 'No errors.'));
}

// ---------- routing ----------
function route() {
  const h = location.hash || '#/fleet';
  const parts = h.slice(2).split('/');
  const page = parts[0] || 'fleet';
  let arg = null;
  try { arg = parts[1] ? decodeURIComponent(parts.slice(1).join('/')) : null; } catch { /* malformed: fleet */ }
  state.route = { page, arg };
  if (page !== 'device') state.charts = null;
  for (const a of document.querySelectorAll('.tabs a')) a.classList.toggle('active', a.dataset.page === page);
  if (page === 'device' && state.route.arg) showDevice(state.route.arg);
  else if (page === 'timeline') showTimeline();
  else if (page === 'models') showModels();
  else if (page === 'pipelines') showPipelines(state.route.arg);
  else { state.route.page = 'fleet'; showFleet(); }
}

async function main() {
  takeTokenFromHash();
  try {
    const cfg = await getJson('config.json');
    // A path on this origin only.
    if (typeof cfg.ws_path === 'string' && /^\/(?!\/)[\x21-\x7e]*$/.test(cfg.ws_path)) state.wsPath = cfg.ws_path;
    // Field names as the schema allows them (letters, digits, _); they are only ever text.
    const names = Array.isArray(cfg.fields) ? cfg.fields.filter((f) => typeof f === 'string' && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(f)) : [];
    if (names.length) FIELDS = names;
  } catch { /* defaults */ }
  window.addEventListener('hashchange', route);
  route();
  connect();
  setInterval(() => {
    if (state.route?.page === 'fleet') { renderFleet(); refreshBridge(); }
    else if (state.route?.page === 'pipelines' && !pl.loading) {
      pl.loading = true;
      showPipelines(state.route.arg).finally(() => { pl.loading = false; });
    }
  }, 5000);
}

main();
