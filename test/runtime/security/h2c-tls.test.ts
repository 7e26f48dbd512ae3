import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { within, type TestProxy } from '../../helpers/proxy.ts';
import { RawClient } from '../../helpers/raw.ts';
import { startTlsProxy } from '../../helpers/tls-proxy.ts';

// Security review (h2c): `Upgrade: h2c` must never be passed on. On a TLS
// listener with HTTP/2 on (the default), HTTP/1.1 requests are served by Node's
// HTTP/2 server (allowHTTP1), which createSecureServer gives no
// shouldUpgradeCallback: the h2c upgrade went upstream, and a backend that
// accepted it handed the client a raw tunnel to itself (h2c smuggling), past
// lbconf's routing and checks.

describe('Upgrade: h2c on a TLS listener with HTTP/2 (the default)', { timeout: 20_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let upgrades = 0;

  before(async () => {
    b = await new Backend('b', (req, res) => { res.end(`plain upgrade=${req.headers.upgrade ?? ''}`); }).listen();
    b.server.on('upgrade', (_req, socket) => {
      upgrades++;
      socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nTUNNEL');
    });
    p = await startTlsProxy(`upstream app { server ${b.address}; }`, 'location / { proxy_pass http://app; }');
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('is served as plain HTTP/1.1, never tunnelled to the backend', async () => {
    const c = await RawClient.openTls(p.port);
    c.send('GET /h HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n' +
      'GET /after HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
    await within(c.closed, 5000, 'the connection to close').catch(() => c.socket.destroy());
    assert.equal(upgrades, 0, 'the backend saw no upgrade request');
    assert.doesNotMatch(c.text, /HTTP\/1\.1 101/, 'no protocol switch reached the client');
    assert.match(c.text, /^HTTP\/1\.1 200/);
  });
});
