// aiot dashboard: plain ES module, no build step. Data from the store's HTTP API
// (/api/v1/fleet, /api/v1/series, /api/v1/anomalies), the model registry (/api/v1/models, if
// present) and live updates over the WebSocket hub (channels telemetry/<id>, anomaly/<id>,
// status/<id>, alerts, events/<kind>).
import uPlot from './vendor/uplot/uPlot.esm.js';

const FIELDS = ['rotation', 'temperature', 'vibration', 'sound'];
const UNITS = { rotation: 'rpm', temperature: '°C', vibration: '', sound: 'dB', score: '' };
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
function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
function fmt(v, digits = 1) {
  return (typeof v === 'number' && isFinite(v)) ? v.toFixed(digits) : '–';
}
function ago(ms) {
  if (!ms) return 'never';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}
function tsOf(msg) {
  const t = msg && msg.timeStamp;
  if (typeof t === 'number') return t;
  const p = t ? Date.parse(t) : NaN;
  return isNaN(p) ? Date.now() : p;
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
  setToken(decodeURIComponent(m[1]));
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
  return d.level && d.level !== 'unknown' ? d.level : 'unknown';
}
function toast(text, level) {
  const el = document.createElement('div');
  el.className = `toast ${level || ''}`;
  el.textContent = text;
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
  const kind = channel.split('/')[0];
  if (kind === 'telemetry' && data.deviceID != null) {
    const d = device(String(data.deviceID));
    const t = tsOf(data);
    d.last_seen = Math.max(d.last_seen || 0, t);
    for (const f of FIELDS) if (typeof data[f] === 'number') d.latest[f] = data[f];
    chartAppend(d.deviceID, t, data);
    scheduleRender();
  } else if (kind === 'anomaly' && data.deviceID != null) {
    const d = device(String(data.deviceID));
    d.level = data.level || (data.fault ? 'warning' : 'ok');
    d.score = data.score;
    if (data.model) d.model = d.model || data.model;
    chartAppend(d.deviceID, tsOf(data), { score: data.score });
    scheduleRender();
  } else if (kind === 'status') {
    const id = channel.slice('status/'.length);
    const d = device(id);
    if (typeof data.online === 'boolean') d.online = data.online;
    if (data.model) d.model = data.model;
    scheduleRender();
  } else if (kind === 'alerts') {
    const entry = { ts: tsOf(data), kind: 'alert', deviceID: data.deviceID, level: data.level || 'warning', data };
    state.alerts.unshift(entry);
    state.alerts.length = Math.min(state.alerts.length, 100);
    toast(`${data.level || 'alert'}: ${data.deviceID ?? ''} ${data.message || ''}`, data.level);
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
  $('#view').innerHTML = `<h1>Fleet</h1><div class="summary" id="summary"></div>
    <div class="grid" id="fleet" data-testid="fleet"></div>
    <h2>Recent alerts</h2><ul class="timeline" id="alerts" data-testid="alerts"></ul>`;
  try {
    const [devs, tl] = await Promise.all([
      getJson(`${API}/fleet`),
      getJson(`${API}/anomalies?kinds=alert&limit=20`),
    ]);
    for (const d of devs.devices) {
      const cur = device(d.deviceID);
      Object.assign(cur, d, { latest: { ...cur.latest, ...d.latest } });
    }
    const seen = new Set(state.alerts.map((a) => `${a.ts}|${a.deviceID}`));
    for (const e of tl.entries) if (!seen.has(`${e.ts}|${e.deviceID}`)) state.alerts.push(e);
    state.alerts.sort((a, b) => b.ts - a.ts);
  } catch (e) {
    $('#fleet').innerHTML = `<div class="empty">Cannot load devices: ${esc(e.message)}</div>`;
    return;
  }
  renderFleet();
}

function renderFleet() {
  const grid = $('#fleet');
  if (!grid) return;
  const devs = [...state.devices.values()].sort((a, b) => a.deviceID.localeCompare(b.deviceID));
  const counts = {};
  for (const d of devs) counts[levelOf(d)] = (counts[levelOf(d)] || 0) + 1;
  $('#summary').innerHTML = `<span class="pill">${devs.length} devices</span>` +
    ['critical', 'warning', 'ok', 'offline', 'unknown'].filter((l) => counts[l])
      .map((l) => `<span class="pill"><span class="badge ${l}">${l}</span> ${counts[l]}</span>`).join('');
  grid.innerHTML = devs.length ? devs.map((d) => `
    <a class="card" href="#/device/${encodeURIComponent(d.deviceID)}" data-testid="device" data-device="${esc(d.deviceID)}">
      <div class="head"><span class="name">${esc(d.deviceID)}</span><span class="badge ${levelOf(d)}">${levelOf(d)}</span></div>
      <div class="meta"><span title="last telemetry">seen ${esc(ago(d.last_seen))}</span>
        <span title="model version">${esc(d.model || 'no model')}</span>
        <span title="anomaly score">score ${fmt(d.score, 2)}</span></div>
      <div class="values">${FIELDS.map((f) => `<div><span>${f}</span> <b>${fmt(d.latest?.[f])}</b></div>`).join('')}</div>
    </a>`).join('') : '<div class="empty">No devices yet. Telemetry on fan/messages will appear here.</div>';
  const list = $('#alerts');
  list.innerHTML = state.alerts.length ? state.alerts.slice(0, 20).map(timelineItem).join('')
    : '<li class="empty">No alerts.</li>';
}

function timelineItem(e) {
  const data = e.data || {};
  const what = e.kind === 'anomaly'
    ? `anomaly score ${fmt(e.score, 2)} (${esc(e.model || '')})`
    : esc(data.message || data.reason || data.event || (data && Object.keys(data).length ? JSON.stringify(data).slice(0, 160) : e.kind));
  return `<li data-testid="timeline-entry" data-kind="${esc(e.kind)}"><span class="when">${esc(new Date(e.ts).toISOString().replace('T', ' ').slice(0, 19))}</span>
    <span class="badge ${esc(e.level)}">${esc(e.level)}</span>
    <span class="what"><b>${esc(e.kind)}</b> ${e.deviceID ? `<a href="#/device/${encodeURIComponent(e.deviceID)}">${esc(e.deviceID)}</a>` : ''} ${what}</span></li>`;
}

// ---------- device ----------
async function showDevice(id) {
  $('#view').innerHTML = `<a class="back" href="#/fleet">← fleet</a>
    <h1 id="dev-title">${esc(id)}</h1><div class="meta" id="dev-meta"></div>
    <div class="charts" id="charts"></div>
    <h2>Anomalies and alerts</h2><ul class="timeline" id="dev-timeline"></ul>`;
  const fields = [...FIELDS, 'score'];
  const charts = { device: id, series: {} };
  state.charts = charts;
  const now = Date.now();
  let hist = { series: [] };
  try {
    hist = await getJson(`${API}/series?devices=${encodeURIComponent(id)}&fields=${fields.join(',')}&from=${now - WINDOW_S * 1000}&to=${now + 60000}&limit=5000`);
  } catch (e) { /* charts start empty */ }
  if (state.charts !== charts) return;
  const box = $('#charts');
  for (const f of fields) {
    const s = hist.series.find((x) => x.field === f) || { t: [], v: [] };
    const el = document.createElement('div');
    el.className = 'chart';
    el.dataset.testid = 'chart';
    el.dataset.field = f;
    el.innerHTML = `<h3><span>${f}${UNITS[f] ? ` (${UNITS[f]})` : ''}</span><span class="now" data-testid="chart-now">${fmt(s.v[s.v.length - 1], f === 'score' ? 3 : 1)}</span></h3>`;
    box.appendChild(el);
    const xs = s.t.map((t) => t / 1000);
    const ys = s.v.slice();
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
    const tl = await getJson(`${API}/anomalies?devices=${encodeURIComponent(id)}&limit=50`);
    $('#dev-timeline').innerHTML = tl.entries.length ? tl.entries.map(timelineItem).join('') : '<li class="empty">Nothing yet.</li>';
  } catch (e) {
    $('#dev-timeline').innerHTML = `<li class="empty">${esc(e.message)}</li>`;
  }
}

function renderDeviceHeader() {
  const c = state.charts;
  if (!c || !$('#dev-meta')) return;
  const d = state.devices.get(c.device) || { level: 'unknown' };
  $('#dev-meta').innerHTML = `<span class="badge ${levelOf(d)}">${levelOf(d)}</span>
    <span>seen ${esc(ago(d.last_seen))}</span><span>model ${esc(d.model || '–')}</span>
    <span>score ${fmt(d.score, 3)}</span>`;
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
    $('#view').innerHTML = `<h1>Anomalies, alerts and events</h1><ul class="timeline" id="timeline" data-testid="timeline"></ul>`;
  }
  try {
    const tl = await getJson(`${API}/anomalies?limit=200`);
    $('#timeline').innerHTML = tl.entries.length ? tl.entries.map(timelineItem).join('') : '<li class="empty">Nothing in the last day.</li>';
  } catch (e) {
    $('#timeline').innerHTML = `<li class="empty">Cannot load the timeline: ${esc(e.message)}</li>`;
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
  return Object.entries(m).filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(3) : v}`).join(', ');
}

async function showModels() {
  $('#view').innerHTML = `<h1>Models</h1><div id="models" data-testid="models"></div>
    <h2>Rollouts</h2><div id="rollouts"></div>
    <h2>Drift</h2><ul class="timeline" id="drift"></ul>`;
  const [models, rollouts, drift] = await Promise.all([
    optionalJson(`${API}/models`),
    optionalJson(`${API}/rollouts`),
    optionalJson(`${API}/anomalies?kinds=drift&from=-30d&limit=50`),
  ]);
  // Drift events are not behind the registry's token.
  const de = drift.unavailable ? [] : drift.entries;
  $('#drift').innerHTML = de.length ? de.map(timelineItem).join('') : '<li class="empty">No drift events in the last 30 days.</li>';
  if (models.status === 401 || rollouts.status === 401) {
    $('#models').innerHTML = `<form class="signin" id="signin" data-testid="signin">
      <p>The model registry needs a token${token() ? ' (the saved one was refused)' : ''}. <code>aiot up</code> wrote an
      admin token to <code>var/aiot/admin.token</code> and printed a sign-in link.</p>
      <input id="token" type="password" autocomplete="off" placeholder="paste a token" aria-label="token">
      <button type="submit">Sign in</button></form>`;
    $('#signin').addEventListener('submit', (ev) => {
      ev.preventDefault();
      setToken($('#token').value.trim());
      showModels();
    });
    $('#rollouts').innerHTML = '<div class="empty">Sign in to see rollouts.</div>';
    return;
  }
  const rows = [];
  if (!models.unavailable) {
    for (const m of list(models, 'models', 'items')) {
      const versions = list(m.versions || [], 'versions');
      if (versions.length) {
        for (const v of versions) rows.push({ name: m.name, ...v });
      } else {
        rows.push(m);
      }
    }
  }
  $('#models').innerHTML = models.unavailable
    ? `<div class="empty">Model registry not available here (${esc(models.error)}).</div>`
    : rows.length ? `<table><thead><tr><th>model</th><th>version</th><th>stage</th><th>metrics</th><th>created</th></tr></thead><tbody>${
      rows.map((r) => `<tr><td>${esc(r.name)}</td><td>${esc(r.version)}</td><td>${esc(r.stage || '')}</td>
        <td>${esc(metricsSummary(r.metrics))}</td>
        <td>${esc(r.created_at || r.created || '')}</td></tr>`).join('')}</tbody></table>`
      : '<div class="empty">No models registered yet.</div>';
  const rl = list(rollouts, 'rollouts', 'items');
  $('#rollouts').innerHTML = rollouts.unavailable
    ? `<div class="empty">Rollout status not available here (${esc(rollouts.error)}).</div>`
    : rl.length ? `<table><thead><tr><th>model</th><th>version</th><th>state</th><th>devices</th></tr></thead><tbody>${
      rl.map((r) => `<tr><td>${esc(r.model || r.name)}</td><td>${esc(r.version)}</td><td>${esc(r.state || r.status || '')}</td>
        <td>${esc(r.done ?? r.updated ?? '')}${r.total != null ? ` / ${esc(r.total)}` : ''}</td></tr>`).join('')}</tbody></table>`
      : '<div class="empty">No rollouts.</div>';
}

// ---------- routing ----------
function route() {
  const h = location.hash || '#/fleet';
  const parts = h.slice(2).split('/');
  const page = parts[0] || 'fleet';
  state.route = { page, arg: parts[1] ? decodeURIComponent(parts.slice(1).join('/')) : null };
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
    if (cfg.ws_path) state.wsPath = cfg.ws_path;
  } catch { /* defaults */ }
  window.addEventListener('hashchange', route);
  route();
  connect();
  setInterval(() => { if (state.route?.page === 'fleet') renderFleet(); }, 5000);
}

main();
