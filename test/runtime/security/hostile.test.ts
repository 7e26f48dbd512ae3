import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { raw, rawStatus, startProxy, until, type TestProxy } from '../../helpers/proxy.ts';
import { statusOf } from '../../helpers/raw.ts';

// Hostile requests (spec/security.md § Hostile requests): each gets its 4xx,
// the connection closes, and other clients see nothing of it. Both framings,
// duplicate Content-Length and header syntax basics are in
// test/runtime/proxy/errors.test.ts; encoded traversal in paths.test.ts.

describe('hostile requests', { timeout: 60_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b').listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        server_name known.example;
        client_header_timeout 2s;
        max_connections 300;
        location / { proxy_pass http://app; }
        location /admin/ { deny all; }
      }`);
  });
  after(async () => {
    await p?.close();
    await stopAll([b]);
  });

  /** Sends a raw request, expects `status`, and checks the proxy still serves others. */
  async function refuses(data: string, status: number, what: string): Promise<void> {
    const before = b.requests;
    const text = await raw(p.port, data, 3000);
    assert.equal(statusOf(text), status, `${what}: ${JSON.stringify(text.slice(0, 200))}`);
    assert.equal(b.requests, before, `${what}: nothing reached the upstream`);
    assert.equal((await p.get('/ok')).status, 200);
  }

  test('obfuscated Transfer-Encoding: 400 (or 501 for a coding lbconf does not decode)', async () => {
    await refuses('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n', 400, 'chunked, identity');
    await refuses('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', 400, 'xchunked');
    await refuses('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', 400, 'space before the colon');
    await refuses('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n', 400, 'two Transfer-Encoding headers');
    await refuses('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501, 'gzip, chunked');
    await refuses('POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'chunked in HTTP/1.0');
    await refuses('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd', 400, 'the same Content-Length twice');
    await refuses('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\nabcd', 400, 'a list in Content-Length');
    await refuses('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd', 400, 'a signed Content-Length');
    // Leading white space in the value is allowed (it is not part of the value): this one is plain chunked.
    const text = await raw(p.port, 'POST /ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:   chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n');
    assert.equal(statusOf(text), 200);
  });

  test('invalid header names and values, CR/LF injection and NUL bytes: 400', async () => {
    await refuses('GET / HTTP/1.1\r\nHost: a\r\nX(Bad): 1\r\n\r\n', 400, 'a separator in a header name');
    await refuses('GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n', 400, 'NUL in a value');
    await refuses('GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rX-Injected: 1\r\n\r\n', 400, 'a bare CR in a value');
    await refuses('GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n', 400, 'obsolete line folding');
    await refuses('GET / HTTP/1.1\nHost: a\nX-A: b\n\n', 400, 'bare LF line ends');
    await refuses('GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'NUL in the target');
    await refuses('GET /a%0d%0aSet-Cookie:%20x HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'encoded CR LF in the path');
    await refuses('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'two Host headers');
    await refuses('GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400, 'a space in Host');
    await refuses('GET / HTTP/1.1\r\nHost: evil.example/path\r\n\r\n', 400, 'a path in Host');
    await refuses('GET / HTTP/1.1\r\nHost: a..b\r\n\r\n', 400, 'two dots in a row in Host (nginx refuses it)');
    await refuses('GET / HTTP/1.1\r\n\r\n', 400, 'HTTP/1.1 without Host');
    await refuses('GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505, 'HTTP/2.0 in an HTTP/1 request line');
    await refuses('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n', 405, 'CONNECT');
  });

  test('a header value cannot inject a header upstream', async () => {
    // undici refuses a value with CR/LF; lbconf answers 400 and blames no one.
    const r = await p.get('/ok', { headers: { 'x-a': 'fine' } });
    assert.equal(r.status, 200);
    const echoed = JSON.parse(r.body).headers;
    assert.equal(echoed['x-a'], 'fine');
  });

  test('absolute-form targets route like a Host header, and never choose where lbconf connects', async () => {
    const before = b.requests;
    for (const target of ['http://evil.example:22/x', 'http://127.0.0.1:1/x', 'https://known.example/x', 'http://169.254.169.254/latest/meta-data/']) {
      const text = await raw(p.port, `GET ${target} HTTP/1.1\r\nHost: known.example\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(text), 200, target);
      // The body is chunked: one chunk, then the last.
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      const echoed = JSON.parse(body.slice(body.indexOf('\r\n') + 2, body.lastIndexOf('\r\n0\r\n')));
      // It went to the configured upstream, with the upstream's Host; only the path and query were taken.
      assert.equal(echoed.backend, 'b');
      assert.equal(echoed.headers.host, 'app');
      assert.ok(echoed.url.startsWith('/'), echoed.url);
    }
    assert.equal(b.requests, before + 4);
    await refuses('GET http://user:pw@known.example/x HTTP/1.1\r\nHost: known.example\r\n\r\n', 400, 'userinfo in the authority');
    await refuses('GET http:///x HTTP/1.1\r\nHost: known.example\r\n\r\n', 400, 'an empty authority');
    await refuses('GET ftp://known.example/x HTTP/1.1\r\nHost: known.example\r\n\r\n', 400, 'another scheme');
    // The authority of an absolute-form target replaces Host for routing: /admin/ stays denied.
    assert.equal(await rawStatus(p.port, 'http://other.example/admin/'), 403);
  });

  test('oversized headers get 431 and a long request line 414; others are served meanwhile', async () => {
    await refuses(`GET / HTTP/1.1\r\nHost: a\r\nCookie: ${'c'.repeat(40_000)}\r\n\r\n`, 431, 'a 40 kB cookie');
    await refuses(`GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 200 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`, 431, '200 header fields');
    await refuses(`GET /${'a'.repeat(10_000)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414, 'a 10 kB target');
  });

  test('a flood of 200 slow clients (a header byte per second) is bounded in time while others are served', async () => {
    const slow: Socket[] = [];
    const closed: Promise<unknown>[] = [];
    const answers: string[] = [];
    for (let i = 0; i < 200; i++) {
      const s = connect(p.port, '127.0.0.1');
      s.on('error', () => {});
      let text = '';
      s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
      closed.push(once(s, 'close').then(() => answers.push(text)));
      slow.push(s);
    }
    await Promise.all(slow.map((s) => once(s, 'connect')));
    const header = 'GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ' + 'x'.repeat(100);
    let at = 0;
    const drip = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write(header[at] ?? 'x'); at++; }, 1000);
    try {
      const t0 = Date.now();
      // Normal clients are served promptly all along.
      while (Date.now() - t0 < 2500) {
        const t = Date.now();
        const r = await p.get('/ok', { headers: { connection: 'close' } });
        assert.equal(r.status, 200);
        assert.ok(Date.now() - t < 1000, 'served promptly');
        await new Promise((r) => setTimeout(r, 200));
      }
      // Every slow client is cut off by client_header_timeout (2 s, checked every second).
      await Promise.race([Promise.all(closed), new Promise((_, reject) => setTimeout(() => reject(new Error(`${200 - answers.length} slow clients still open`)), 6000))]);
      assert.ok(Date.now() - t0 < 6500);
      assert.ok(answers.every((a) => a === '' || statusOf(a) === 408), 'each got 408 or was closed');
      assert.ok(answers.filter((a) => statusOf(a) === 408).length >= 190);
      assert.ok(slow.every((s) => s.destroyed));
    } finally {
      clearInterval(drip);
      for (const s of slow) s.destroy();
    }
    await until(() => true, 10);
    assert.equal((await p.get('/ok')).status, 200);
  });
});
