import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { RawClient } from '../../helpers/raw.ts';

// Security review (item 7: a client's slowness is never a server failure).
// proxy_request_timeout bounds the whole exchange; when it runs out, runtime/
// proxy.ts onTimeout() closed the attempt as a failure whoever was slow: a
// client that reads the response slowly (lbconf paused for it, within
// send_timeout), or sends its body slowly (within client_body_timeout), had the
// server marked failed, and with max_fails=1 every other client got 503.

const BIG = randomBytes(16 * 1024 * 1024);

describe('proxy_request_timeout and a slow client', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b', (req, res) => { req.resume(); req.on('end', () => res.end(req.url === '/big' ? BIG : 'ok')); }).listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address} max_fails=1 fail_timeout=30s; }
      server {
        listen 127.0.0.1:${port};
        proxy_request_timeout 1s;
        send_timeout 30s;
        client_body_timeout 30s;
        location / { proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  beforeEach(() => { p.rt.upstreams.get('app')!.peers.fails[0] = 0; });

  test('a client that reads slowly does not count against the server', async () => {
    const c = await RawClient.open(p.port);
    c.socket.pause();
    c.send('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 2000));
    c.socket.destroy();
    assert.equal(p.rt.upstreams.get('app')!.peers.fails[0], 0, 'a failure was counted against the server');
    assert.equal((await p.get('/other')).status, 200, 'other clients are served');
  });

  test('a client that sends its body slowly does not count against the server', async () => {
    const c = await RawClient.open(p.port);
    c.send('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n');
    for (let i = 0; i < 8; i++) { c.send('x'); await new Promise((r) => setTimeout(r, 250)); }
    c.socket.destroy();
    assert.equal(p.rt.upstreams.get('app')!.peers.fails[0], 0, 'a failure was counted against the server');
    assert.equal((await p.get('/other')).status, 200, 'other clients are served');
  });
});
