import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryLimitStore, ZoneRegistry } from '../../../runtime/filters/limits.ts';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';

// limit_req and limit_conn (spec/security.md § Rate and connection limits).

describe('the memory limit store', () => {
  test('a bucket admits the burst, then refuses with the time until the next admission, and refills at the rate', () => {
    const s = new MemoryLimitStore(10);
    // 10 r/s, burst 2: at t=0 the first is free, two more fit in the burst.
    assert.equal(s.take('k', 10, 2, 0), 0);
    assert.equal(s.take('k', 10, 2, 0), 1);
    assert.equal(s.take('k', 10, 2, 0), 2);
    const refused = s.take('k', 10, 2, 0);
    assert.ok(refused < 0);
    assert.equal(-1 - refused, 100, 'one request drains in 100 ms');
    // 100 ms later one place is free again.
    assert.ok(s.take('k', 10, 2, 100) >= 0);
    assert.ok(s.take('k', 10, 2, 100) < 0);
    // A second later the bucket is empty.
    assert.equal(s.take('k', 10, 2, 1200), 0);
  });

  test('keys are isolated', () => {
    const s = new MemoryLimitStore(10);
    assert.equal(s.take('a', 1, 0, 0), 0);
    assert.ok(s.take('a', 1, 0, 0) < 0);
    assert.equal(s.take('b', 1, 0, 0), 0);
  });

  test('memory stays bounded with 100,000 distinct keys: the least recently used idle key makes room', () => {
    const s = new MemoryLimitStore(1000);
    assert.equal(s.take('hot', 1, 0, 0), 0);
    for (let i = 0; i < 100_000; i++) {
      s.take(`k${i}`, 1, 0, 0);
      // The hot key stays in use, so it is never the one evicted.
      if (i % 100 === 0) s.take('hot', 1, 0, 0);
      assert.ok(s.size <= 1000);
    }
    assert.equal(s.size, 1000);
    assert.ok(s.take('hot', 1, 0, 0) < 0, 'the hot key kept its state');
    // The oldest keys are gone: they start afresh.
    assert.equal(s.take('k0', 1, 0, 0), 0);
  });

  test('slots: at most `max` per key, given back on release; a full store refuses new keys rather than forget busy ones', () => {
    const s = new MemoryLimitStore(2);
    assert.equal(s.acquire('a', 2), true);
    assert.equal(s.acquire('a', 2), true);
    assert.equal(s.acquire('a', 2), false);
    s.release('a');
    assert.equal(s.acquire('a', 2), true);
    assert.equal(s.acquire('b', 2), true);
    assert.equal(s.acquire('c', 2), false);
    s.release('b');
    assert.equal(s.acquire('c', 2), true);
    s.release('a'); s.release('a'); s.release('c');
    assert.equal(s.size, 0, 'keys with nothing in flight are dropped');
  });

  test('the registry keeps a zone\'s store by name', () => {
    const z = new ZoneRegistry();
    const a = z.store('req', 'perip', 100);
    assert.equal(z.store('req', 'perip', 200), a);
    assert.notEqual(z.store('conn', 'perip', 100), a, 'a zone that changed kind starts afresh');
    z.retain(new Set());
    assert.notEqual(z.store('conn', 'perip', 100), a);
  });
});

describe('limit_req and limit_conn through the proxy', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let release: (() => void) | null = null;
  let gate = Promise.resolve();

  before(async () => {
    b = await new Backend('b', (req, res) => {
      if (req.url!.startsWith('/conn/')) {
        void gate.then(() => { res.writeHead(200); res.end('held'); });
        return;
      }
      res.writeHead(200, { 'x-backend': 'b' });
      res.end('ok');
    }).listen();
    p = await startProxy((port) => `
      limit_req_zone $http_x_key zone=perkey:1m rate=5r/s;
      limit_req_zone $http_x_key zone=slow:1m rate=10r/s;
      limit_conn_zone $http_x_key zone=conns:1m;
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        location / { limit_req zone=perkey burst=2 nodelay; proxy_pass http://app; }
        location /wait/ { limit_req zone=slow burst=3; proxy_pass http://app; }
        location /status/ { limit_req zone=perkey; limit_req_status 503; return 200 "ok"; }
        location /conn/ { limit_conn conns 2; proxy_pass http://app; }
        location /free/ { proxy_pass http://app; }
      }`);
  });
  after(async () => {
    release?.();
    await p?.close();
    await stopAll([b]);
  });

  const key = (k: string) => ({ headers: { 'x-key': k } });

  test('a burst over the rate gets 429 with Retry-After; other keys are served; the bucket refills over time', async () => {
    const statuses: number[] = [];
    let retryAfter: unknown;
    for (let i = 0; i < 6; i++) {
      const r = await p.get('/x', key('alice'));
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers['retry-after'];
    }
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200], 'the first and the burst of 2');
    assert.ok(statuses.slice(3).every((s) => s === 429), String(statuses));
    assert.equal(retryAfter, '1');
    assert.equal((await p.get('/x', key('bob'))).status, 200, 'another key has its own bucket');
    assert.equal((await p.get('/free/x', key('alice'))).status, 200, 'a location without limit_req');
    await new Promise((r) => setTimeout(r, 450));
    assert.equal((await p.get('/x', key('alice'))).status, 200, 'refilled');
  });

  test('limit_req_status sets the refusal status', async () => {
    assert.equal((await p.get('/status/', key('carol'))).status, 200);
    assert.equal((await p.get('/status/', key('carol'))).status, 503);
  });

  test('without nodelay, requests in the burst wait their turn at the rate; beyond the burst they are refused', async () => {
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 5 }, () => p.get('/wait/x', key('dave')).then((r) => ({ status: r.status, at: Date.now() - t0 }))));
    const ok = results.filter((r) => r.status === 200).sort((a, b) => a.at - b.at);
    assert.equal(ok.length, 4, JSON.stringify(results));
    assert.equal(results.filter((r) => r.status === 429).length, 1);
    // Spaced by 100 ms (10 r/s): the last waits about 300 ms.
    assert.ok(ok[3].at >= 250, JSON.stringify(ok));
  });

  test('limit_conn: the most requests in flight per key; a slot is free again when a response ends', async () => {
    gate = new Promise<void>((r) => { release = r; });
    const first = [p.get('/conn/a', key('erin')), p.get('/conn/b', key('erin'))];
    await new Promise((r) => setTimeout(r, 100));
    const third = await p.get('/conn/c', key('erin'));
    assert.equal(third.status, 429);
    assert.equal((await Promise.race([p.get('/conn/d', key('frank')), new Promise((r) => setTimeout(() => r('pending'), 100))])), 'pending', 'another key is not refused (its request waits on the backend)');
    release!();
    const done = await Promise.all(first);
    assert.deepEqual(done.map((r) => r.status), [200, 200]);
    assert.equal((await p.get('/conn/e', key('erin'))).status, 200);
  });

  test('zone state survives a reload', async () => {
    for (let i = 0; i < 3; i++) await p.get('/x', key('gina'));
    assert.equal((await p.get('/x', key('gina'))).status, 429);
    await p.load(p.source.replace('location /free/', 'location /free2/ { return 204; } location /free/'));
    assert.equal((await p.get('/x', key('gina'))).status, 429, 'still limited after the reload');
  });
});
