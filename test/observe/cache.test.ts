import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, until, within } from '../helpers/proxy.ts';
import { Origin } from '../runtime/cache/origin.ts';
import { api, scrape, startObserved, type Observed } from './helpers.ts';

// The cache seen from operations: every cache status counted in /metrics and
// /status (per location and per zone) exactly as X-Cache-Status told the
// clients, the zones' size and use, purge through the admin API and through
// `lbconf purge` against a real `lbconf run`. A real origin, a real lbconf.

const STATUSES = ['hit', 'miss', 'expired', 'stale', 'updating', 'revalidated', 'bypass'];

/** A caching location `/` on zone `z` and one that does not cache, on `/plain/`. */
const config = (origin: Origin) => (port: number) => `proxy_cache_zone z size=1m;
proxy_cache_zone other size=2m;
server {
    listen 127.0.0.1:${port};
    location / {
        proxy_cache z;
        proxy_cache_bypass $arg_nocache;
        proxy_pass http://${origin.address};
    }
    location /other/ {
        proxy_cache other;
        proxy_pass http://${origin.address};
    }
    location /plain/ {
        proxy_pass http://${origin.address};
    }
}`;

/** The value of the one sample whose name and labels match. */
function sample(m: Map<string, number>, re: RegExp): number {
  const found = [...m.keys()].filter((k) => re.test(k));
  assert.equal(found.length, 1, `one sample matching ${re}, got ${found.join(', ') || 'none'}`);
  return m.get(found[0])!;
}

describe('cache metrics, status and purge through the admin API', () => {
  const origin = new Origin();
  let o: Observed;
  before(async () => {
    await origin.start();
    // Stored already stale (Age past max-age): the next request goes upstream again.
    origin.serve('/fresh', { 'cache-control': 'max-age=60' });
    origin.serve('/old', { 'cache-control': 'max-age=60', age: '120' });
    origin.on('/reval', (req, res, n) => {
      if (req.headers['if-none-match'] === '"r"') { res.writeHead(304, { etag: '"r"' }); res.end(); return; }
      res.writeHead(200, { 'cache-control': 'max-age=60', age: '120', etag: '"r"' });
      res.end(`body #${n}`);
    });
    origin.serve('/swr', { 'cache-control': 'max-age=60, stale-while-revalidate=600', age: '120' });
    origin.serve('*', { 'cache-control': 'max-age=60' });
    o = await startObserved(config(origin));
  });
  after(async () => { await o.close(); await origin.stop(); });

  it('counts every cache status as the header told it, per location and per zone; zone use in /metrics and /status', async () => {
    const told: Record<string, number> = {};
    const get = async (path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') => {
      const r = await o.proxy.get(path, { headers, method });
      const s = String(r.headers['x-cache-status'] ?? 'none').toLowerCase();
      told[s] = (told[s] ?? 0) + 1;
      return r;
    };
    assert.equal((await get('/fresh')).headers['x-cache-status'], 'MISS');
    assert.equal((await get('/fresh')).headers['x-cache-status'], 'HIT');
    assert.equal((await get('/fresh')).headers['x-cache-status'], 'HIT');
    assert.equal((await get('/fresh?nocache=1')).headers['x-cache-status'], 'BYPASS');
    assert.equal((await get('/old')).headers['x-cache-status'], 'MISS');
    assert.equal((await get('/old')).headers['x-cache-status'], 'EXPIRED');
    assert.equal((await get('/old', { 'cache-control': 'max-stale' })).headers['x-cache-status'], 'STALE');
    assert.equal((await get('/reval')).headers['x-cache-status'], 'MISS');
    assert.equal((await get('/reval')).headers['x-cache-status'], 'REVALIDATED');
    assert.equal((await get('/swr')).headers['x-cache-status'], 'MISS');
    assert.equal((await get('/swr')).headers['x-cache-status'], 'UPDATING');
    await until(() => origin.count('/swr') === 2, 2000, 'the background revalidation');
    // HEAD with nothing stored goes upstream as HEAD; only-if-cached with nothing stored is a 504: both said and counted.
    assert.equal((await get('/never', {}, 'HEAD')).headers['x-cache-status'], 'MISS');
    const gone = await get('/nothing', { 'cache-control': 'only-if-cached' });
    assert.equal(gone.status, 504);
    assert.equal(gone.headers['x-cache-status'], 'MISS');
    await get('/other/x');
    await get('/other/x');
    await o.proxy.get('/plain/x');
    assert.deepEqual(told, { miss: 7, hit: 3, bypass: 1, expired: 1, stale: 1, revalidated: 1, updating: 1 }, 'the traffic covers every status');

    const m = await scrape(o.admin.url);
    // Per location: `/` got all but the two on /other/; the location that does not cache has no series.
    const perRoute: Record<string, number> = {};
    for (const s of STATUSES) perRoute[s] = sample(m, new RegExp(`^lbconf_cache_requests_total\\{server="_",location="/",.*status="${s}"\\}$`));
    assert.deepEqual(perRoute, { hit: 2, miss: 6, expired: 1, stale: 1, updating: 1, revalidated: 1, bypass: 1 });
    assert.equal(sample(m, /^lbconf_cache_requests_total\{server="_",location="\/other\/",.*status="hit"\}$/), 1);
    assert.equal([...m.keys()].filter((k) => k.startsWith('lbconf_cache_requests_total') && k.includes('location="/plain/"')).length, 0);
    // Per zone: the header and the metric agree, status by status.
    const perZone = (zone: string) => Object.fromEntries(STATUSES.map((s) => [s, m.get(`lbconf_cache_zone_requests_total{zone="${zone}",status="${s}"}`)]));
    const sum = (a: Record<string, number | undefined>, b: Record<string, number | undefined>) => Object.fromEntries(STATUSES.map((s) => [s, (a[s] ?? 0) + (b[s] ?? 0)]));
    assert.deepEqual(sum(perZone('z'), perZone('other')), Object.fromEntries(STATUSES.map((s) => [s, (told as Record<string, number>)[s] ?? 0])));
    assert.equal(m.get('lbconf_cache_zone_size_bytes{zone="z"}'), 1024 * 1024);
    assert.equal(m.get('lbconf_cache_zone_size_bytes{zone="other"}'), 2 * 1024 * 1024);
    const store = o.proxy.rt.cacheZones.store('z')!;
    assert.equal(m.get('lbconf_cache_zone_entries{zone="z"}'), store.entries);
    assert.equal(m.get('lbconf_cache_zone_bytes{zone="z"}'), store.bytes);
    assert.ok(store.entries >= 5 && store.bytes > 0);

    const status = await api(o.admin.url, 'GET', '/status');
    const z = status.json.caches.find((c: { zone: string }) => c.zone === 'z');
    assert.deepEqual(z, {
      zone: 'z', size: 1024 * 1024, maxObject: 128 * 1024, bytes: store.bytes, entries: store.entries,
      requests: perZone('z'), hitRatio: Math.round(((2 + 1 + 1 + 1) / 13) * 10_000) / 10_000,
    });
    assert.deepEqual((await api(o.admin.url, 'GET', '/caches')).json.map((c: { zone: string }) => c.zone).sort(), ['other', 'z']);
  });

  it('POST /caches/ZONE/purge by key, then a MISS; by URL; the count says whether something was removed', async () => {
    await o.proxy.get('/purged');
    assert.equal((await o.proxy.get('/purged')).headers['x-cache-status'], 'HIT');
    const r = await api(o.admin.url, 'POST', '/caches/z/purge', JSON.stringify({ key: `http 127.0.0.1:${o.proxy.port} /purged` }));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { zone: 'z', key: `http 127.0.0.1:${o.proxy.port} /purged`, purged: 1 });
    assert.equal((await o.proxy.get('/purged')).headers['x-cache-status'], 'MISS');
    assert.equal(origin.count('/purged'), 2);
    assert.ok(o.proxy.logs.some((l) => l.message.includes(`admin API: purge z key http 127.0.0.1:${o.proxy.port} /purged: 1 entry removed`)));

    // By URL, as the client asked for it (the Host it sent: 127.0.0.1:PORT), whatever the key.
    const url = `http://127.0.0.1:${o.proxy.port}/purged?a=1`;
    assert.deepEqual((await api(o.admin.url, 'POST', '/caches/z/purge', JSON.stringify({ url }))).json, { zone: 'z', url, purged: 0 }, 'another URI');
    const byUrl = await api(o.admin.url, 'POST', '/caches/z/purge', JSON.stringify({ url: `http://127.0.0.1:${o.proxy.port}/purged` }));
    assert.equal(byUrl.json.purged, 1);
    assert.equal((await o.proxy.get('/purged')).headers['x-cache-status'], 'MISS');

    const again = await api(o.admin.url, 'POST', '/caches/z/purge', JSON.stringify({ key: `http 127.0.0.1:${o.proxy.port} /never-stored` }));
    assert.equal(again.status, 200);
    assert.equal(again.json.purged, 0);
  });

  it('unknown zone: 404 with the zones that exist; bad bodies: 400 saying what to send; GET: 405', async () => {
    const unknown = await api(o.admin.url, 'POST', '/caches/nope/purge', '{"key":"x"}');
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.error, /no cache zone `nope` in the running config/);
    assert.deepEqual(unknown.json.zones.sort(), ['other', 'z']);
    for (const body of ['not json', '{}', '{"key": ""}', '{"key": "a", "url": "http://x/"}', '{"url": "/relative"}']) {
      const bad = await api(o.admin.url, 'POST', '/caches/z/purge', body);
      assert.equal(bad.status, 400, body);
      assert.match(bad.json.error, /\{"key": "KEY"\}|absolute http/, body);
    }
    const get = await api(o.admin.url, 'GET', '/caches/z/purge');
    assert.equal(get.status, 405);
    assert.match(get.json.error, /POST \/caches\/ZONE\/purge/);
  });
});

const main = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lbconf-cacheops-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const lbconf = (...args: string[]) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
  const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, NO_COLOR: '1', LBCONF_ADMIN: '', LBCONF_ADMIN_TOKEN: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  child.on('close', (status) => resolve({ status, stdout, stderr }));
});

test('lbconf purge against a real lbconf run: removes the entry (next request a MISS), says when nothing was stored, lists the zones for an unknown one', { timeout: 60_000 }, async () => {
  const origin = await new Origin().start();
  origin.serve('*', { 'cache-control': 'max-age=60' });
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(dir, 'run.lbconf');
  writeFileSync(file, `admin 127.0.0.1:${adminPort};\n${config(origin)(port)}\n`);
  const run = spawn(process.execPath, [main, 'run', '--no-watch', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const started = new Promise<void>((resolve) => run.stderr.on('data', (d) => { log += d; if (log.includes('admin API and status page on')) resolve(); }));
  const admin = `127.0.0.1:${adminPort}`;
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    await res.text();
    return res.headers.get('x-cache-status');
  };
  try {
    await within(started, 20_000, `lbconf run to start; its log:\n${log}`);
    assert.equal(await get('/cli'), 'MISS');
    assert.equal(await get('/cli'), 'HIT');
    // The default key, $scheme$authority$request_uri: the values separated by spaces, the host with its port.
    const purged = await lbconf('purge', 'z', `http 127.0.0.1:${port} /cli`, '--admin', admin);
    assert.equal(purged.status, 0, purged.stderr);
    assert.equal(purged.stdout, `z: purged 1 entry for key http 127.0.0.1:${port} /cli\n`);
    assert.equal(await get('/cli'), 'MISS');
    assert.equal(origin.count('/cli'), 2);

    const byUrl = await lbconf('purge', 'z', '--url', `http://127.0.0.1:${port}/cli`, '--admin', admin);
    assert.equal(byUrl.status, 0, byUrl.stderr);
    assert.match(byUrl.stdout, /^z: purged 1 entry for http:\/\/127\.0\.0\.1:\d+\/cli\n$/);
    const nothing = await lbconf('purge', 'z', `http 127.0.0.1:${port} /never`, '--admin', admin);
    assert.equal(nothing.status, 0);
    assert.equal(nothing.stdout, `z: nothing stored for key http 127.0.0.1:${port} /never\n`);

    const unknown = await lbconf('purge', 'zz', 'k', '--admin', admin);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /^lbconf: no cache zone `zz` in the running config \(it has: (z, other|other, z)\)\n$/);
    const usage = await lbconf('purge', 'z', '--admin', admin);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /purge needs ZONE KEY/);

    const text = await lbconf('status', '--admin', admin);
    assert.match(text.stdout, /\ncaches\n  z: 0\.0 MiB of 1\.0 MiB, 0 entries, 33\.3% from cache \(hit 1, miss 2\)\n  other: 0\.0 MiB of 2\.0 MiB, 0 entries\n/);
    // The status the CLI shows as JSON carries the zones too.
    const json = JSON.parse((await lbconf('status', '--admin', admin, '--format', 'json')).stdout);
    const z = json.caches.find((c: { zone: string }) => c.zone === 'z');
    assert.deepEqual(z.requests, { hit: 1, miss: 2, expired: 0, stale: 0, updating: 0, revalidated: 0, bypass: 0 });
    assert.equal(z.entries, 0, 'purged by URL');
  } finally {
    run.kill('SIGTERM');
    await new Promise((r) => run.once('close', r));
    await origin.stop();
  }
  const gone = await lbconf('purge', 'z', 'k', '--admin', admin);
  assert.equal(gone.status, 2);
  assert.match(gone.stderr, /cannot reach the admin API/);
});

/** A GET on a new connection: under workers the kernel may give it to any of them. */
const fresh = (port: number, path: string) => new Promise<string>((resolve, reject) => {
  const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
    res.resume();
    res.on('end', () => resolve(String(res.headers['x-cache-status'])));
  });
  req.on('error', reject);
  req.end();
});

test('under workers 2, lbconf purge removes the entry from both workers\' zones; /status sums their use', { timeout: 60_000 }, async () => {
  const origin = await new Origin().start();
  origin.serve('*', { 'cache-control': 'max-age=60' });
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(dir, 'workers.lbconf');
  writeFileSync(file, `workers 2;\nadmin 127.0.0.1:${adminPort};\n${config(origin)(port)}\n`);
  const run = spawn(process.execPath, [main, 'run', '--no-watch', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const started = new Promise<void>((resolve) => run.stderr.on('data', (d) => { log += d; if (log.includes('admin API and status page on')) resolve(); }));
  const admin = `127.0.0.1:${adminPort}`;
  const zone = async () => (await api(`http://${admin}`, 'GET', '/status')).json.caches.find((c: { zone: string }) => c.zone === 'z');
  /** 40 GETs on fresh connections, then until each worker says (within its 1 s) that it holds the entry. */
  const fill = async () => {
    for (let k = 0; k < 40; k++) await fresh(port, '/w');
    const end = Date.now() + 3000;
    while ((await zone()).perWorker.some((w: { entries: number }) => w.entries !== 1)) {
      assert.ok(Date.now() < end, `both workers hold /w: ${JSON.stringify(await zone())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    await within(started, 20_000, `lbconf run to start; its log:\n${log}`);
    await fill();
    assert.equal(origin.count('/w'), 2, 'one MISS per worker: each has a zone of its own');
    const z = await zone();
    assert.equal(z.entries, 2);
    assert.equal(z.bytes, z.perWorker[0].bytes + z.perWorker[1].bytes);
    assert.ok(z.bytes > 0);
    const m = await scrape(`http://${admin}`);
    assert.equal(m.get('lbconf_cache_zone_entries{zone="z"}'), 2);
    assert.equal(m.get('lbconf_cache_zone_bytes{zone="z"}'), z.bytes);
    const text = await lbconf('status', '--admin', admin);
    assert.match(text.stdout, /\n {2}z: 0\.0 MiB of 2 × 1\.0 MiB \(a zone per worker\), 2 entries, /);

    const purged = await lbconf('purge', 'z', `http 127.0.0.1:${port} /w`, '--admin', admin);
    assert.equal(purged.status, 0, purged.stderr);
    assert.equal(purged.stdout, `z: purged 2 entries for key http 127.0.0.1:${port} /w (over 2 workers)\n`);
    assert.deepEqual((await zone()).perWorker, [{ bytes: 0, entries: 0 }, { bytes: 0, entries: 0 }]);
    // Every worker fetches it again: nothing was left in either zone.
    await fill();
    assert.equal(origin.count('/w'), 4);
  } finally {
    run.kill('SIGTERM');
    await new Promise((r) => run.once('close', r));
    await origin.stop();
  }
});
