import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until, type TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// stale-while-revalidate and stale-if-error (RFC 5861), against a real origin.

describe('cache: stale-while-revalidate and stale-if-error', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => { p = await cachingProxy(origin); });

  it('stale-while-revalidate: the stale response is served at once and revalidated in the background', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => { release = resolve; });
    origin.on('/swr', (_req, res, n) => {
      if (n === 1) {
        res.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=60', age: '5' });
        res.end('body #1');
        return;
      }
      // The background fetch: held until the test has seen the stale answer.
      void held.then(() => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end(`body #${n}`); });
    });
    await p.get('/swr');
    const stale = await p.get('/swr');
    assert.equal(stale.headers['x-cache-status'], 'UPDATING');
    assert.equal(stale.body, 'body #1');
    await until(() => origin.count('/swr') === 2, 2000, 'the background revalidation to reach the origin');
    // A second stale request while it runs starts no other.
    assert.equal((await p.get('/swr')).headers['x-cache-status'], 'UPDATING');
    assert.equal(origin.count('/swr'), 2);
    release();
    await until(() => p.rt.cacheZones.store('z')!.find(`http 127.0.0.1:${p.port} /swr`, { value: () => '' })?.lifetime === 60_000, 2000, 'the background update');
    const fresh = await p.get('/swr');
    assert.equal(fresh.headers['x-cache-status'], 'HIT');
    assert.equal(fresh.body, 'body #2');
  });

  it('stale-while-revalidate: past the window, the request waits for the origin', async () => {
    origin.serve('/swr-late', (n): Record<string, string> => (n === 1 ? { 'cache-control': 'max-age=1, stale-while-revalidate=2', age: '10' } : { 'cache-control': 'max-age=60' }));
    await p.get('/swr-late');
    const r = await p.get('/swr-late');
    assert.equal(r.headers['x-cache-status'], 'EXPIRED');
    assert.equal(r.body, 'body #2');
  });

  it('stale-if-error: an error from the origin is answered with the stale response', async () => {
    origin.serveThenFail('/sie', { 'cache-control': 'max-age=1, stale-if-error=60', age: '5' }, 500);
    await p.get('/sie');
    const r = await p.get('/sie');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-cache-status'], 'STALE');
    assert.equal(r.body, 'body #1');
    assert.equal(origin.count('/sie'), 2);
  });

  it('stale-if-error: too stale, the error is passed on', async () => {
    origin.serveThenFail('/sie-late', { 'cache-control': 'max-age=1, stale-if-error=2', age: '10' }, 503);
    await p.get('/sie-late');
    const r = await p.get('/sie-late');
    assert.equal(r.status, 503);
    assert.equal(r.body, 'broken');
  });

  it('stale-if-error in the request', async () => {
    origin.serveThenFail('/sie-request', { 'cache-control': 'max-age=1', age: '5' }, 502);
    await p.get('/sie-request');
    const r = await p.get('/sie-request', { headers: { 'cache-control': 'stale-if-error=60' } });
    assert.equal(r.headers['x-cache-status'], 'STALE');
    assert.equal(r.body, 'body #1');
  });
});

describe('cache: stale-if-error when the origin is unreachable', () => {
  it('serves the stale response instead of lbconf\'s 502', async () => {
    const origin = await new Origin().start();
    origin.serve('/gone', { 'cache-control': 'max-age=1, stale-if-error=60', age: '5' });
    const p = await cachingProxy(origin);
    try {
      await p.get('/gone');
      await origin.stop();
      const r = await p.get('/gone');
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-cache-status'], 'STALE');
      assert.equal(r.body, 'body #1');
    } finally {
      await p.close();
    }
  });
});
