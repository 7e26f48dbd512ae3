import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, echoName, stopAll } from '../../helpers/backends.ts';
import { freePort, raw, rawBackend, startProxy, type TestProxy } from '../../helpers/proxy.ts';

// What the client gets when upstreams fail (spec/proxy.md § Errors): the
// status, a short body of lbconf's own, and a proxy that keeps serving.

/** An error body is one short line: no address, port, host name or stack. */
function assertCleanBody(body: string, ports: number[]): void {
  assert.ok(body.length < 40, `short body: ${JSON.stringify(body)}`);
  assert.doesNotMatch(body, /127\.0\.0\.1|localhost|\bat\b|Error|ECONN|UND_ERR|LBCONF_|HPE_/);
  for (const port of ports) assert.ok(!body.includes(String(port)), `body names port ${port}: ${body}`);
}

describe('errors', { timeout: 20_000 }, () => {
  let good: Backend;
  let silent: Backend;
  let garbage: Awaited<ReturnType<typeof rawBackend>>;
  let resetter: Backend;
  let deadPort: number;
  let p: TestProxy;

  before(async () => {
    good = await new Backend('good').listen();
    // Takes the request and never answers.
    silent = await new Backend('silent', () => {}).listen();
    // Not HTTP at all.
    garbage = await rawBackend((s) => s.once('data', () => s.end('SSH-2.0-OpenSSH_9.6\r\nthis is not http\r\n\r\n')));
    // Sends headers and half a body, then resets the connection; answers /ok normally.
    resetter = await new Backend('resetter', (req, res, b) => {
      if (req.url!.endsWith('/ok')) { echoName(req, res, b); return; }
      if (req.url!.startsWith('/stall/')) { res.writeHead(200, { 'content-length': '100' }); res.write('half'); return; }
      res.writeHead(200, { 'content-length': '100000' });
      res.write('x'.repeat(1000), () => setTimeout(() => req.socket.resetAndDestroy(), 20));
    }).listen();
    deadPort = await freePort();
    p = await startProxy((port) => `
      upstream dead { server 127.0.0.1:${deadPort} max_fails=0; }
      upstream alldown { server 127.0.0.1:${deadPort} down; server ${good.address} down; }
      upstream silent { server ${silent.address} max_fails=0; }
      upstream garbage { server ${garbage.address} max_fails=0; }
      upstream resetter { server ${resetter.address} max_fails=0; }
      upstream good { server ${good.address}; }
      server {
        listen 127.0.0.1:${port};
        proxy_next_upstream off;
        location /dead/ { proxy_pass http://dead; }
        location /alldown/ { proxy_pass http://alldown; }
        location /silent/ { proxy_header_timeout 200ms; proxy_pass http://silent; }
        location /request-timeout/ { proxy_request_timeout 200ms; proxy_pass http://silent; }
        location /garbage/ { proxy_pass http://garbage; }
        location /reset/ { proxy_pass http://resetter; }
        location /good/ { proxy_pass http://good; }
        location /stall/ { proxy_read_timeout 200ms; proxy_pass http://resetter; }
      }`);
  });
  after(async () => {
    await p?.close();
    await stopAll([good, silent, resetter]);
    await garbage?.close();
  });

  const ports = () => [deadPort, good.port, silent.port, resetter.port, Number(garbage.address.split(':')[1])];

  test('502 when the server refuses connections', async () => {
    for (let k = 0; k < 3; k++) {
      const r = await p.get('/dead/x');
      assert.equal(r.status, 502);
      assert.equal(r.body, '502 Bad Gateway\n');
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assertCleanBody(r.body, ports());
    }
  });

  test('503 when every server is down', async () => {
    const r = await p.get('/alldown/x');
    assert.equal(r.status, 503);
    assertCleanBody(r.body, ports());
  });

  test('504 when the server does not answer within proxy_header_timeout', async () => {
    const t0 = Date.now();
    const r = await p.get('/silent/x');
    assert.equal(r.status, 504);
    assertCleanBody(r.body, ports());
    assert.ok(Date.now() - t0 < 2000);
  });

  test('504 when proxy_request_timeout runs out before the response', async () => {
    const r = await p.get('/request-timeout/x');
    assert.equal(r.status, 504);
    assertCleanBody(r.body, ports());
  });

  test('502 when the upstream does not speak HTTP', async () => {
    const r = await p.get('/garbage/x');
    assert.equal(r.status, 502);
    assertCleanBody(r.body, ports());
  });

  test('a reset in the middle of the response closes the client connection; the proxy serves the next request', async () => {
    await assert.rejects(async () => {
      const r = await p.get('/reset/x');
      assert.equal(r.status, 200);
    }, (err: Error & { code?: string }) => /UND_ERR_SOCKET|ECONNRESET|UND_ERR_RES_CONTENT_LENGTH_MISMATCH|terminated|other side closed/.test(`${err.code} ${err.message}`));
    const ok = await p.get('/reset/ok');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-backend'], 'resetter');
    assert.equal((await p.get('/good/x')).status, 200);
  });

  test('a pause longer than proxy_read_timeout in the response body closes the client connection', async () => {
    const text = await raw(p.port, 'GET /stall/x HTTP/1.1\r\nHost: a\r\n\r\n');
    // The status went out already: the connection is cut short of the promised 100 bytes.
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.ok(text.endsWith('\r\n\r\nhalf'), JSON.stringify(text));
    assert.equal((await p.get('/reset/ok')).status, 200);
  });

  test('a raw client sees the status line of lbconf errors, with a body that names nothing', async () => {
    const text = await raw(p.port, 'GET /dead/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assertCleanBody(text.slice(text.indexOf('\r\n\r\n') + 4), ports());
  });

  test('malformed requests get 400 and the connection is closed', async () => {
    for (const bad of [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      // Request smuggling: both framings.
      'POST /good/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nBad Header\r\n\r\n',
    ]) {
      const text = await raw(p.port, bad);
      assert.match(text, /^HTTP\/1\.1 400 /, JSON.stringify(bad));
    }
    const huge = await raw(p.port, `GET /good/ HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assert.equal((await p.get('/good/x')).status, 200);
  });
});
