import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { freePort, raw, startProxy, type TestProxy } from '../../helpers/proxy.ts';

// Hiding the backends (spec/security.md § Hiding the backends): response
// headers that name the software behind, lbconf's own Server header, and
// error pages of one's own that never name an upstream.

describe('hiding the backends', { timeout: 30_000 }, () => {
  let b: Backend;
  let silent: Backend;
  let deadPort: number;
  let p: TestProxy;
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-pages-'));
  writeFileSync(join(dir, '404.html'), '<h1>not here</h1>\n');

  before(async () => {
    b = await new Backend('b', (req, res) => {
      res.writeHead(200, { server: 'Apache/2.4.1 (Unix)', 'x-powered-by': 'PHP/5.3', 'x-runtime': '0.1', 'x-backend': 'b', 'x-debug-host': 'app-7' });
      res.end('ok');
    }).listen();
    silent = await new Backend('silent', () => {}).listen();
    deadPort = await freePort();
    writeFileSync(join(dir, 'test.lbconf'), '');
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      upstream dead { server 127.0.0.1:${deadPort} max_fails=0; }
      upstream silent { server ${silent.address} max_fails=0; }
      error_page 502 503 504 "<html><body>We will be right back</body></html>";
      server {
        listen 127.0.0.1:${port};
        proxy_next_upstream off;
        location / { proxy_pass http://app; }
        location /hide/ { proxy_hide_header X-Runtime; proxy_hide_header x-debug-host; proxy_pass http://app; }
        location /pass/ { proxy_pass_header Server; proxy_pass http://app; }
        location /tokens/ { server_tokens on; proxy_pass http://app; }
        location /tokens-return/ { server_tokens on; return 200 "hi"; }
        location /dead/ { proxy_pass http://dead; }
        location /silent/ { proxy_header_timeout 200ms; proxy_pass http://silent; }
        location /own/ { error_page 502 "own page"; proxy_pass http://dead; }
        location /file/ { error_page 404 file=${join(dir, '404.html')}; error_page 403 "<b>no</b>" type=text/x-custom; location /file/denied/ { deny all; } }
        location /plain/ { error_page 418 "x"; proxy_pass http://dead; }
      }`);
  });
  after(async () => {
    await p?.close();
    await stopAll([b, silent]);
  });

  test('Server and X-Powered-By of the upstream are hidden by default', async () => {
    const r = await p.get('/x');
    assert.equal(r.status, 200);
    assert.equal(r.headers.server, undefined);
    assert.equal(r.headers['x-powered-by'], undefined);
    assert.equal(r.headers['x-runtime'], '0.1');
  });

  test('proxy_hide_header hides more (case-insensitive); proxy_pass_header passes a default-hidden one', async () => {
    const hidden = await p.get('/hide/x');
    assert.equal(hidden.headers['x-runtime'], undefined);
    assert.equal(hidden.headers['x-debug-host'], undefined);
    assert.equal(hidden.headers.server, undefined);
    assert.equal(hidden.headers['x-backend'], 'b');
    const passed = await p.get('/pass/x');
    assert.equal(passed.headers.server, 'Apache/2.4.1 (Unix)');
    assert.equal(passed.headers['x-powered-by'], undefined);
  });

  test('server_tokens on says `Server: lbconf` (no version), on proxied, own and error responses; off says nothing', async () => {
    assert.equal((await p.get('/tokens/x')).headers.server, 'lbconf');
    assert.equal((await p.get('/tokens-return/x')).headers.server, 'lbconf');
    assert.equal((await p.get('/dead/x')).headers.server, undefined);
    assert.equal((await p.get('/x')).headers.server, undefined);
  });

  test('error_page replaces lbconf\'s own bodies, inherited from the top level, with its content type', async () => {
    const r = await p.get('/dead/x');
    assert.equal(r.status, 502);
    assert.equal(r.body, '<html><body>We will be right back</body></html>');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    const own = await p.get('/own/x');
    assert.equal(own.status, 502);
    assert.equal(own.body, 'own page');
    assert.equal(own.headers['content-type'], 'text/plain; charset=utf-8');
    // A level with its own error_page does not inherit the outer ones: 502 here is lbconf's line.
    const plain = await p.get('/plain/x');
    assert.equal(plain.body, '502 Bad Gateway\n');
  });

  test('error_page file= is read when the config loads; type= sets the content type', async () => {
    const r = await p.get('/file/x');
    assert.equal(r.status, 404);
    assert.equal(r.body, '<h1>not here</h1>\n');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    const denied = await p.get('/file/denied/x');
    assert.equal(denied.status, 403);
    assert.equal(denied.body, '<b>no</b>');
    assert.equal(denied.headers['content-type'], 'text/x-custom');
  });

  test('a missing error_page file fails the load, and the running config stays', async () => {
    await assert.rejects(p.load(p.source.replace(join(dir, '404.html'), join(dir, 'missing.html'))), /cannot read error_page file/);
    assert.equal((await p.get('/file/x')).body, '<h1>not here</h1>\n');
  });

  test('no response on any error path names a backend address, port or host', async () => {
    const secrets = ['127.0.0.1', String(b.port), String(deadPort), String(silent.port), 'app-7', 'Apache', 'PHP', 'ECONNREFUSED', 'LBCONF_', 'HPE_', 'UND_ERR'];
    const texts: string[] = [];
    for (const path of ['/dead/x', '/silent/x', '/own/x', '/plain/x', '/file/x', '/file/denied/x', '/hide/x']) {
      texts.push(await raw(p.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`));
    }
    for (const bad of ['GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n', `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`, 'GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: a\r\n\r\n']) {
      texts.push(await raw(p.port, bad));
    }
    for (const text of texts) {
      assert.match(text, /^HTTP\/1\.1 \d{3} /);
      // The Host header the client sent is echoed nowhere but routing, and the backend's own headers are gone.
      for (const secret of secrets) assert.ok(!text.includes(secret), `response names ${secret}:\n${text.slice(0, 400)}`);
    }
  });
});
