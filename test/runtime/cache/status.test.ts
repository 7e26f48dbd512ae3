import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { raw, type TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// The cache status header (X-Cache-Status or RFC 9211 Cache-Status), bypass
// and no-store conditions, purge, and interim responses.

describe('cache: status header, bypass, purge, 1xx', () => {
  const origin = new Origin();
  let p: TestProxy;
  let rfc: TestProxy;
  let closed: TestProxy;
  useOrigin(origin, async () => {
    origin.on('*', (_req, res, n) => { res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"s"' }); res.end(`body #${n}`); });
    p = await cachingProxy(origin, 'proxy_cache_bypass $arg_nocache; proxy_no_cache $arg_nostore; proxy_cache_purge 127.0.0.1;');
    rfc = await cachingProxy(origin, 'proxy_cache_status_header Cache-Status; proxy_cache_bypass $arg_nocache;');
    closed = await cachingProxy(origin, 'proxy_cache_status_header off; proxy_cache_purge 10.0.0.0/8 method=UNLOCK;');
  });

  it('X-Cache-Status says MISS, then HIT', async () => {
    assert.equal((await p.get('/x')).headers['x-cache-status'], 'MISS');
    assert.equal((await p.get('/x')).headers['x-cache-status'], 'HIT');
  });

  it('proxy_cache_bypass: BYPASS, from the origin, and the response is still stored', async () => {
    await p.get('/bypass');
    const r = await p.get('/bypass?nocache=1');
    assert.equal(r.headers['x-cache-status'], 'BYPASS');
    assert.equal(r.body, 'body #1', 'its own key, from the origin');
    assert.equal((await p.get('/bypass?nocache=0')).headers['x-cache-status'], 'MISS', '`0` does not bypass');
  });

  it('proxy_no_cache: the response is not stored', async () => {
    await p.get('/nostore?nostore=1');
    assert.equal((await p.get('/nostore?nostore=1')).headers['x-cache-status'], 'MISS');
    assert.equal(origin.count('/nostore?nostore=1'), 2);
  });

  it('Cache-Status (RFC 9211): hit with its ttl, forward with the reason', async () => {
    const miss = await rfc.get('/rfc');
    assert.equal(miss.headers['cache-status'], 'lbconf; fwd=uri-miss; fwd-status=200; stored');
    assert.equal(miss.headers['x-cache-status'], undefined);
    const hit = await rfc.get('/rfc');
    assert.match(String(hit.headers['cache-status']), /^lbconf; hit; ttl=(59|60)$/);
    assert.equal((await rfc.get('/rfc?nocache=1')).headers['cache-status'], 'lbconf; fwd=bypass; fwd-status=200; stored');
  });

  it('proxy_cache_status_header off: no status header', async () => {
    await closed.get('/off');
    const r = await closed.get('/off');
    assert.equal(r.headers['x-cache-status'], undefined);
    assert.equal(r.headers['cache-status'], undefined);
  });

  it('PURGE from an allowed address removes the key; then 404', async () => {
    await p.get('/purge-me');
    const r = await p.get('/purge-me', { method: 'PURGE' });
    assert.equal(r.status, 200);
    assert.match(r.body, /purged 1 entry/);
    assert.equal((await p.get('/purge-me')).headers['x-cache-status'], 'MISS');
    await p.get('/purge-me', { method: 'PURGE' });
    assert.equal((await p.get('/purge-me', { method: 'PURGE' })).status, 404);
  });

  it('the purge method from another address: 403, nothing removed', async () => {
    await closed.get('/protected');
    assert.equal((await closed.get('/protected', { method: 'UNLOCK' })).status, 403);
    assert.equal(origin.count('/protected'), 1);
    assert.equal((await closed.get('/protected', { headers: { 'cache-control': 'only-if-cached' } })).status, 200);
  });

  it('purge(zone, key) for the admin API', async () => {
    await p.get('/admin');
    // The default key, `$scheme$authority$request_uri`: the values with a space after each but the last.
    assert.equal(p.rt.cacheZones.purge('z', `http 127.0.0.1:${p.port} /admin`), 1);
    assert.equal(p.rt.cacheZones.purge('z', `http 127.0.0.1:${p.port} /admin`), 0);
    assert.equal(p.rt.cacheZones.purge('nope', 'x'), -1);
    assert.equal((await p.get('/admin')).headers['x-cache-status'], 'MISS');
  });

  it('entries survive a reload of the config', async () => {
    await p.get('/reload');
    await p.load(p.source);
    assert.equal((await p.get('/reload')).headers['x-cache-status'], 'HIT');
    assert.equal(origin.count('/reload'), 1);
  });

  it('103 Early Hints are passed on and never stored', async () => {
    origin.on('/hints', (_req, res, n) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      setTimeout(() => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end(`body #${n}`); }, 20);
    });
    const request = `GET /hints HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
    const first = await raw(p.port, request);
    assert.match(first, /^HTTP\/1\.1 103 Early Hints\r\n(?:.*\r\n)*?link: <\/style\.css>; rel=preload; as=style\r\n/i);
    assert.match(first, /\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    const second = await raw(p.port, request);
    assert.match(second, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(second, /x-cache-status: HIT/);
    assert.match(second, /body #1$/);
  });

  it('102 Processing is passed on (lbconf\'s listener, and through the cache) and never stored', async () => {
    origin.on('/processing', (_req, res, n) => {
      res.writeProcessing();
      setTimeout(() => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end(`body #${n}`); }, 20);
    });
    const request = `GET /processing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
    const first = await raw(p.port, request);
    assert.match(first, /^HTTP\/1\.1 102 Processing\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    const second = await raw(p.port, request);
    assert.match(second, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(second, /body #1$/);
  });
});
