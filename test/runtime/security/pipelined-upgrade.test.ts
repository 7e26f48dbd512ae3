import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy, until, type TestProxy } from '../../helpers/proxy.ts';
import { RawClient } from '../../helpers/raw.ts';

// Security review (item 4: pipelined requests answered one at a time, in
// order). An upgrade pipelined behind a request still being answered skipped
// the queue: Node's server emits 'upgrade' at once, and its 101 reached the
// client before the first response, which was then written into the tunnel.

describe('an upgrade pipelined behind a request', { timeout: 20_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b', (req, res) => { req.resume(); req.on('end', () => setTimeout(() => res.end(`${req.method} ${req.url}`), 200)); }).listen();
    b.server.on('upgrade', (_req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(`echo:${d}`));
    });
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('waits for the response before it: the first response comes first, and none is written into the tunnel', async () => {
    const c = await RawClient.open(p.port);
    c.send('POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    try {
      await until(() => c.text.includes('POST /first') && c.text.includes(' 101 '), 5000, 'both responses');
    } finally {
      c.socket.destroy();
    }
    assert.ok(c.text.indexOf('HTTP/1.1 200') < c.text.indexOf('HTTP/1.1 101'), `responses out of order: ${JSON.stringify(c.text)}`);
  });
});
