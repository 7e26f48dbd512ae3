import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// Request collapsing (proxy_cache_lock): concurrent misses for one key make
// one upstream request; the others are answered from what it stored.

const N = 20;

function slow(origin: Origin, path: string, ms: number, cacheControl = 'max-age=60'): void {
  origin.on(path, (_req, res, n) => {
    setTimeout(() => { res.writeHead(200, { 'cache-control': cacheControl }); res.end(`body #${n}`); }, ms);
  });
}

describe('cache: request collapsing', () => {
  const origin = new Origin();
  let p: TestProxy;
  let off: TestProxy;
  let short: TestProxy;
  useOrigin(origin, async () => {
    p = await cachingProxy(origin);
    off = await cachingProxy(origin, 'proxy_cache_lock off;');
    short = await cachingProxy(origin, 'proxy_cache_lock_timeout 100ms;');
  });

  it(`${N} concurrent misses for one key make one upstream request`, async () => {
    slow(origin, '/popular', 300);
    const replies = await Promise.all(Array.from({ length: N }, () => p.get('/popular')));
    assert.equal(origin.count('/popular'), 1);
    assert.ok(replies.every((r) => r.status === 200 && r.body === 'body #1'));
    const statuses = replies.map((r) => r.headers['x-cache-status']).sort();
    assert.deepEqual(statuses, ['HIT', ...Array(N - 2).fill('HIT'), 'MISS'].sort());
  });

  it('different keys do not wait for each other', async () => {
    slow(origin, '/k', 200);
    const replies = await Promise.all([1, 2, 3].map((i) => p.get(`/k?i=${i}`)));
    assert.ok(replies.every((r) => r.headers['x-cache-status'] === 'MISS'));
  });

  it('with proxy_cache_lock off, each miss goes upstream', async () => {
    slow(origin, '/unlocked', 200);
    await Promise.all(Array.from({ length: 5 }, () => off.get('/unlocked')));
    assert.equal(origin.count('/unlocked'), 5);
  });

  it('after proxy_cache_lock_timeout a waiting request goes upstream itself', async () => {
    slow(origin, '/slowest', 600);
    const replies = await Promise.all(Array.from({ length: 3 }, () => short.get('/slowest')));
    assert.equal(origin.count('/slowest'), 3);
    assert.ok(replies.every((r) => r.status === 200));
  });

  it('when the response is not storable, the waiting requests go upstream (as in nginx)', async () => {
    slow(origin, '/uncacheable', 150, 'no-store');
    const replies = await Promise.all(Array.from({ length: 4 }, () => p.get('/uncacheable')));
    assert.equal(origin.count('/uncacheable'), 4);
    assert.ok(replies.every((r) => r.status === 200));
  });

  it('a stale entry is revalidated once for concurrent requests', async () => {
    origin.on('/stale-popular', (_req, res, n) => {
      setTimeout(() => { res.writeHead(200, { 'cache-control': 'max-age=60', age: n === 1 ? '100' : '0' }); res.end(`body #${n}`); }, n === 1 ? 0 : 200);
    });
    await p.get('/stale-popular');
    const replies = await Promise.all(Array.from({ length: 8 }, () => p.get('/stale-popular')));
    assert.equal(origin.count('/stale-popular'), 2);
    assert.ok(replies.every((r) => r.body === 'body #2'));
  });
});
