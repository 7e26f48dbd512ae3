import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, httpDate, Origin, useOrigin } from './origin.ts';

// Validation (RFC 9111 §4.3): a stale entry is revalidated with the validators
// it was stored with, and a 304 updates the stored headers (§4.3.4).

describe('cache: validation', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => { p = await cachingProxy(origin); });

  it('ETag: If-None-Match is sent, a 304 answers from the cache with the updated headers', async () => {
    origin.on('/etag', (req, res, n) => {
      if (req.headers['if-none-match'] === '"a"') {
        res.writeHead(304, { etag: '"a"', 'cache-control': 'max-age=60', 'x-version': String(n) });
        res.end();
        return;
      }
      res.writeHead(200, { etag: '"a"', 'cache-control': 'max-age=1', age: '2', 'x-version': String(n), 'content-type': 'text/plain' });
      res.end('the body');
    });
    const first = await p.get('/etag');
    assert.equal(first.headers['x-version'], '1');
    const second = await p.get('/etag');
    assert.equal(origin.seen.at(-1)!.headers['if-none-match'], '"a"');
    assert.equal(second.headers['x-cache-status'], 'REVALIDATED');
    assert.equal(second.body, 'the body');
    assert.equal(second.headers['x-version'], '2', 'the 304 updated the stored headers');
    assert.equal(second.headers['content-length'], '8');
    // The 304 said max-age=60 (and no Age): now fresh.
    const third = await p.get('/etag');
    assert.equal(third.headers['x-cache-status'], 'HIT');
    assert.equal(third.headers['x-version'], '2');
    assert.equal(origin.count('/etag'), 2);
  });

  it('Last-Modified: If-Modified-Since is sent', async () => {
    const modified = httpDate(-3600);
    origin.on('/lm', (req, res, n) => {
      if (req.headers['if-modified-since'] === modified) { res.writeHead(304, { 'cache-control': 'max-age=60' }); res.end(); return; }
      res.writeHead(200, { 'last-modified': modified, 'cache-control': 'max-age=0' });
      res.end(`body #${n}`);
    });
    await p.get('/lm');
    const r = await p.get('/lm');
    assert.equal(origin.seen.at(-1)!.headers['if-modified-since'], modified);
    assert.equal(r.headers['x-cache-status'], 'REVALIDATED');
    assert.equal(r.body, 'body #1');
  });

  it('a changed resource (200 to the conditional request) replaces the entry', async () => {
    origin.on('/changed', (_req, res, n) => {
      res.writeHead(200, { etag: `"v${n}"`, 'cache-control': 'max-age=60', age: n === 1 ? '100' : '0' });
      res.end(`body #${n}`);
    });
    await p.get('/changed');
    const r = await p.get('/changed');
    assert.equal(r.headers['x-cache-status'], 'EXPIRED');
    assert.equal(r.body, 'body #2');
    const hit = await p.get('/changed');
    assert.equal(hit.headers['x-cache-status'], 'HIT');
    assert.equal(hit.body, 'body #2');
  });

  it('the client\'s own conditionals are answered by the cache, and not passed on when it fetches', async () => {
    origin.serve('/conditional', { etag: '"c"', 'cache-control': 'max-age=60', 'last-modified': httpDate(-60) });
    const miss = await p.get('/conditional', { headers: { 'if-none-match': '"c"' } });
    assert.equal(miss.status, 304, 'answered 304 while the full response was stored');
    assert.equal(origin.seen.at(-1)!.headers['if-none-match'], undefined);
    const hit = await p.get('/conditional', { headers: { 'if-none-match': 'W/"c"' } });
    assert.equal(hit.status, 304);
    const other = await p.get('/conditional', { headers: { 'if-none-match': '"other"' } });
    assert.equal(other.status, 200);
    const since = await p.get('/conditional', { headers: { 'if-modified-since': httpDate(0) } });
    assert.equal(since.status, 304);
    assert.equal(origin.count('/conditional'), 1);
  });
});
