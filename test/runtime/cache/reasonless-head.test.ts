import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { certFiles } from '../../helpers/certs.ts';
import { freePort, raw, rawBackend, startProxy, type TestProxy } from '../../helpers/proxy.ts';

// Review finding, fixed: Http1Response.writeHead(status, undefined, headers) (lbconf's own
// listener) takes `headers = reason` when the reason is not a string, so the
// header list is dropped whenever the caller has no reason phrase to give.
// Node's ServerResponse keeps it (`obj ??= reason`). The cache (respond.ts,
// fetch.ts: `reason || undefined`) and the proxy (proxy.ts: undefined unless
// an HTTP/1 reason phrase passes REASON) call it that way. Cached and
// compressed locations used to be on Node's server; on lbconf's listener they
// now lose every upstream header: Content-Type, Cache-Control, ETag, the cache
// status, and Content-Encoding on a gzipped body (the client gets gzip bytes
// labelled as identity).

/** Splits a raw HTTP/1.1 response into its head fields (lower-case names) and body bytes. */
function parse(text: string): { status: number; headers: Record<string, string>; body: Buffer } {
  const end = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) { const c = l.indexOf(':'); headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim(); }
  let body = Buffer.from(text.slice(end + 4), 'latin1');
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const n = parseInt(rest.subarray(0, nl).toString('latin1'), 16);
      if (!(n > 0)) break;
      parts.push(rest.subarray(nl + 2, nl + 2 + n));
      rest = rest.subarray(nl + 4 + n);
    }
    body = Buffer.concat(parts);
  }
  return { status: Number(lines[0].split(' ')[1]), headers, body };
}

describe('a response without a reason phrase on lbconf\'s own listener', { timeout: 30_000 }, () => {
  let upstream: Awaited<ReturnType<typeof rawBackend>>;
  let p: TestProxy;

  before(async () => {
    // A valid status line with an empty reason phrase (RFC 9112 §4: reason-phrase may be empty; nginx sends one for unknown codes).
    upstream = await rawBackend((s) => {
      s.on('data', () => s.write('HTTP/1.1 200 \r\nContent-Type: text/plain\r\nCache-Control: max-age=60\r\nETag: "r1"\r\nContent-Length: 50\r\n\r\n' + 'x'.repeat(50)));
    });
    p = await startProxy((port) => `
      proxy_cache_zone z size=1m;
      server {
        listen 127.0.0.1:${port};
        location /cached/ { proxy_cache z; proxy_pass http://${upstream.address}; }
        location /gzip/ { gzip on; gzip_min_length 0; gzip_types text/plain; proxy_pass http://${upstream.address}; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await upstream.close();
  });

  test('a cached location: the miss and the hit keep the upstream\'s headers', async () => {
    const miss = parse(await raw(p.port, 'GET /cached/a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
    assert.equal(miss.status, 200);
    assert.equal(miss.headers['content-type'], 'text/plain');
    assert.equal(miss.headers['x-cache-status'], 'MISS');
    const hit = parse(await raw(p.port, 'GET /cached/a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
    assert.equal(hit.headers['x-cache-status'], 'HIT');
    assert.equal(hit.headers['etag'], '"r1"');
    assert.equal(hit.headers['content-length'], '50');
  });

  test('a compressed location: Content-Encoding goes with the gzipped body', async () => {
    const r = parse(await raw(p.port, 'GET /gzip/a HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n'));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip', 'a gzip body without Content-Encoding is corrupt to the client');
    assert.equal(gunzipSync(r.body).toString(), 'x'.repeat(50));
  });
});

describe('an entry stored for an HTTP/2 client, served from the cache to an HTTP/1.1 client', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let tlsPort = 0;

  before(async () => {
    b = await new Backend('b', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'max-age=60', etag: '"v1"' });
      res.end('<p>hello</p>');
    }).listen();
    const c = await certFiles('a.test');
    tlsPort = await freePort();
    // One site on http and https sharing its cache (a key without $scheme, as nginx configs often have).
    p = await startProxy((port) => `
      proxy_cache_zone z size=1m;
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        listen 127.0.0.1:${tlsPort} ssl;
        server_name a.test;
        ssl_certificate ${c.cert};
        ssl_certificate_key ${c.key};
        location / { proxy_cache z; proxy_cache_key $host$request_uri; proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('the hit keeps the stored headers (HTTP/2 has no reason phrase: the entry holds none)', async () => {
    const s = h2connect(`https://127.0.0.1:${tlsPort}`, { rejectUnauthorized: false, servername: 'a.test' });
    s.on('error', () => {});
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const r = s.request({ ':path': '/x', host: 'a.test' });
        let st = 0;
        r.on('response', (h) => { st = Number(h[':status']); });
        r.on('data', () => {});
        r.on('end', () => resolve(st));
        r.on('error', reject);
      });
      assert.equal(status, 200);
    } finally {
      s.close();
    }
    const hit = parse(await raw(p.port, 'GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'));
    assert.equal(hit.status, 200);
    assert.equal(hit.headers['x-cache-status'], 'HIT');
    assert.equal(hit.headers['content-type'], 'text/html');
    assert.equal(hit.headers['etag'], '"v1"');
    assert.equal(b.requests, 1);
  });
});
