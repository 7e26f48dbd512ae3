import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { raw, startProxy, within, type TestProxy } from '../../helpers/proxy.ts';

// Review finding, fixed: on lbconf's own listener a response is "done" (ServerConnection.
// responseDone) as soon as its last byte is queued on the socket, and the
// connection's idle time starts then; Http1Listener.sweep closes a connection
// with no response in flight once it has been idle for keepalive_timeout,
// whether or not its socket still has bytes to send. A cache hit queues its
// whole body at once, so a client that takes longer than keepalive_timeout to
// read a large cached object has its download cut short. Node's server (where
// cached locations were served before) starts the keep-alive timer when the
// response is flushed; nginx does too (a slow reader is send_timeout's business,
// which is per write, not per response).

const SIZE = 16 * 1024 * 1024;

describe('a slow client downloading a large cached object', { timeout: 60_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=600', 'content-length': SIZE });
      res.end(Buffer.alloc(SIZE, 0x61));
    }).listen();
    p = await startProxy((port) => `
      proxy_cache_zone z size=64m max_object=32m;
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        keepalive_timeout 1s;
        location / { proxy_cache z; proxy_pass http://app; }
      }
    `);
    const first = await raw(p.port, 'GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 20_000);
    assert.match(first, /^HTTP\/1\.1 200/);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('gets the whole body (a hit), though reading it takes longer than keepalive_timeout', async () => {
    const s = connect(p.port, '127.0.0.1');
    s.on('error', () => {});
    let got = 0;
    s.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
    // About 4 MiB/s: the body takes ~4 s, keepalive_timeout is 1 s.
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= SIZE) { s.end(); return; }
      s.pause();
      setTimeout(() => s.resume(), Math.ceil(d.length / 4096));
    });
    await within(new Promise((r) => s.once('close', r)), 30_000, 'the download');
    assert.ok(got >= SIZE, `the connection was closed after ${got} of ${SIZE} bytes of body and head`);
  });
});
