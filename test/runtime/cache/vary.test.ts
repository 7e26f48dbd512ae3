import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// Vary (RFC 9111 §4.1): one stored variant per value of the headers named.

describe('cache: Vary', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => { p = await cachingProxy(origin); });

  it('keeps a variant per value of the header named, and answers each from its own', async () => {
    origin.on('/lang', (req, res) => {
      res.writeHead(200, { vary: 'Accept-Language', 'cache-control': 'max-age=60' });
      res.end(`in ${req.headers['accept-language'] ?? 'none'}`);
    });
    const en = { headers: { 'accept-language': 'en' } };
    const fr = { headers: { 'accept-language': 'fr' } };
    assert.equal((await p.get('/lang', en)).body, 'in en');
    assert.equal((await p.get('/lang', fr)).body, 'in fr');
    assert.equal((await p.get('/lang')).body, 'in none');
    const enHit = await p.get('/lang', en);
    assert.equal(enHit.body, 'in en');
    assert.equal(enHit.headers['x-cache-status'], 'HIT');
    assert.equal((await p.get('/lang', fr)).body, 'in fr');
    assert.equal((await p.get('/lang', { headers: { 'accept-language': '  fr ' } })).headers['x-cache-status'], 'HIT', 'white space is normalized');
    assert.equal((await p.get('/lang')).body, 'in none');
    assert.equal(origin.count('/lang'), 3);
  });

  it('a variant per combination of several headers', async () => {
    origin.on('/two', (req, res) => {
      res.writeHead(200, { vary: 'Accept-Language, X-Theme', 'cache-control': 'max-age=60' });
      res.end(`${req.headers['accept-language']}/${req.headers['x-theme']}`);
    });
    const h = (l: string, t: string) => ({ headers: { 'accept-language': l, 'x-theme': t } });
    for (const [l, t] of [['en', 'dark'], ['en', 'light'], ['en', 'dark'], ['de', 'dark'], ['en', 'light']]) {
      assert.equal((await p.get('/two', h(l, t))).body, `${l}/${t}`);
    }
    assert.equal(origin.count('/two'), 3);
  });

  it('Vary: * is never stored', async () => {
    origin.serve('/star', { vary: '*', 'cache-control': 'max-age=60' });
    await p.get('/star');
    assert.equal((await p.get('/star')).headers['x-cache-status'], 'MISS');
    assert.equal(origin.count('/star'), 2);
  });
});
