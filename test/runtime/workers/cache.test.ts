import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { checkText } from '../../../compiler/check.ts';
import { loadPlan, planSource } from '../../../compiler/plan.ts';
import { hasErrors } from '../../../lang/diagnostic.ts';
import { startAdmin, type AdminServer } from '../../../runtime/control/admin.ts';
import { ReloadHistory } from '../../../runtime/observe/history.ts';
import { adminTarget } from '../../../runtime/control/operations.ts';
import { Launcher } from '../../../runtime/worker/launcher.ts';
import { api, scrape } from '../../observe/helpers.ts';
import { freePort } from '../../helpers/proxy.ts';
import { Origin } from '../cache/origin.ts';

// The HTTP cache under `workers 2`: each worker has zones of its own, which the
// admin API and the purge method reach on every worker, and whose use /status
// and /metrics sum over the workers. Real worker threads on a loopback port
// (SO_REUSEPORT), a real origin, clients that open a fresh connection per
// request so the kernel spreads them over the workers; responses name the
// worker that answered (x-lbconf-worker).

interface Reply { status: number; body: string; worker: string; cache: string }

/** One request on a new connection: it may land on either worker. */
function send(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, worker: String(res.headers['x-lbconf-worker']), cache: String(res.headers['x-cache-status']) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** How many fresh connections a test may open to reach both workers: the kernel's spread makes missing one this often vanishingly unlikely. */
const TRIES = 200;

/** GETs `path` on fresh connections until both workers have answered it with a HIT: both have it stored. */
async function fillBoth(port: number, path: string): Promise<void> {
  const hit = new Set<string>();
  for (let k = 0; k < TRIES && hit.size < 2; k++) {
    const r = await send(port, path);
    assert.equal(r.status, 200);
    if (r.cache === 'HIT') hit.add(r.worker);
  }
  assert.deepEqual([...hit].sort(), ['0', '1'], `both workers answered ${path} from their zone within ${TRIES} connections`);
}

/** GETs `path` on fresh connections until both workers have answered: each one's first answer must be a MISS (nothing left in its zone). */
async function missOnBoth(port: number, path: string): Promise<void> {
  const first = new Map<string, string>();
  for (let k = 0; k < TRIES && first.size < 2; k++) {
    const r = await send(port, path);
    if (!first.has(r.worker)) first.set(r.worker, r.cache);
  }
  assert.deepEqual(Object.fromEntries(first), { 0: 'MISS', 1: 'MISS' }, `each worker's first answer for ${path} after the purge`);
}

/**
 * After an unsafe request, whose invalidation reaches the other worker a moment
 * later: GETs `path` on fresh connections until each worker has answered it with
 * a MISS. A worker may still answer HIT within `ms` of the start, never after.
 */
async function missOnBothSoon(port: number, path: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  const missed = new Set<string>();
  for (let k = 0; k < TRIES && missed.size < 2; k++) {
    const r = await send(port, path);
    assert.equal(r.status, 200);
    if (missed.has(r.worker)) continue;
    if (r.cache === 'MISS') { missed.add(r.worker); continue; }
    assert.ok(Date.now() < end, `worker ${r.worker} still answered ${path} with ${r.cache} ${ms} ms after the invalidation`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual([...missed].sort(), ['0', '1'], `each worker answered ${path} with a MISS within ${TRIES} connections`);
}

/** Polls an async condition (for what workers write into shared memory at their own pace). */
async function eventually(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface ZoneStatus { zone: string; size: number; bytes: number | null; entries: number | null; perWorker?: Array<{ bytes: number; entries: number }> }

describe('the cache under workers 2', { timeout: 120_000 }, () => {
  const origin = new Origin();
  const launcher = new Launcher({ log: () => {}, exposeWorker: true, testHooks: true });
  let admin: AdminServer;
  let port = 0;
  const zone = async (): Promise<ZoneStatus> => (await api(admin.url, 'GET', '/status')).json.caches.find((c: ZoneStatus) => c.zone === 'z');

  before(async () => {
    origin.serve('*', { 'cache-control': 'max-age=600' });
    await origin.start();
    port = await freePort();
    const c = checkText(`workers 2;
proxy_cache_zone z size=1m;
server {
    listen 127.0.0.1:${port};
    location / {
        proxy_cache z;
        proxy_cache_purge 127.0.0.1;
        proxy_pass http://${origin.address};
    }
}`, 'cache.lbconf');
    assert.ok(!hasErrors(c.diagnostics), c.diagnostics.map((d) => d.message).join('\n'));
    const source = planSource(c.ir, c.locs);
    await launcher.load(loadPlan(source), { ir: c.ir, source });
    assert.equal(launcher.workers, 2);
    // The admin API as `lbconf run` wires it to the Launcher.
    admin = await startAdmin({ target: adminTarget(launcher), history: new ReloadHistory(), address: '127.0.0.1', port: await freePort() });
  });
  after(async () => {
    await admin?.close();
    await launcher.close(500);
    await origin.stop();
  });

  test('/status and /metrics sum the zones\' use over the workers; the admin API purges every worker\'s zone, then each answers MISS', async () => {
    await fillBoth(port, '/a');
    await fillBoth(port, '/b');
    assert.equal(origin.count('/a'), 2, 'one fetch per worker: the zones are per worker');
    // Each worker holds /a and /b: the same two responses, so the same bytes.
    await eventually(async () => (await zone()).entries === 4, 3000, 'the workers to write their zones\' use');
    const z = await zone();
    assert.equal(z.perWorker!.length, 2);
    const [w0, w1] = z.perWorker!;
    assert.deepEqual(w0, w1, 'the same entries in each worker');
    assert.equal(w0.entries, 2);
    assert.ok(w0.bytes > 0 && w0.bytes < z.size);
    assert.equal(z.bytes, w0.bytes + w1.bytes);
    assert.equal(z.entries, w0.entries + w1.entries);
    const m = await scrape(admin.url);
    assert.equal(m.get('lbconf_cache_zone_bytes{zone="z"}'), z.bytes);
    assert.equal(m.get('lbconf_cache_zone_entries{zone="z"}'), 4);

    const r = await api(admin.url, 'POST', '/caches/z/purge', JSON.stringify({ key: `http 127.0.0.1:${port} /a` }));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { zone: 'z', key: `http 127.0.0.1:${port} /a`, purged: 2, workers: 2, answered: 2 });
    // Each worker writes its use before it answers: what /status shows now already counts the purge.
    // /a and /b are stored alike (keys, URIs and bodies of the same length): each worker now holds half.
    const left = await zone();
    assert.deepEqual(left.perWorker, [{ bytes: w0.bytes / 2, entries: 1 }, { bytes: w0.bytes / 2, entries: 1 }]);
    assert.equal(left.bytes, w0.bytes);
    assert.equal(left.entries, 2);
    await missOnBoth(port, '/a');
    assert.equal((await send(port, '/b')).cache, 'HIT', 'the other key stays');

    // By URL, as clients asked for it (Host with its port), on every worker.
    await fillBoth(port, '/c?x=1');
    const byUrl = await api(admin.url, 'POST', '/caches/z/purge', JSON.stringify({ url: `http://127.0.0.1:${port}/c?x=1` }));
    assert.deepEqual(byUrl.json, { zone: 'z', url: `http://127.0.0.1:${port}/c?x=1`, purged: 2, workers: 2, answered: 2 });
    await missOnBoth(port, '/c?x=1');
    const none = await api(admin.url, 'POST', '/caches/z/purge', JSON.stringify({ key: `http 127.0.0.1:${port} /never` }));
    assert.deepEqual(none.json, { zone: 'z', key: `http 127.0.0.1:${port} /never`, purged: 0, workers: 2, answered: 2 });
  });

  test('the purge method on one worker purges every worker\'s zone: 200 with the sum, then 404 when nothing is left', async () => {
    await fillBoth(port, '/p');
    const purge = await send(port, '/p', 'PURGE');
    assert.equal(purge.status, 200, purge.body);
    assert.equal(purge.body, 'purged 2 entries\n', 'its own entry and the other worker\'s');
    await missOnBoth(port, '/p');
    await fillBoth(port, '/p');
    assert.equal((await send(port, '/p', 'PURGE')).status, 200);
    const again = await send(port, '/p', 'PURGE');
    assert.equal(again.status, 404, 'nothing left on either worker');
  });

  test('an unsafe method on one worker invalidates the target URI in every worker\'s zone: each then answers MISS', async () => {
    await fillBoth(port, '/i?v=1');
    const fetched = origin.count('/i?v=1');
    const post = await send(port, '/i?v=1', 'POST');
    assert.equal(post.status, 200, post.body);
    assert.equal(origin.count('/i?v=1', 'POST'), 1);
    await missOnBothSoon(port, '/i?v=1', 2000);
    assert.equal(origin.count('/i?v=1'), fetched + 2, 'each worker fetched it again');
  });

  test('Location and Content-Location on the same origin are invalidated in every worker\'s zone too', async () => {
    origin.serve('/form', { location: '/l1', 'content-location': `http://127.0.0.1:${port}/l2` }, 201);
    await fillBoth(port, '/l1');
    await fillBoth(port, '/l2');
    assert.equal((await send(port, '/form', 'POST')).status, 201);
    await missOnBothSoon(port, '/l1', 2000);
    await missOnBothSoon(port, '/l2', 2000);
  });

  test('a worker that does not answer in time is reported (504, answered 1 of 2) without holding the admin call; the next purge reaches it', async () => {
    await fillBoth(port, '/s');
    const stalled = launcher.supervisor!;
    stalled.stall(1, 3500);
    const started = Date.now();
    const r = await api(admin.url, 'POST', '/caches/z/purge', JSON.stringify({ key: `http 127.0.0.1:${port} /s` }));
    const took = Date.now() - started;
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json.purged, 1);
    assert.equal(r.json.workers, 2);
    assert.equal(r.json.answered, 1);
    assert.match(r.json.error, /worker 1 did not answer within 2 s .* purge again/);
    assert.ok(took >= 1900 && took < 3400, `answered after the 2 s timeout, before the worker woke (${took} ms)`);
    // Once it is back, a purge reaches it (its late answer to the first one is ignored).
    await eventually(async () => {
      const again = await api(admin.url, 'POST', '/caches/z/purge', JSON.stringify({ key: `http 127.0.0.1:${port} /s` }));
      return again.status === 200 && again.json.answered === 2;
    }, 5000, 'worker 1 to answer again');
    await missOnBoth(port, '/s');
  });
});
