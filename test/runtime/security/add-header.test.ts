import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';

// `add_header`: lbconf's own response headers (HSTS and the like), on 2xx/3xx
// answers, or on every answer with `always`, inherited as nginx does.

describe('add_header', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b', (req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' });
      res.end('ok');
    }).listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      add_header X-Frame-Options DENY;
      server {
        listen 127.0.0.1:${port};
        add_header Strict-Transport-Security "max-age=31536000" always;
        add_header X-Served-By "lbconf for $host";
        location / { proxy_pass http://app; }
        location = /hello { return 200 "hi"; }
        location = /moved { return 301 /hello; }
        location /own/ { add_header X-Own yes; proxy_pass http://app; }
        location /deny/ { deny all; return 200; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('a proxied 200 gets the headers of its level (not the outer level’s, which it replaces)', async () => {
    const r = await p.get('/x', { headers: { host: 'shop.test' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal(r.headers['x-served-by'], 'lbconf for shop.test');
    assert.equal(r.headers['x-frame-options'], undefined, 'the server level adds its own, so the top level’s is not inherited');
  });

  test('without always, an error status gets none; always headers go on every answer', async () => {
    const r = await p.get('/missing');
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-served-by'], undefined);
    assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
    const d = await p.get('/deny/x');
    assert.equal(d.status, 403);
    assert.equal(d.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal(d.headers['x-served-by'], undefined);
  });

  test('return answers and redirects get them too; a location that adds its own replaces them', async () => {
    const hello = await p.get('/hello');
    assert.equal(hello.body, 'hi');
    assert.equal(hello.headers['x-served-by'], 'lbconf for 127.0.0.1');
    const moved = await p.get('/moved');
    assert.equal(moved.status, 301);
    assert.equal(moved.headers['x-served-by'], 'lbconf for 127.0.0.1');
    const own = await p.get('/own/x');
    assert.equal(own.headers['x-own'], 'yes');
    assert.equal(own.headers['x-served-by'], undefined);
    assert.equal(own.headers['strict-transport-security'], undefined);
  });
});
