import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/proxy.ts';

// A broken upstream gives a clean 502/503/504 and a log line saying why
// (issue 15 item 5): the client, the request line, the server block, the
// upstream and server, the reason, the try, and the request id.

describe('upstream failures in the error log', { timeout: 30_000 }, () => {
  test('refused, timed out, and nothing to try: one line each, saying why; a burst is rate-limited per server', async () => {
    const silent = await new Backend('silent', (req) => { req.resume(); }).listen();
    const p = await startProxy((port) => `
      upstream gone { server 127.0.0.1:1; server 127.0.0.1:2; }
      upstream slow { server ${silent.address}; }
      upstream off { server 127.0.0.1:3 down; }
      server {
        listen 127.0.0.1:${port};
        server_name shop.test;
        location /gone/ { proxy_pass http://gone; }
        location /slow/ { proxy_read_timeout 200ms; proxy_pass http://slow; }
        location /off/ { proxy_pass http://off; }
      }`);
    try {
      assert.equal((await p.get('/gone/x?a=1', { headers: { host: 'shop.test' } })).status, 502);
      const refused = p.logs.filter((l) => /^upstream gone\/127\.0\.0\.1:[12]: connection refused while connecting to upstream/.test(l.message));
      assert.equal(refused.length, 2, 'one line per try');
      assert.equal(refused[0].level, 'error');
      assert.match(refused[0].message, /client 127\.0\.0\.1, request "GET \/gone\/x\?a=1 HTTP\/1\.1", server shop\.test, try 1, request_id [0-9a-f]{32}/);
      assert.match(refused[1].message, /try 2/);

      assert.equal((await p.get('/slow/')).status, 504);
      const timeout = p.logs.find((l) => /^upstream slow\/127\.0\.0\.1:\d+: timed out waiting for the response head \(proxy_read_timeout/.test(l.message));
      assert.ok(timeout, 'the timeout is logged, saying which');
      assert.equal(timeout.level, 'warn');

      assert.equal((await p.get('/off/')).status, 503);
      assert.ok(p.logs.some((l) => /^upstream off\/\*: no server to try/.test(l.message)));

      // A burst: at most 10 lines per server in 10 s.
      const before = p.logs.length;
      for (let i = 0; i < 30; i++) await p.get('/gone/burst');
      const lines = p.logs.slice(before).filter((l) => l.message.startsWith('upstream gone/127.0.0.1:1:'));
      assert.ok(lines.length <= 10, `${lines.length} lines for one server`);
    } finally {
      await p.close();
      await stopAll([silent]);
    }
  });
});
