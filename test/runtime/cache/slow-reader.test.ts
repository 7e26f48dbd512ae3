import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { raw, startProxy, type TestProxy } from '../../helpers/proxy.ts';

// Review finding, fixed: a cache hit writes the whole stored body at once (respond.ts), and
// relied on the socket queueing references to the stored chunks ("shared, not
// copied"). On lbconf's own listener, Http1Response.send() copies every chunk
// of 16 KiB or less into a new buffer, so each client that reads slowly holds
// a private copy of the whole object: N slow clients of an 8 MiB entry cost
// N × 8 MiB. And Http1Response.end() emits 'close' on the next tick, not once
// the body is out as Node's ServerResponse does: limit_conn gives the slot back
// (and the access log counts the request done) while the client has not read
// the body yet, so limit_conn no longer limits concurrent downloads from the
// cache.

const SIZE = 8 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('a large cached body to clients that do not read', { timeout: 60_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  const sockets: Socket[] = [];

  before(async () => {
    b = await new Backend('b', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=600' });
      // Written in 8 KiB pieces, as most origins' bodies arrive.
      let left = SIZE;
      const more = () => {
        while (left > 0) {
          left -= 8192;
          if (!res.write(Buffer.alloc(8192, 0x61))) { res.once('drain', more); return; }
        }
        res.end();
      };
      more();
    }).listen();
    p = await startProxy((port) => `
      proxy_cache_zone z size=64m max_object=32m;
      limit_conn_zone $http_x_conn zone=c:1m;
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        location / { limit_conn c 1; proxy_cache z; proxy_pass http://app; }
      }
    `);
    const first = await raw(p.port, 'GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 20_000);
    assert.match(first, /^HTTP\/1\.1 200/);
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await p.close();
    await stopAll([b]);
  });

  function stalled(extra = ''): Socket {
    const s = connect(p.port, '127.0.0.1');
    s.on('error', () => {});
    s.write(`GET /big HTTP/1.1\r\nHost: a\r\n${extra}\r\n`);
    s.pause();
    sockets.push(s);
    return s;
  }

  test('clients that do not read share the stored chunks: memory does not grow by a copy per client', async () => {
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 16; i++) stalled();
    await new Promise((r) => setTimeout(r, 1500));
    gc();
    const grown = (process.memoryUsage().arrayBuffers - before) / 1048576;
    assert.ok(grown < 24, `16 clients not reading an 8 MiB cached body made the proxy hold ${grown.toFixed(1)} MiB more`);
  });

  test('limit_conn holds the slot until the cached body is out', async () => {
    stalled('X-Conn: k\r\n');
    await new Promise((r) => setTimeout(r, 500));
    const second = await raw(p.port, 'GET /big HTTP/1.1\r\nHost: a\r\nX-Conn: k\r\nConnection: close\r\n\r\n', 20_000);
    assert.doesNotMatch(second, /^HTTP\/1\.1 200/, 'a second download for the key while the first is still being sent');
  });
});
