import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { raw, startProxy, type TestProxy } from '../../helpers/proxy.ts';

// Review finding, fixed (not new in the layering: 57b8cd7 does the same): a cache fetch whose
// client reads slowly is paused on the client's backpressure (the Exchange
// waits for the sink's 'drain', which CacheFetch relays from the client). When
// that client then leaves, CacheFetch.clientClosed goes on storing without it
// (as nginx does) but never lets the Exchange go on: no 'drain' comes any more.
// The fetch hangs for good: the proxy_cache_lock stays held (every request for
// the key waits proxy_cache_lock_timeout, then goes upstream), the bytes
// reserved in the zone are never given back, and the upstream connection is
// held open (proxy_read_timeout does not run while lbconf paused the read).

const SIZE = 24 * 1024 * 1024;

describe('a cache fetch whose slow client leaves', { timeout: 30_000 }, () => {
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
        location / { proxy_cache z; proxy_cache_lock_timeout 5s; proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('the fetch completes without it: the next request is a hit, at once', async () => {
    const s = connect(p.port, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
    // It reads nothing: the fetch fills the socket and pauses.
    s.pause();
    await new Promise((r) => setTimeout(r, 1000));
    s.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    const second = await raw(p.port, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 20_000);
    const took = Date.now() - started;
    assert.match(second, /^HTTP\/1\.1 200/);
    assert.match(second, /x-cache-status: HIT/i, 'the first fetch never finished storing');
    assert.ok(took < 2000, `the second request waited ${took} ms for the first fetch's lock`);
    assert.equal(b.requests, 1);
  });
});
