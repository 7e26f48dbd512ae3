import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { certFiles } from '../../helpers/certs.ts';
import { freePort, raw, startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// Cache poisoning through the key and the headers lbconf forwards: what the
// origin is told about the client's request (X-Forwarded-Host with its port,
// X-Forwarded-Proto, X-Forwarded-For, proxy_set_header) and what the cache
// keys and selects variants on must agree, and the key's parts must never run
// into one another.

/** A page whose links are built from what the origin was told, as frameworks build absolute URLs and redirects. */
function linkPage(origin: Origin, path: string, vary?: string): void {
  origin.on(path, (req, res) => {
    const h: Record<string, string> = { 'cache-control': 'max-age=60', 'content-type': 'text/html' };
    if (vary !== undefined) h.vary = vary;
    res.writeHead(200, h);
    res.end(`<a href="${req.headers['x-forwarded-proto']}://${req.headers['x-forwarded-host']}/next">`);
  });
}

const host = (value: string) => ({ headers: { host: value } });

describe('cache poisoning: the default key keeps the port of the host lbconf forwards', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => {
    p = await cachingProxy(origin, 'proxy_cache_purge 127.0.0.1;');
    linkPage(origin, '/page');
    linkPage(origin, '/abs');
  });

  it('a page made for Host example.test:1337 is not served to example.test, nor to example.test:80', async () => {
    const evil = await p.get('/page', host('example.test:1337'));
    assert.equal(evil.body, '<a href="http://example.test:1337/next">');
    const victim = await p.get('/page', host('example.test'));
    assert.equal(victim.headers['x-cache-status'], 'MISS');
    assert.equal(victim.body, '<a href="http://example.test/next">');
    const other = await p.get('/page', host('example.test:80'));
    assert.equal(other.headers['x-cache-status'], 'MISS', 'the origin was told example.test:80, which is another value');
    const again = await p.get('/page', host('example.test'));
    assert.equal(again.headers['x-cache-status'], 'HIT');
    assert.equal(again.body, '<a href="http://example.test/next">');
    assert.equal(origin.count('/page'), 3);
  });

  it('an absolute-form target, whose authority replaces Host, is keyed on that authority', async () => {
    const text = await raw(p.port, 'GET http://example.test:1337/abs HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /example\.test:1337\/next/);
    const victim = await p.get('/abs', host('example.test'));
    assert.equal(victim.headers['x-cache-status'], 'MISS');
    assert.equal(victim.body, '<a href="http://example.test/next">');
  });

  it('the purge method, and purge(zone, key) for the admin API, use the key as documented', async () => {
    origin.serve('/purged', { 'cache-control': 'max-age=60' });
    await p.get('/purged', host('a.test:8080'));
    // `$scheme$authority$request_uri`: each variable's value followed by a space, except at the end.
    assert.equal(p.rt.cacheZones.purge('z', 'http a.test:8080 /purged'), 1);
    assert.equal(p.rt.cacheZones.purge('z', 'http a.test:8080 /purged'), 0);
    assert.equal(p.rt.cacheZones.purge('z', 'httpa.test:8080/purged'), 0, 'the old, unseparated form is not a key');
    // The purge method computes the key as a GET would: that spelling of the host only.
    await p.get('/purged', host('a.test:8080'));
    await p.get('/purged', host('a.test'));
    const purge = await p.get('/purged', { method: 'PURGE', headers: { host: 'a.test:8080' } });
    assert.equal(purge.status, 200);
    assert.match(purge.body, /purged 1 entry/);
    assert.equal((await p.get('/purged', host('a.test'))).headers['x-cache-status'], 'HIT');
    assert.equal((await p.get('/purged', host('a.test:8080'))).headers['x-cache-status'], 'MISS');
  });

  it('an unsafe method invalidates every spelling of the host the key tells apart (one effective URI)', async () => {
    origin.on('/inv', (req, res, n) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end(`body #${n}`);
    });
    await p.get('/inv', host('example.test'));
    await p.get('/inv', host('example.test:80'));
    await p.get('/inv', host('Example.Test'));
    const cached = async (h: string) => (await p.get('/inv', { headers: { host: h, 'cache-control': 'only-if-cached' } })).status === 200;
    assert.ok(await cached('example.test') && await cached('example.test:80') && await cached('Example.Test'));
    await p.get('/inv', { method: 'POST', body: 'x', headers: { host: 'EXAMPLE.test:80' } });
    assert.equal(await cached('example.test'), false);
    assert.equal(await cached('example.test:80'), false);
    assert.equal(await cached('Example.Test'), false);
  });
});

describe('cache poisoning: the key\'s parts are separated (scheme and host)', () => {
  const origin = new Origin();
  let p: TestProxy;
  let tlsPort = 0;
  let tls: Agent;
  before(async () => {
    await origin.start();
    linkPage(origin, '/x');
    linkPage(origin, '/proto', 'X-Forwarded-Proto');
    const files = await certFiles('example.test');
    tlsPort = await freePort();
    p = await startProxy((port) => `proxy_cache_zone z size=1m;
server {
    listen 127.0.0.1:${port};
    listen 127.0.0.1:${tlsPort} ssl;
    ssl_certificate ${files.cert};
    ssl_certificate_key ${files.key};
    location / {
        proxy_cache z;
        proxy_pass http://${origin.address};
    }
    location /proto {
        proxy_cache z;
        proxy_cache_key $request_uri;
        proxy_pass http://${origin.address};
    }
}`);
    tls = new Agent({ connect: { rejectUnauthorized: false, servername: 'example.test' } });
  });
  after(async () => {
    await tls.close();
    await p.close();
    await origin.stop();
  });

  const https = async (path: string, hostValue: string) => {
    const res = await request(`https://127.0.0.1:${tlsPort}${path}`, { dispatcher: tls, headers: { host: hostValue } });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };

  it('plain http with Host: sexample.test does not fill the entry that https://example.test reads', async () => {
    const evil = await p.get('/x', host('sexample.test'));
    assert.equal(evil.body, '<a href="http://sexample.test/next">');
    const victim = await https('/x', 'example.test');
    assert.equal(victim.headers['x-cache-status'], 'MISS');
    assert.equal(victim.body, '<a href="https://example.test/next">');
    assert.equal((await https('/x', 'example.test')).headers['x-cache-status'], 'HIT');
    assert.equal((await p.get('/x', host('sexample.test'))).headers['x-cache-status'], 'HIT');
  });

  it('Vary: X-Forwarded-Proto is evaluated on the scheme sent upstream, not on a header the client sent', async () => {
    const plain = await p.get('/proto', { headers: { host: 'example.test', 'x-forwarded-proto': 'https' } });
    assert.equal(plain.body, '<a href="http://example.test/next">');
    const secure = await https('/proto', 'example.test');
    assert.equal(secure.headers['x-cache-status'], 'MISS', 'the origin was told https this time');
    assert.equal(secure.body, '<a href="https://example.test/next">');
    assert.equal((await https('/proto', 'example.test')).headers['x-cache-status'], 'HIT');
    const plainAgain = await p.get('/proto', host('example.test'));
    assert.equal(plainAgain.headers['x-cache-status'], 'HIT', 'the variant stored for what was sent: http');
    assert.equal(plainAgain.body, '<a href="http://example.test/next">');
  });
});

describe('cache poisoning: Vary on a header lbconf sets is evaluated on the value it sends', () => {
  const origin = new Origin();
  let byUri: TestProxy;
  let setHeader: TestProxy;
  useOrigin(origin, async () => {
    // A key without the host: only Vary keeps the variants apart.
    byUri = await cachingProxy(origin, 'proxy_cache_key $request_uri;');
    setHeader = await cachingProxy(origin, 'proxy_cache_key $uri; proxy_set_header X-Lang $arg_lang;');
    linkPage(origin, '/xfh', 'X-Forwarded-Host');
    origin.on('/xff', (req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'X-Forwarded-For' });
      res.end(`for ${req.headers['x-forwarded-for']}`);
    });
    origin.on('/lang', (req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'X-Lang' });
      res.end(`in ${req.headers['x-lang']}`);
    });
    origin.on('/via', (req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Via' });
      res.end(`via ${req.headers.via}`);
    });
  });

  it('X-Forwarded-Host: each host the origin was told gets its own variant, whatever X-Forwarded-Host the client sent', async () => {
    const a = await byUri.get('/xfh', host('a.test:1337'));
    assert.equal(a.body, '<a href="http://a.test:1337/next">');
    const b = await byUri.get('/xfh', host('b.test'));
    assert.equal(b.headers['x-cache-status'], 'MISS');
    assert.equal(b.body, '<a href="http://b.test/next">');
    // The client's own X-Forwarded-Host is replaced: it neither picks nor avoids a variant.
    const spoof = await byUri.get('/xfh', { headers: { host: 'b.test', 'x-forwarded-host': 'a.test:1337' } });
    assert.equal(spoof.headers['x-cache-status'], 'HIT');
    assert.equal(spoof.body, '<a href="http://b.test/next">');
    assert.equal(origin.count('/xfh'), 2);
  });

  it('X-Forwarded-For: the client\'s own header (replaced, from an untrusted peer) does not choose the variant', async () => {
    const first = await byUri.get('/xff', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(first.body, 'for 127.0.0.1');
    const second = await byUri.get('/xff');
    assert.equal(second.headers['x-cache-status'], 'HIT', 'the origin was sent 127.0.0.1 both times');
    assert.equal(second.body, 'for 127.0.0.1');
    assert.equal((await byUri.get('/xff', { headers: { 'x-forwarded-for': '198.51.100.7' } })).headers['x-cache-status'], 'HIT');
    assert.equal(origin.count('/xff'), 1);
  });

  it('proxy_set_header: a variant per value sent, not per the client\'s header of that name', async () => {
    const en = await setHeader.get('/lang?lang=en');
    assert.equal(en.body, 'in en');
    const fr = await setHeader.get('/lang?lang=fr', { headers: { 'x-lang': 'en' } });
    assert.equal(fr.headers['x-cache-status'], 'MISS');
    assert.equal(fr.body, 'in fr');
    const enAgain = await setHeader.get('/lang?lang=en&other=1', { headers: { 'x-lang': 'fr' } });
    assert.equal(enAgain.headers['x-cache-status'], 'HIT');
    assert.equal(enAgain.body, 'in en');
  });

  it('Via: the value sent (the client\'s Via with lbconf\'s own appended)', async () => {
    const none = await byUri.get('/via');
    assert.equal(none.body, 'via 1.1 lbconf');
    const other = await byUri.get('/via', { headers: { via: '1.0 edge' } });
    assert.equal(other.headers['x-cache-status'], 'MISS');
    assert.equal(other.body, 'via 1.0 edge, 1.1 lbconf');
    assert.equal((await byUri.get('/via')).headers['x-cache-status'], 'HIT');
  });
});
