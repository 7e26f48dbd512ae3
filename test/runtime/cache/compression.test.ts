import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { request } from 'undici';
import type { TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// Cache and compression together: the cache stores the body as the origin
// sent it and compresses on the way out, for misses and hits alike, per the
// client's Accept-Encoding.

describe('cache: with compression', () => {
  const origin = new Origin();
  let p: TestProxy;
  const text = 'lbconf caches, then compresses. '.repeat(200);
  useOrigin(origin, async () => {
    p = await cachingProxy(origin, 'gzip on; gzip_min_length 100;');
    origin.serve('*', { 'cache-control': 'max-age=60', 'content-type': 'text/html', etag: '"z"' });
    origin.on('/page', (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/html', etag: '"z"' }); res.end(text); });
  });

  async function fetchRaw(path: string, encoding: string | null) {
    const res = await request(`${p.origin}${path}`, { dispatcher: p.agent, headers: encoding === null ? {} : { 'accept-encoding': encoding } });
    return { headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
  }

  it('stores identity and compresses for each client, on a miss and on a hit', async () => {
    const miss = await fetchRaw('/page', 'gzip');
    assert.equal(miss.headers['x-cache-status'], 'MISS');
    assert.equal(miss.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(miss.body).toString(), text);
    const plain = await fetchRaw('/page', null);
    assert.equal(plain.headers['x-cache-status'], 'HIT');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), text, 'the stored body is what the origin sent');
    const hit = await fetchRaw('/page', 'gzip');
    assert.equal(hit.headers['x-cache-status'], 'HIT');
    assert.equal(hit.headers['content-encoding'], 'gzip');
    assert.match(String(hit.headers.vary), /accept-encoding/i);
    assert.equal(hit.headers.etag, 'W/"z"', 'a compressed body has a weak ETag');
    assert.equal(gunzipSync(hit.body).toString(), text);
    assert.equal(origin.count('/page'), 1);
  });

  it('a 304 from the cache carries the validators of the variant the client holds', async () => {
    await fetchRaw('/page', 'gzip');
    const compressed = await request(`${p.origin}/page`, { dispatcher: p.agent, headers: { 'accept-encoding': 'gzip', 'if-none-match': 'W/"z"' } });
    await compressed.body.dump();
    assert.equal(compressed.statusCode, 304);
    assert.equal(compressed.headers.etag, 'W/"z"');
    assert.match(String(compressed.headers.vary), /accept-encoding/i);
    const identity = await request(`${p.origin}/page`, { dispatcher: p.agent, headers: { 'if-none-match': '"z"' } });
    await identity.body.dump();
    assert.equal(identity.statusCode, 304);
    assert.equal(identity.headers.etag, '"z"');
  });
});
