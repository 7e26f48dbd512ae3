import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { Origin } from './origin.ts';

// add_header on a cached location: each client's answer carries the headers
// made for it (a miss, a hit, a request passed through), and what is stored is
// what the origin sent, never one client's add_header served to another.

describe('add_header on a cached location', { timeout: 30_000 }, () => {
  const origin = new Origin();
  let p: TestProxy;

  before(async () => {
    await origin.backend.listen();
    origin.on('*', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
      res.end(`origin ${req.method}`);
    });
    p = await startProxy((port) => `
      proxy_cache_zone z size=1m;
      upstream app { server ${origin.backend.address}; }
      server {
        listen 127.0.0.1:${port};
        location / {
          proxy_cache z;
          proxy_cache_key $scheme$authority$uri;
          add_header X-Who "w=$arg_w";
          add_header X-Static yes;
          proxy_pass http://app;
        }
      }
    `);
  });

  after(async () => {
    await p.close();
    await origin.backend.kill();
  });

  test('a miss and a hit each carry the headers made for their own request', async () => {
    const miss = await p.get('/a?w=1');
    assert.equal(miss.headers['x-cache-status'], 'MISS');
    assert.equal(miss.headers['x-who'], 'w=1');
    assert.equal(miss.headers['x-static'], 'yes');
    // The same entry (the key has no query), another client.
    const hit = await p.get('/a?w=2');
    assert.equal(hit.headers['x-cache-status'], 'HIT');
    assert.equal(hit.headers['x-who'], 'w=2', 'not the first client\'s value, stored with the entry');
    assert.equal(hit.headers['x-static'], 'yes');
    assert.equal(origin.count('/a?w=1'), 1);
    assert.equal(origin.count('/a?w=2'), 0);
  });

  test('a request passed through (not cacheable) carries them too, once', async () => {
    const r = await p.get('/b?w=3', { method: 'OPTIONS' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-who'], 'w=3');
    const post = await p.get('/b?w=4', { method: 'POST', body: 'x' });
    assert.equal(post.headers['x-who'], 'w=4');
    assert.equal(post.headers['x-static'], 'yes', 'one X-Static, not two');
  });
});
