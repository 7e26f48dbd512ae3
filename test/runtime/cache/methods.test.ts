import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// HEAD from a GET entry, Range on a stored full response (206, 416), and
// invalidation by unsafe methods (RFC 9111 §4.4), against a real origin.

describe('cache: HEAD and Range', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => {
    p = await cachingProxy(origin);
    origin.on('*', (_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"r"', 'content-type': 'text/plain' });
      res.end('0123456789');
    });
  });

  it('HEAD is answered from a stored GET', async () => {
    await p.get('/head');
    const r = await p.get('/head', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-cache-status'], 'HIT');
    assert.equal(r.headers['content-length'], '10');
    assert.equal(r.body, '');
    assert.equal(origin.count('/head'), 1);
    assert.equal(origin.count('/head', 'HEAD'), 0);
  });

  it('HEAD with nothing stored goes upstream as HEAD and stores nothing', async () => {
    const r = await p.get('/head-miss', { method: 'HEAD' });
    assert.equal(r.headers['x-cache-status'], 'MISS');
    assert.equal(origin.count('/head-miss', 'HEAD'), 1);
    assert.equal((await p.get('/head-miss')).headers['x-cache-status'], 'MISS');
  });

  it('Range on a stored full response: 206 with Content-Range', async () => {
    await p.get('/range');
    const r = await p.get('/range', { headers: { range: 'bytes=2-5' } });
    assert.equal(r.status, 206);
    assert.equal(r.body, '2345');
    assert.equal(r.headers['content-range'], 'bytes 2-5/10');
    assert.equal(r.headers['content-length'], '4');
    const suffix = await p.get('/range', { headers: { range: 'bytes=-3' } });
    assert.equal(suffix.body, '789');
    const open = await p.get('/range', { headers: { range: 'bytes=7-' } });
    assert.equal(open.body, '789');
    assert.equal(origin.count('/range'), 1);
  });

  it('Range beyond the end: 416 with the size', async () => {
    await p.get('/range416');
    const r = await p.get('/range416', { headers: { range: 'bytes=10-20' } });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], 'bytes */10');
  });

  it('several ranges, or an If-Range that does not match: the whole response', async () => {
    await p.get('/range-multi');
    const multi = await p.get('/range-multi', { headers: { range: 'bytes=0-1,4-5' } });
    assert.equal(multi.status, 200);
    assert.equal(multi.body, '0123456789');
    const ifRange = await p.get('/range-multi', { headers: { range: 'bytes=0-1', 'if-range': '"other"' } });
    assert.equal(ifRange.status, 200);
    const matching = await p.get('/range-multi', { headers: { range: 'bytes=0-1', 'if-range': '"r"' } });
    assert.equal(matching.status, 206);
    assert.equal(matching.body, '01');
  });
});

describe('cache: invalidation by unsafe methods', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => { p = await cachingProxy(origin); });

  function cacheable(path: string): void {
    origin.on(path, (req, res, n) => {
      if (req.method !== 'GET') {
        const h: Record<string, string> = {};
        if (req.headers['x-location']) h.location = String(req.headers['x-location']);
        if (req.headers['x-content-location']) h['content-location'] = String(req.headers['x-content-location']);
        res.writeHead(Number(req.headers['x-status'] ?? 200), h);
        res.end('done');
        req.resume();
        return;
      }
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end(`body #${n}`);
    });
  }

  async function stored(path: string): Promise<boolean> {
    return (await p.get(path, { headers: { 'cache-control': 'only-if-cached' } })).status === 200;
  }

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    it(`${method} invalidates the target URI`, async () => {
      const path = `/inv-${method}`;
      cacheable(path);
      await p.get(path);
      assert.ok(await stored(path));
      const r = await p.get(path, { method, body: method === 'DELETE' ? undefined : 'x' });
      assert.equal(r.status, 200);
      assert.equal(await stored(path), false);
      assert.equal((await p.get(path)).body, 'body #3', 'fetched again (request #2 was the unsafe one)');
    });
  }

  it('Location and Content-Location of the same origin are invalidated too', async () => {
    cacheable('/target-a');
    cacheable('/target-b');
    cacheable('/form');
    await p.get('/target-a');
    await p.get('/target-b');
    await p.get('/form', { method: 'POST', body: 'x', headers: { 'x-location': '/target-a', 'x-content-location': `${p.origin}/target-b` } });
    assert.equal(await stored('/target-a'), false);
    assert.equal(await stored('/target-b'), false);
  });

  it('a Location on another origin is not invalidated, nor anything after an error response', async () => {
    cacheable('/kept');
    await p.get('/kept');
    await p.get('/form', { method: 'POST', body: 'x', headers: { 'x-location': 'http://elsewhere.example/kept' } });
    assert.ok(await stored('/kept'));
    await p.get('/kept', { method: 'POST', body: 'x', headers: { 'x-status': '500' } });
    assert.ok(await stored('/kept'));
  });

  it('the query string is part of what is invalidated', async () => {
    cacheable('/q');
    await p.get('/q?a=1');
    await p.get('/q?a=2');
    await p.get('/q?a=1', { method: 'POST', body: 'x' });
    assert.equal(await stored('/q?a=1'), false);
    assert.ok(await stored('/q?a=2'));
  });
});
