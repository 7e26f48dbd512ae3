import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// The request's own Cache-Control (RFC 9111 §5.2.1), against a real origin.

describe('cache: request directives', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => {
    p = await cachingProxy(origin);
    // Fresh for 100 s, already 40 s old: 60 s of freshness left.
    origin.on('*', (req, res, n) => {
      if (req.headers['if-none-match'] === '"v"') { res.writeHead(304, { etag: '"v"', 'cache-control': 'max-age=100' }); res.end(); return; }
      res.writeHead(200, { 'cache-control': 'max-age=100', age: '40', etag: '"v"' });
      res.end(`body #${n}`);
    });
  });

  const cc = (value: string) => ({ headers: { 'cache-control': value } });

  it('no-cache: the stored response is revalidated first', async () => {
    await p.get('/no-cache');
    const r = await p.get('/no-cache', cc('no-cache'));
    assert.equal(r.headers['x-cache-status'], 'REVALIDATED');
    assert.equal(origin.count('/no-cache'), 2);
    assert.equal(origin.seen.at(-1)!.headers['if-none-match'], '"v"');
  });

  it('max-age: a response older than the client accepts is revalidated', async () => {
    await p.get('/max-age');
    assert.equal((await p.get('/max-age', cc('max-age=100'))).headers['x-cache-status'], 'HIT');
    assert.equal((await p.get('/max-age', cc('max-age=10'))).headers['x-cache-status'], 'REVALIDATED');
    assert.equal(origin.count('/max-age'), 2);
  });

  it('min-fresh: a response that will not stay fresh long enough is revalidated', async () => {
    await p.get('/min-fresh');
    assert.equal((await p.get('/min-fresh', cc('min-fresh=30'))).headers['x-cache-status'], 'HIT');
    assert.equal((await p.get('/min-fresh', cc('min-fresh=90'))).headers['x-cache-status'], 'REVALIDATED');
  });

  it('max-stale: a stale response is served when the client accepts that much staleness', async () => {
    origin.on('/max-stale', (_req, res, n) => {
      res.writeHead(200, { 'cache-control': 'max-age=10', age: '30' });
      res.end(`body #${n}`);
    });
    await p.get('/max-stale');
    const ok = await p.get('/max-stale', cc('max-stale=60'));
    assert.equal(ok.headers['x-cache-status'], 'STALE');
    assert.equal(ok.body, 'body #1');
    const any = await p.get('/max-stale', cc('max-stale'));
    assert.equal(any.headers['x-cache-status'], 'STALE');
    const tooStale = await p.get('/max-stale', cc('max-stale=5'));
    assert.equal(tooStale.headers['x-cache-status'], 'EXPIRED');
    assert.equal(origin.count('/max-stale'), 2);
  });

  it('only-if-cached: answered from the cache, or 504 without touching the origin', async () => {
    const miss = await p.get('/only', cc('only-if-cached'));
    assert.equal(miss.status, 504);
    assert.equal(origin.count('/only'), 0);
    await p.get('/only');
    const hit = await p.get('/only', cc('only-if-cached'));
    assert.equal(hit.status, 200);
    assert.equal(hit.headers['x-cache-status'], 'HIT');
    assert.equal(origin.count('/only'), 1);
  });

  it('no-store: the response to this request is not stored', async () => {
    await p.get('/req-no-store', cc('no-store'));
    assert.equal((await p.get('/req-no-store')).headers['x-cache-status'], 'MISS');
    assert.equal(origin.count('/req-no-store'), 2);
  });
});
