// aiot dashboard: plain ES module, no build step. Data from the store's HTTP API
// (/api/v1/fleet, /api/v1/series, /api/v1/anomalies), the model registry (/api/v1/models, if
// present) and live updates over the WebSocket hub (channels telemetry/<id>, anomaly/<id>,
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
    d = { deviceID: id, level: 'unknown', latest: {}, online: null, model: null, score: null, last_seen: null };
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
      h('span', { title: 'anomaly score' }, `score ${fmt(d.score, 2)}`)),
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
    h('span', null, `model ${d.model || '–'}`), h('span', null, `score ${fmt(d.score, 3)}`));
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
    const form = h('form', { class: 'signin', id: 'signin', dataset: { testid: 'signin' } },
      h('p', null, `The model registry needs a token${token() ? ' (the saved one was refused)' : ''}. `,
        h('code', null, 'aiot up'), ' wrote an admin token to ', h('code', null, 'var/aiot/admin.token'),
        ' and printed a sign-in link.'),
      h('input', { id: 'token', type: 'password', autocomplete: 'off', placeholder: 'paste a token', 'aria-label': 'token' }),
      h('button', { type: 'submit' }, 'Sign in'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      setToken($('#token').value.trim());
      showModels();
    });
    fill('#models', form);
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
  setInterval(() => { if (state.route?.page === 'fleet') renderFleet(); }, 5000);
}

main();
