import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Backend, startBackends, stopAll } from '../helpers/backends.ts';
import { freePort, rawBackend, until, upstream } from '../helpers/proxy.ts';
import { startAdmin } from '../../runtime/control/admin.ts';
import { ReloadHistory } from '../../runtime/observe/history.ts';
import { CACHE_HIT, CACHE_STALE, LATENCY_BUCKETS, Metrics, MetricsLayout, MetricsStore, R_BYTES, R_CACHE, R_CLASS, ROUTE_STRIDE, ZONE_STRIDE } from '../../runtime/observe/metrics.ts';
import { quantile } from '../../runtime/observe/quantile.ts';
import { Reloader } from '../../runtime/control/reload.ts';
import { ProxyRuntime } from '../../runtime/control/runtime.ts';
import { api, scrape, startObserved } from './helpers.ts';

// GET /metrics after real traffic through a real proxy to real backends.

const dir = mkdtempSync(join(tmpdir(), 'lbconf-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const series = (name: string, labels: Record<string, string>) => `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

test('requests are counted by server block, location, upstream, server and status class; histograms add up', { timeout: 30_000 }, async () => {
  const backends = await startBackends(2);
  const o = await startObserved((port) => `
    ${upstream('app', backends.map((b) => b.address))}
    server { listen 127.0.0.1:${port}; server_name shop.example;
      location /api/ { proxy_pass http://app; }
      location = /gone { return 410 "gone"; }
      location = /hi { return 200 "hello"; }
    }`);
  try {
    for (let i = 0; i < 6; i++) assert.equal((await o.proxy.get('/api/x')).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await o.proxy.get('/gone')).status, 410);
    assert.equal((await o.proxy.get('/hi')).body, 'hello');
    const m = await scrape(o.admin.url);
    const api_ = { server: 'shop.example', location: '/api/', upstream: 'app' };
    assert.equal(m.get(series('lbconf_http_requests_total', { ...api_, code: '2xx' })), 6);
    assert.equal(m.get(series('lbconf_http_requests_total', { ...api_, code: '5xx' })), 0);
    assert.equal(m.get(series('lbconf_http_requests_total', { server: 'shop.example', location: '= /gone', upstream: '', code: '4xx' })), 3);
    assert.equal(m.get(series('lbconf_http_response_bytes_total', { server: 'shop.example', location: '= /hi', upstream: '' })), 5);
    // Round robin: three tries on each server, all 2xx.
    for (const b of backends) assert.equal(m.get(series('lbconf_upstream_requests_total', { upstream: 'app', server: b.address, code: '2xx' })), 3);
    // Histogram: cumulative buckets end at the count, and never go down.
    const buckets = [...LATENCY_BUCKETS.map(String), '+Inf'].map((le) => m.get(series('lbconf_http_request_duration_seconds_bucket', { ...api_, le }))!);
    for (let k = 1; k < buckets.length; k++) assert.ok(buckets[k] >= buckets[k - 1], `bucket ${k} went down: ${buckets}`);
    assert.equal(buckets.at(-1), m.get(series('lbconf_http_request_duration_seconds_count', api_)));
    assert.equal(buckets.at(-1), 6);
    assert.ok(m.get(series('lbconf_http_request_duration_seconds_sum', api_))! > 0);
    const up = backends.map((b) => m.get(series('lbconf_upstream_response_duration_seconds_count', { upstream: 'app', server: b.address })));
    assert.deepEqual(up, [3, 3]);
    // Connections: the test client keeps its connections open.
    assert.ok(m.get(series('lbconf_connections_accepted_total', { listener: `127.0.0.1:${o.proxy.port}` }))! >= 1);
    assert.ok(m.get(series('lbconf_connections_open', { listener: `127.0.0.1:${o.proxy.port}` }))! >= 1);
    assert.equal(m.get('lbconf_config_generation'), 1);
  } finally {
    await o.close();
    await stopAll(backends);
  }
});

test('retries, failed tries, in-flight requests, and the health gauge flipping when a backend dies', { timeout: 30_000 }, async () => {
  const [good] = await startBackends(1);
  // A server that accepts and resets every connection: no response, a retry elsewhere.
  const bad = await rawBackend((s) => s.destroy());
  // Health checks (GET /) reach it too: count the proxied request (/slow) on its own.
  let proxied = 0;
  const slow = new Backend('slow', (req, res) => { if (req.url === '/slow') proxied++; setTimeout(() => res.end('late'), 400); });
  await slow.listen();
  const o = await startObserved((port) => `
    upstream app { server ${bad.address}; server ${good.address}; }
    upstream slowpoke { server ${slow.address}; health_check interval=100ms fails=1 passes=1 timeout=1s; }
    server { listen 127.0.0.1:${port};
      location / { proxy_pass http://app; }
      location /slow { proxy_pass http://slowpoke; }
    }`);
  try {
    for (let i = 0; i < 4; i++) assert.equal((await o.proxy.get('/')).status, 200);
    let m = await scrape(o.admin.url);
    const failed = m.get(series('lbconf_upstream_requests_total', { upstream: 'app', server: bad.address, code: 'failed' }))!;
    assert.ok(failed >= 1, `failed tries on the bad server: ${failed}`);
    const retries = m.get(series('lbconf_upstream_retries_total', { upstream: 'app', server: good.address }))!;
    assert.equal(retries, failed, 'every failed try on the bad server was retried on the good one');
    assert.equal(m.get(series('lbconf_http_requests_total', { server: '_', location: '/', upstream: 'app', code: '2xx' })), 4);

    // In flight: a slow request is counted while it runs.
    const pending = o.proxy.get('/slow');
    await until(() => proxied === 1, 3000, 'the slow request to arrive');
    m = await scrape(o.admin.url);
    assert.equal(m.get(series('lbconf_upstream_server_in_flight', { upstream: 'slowpoke', server: slow.address })), 1);
    assert.equal((await pending).status, 200);
    m = await scrape(o.admin.url);
    assert.equal(m.get(series('lbconf_upstream_server_in_flight', { upstream: 'slowpoke', server: slow.address })), 0);
    assert.equal(m.get(series('lbconf_upstream_server_up', { upstream: 'slowpoke', server: slow.address })), 1);

    // The backend dies: the active health check takes it out, and the gauges say so.
    await slow.kill();
    await o.proxy.waitHealth(slow.address, false);
    m = await scrape(o.admin.url);
    assert.equal(m.get(series('lbconf_upstream_server_up', { upstream: 'slowpoke', server: slow.address })), 0);
    assert.equal(m.get(series('lbconf_upstream_server_state', { upstream: 'slowpoke', server: slow.address, state: 'unhealthy' })), 1);
    assert.equal(m.get(series('lbconf_upstream_server_state', { upstream: 'slowpoke', server: slow.address, state: 'up' })), 0);
  } finally {
    await o.close();
    await stopAll([good, slow]);
    await bad.close();
  }
});

test('reloads: successes, failures, the time of the last success and the generation', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const file = join(dir, 'reload.lbconf');
  const site = (text: string) => `server {\n    listen 127.0.0.1:${port};\n    location / {\n        return 200 "${text}";\n    }\n}\n`;
  writeFileSync(file, site('one'));
  const runtime = new ProxyRuntime();
  const history = new ReloadHistory();
  const reloader = new Reloader(file, runtime, { log: () => {}, report: () => {}, watch: false, compileProcess: false, onReload: (r) => history.add(r) });
  await reloader.start();
  const admin = await startAdmin({ target: runtime, reloader, history, address: '127.0.0.1', port: await freePort() });
  try {
    let m = await scrape(admin.url);
    assert.equal(m.get('lbconf_config_generation'), 1);
    assert.equal(m.get('lbconf_reloads_total{result="success"}'), 0);
    const started = m.get('lbconf_reload_last_success_timestamp_seconds')!;
    assert.ok(Math.abs(started - Date.now() / 1000) < 30, `last success ${started}`);

    writeFileSync(file, site('two'));
    await new Promise((r) => setTimeout(r, 20));
    const good = await api(admin.url, 'POST', '/reload');
    assert.equal(good.status, 200);
    assert.equal(good.json.ok, true);
    writeFileSync(file, site('three').replace('return 200', 'retrun 200'));
    const bad = await api(admin.url, 'POST', '/reload');
    assert.equal(bad.status, 422);
    assert.equal(bad.json.ok, false);
    assert.equal(bad.json.diagnostics[0].code, 'unknown-directive');
    assert.equal(bad.json.diagnostics[0].line, 4);

    m = await scrape(admin.url);
    assert.equal(m.get('lbconf_config_generation'), 2);
    assert.equal(m.get('lbconf_reloads_total{result="success"}'), 1);
    assert.equal(m.get('lbconf_reloads_total{result="failure"}'), 1);
    assert.ok(m.get('lbconf_reload_last_success_timestamp_seconds')! >= started);
    // The history the status page shows: newest first, the refused one with its diagnostics.
    const status = await api(admin.url, 'GET', '/status');
    assert.equal(status.json.reloads[0].ok, false);
    assert.match(status.json.reloads[0].diagnostics[0], /reload\.lbconf:4:9: error unknown-directive/);
    assert.equal(status.json.reloads[1].ok, true);
    assert.equal(status.json.reloads[2].reason, 'start');
  } finally {
    await admin.close();
    await reloader.close();
    await runtime.close(0);
  }
});

test('cache counters: a slot per route and per zone the cache counts into; zones survive the trip to a worker', () => {
  const metrics = new Metrics();
  const slot = metrics.layout.routeSlot({ server: 's', location: '/', upstream: 'u' });
  metrics.layout.zoneSlot('a');
  const zone = metrics.layout.zoneSlot('b');
  metrics.store.cache(slot, zone, CACHE_HIT);
  metrics.store.cache(slot, zone, CACHE_HIT);
  metrics.store.cache(slot, zone, CACHE_STALE);
  assert.equal(metrics.store.routes[slot * ROUTE_STRIDE + R_CACHE + CACHE_HIT], 2);
  assert.equal(metrics.store.routes[slot * ROUTE_STRIDE + R_CACHE + CACHE_STALE], 1);
  assert.equal(metrics.store.zones[zone * ZONE_STRIDE + CACHE_HIT], 2);
  assert.equal(metrics.store.zones[zone * ZONE_STRIDE + CACHE_STALE], 1);
  assert.equal(metrics.store.zones[CACHE_HIT], 0, 'zone a got nothing');
  assert.equal(MetricsLayout.fromJSON(JSON.parse(JSON.stringify(metrics.layout.toJSON()))).zoneSlot('b'), zone);
});

test('per-worker stores over SharedArrayBuffers are summed on a scrape', () => {
  const layout = new MetricsLayout();
  const main = new Metrics(layout, new MetricsStore(new SharedArrayBuffer(MetricsStore.byteLength)));
  const worker = new MetricsStore(new SharedArrayBuffer(MetricsStore.byteLength));
  main.stores.push(worker);
  layout.routeSlot({ server: 'z', location: '/', upstream: '' });
  const slot = layout.routeSlot({ server: 'a', location: '/', upstream: '' });
  // A worker builds the same layout from the main thread's (sent as JSON).
  assert.equal(MetricsLayout.fromJSON(JSON.parse(JSON.stringify(layout.toJSON()))).routeSlot({ server: 'a', location: '/', upstream: '' }), slot);
  main.store.request(slot, 200, 0.003, 10);
  worker.request(slot, 503, 0.2, 5);
  const total = main.sum();
  assert.equal(total.routes[slot * ROUTE_STRIDE + R_CLASS + 1], 1); // 2xx
  assert.equal(total.routes[slot * ROUTE_STRIDE + R_CLASS + 4], 1); // 5xx
  assert.equal(total.routes[slot * ROUTE_STRIDE + R_BYTES], 15);
});

test('quantiles interpolate inside the bucket the rank falls in', () => {
  const counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  counts[3] = 50; // (0.005, 0.01]
  counts[6] = 50; // (0.05, 0.1]
  assert.equal(quantile(0.5, counts), 0.01);
  assert.ok(Math.abs(quantile(0.99, counts)! - 0.099) < 1e-9);
  assert.equal(quantile(0.5, new Float64Array(LATENCY_BUCKETS.length + 1)), null);
});
