import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { echoUpgrades, upgrade as upgradeTo } from '../../helpers/upgrade.ts';

// Upgrades (WebSocket) go through the same gates as requests: limit_conn holds
// a slot while the tunnel is open, and basic auth answers 401 with its challenge.

describe('limits and auth on upgrades', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = echoUpgrades(await new Backend('ws').listen());
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      limit_conn_zone $remote_addr zone=per_client:1m;
      server {
        listen 127.0.0.1:${port};
        location /ws { limit_conn per_client 1; proxy_pass http://app; }
        location /private { auth_basic "staff"; auth_basic_user_file /dev/null; proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  const upgrade = (path: string) => upgradeTo(p.port, path);

  test('limit_conn holds a slot while a WebSocket is open and frees it when it closes', async () => {
    const first = await upgrade('/ws');
    assert.equal(first.status, 101);
    const second = await upgrade('/ws');
    assert.equal(second.status, 429);
    first.socket!.destroy();
    await once(first.socket!, 'close');
    let third = await upgrade('/ws');
    for (let i = 0; i < 20 && third.status !== 101; i++) {
      await new Promise((r) => setTimeout(r, 25)); // the proxy sees the close a moment later
      third = await upgrade('/ws');
    }
    assert.equal(third.status, 101);
    third.socket!.destroy();
  });

  test('basic auth on an upgrade answers 401 with WWW-Authenticate', async () => {
    const r = await upgrade('/private');
    assert.equal(r.status, 401);
    assert.match(String(r.headers['www-authenticate']), /^Basic realm="staff"/);
  });
});
