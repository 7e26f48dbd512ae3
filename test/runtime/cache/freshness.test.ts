import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, httpDate, Origin, sleep, useOrigin } from './origin.ts';

// Freshness (RFC 9111 §4.2) and what may be stored (§3), each rule against a
// real origin through a real lbconf: the origin counts what reached it.

describe('cache: freshness and storability', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => { p = await cachingProxy(origin, 'proxy_cache_valid 404 1m;'); });

  /** Two GETs of `path`: the statuses, bodies and how many reached the origin. */
  async function twice(path: string, headers: Record<string, string> = {}) {
    const a = await p.get(path, { headers });
    const b = await p.get(path, { headers });
    return { a, b, origin: origin.count(path) };
  }

  it('max-age: a fresh response is answered from the cache', async () => {
    origin.serve('/max-age', { 'cache-control': 'max-age=60' });
    const { a, b, origin: n } = await twice('/max-age');
    assert.equal(a.headers['x-cache-status'], 'MISS');
    assert.equal(b.headers['x-cache-status'], 'HIT');
    assert.equal(b.body, 'body #1');
    assert.equal(n, 1);
  });

  it('max-age: once stale, the response is fetched again', async () => {
    origin.serve('/short', { 'cache-control': 'max-age=1' });
    await p.get('/short');
    assert.equal((await p.get('/short')).headers['x-cache-status'], 'HIT');
    await sleep(1100);
    const c = await p.get('/short');
    assert.equal(c.headers['x-cache-status'], 'EXPIRED');
    assert.equal(c.body, 'body #2');
    assert.equal(origin.count('/short'), 2);
  });

  it('s-maxage wins over max-age in a shared cache', async () => {
    origin.serve('/s-maxage', { 'cache-control': 'max-age=0, s-maxage=60' });
    const { b, origin: n } = await twice('/s-maxage');
    assert.equal(b.headers['x-cache-status'], 'HIT');
    assert.equal(n, 1);
  });

  it('Expires in the future makes a response fresh; in the past (or invalid), stale', async () => {
    origin.serve('/expires', () => ({ date: httpDate(0), expires: httpDate(60) }));
    origin.serve('/expired', () => ({ date: httpDate(0), expires: httpDate(-60), etag: '"e"' }));
    origin.serve('/expires-invalid', { expires: '0', etag: '"e"' });
    assert.equal((await twice('/expires')).origin, 1);
    assert.equal((await twice('/expired')).origin, 2);
    assert.equal((await twice('/expires-invalid')).origin, 2);
  });

  it('an Expires that is not exactly an HTTP-date means already expired (RFC 9111 §5.3), whatever Date.parse makes of it', async () => {
    // A year ahead, in spellings a lax parser reads as that date.
    const later = new Date(Date.now() + 365 * 86_400_000);
    const good = later.toUTCString();
    const spellings = [
      good.replace('GMT', 'UTC'),
      good.replace(',', ''),
      good.replace(/ (\d\d):/, (_m, h: string) => ` ${Number(h) % 10}:`).replace(/ 0(\d):/, ' $1:'),
      good.replace(' ', '  '),
      good.replace(/ (\w{3}) (\d{4})/, '-$1-$2'),
      `${good}, ${good}`,
    ];
    for (const [i, expires] of spellings.entries()) {
      origin.serve(`/expires-lax-${i}`, { date: httpDate(0), expires });
      assert.equal((await twice(`/expires-lax-${i}`)).origin, 2, JSON.stringify(expires));
    }
    // The three forms HTTP allows are read.
    origin.serve('/expires-imf', { date: httpDate(0), expires: good });
    assert.equal((await twice('/expires-imf')).origin, 1);
  });

  it('CDN-Cache-Control (RFC 9213) is this cache\'s policy when present: Cache-Control and Expires are not read; it is passed on', async () => {
    origin.serve('/cdn-yes', { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' });
    const yes = await twice('/cdn-yes');
    assert.equal(yes.origin, 1, 'stored and served for 60 s, though Cache-Control says no-store');
    assert.equal(yes.b.headers['cdn-cache-control'], 'max-age=60', 'passed on (proxy_hide_header removes it)');
    assert.equal(yes.b.headers['cache-control'], 'no-store', 'what browsers read is left as it is');
    origin.serve('/cdn-no', { 'cache-control': 'max-age=60', expires: httpDate(60), 'cdn-cache-control': 'no-store' });
    assert.equal((await twice('/cdn-no')).origin, 2);
    origin.serve('/cdn-empty', { 'cache-control': 'max-age=60', 'cdn-cache-control': '' });
    assert.equal((await twice('/cdn-empty')).origin, 1, 'an empty CDN-Cache-Control is not a policy: Cache-Control is read');
  });

  it('max-age wins over Expires', async () => {
    origin.serve('/max-age-over-expires', () => ({ 'cache-control': 'max-age=60', expires: httpDate(-60) }));
    assert.equal((await twice('/max-age-over-expires')).origin, 1);
  });

  it('Age counts against the lifetime, and the cache sends its own Age', async () => {
    origin.serve('/aged', { 'cache-control': 'max-age=100', age: '40' });
    origin.serve('/too-old', { 'cache-control': 'max-age=100', age: '150', etag: '"x"' });
    const { b, origin: n } = await twice('/aged');
    assert.equal(n, 1);
    assert.ok(Number(b.headers.age) >= 40 && Number(b.headers.age) < 45, `age ${b.headers.age}`);
    assert.equal((await twice('/too-old')).origin, 2, 'an Age past max-age is stale on arrival');
    // An Age with trailing junk is not an Age (RFC 9111 §5.1): it counts for nothing, not 150.
    origin.serve('/age-junk', { 'cache-control': 'max-age=100', age: '150abc' });
    const junk = await twice('/age-junk');
    assert.equal(junk.origin, 1);
    assert.ok(Number(junk.b.headers.age) < 5, `age ${junk.b.headers.age}`);
  });

  it('heuristic freshness: 10% of the time since Last-Modified, at most a day', async () => {
    // Age pushes the response's age past (or short of) the heuristic lifetime without waiting for it.
    origin.serve('/heuristic', () => ({ 'last-modified': httpDate(-10_000), age: '900' }));
    origin.serve('/heuristic-stale', () => ({ 'last-modified': httpDate(-10_000), age: '1100', etag: '"h"' }));
    origin.serve('/heuristic-cap', () => ({ 'last-modified': httpDate(-100 * 86400), age: '86460', etag: '"h"' }));
    const h = await twice('/heuristic');
    assert.equal(h.b.headers['x-cache-status'], 'HIT');
    assert.equal(h.origin, 1, 'lifetime 1000 s, age 900 s: fresh');
    assert.equal((await twice('/heuristic-stale')).origin, 2, 'lifetime 1000 s, age 1100 s: stale');
    assert.equal((await twice('/heuristic-cap')).origin, 2, '10% of 100 days is capped at one day');
  });

  it('no heuristic for a status that is not heuristically cacheable', async () => {
    origin.serve('/created', () => ({ 'last-modified': httpDate(-86400) }), 201);
    assert.equal((await twice('/created')).origin, 2);
  });

  it('without freshness or a validator nothing is stored; proxy_cache_valid gives a lifetime', async () => {
    origin.serve('/plain', {});
    origin.serve('/missing', {}, 404);
    assert.equal((await twice('/plain')).origin, 2);
    const m = await twice('/missing');
    assert.equal(m.b.status, 404);
    assert.equal(m.b.headers['x-cache-status'], 'HIT');
    assert.equal(m.origin, 1, 'proxy_cache_valid 404 1m');
  });

  it('no-store and private are never stored', async () => {
    origin.serve('/no-store', { 'cache-control': 'max-age=60, no-store' });
    origin.serve('/private', { 'cache-control': 'max-age=60, private' });
    origin.serve('/private-field', { 'cache-control': 'max-age=60, private="set-cookie"' });
    assert.equal((await twice('/no-store')).origin, 2);
    assert.equal((await twice('/private')).origin, 2);
    assert.equal((await twice('/private-field')).origin, 2);
  });

  it('no-cache is stored but revalidated before every use', async () => {
    origin.on('/no-cache', (req, res, n) => {
      if (req.headers['if-none-match'] === '"nc"') { res.writeHead(304, { etag: '"nc"', 'cache-control': 'no-cache' }); res.end(); return; }
      res.writeHead(200, { etag: '"nc"', 'cache-control': 'no-cache' });
      res.end(`body #${n}`);
    });
    const { a, b, origin: n } = await twice('/no-cache');
    assert.equal(n, 2);
    assert.equal(a.headers['x-cache-status'], 'MISS');
    assert.equal(b.headers['x-cache-status'], 'REVALIDATED');
    assert.equal(b.body, 'body #1');
  });

  it('Set-Cookie responses are not stored (as in nginx)', async () => {
    origin.serve('/cookie', { 'cache-control': 'max-age=60', 'set-cookie': 'a=1' });
    assert.equal((await twice('/cookie')).origin, 2);
  });

  it('must-revalidate: a stale entry is not served even to a client that accepts stale', async () => {
    origin.serve('/must', { 'cache-control': 'max-age=1, must-revalidate', age: '5', etag: '"m"' });
    origin.serve('/may', { 'cache-control': 'max-age=1', age: '5', etag: '"m"' });
    assert.equal((await twice('/must', { 'cache-control': 'max-stale' })).origin, 2);
    const may = await twice('/may', { 'cache-control': 'max-stale' });
    assert.equal(may.origin, 1);
    assert.equal(may.b.headers['x-cache-status'], 'STALE');
  });

  it('proxy-revalidate: the same for a shared cache', async () => {
    origin.serve('/proxy-revalidate', { 'cache-control': 'max-age=1, proxy-revalidate', age: '5', etag: '"m"' });
    assert.equal((await twice('/proxy-revalidate', { 'cache-control': 'max-stale' })).origin, 2);
  });

  it('must-revalidate: when the origin fails, its error rather than the stale response', async () => {
    origin.on('/must-down', (_req, res, n) => {
      if (n > 1) { res.writeHead(503); res.end('down'); return; }
      res.writeHead(200, { 'cache-control': 'max-age=1, must-revalidate, stale-if-error=60', age: '5' });
      res.end(`body #${n}`);
    });
    await p.get('/must-down');
    const r = await p.get('/must-down', { headers: { 'cache-control': 'max-stale' } });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'down');
  });

  it('Authorization: not stored unless the response says public, s-maxage or must-revalidate', async () => {
    origin.serve('/auth', { 'cache-control': 'max-age=60' });
    origin.serve('/auth-public', { 'cache-control': 'max-age=60, public' });
    origin.serve('/auth-smaxage', { 'cache-control': 's-maxage=60' });
    const auth = { authorization: 'Bearer x' };
    assert.equal((await twice('/auth', auth)).origin, 2);
    assert.equal((await twice('/auth-public', auth)).origin, 1);
    assert.equal((await twice('/auth-smaxage', auth)).origin, 1);
  });

  it('Authorization: a response stored without it is not reused for a request with it, unless public', async () => {
    origin.serve('/shared', { 'cache-control': 'max-age=60' });
    await p.get('/shared');
    await p.get('/shared', { headers: { authorization: 'Bearer y' } });
    assert.equal(origin.count('/shared'), 2);
  });
});
