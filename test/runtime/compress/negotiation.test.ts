import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend } from '../../helpers/backends.ts';
import { startProxy, upstream, type TestProxy } from '../../helpers/proxy.ts';
import { decode, fetchRaw, origin, PAGE } from './origin.ts';

// Which encoding a client gets (spec/compression.md § Negotiation): the
// client's Accept-Encoding q-values first, the configured order among equals,
// through a real lbconf to a real origin; every compressed body decodes to the
// origin's exact bytes.

describe('compression: negotiation', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let gzipFirst: TestProxy;

  before(async () => {
    b = await new Backend('origin', origin).listen();
    p = await startProxy((port) => `${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; gzip on; location / { proxy_pass http://app; } }`);
    gzipFirst = await startProxy((port) => `${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; gzip on; compress gzip br; location / { proxy_pass http://app; } location /br/ { compress br; proxy_pass http://app; } }`);
  });

  after(async () => {
    await p?.close();
    await gzipFirst?.close();
    await b?.kill();
  });

  /** The Content-Encoding a client with this Accept-Encoding gets, after checking the body decodes to the page. */
  async function chosen(proxy: TestProxy, acceptEncoding: string | undefined, path = '/'): Promise<string> {
    const r = await fetchRaw(proxy, path, acceptEncoding);
    assert.equal(r.status, 200);
    const encoding = r.headers['content-encoding'] as string | undefined;
    assert.ok(decode(r.body, encoding).equals(PAGE), `the ${encoding ?? 'identity'} body decodes to the origin's bytes`);
    return encoding ?? 'identity';
  }

  for (const encoding of ['gzip', 'br', 'zstd']) {
    test(`${encoding}: the body decodes to exactly the origin's bytes, and is smaller`, async () => {
      const r = await fetchRaw(p, '/', encoding);
      assert.equal(r.headers['content-encoding'], encoding);
      assert.ok(decode(r.body, encoding).equals(PAGE));
      assert.ok(r.body.length < PAGE.length / 3, `${encoding}: ${r.body.length} bytes for ${PAGE.length}`);
    });
  }

  test('equal q-values: the default order prefers zstd, then br, then gzip', async () => {
    assert.equal(await chosen(p, 'gzip, deflate, br, zstd'), 'zstd');
    assert.equal(await chosen(p, 'gzip, deflate, br'), 'br');
    assert.equal(await chosen(p, 'gzip, deflate'), 'gzip');
  });

  test('q-values come before the server\'s order', async () => {
    assert.equal(await chosen(p, 'zstd;q=0.1, br;q=0.5, gzip'), 'gzip');
    assert.equal(await chosen(p, 'gzip;q=0.8, br;q=0.9'), 'br');
    assert.equal(await chosen(p, 'gzip;q=1.0, br;q=0.999'), 'gzip');
    assert.equal(await chosen(p, 'br ; q=0.5 , gzip;q=0.4'), 'br');
  });

  test('q=0 refuses an encoding', async () => {
    assert.equal(await chosen(p, 'zstd;q=0, br;q=0, gzip'), 'gzip');
    assert.equal(await chosen(p, 'gzip;q=0'), 'identity');
    assert.equal(await chosen(p, 'gzip;q=0.000'), 'identity');
  });

  test('`*` covers the encodings not listed', async () => {
    assert.equal(await chosen(p, '*'), 'zstd');
    assert.equal(await chosen(p, 'zstd;q=0, *'), 'br');
    assert.equal(await chosen(p, '*;q=0.5, gzip'), 'gzip');
    assert.equal(await chosen(p, '*;q=0'), 'identity');
  });

  test('identity: refused with q=0 changes nothing; preferred over the rest, the body is sent as is', async () => {
    assert.equal(await chosen(p, 'identity;q=0, gzip'), 'gzip');
    assert.equal(await chosen(p, 'identity'), 'identity');
    assert.equal(await chosen(p, 'gzip;q=0.5, identity'), 'identity');
    assert.equal(await chosen(p, 'gzip;q=0.5, identity;q=0.5'), 'gzip');
  });

  test('no Accept-Encoding, an empty one, or only unknown codings: not compressed', async () => {
    assert.equal(await chosen(p, undefined), 'identity');
    assert.equal(await chosen(p, ''), 'identity');
    assert.equal(await chosen(p, 'deflate, compress'), 'identity');
  });

  test('codings are case-insensitive; x-gzip is gzip; malformed elements are ignored', async () => {
    assert.equal(await chosen(p, 'GZIP;Q=0.8'), 'gzip');
    assert.equal(await chosen(p, 'x-gzip'), 'gzip');
    assert.equal(await chosen(p, 'br;q=2, gzip'), 'gzip');
    assert.equal(await chosen(p, 'br/1, gzip;q=0.5'), 'gzip');
    assert.equal(await chosen(p, 'br;level="1,2";q=0.9, gzip;q=0.5'), 'br');
  });

  test('`compress` sets which encodings are offered and their order', async () => {
    assert.equal(await chosen(gzipFirst, 'br, gzip, zstd'), 'gzip');
    assert.equal(await chosen(gzipFirst, 'br;q=1, gzip;q=0.5'), 'br');
    assert.equal(await chosen(gzipFirst, 'zstd'), 'identity');
    // A location's own `compress` replaces the server's.
    assert.equal(await chosen(gzipFirst, 'gzip, br', '/br/'), 'br');
    assert.equal(await chosen(gzipFirst, 'gzip', '/br/'), 'identity');
  });
});
