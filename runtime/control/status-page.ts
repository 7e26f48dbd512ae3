// The status page the admin API serves at `/`: one self-contained HTML file
// (inline CSS and script, no CDN, so it works offline). It renders GET /status
// and then follows /status/stream (server-sent events), polling /status when
// the stream cannot be opened. A `?token=` in the page's URL is passed along.

export const STATUS_PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lbconf status</title>
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#667085; --line:#e4e7ec; --up:#12805c; --down:#c4320a; --warn:#b54708; --info:#175cd3; }
  @media (prefers-color-scheme: dark) { :root { --bg:#11151c; --card:#1a2029; --ink:#e6e9ef; --muted:#98a2b3; --line:#2c3440; } }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; align-items:center; gap:18px; padding:14px 24px; background:var(--card); border-bottom:1px solid var(--line); position:sticky; top:0; }
  header h1 { font-size:18px; margin:0; letter-spacing:.2px; }
  header .meta { color:var(--muted); display:flex; gap:16px; flex-wrap:wrap; }
  header .meta b { color:var(--ink); font-weight:600; }
  #live { margin-left:auto; display:flex; align-items:center; gap:6px; color:var(--muted); }
  #live i { width:9px; height:9px; border-radius:50%; background:var(--muted); display:inline-block; }
  #live.on i { background:var(--up); box-shadow:0 0 0 3px color-mix(in srgb, var(--up) 25%, transparent); }
  #live.off i { background:var(--down); }
  main { padding:18px 24px 40px; max-width:1400px; margin:0 auto; }
  section { background:var(--card); border:1px solid var(--line); border-radius:10px; margin:0 0 18px; overflow:hidden; }
  section > h2 { font-size:14px; margin:0; padding:10px 14px; border-bottom:1px solid var(--line); display:flex; gap:10px; align-items:baseline; }
  section > h2 small { color:var(--muted); font-weight:400; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:7px 14px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:500; font-size:12px; text-transform:uppercase; letter-spacing:.4px; }
  td.num, th.num { text-align:right; }
  tr:last-child td { border-bottom:0; }
  tr.state-down td, tr.state-unhealthy td, tr.state-disabled td { background:color-mix(in srgb, var(--down) 7%, transparent); }
  tr.state-draining td { background:color-mix(in srgb, var(--warn) 8%, transparent); }
  .badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600; color:#fff; background:var(--muted); }
  .badge.up { background:var(--up); } .badge.down, .badge.unhealthy, .badge.disabled { background:var(--down); } .badge.draining { background:var(--warn); }
  .badge.ok { background:var(--up); } .badge.failed { background:var(--down); }
  .rt { color:var(--info); font-weight:600; }
  .muted { color:var(--muted); }
  .bad { color:var(--down); font-weight:600; } .warn { color:var(--warn); font-weight:600; }
  .note { color:var(--muted); padding:8px 14px; font-size:12px; border-top:1px solid var(--line); }
  pre { margin:6px 0 0; white-space:pre-wrap; font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace; color:var(--down); }
  .changes { color:var(--muted); white-space:normal; }
  .bar { display:inline-block; height:6px; border-radius:3px; background:var(--info); vertical-align:middle; margin-left:6px; opacity:.6; }
</style>
</head>
<body>
<header>
  <h1>lbconf</h1>
  <div class="meta">
    <span>generation <b id="gen">–</b></span>
    <span>config <b id="hash">–</b></span>
    <span>reloads <b id="reloads">–</b></span>
    <span>up <b id="uptime">–</b></span>
    <span>pid <b id="pid">–</b></span>
  </div>
  <div id="live" class=""><i></i><span>connecting…</span></div>
</header>
<main>
  <div id="upstreams"></div>
  <section id="caches-section" hidden><h2>Caches <small>requests since start, by cache status</small></h2><table id="caches"></table><div class="note" id="caches-note"></div></section>
  <section><h2>Listeners and certificates</h2><table id="listeners"></table></section>
  <section><h2>Recent reloads</h2><table id="reloads-table"></table></section>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get('token');
const q = token ? '?token=' + encodeURIComponent(token) : '';
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const ms = (v) => v === null || v === undefined ? '<span class="muted">–</span>' : (v < 10 ? v.toFixed(2) : v.toFixed(0)) + ' ms';
const ago = (t) => { const s = Math.max(0, Math.round((Date.now() - t) / 1000)); return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : new Date(t).toLocaleString(); };
const dur = (s) => s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min' : s < 86400 ? Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min' : Math.floor(s / 86400) + ' d';

function renderUpstreams(st) {
  const out = [];
  for (const u of st.upstreams) {
    const maxRps = Math.max(1, ...u.servers.map((s) => s.rps));
    const rows = u.servers.map((s) => {
      const rt = s.runtime ? '<span class="rt" title="set through the admin API: lost on restart">runtime: ' + esc([s.runtime.mode, s.runtime.weight !== null ? 'weight ' + s.runtime.weight : null].filter(Boolean).join(', ')) + '</span>' : '';
      const err = s.errorRate > 0 ? '<span class="' + (s.errorRate >= 0.05 ? 'bad' : 'warn') + '">' + (s.errorRate * 100).toFixed(1) + '%</span>' : '0%';
      return '<tr class="state-' + s.state + '" data-server="' + esc(u.name + '/' + s.address) + '" data-state="' + s.state + '">' +
        '<td><b>' + esc(s.address) + '</b>' + (s.backup ? ' <span class="muted">backup</span>' : '') + '</td>' +
        '<td><span class="badge ' + s.state + '">' + s.state + (s.backInMs > 0 ? ' ' + Math.ceil(s.backInMs / 1000) + 's' : '') + '</span></td>' +
        '<td class="num">' + s.weight + (s.weight !== s.configWeight ? ' <span class="muted">(config ' + s.configWeight + ')</span>' : '') + '</td>' +
        '<td class="num">' + s.inflight + '</td>' +
        '<td class="num">' + s.rps.toFixed(1) + '<span class="bar" style="width:' + Math.round(40 * s.rps / maxRps) + 'px"></span></td>' +
        '<td class="num">' + err + '</td>' +
        '<td class="num">' + ms(s.p50) + '</td><td class="num">' + ms(s.p99) + '</td>' +
        '<td class="num">' + (s.score === null ? '<span class="muted">–</span>' : s.score) + '</td>' +
        '<td class="num">' + s.requests + '</td><td>' + rt + '</td></tr>';
    }).join('');
    const up = u.servers.filter((s) => s.state === 'up').length;
    out.push('<section data-upstream="' + esc(u.name) + '"><h2>' + esc(u.name) + ' <small>' + esc(u.method) + ' · ' + up + '/' + u.servers.length + ' up' + (u.healthCheck ? ' · health check ' + esc(u.healthCheck) : '') + '</small></h2>' +
      '<table><thead><tr><th>server</th><th>health</th><th class="num">weight</th><th class="num">in flight</th><th class="num">req/s</th><th class="num">errors</th><th class="num">p50</th><th class="num">p99</th><th class="num" title="least_busy: latency × (in flight + 1), lower is better">least-busy score</th><th class="num">requests</th><th></th></tr></thead><tbody>' + rows + '</tbody></table>' +
      '<div class="note">rates over the last ' + st.windowSeconds + ' s. ' + esc(st.runtimeNote) + '.</div></section>');
  }
  document.getElementById('upstreams').innerHTML = out.join('') || '<section><h2>Upstreams</h2><div class="note">no upstreams in this config</div></section>';
}

function renderListeners(st) {
  const rows = st.listeners.map((l) => {
    const certs = l.certificates.map((c) => c.error ? '<span class="bad">' + esc(c.file) + ': ' + esc(c.error) + '</span>' :
      esc(c.names.join(', ') || c.subject) + ' · <span class="' + (c.daysLeft < 7 ? 'bad' : c.daysLeft < 30 ? 'warn' : '') + '">expires ' + esc(c.validTo.slice(0, 10)) + ' (' + c.daysLeft + ' days)</span>').join('<br>');
    return '<tr><td><b>' + esc(l.key) + '</b></td><td>' + (l.bound ? esc(l.bound.address + ':' + l.bound.port) : '<span class="muted">not bound here</span>') + '</td><td>' + (l.ssl ? 'TLS' : 'HTTP') + '</td><td>' + esc(l.servers.join(', ')) + '</td><td class="num">' + l.connections.open + '</td><td class="num">' + l.connections.accepted + '</td><td>' + (certs || '<span class="muted">–</span>') + '</td></tr>';
  }).join('');
  document.getElementById('listeners').innerHTML = '<thead><tr><th>listener</th><th>bound</th><th>protocol</th><th>server blocks</th><th class="num">open</th><th class="num">accepted</th><th>certificates</th></tr></thead><tbody>' + rows + '</tbody>';
}

const bytes = (n) => n === null ? '<span class="muted">–</span>' : n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : n < 1073741824 ? (n / 1048576).toFixed(1) + ' MiB' : (n / 1073741824).toFixed(2) + ' GiB';
const CACHE_STATUSES = ['hit', 'miss', 'expired', 'stale', 'updating', 'revalidated', 'bypass'];

function renderCaches(st) {
  const caches = st.caches || [];
  document.getElementById('caches-section').hidden = caches.length === 0;
  const rows = caches.map((c) => {
    // Under workers each worker has a zone of this size: the use shown is over all of them.
    const cap = c.size * (c.perWorker ? c.perWorker.length : 1);
    const used = c.bytes === null ? '' : ' <span class="muted">(' + (100 * c.bytes / cap).toFixed(0) + '%)</span><span class="bar" style="width:' + Math.round(40 * c.bytes / cap) + 'px"></span>';
    return '<tr data-zone="' + esc(c.zone) + '"><td><b>' + esc(c.zone) + '</b></td><td class="num">' + bytes(c.bytes) + used + '</td><td class="num">' + bytes(c.size) + (c.perWorker ? ' × ' + c.perWorker.length : '') + '</td><td class="num">' + (c.entries === null ? '<span class="muted">–</span>' : c.entries) + '</td>' +
      '<td class="num">' + (c.hitRatio === null ? '<span class="muted">–</span>' : (c.hitRatio * 100).toFixed(1) + '%') + '</td>' +
      CACHE_STATUSES.map((k) => '<td class="num" data-status="' + k + '">' + c.requests[k] + '</td>').join('') + '</tr>';
  }).join('');
  document.getElementById('caches').innerHTML = '<thead><tr><th>zone</th><th class="num">used</th><th class="num">size</th><th class="num">entries</th><th class="num" title="answered from the zone: hit, stale, updating, revalidated">from cache</th>' +
    CACHE_STATUSES.map((k) => '<th class="num">' + k + '</th>').join('') + '</tr></thead><tbody>' + rows + '</tbody>';
  document.getElementById('caches-note').textContent = (caches.some((c) => c.perWorker) ? 'each worker has a zone of its own, of the size shown (× workers): use, entries and counts are summed over the workers. ' : '') + 'purge an entry with lbconf purge ZONE KEY (or POST /caches/ZONE/purge).';
}

function renderReloads(st) {
  const rows = st.reloads.map((r) => '<tr><td>' + esc(ago(r.at)) + '</td><td><span class="badge ' + (r.ok ? 'ok' : 'failed') + '">' + (r.ok ? 'ok' : 'refused') + '</span></td><td>' + esc(r.reason) + '</td><td>' + r.generation + '</td><td style="white-space:normal">' +
    (r.ok ? '<span class="changes">' + esc(r.changes) + '</span>' : (r.error ? '<b>' + esc(r.error) + '</b>' : '') + (r.diagnostics.length ? '<pre>' + esc(r.diagnostics.join('\\n')) + '</pre>' : '')) + '</td></tr>').join('');
  document.getElementById('reloads-table').innerHTML = '<thead><tr><th>when</th><th>result</th><th>trigger</th><th>generation</th><th>changes or diagnostics</th></tr></thead><tbody>' + (rows || '<tr><td class="muted" colspan="5">none yet</td></tr>') + '</tbody>';
}

function render(st) {
  document.getElementById('gen').textContent = st.generation;
  document.getElementById('hash').textContent = st.config ? st.config.hash + (st.config.ok ? '' : ' (last reload refused)') : '–';
  document.getElementById('reloads').textContent = st.config ? st.config.reloads + ' ok, ' + st.config.failures + ' refused' : '–';
  document.getElementById('uptime').textContent = dur(st.uptimeSeconds);
  document.getElementById('pid').textContent = st.pid;
  renderUpstreams(st);
  renderCaches(st);
  renderListeners(st);
  renderReloads(st);
  document.body.dataset.updated = String(st.now);
}

function live(on, text) {
  const el = document.getElementById('live');
  el.className = on ? 'on' : 'off';
  el.querySelector('span').textContent = text;
}

let polling = null;
function poll() {
  if (polling) return;
  const once = () => fetch('status' + q).then((r) => r.json()).then((st) => { render(st); live(true, 'live (polling)'); }, () => live(false, 'no answer from lbconf'));
  once();
  polling = setInterval(once, 2000);
}

if (window.EventSource) {
  const es = new EventSource('status/stream' + q);
  es.onmessage = (e) => { render(JSON.parse(e.data)); live(true, 'live'); };
  es.onerror = () => { live(false, 'reconnecting…'); };
} else {
  poll();
}
</script>
</body>
</html>
`;
