import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { RawClient } from '../../helpers/raw.ts';
import { echoUpgrades, upgrade } from '../../helpers/upgrade.ts';

// Security review (continuations of the request path). runtime/http/front.ts
// upgradeLimited() waits out a limit_req delay, then takes a limit_conn slot and
// frees it on the client socket's 'close': a client that left during the delay
// has closed already, 'close' never comes again, and the slot is held for good.
// A few such upgrades and the zone refuses that key (with a shared key, everyone)
// forever. The HTTP path checks for a gone client after the delay; this one does not.

describe('limit_conn slot of an upgrade whose client left during limit_req\'s delay', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = echoUpgrades(await new Backend('ws').listen());
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      limit_req_zone $remote_addr zone=rate:1m rate=2r/s;
      limit_conn_zone $remote_addr zone=conns:1m;
      server {
        listen 127.0.0.1:${port};
        location /ws { limit_req zone=rate burst=5; limit_req_status 429; limit_conn conns 1; limit_conn_status 503; proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('the slot is free again once the delayed client is gone', async () => {
    const first = await upgrade(p.port, '/ws');
    assert.equal(first.status, 101);
    first.socket!.destroy();
    // Right behind it: limit_req delays this one (~500 ms); the client leaves meanwhile.
    const c = await RawClient.open(p.port);
    c.send('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    // A reset (a client that crashed, or a network that dropped it): lbconf's side is closed at once.
    c.socket.resetAndDestroy();
    // Past the delay and the rate: a new upgrade must find the connection slot free.
    await new Promise((r) => setTimeout(r, 1500));
    const again = await upgrade(p.port, '/ws');
    again.socket?.destroy();
    assert.equal(again.status, 101, `refused with ${again.status} (limit_conn_status 503): the slot of the client that left is still held`);
  });
});
