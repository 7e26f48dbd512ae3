import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backend } from '../../helpers/backends.ts';
import { startProxy, upstream } from '../../helpers/proxy.ts';

// A client that leaves while its MISS is being fetched must not leave the
// collapsing lock behind: later requests for the key would each wait the
// whole proxy_cache_lock_timeout (found in review; this is the regression test).

test('a client leaving mid-MISS releases the collapsing lock for the requests after it', async () => {
  let hits = 0;
  const b = await new Backend('o', (_req, res) => {
    hits++;
    setTimeout(() => { res.setHeader('cache-control', 'no-store'); res.setHeader('content-length', 2); res.end('ok'); }, 200);
  }).listen();
  const p = await startProxy((port) => `proxy_cache_zone z size=1m; ${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; location / { proxy_cache z; proxy_cache_lock_timeout 3s; proxy_pass http://app; } }`);
  try {
    const s = connect(p.port, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /k HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await sleep(50);
    s.destroy();
    await sleep(400);
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const r = await p.get('/k');
      assert.equal(r.status, 200);
      assert.ok(Date.now() - t0 < 1500, `request ${i + 2} waited ${Date.now() - t0} ms (the lock was orphaned)`);
    }
    assert.equal(hits, 4);
  } finally {
    await p.close();
    await b.kill();
  }
});
