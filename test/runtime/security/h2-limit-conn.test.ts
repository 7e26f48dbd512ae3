import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { scryptHash } from '../../../runtime/filters/auth.ts';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { certFiles } from '../../helpers/certs.ts';
import { startProxy, within, type TestProxy } from '../../helpers/proxy.ts';

// Review finding, fixed: the pipeline (http/pipeline.ts) and LimitConn (filters/limits.ts)
// tell that a client has gone by `ending.destroyed`, and the HTTP path gives
// the response as the ending. Node's Http2ServerResponse has no `destroyed`
// (always undefined). An HTTP/2 client that leaves (resets its stream, or
// closes its connection) while limit_req delays its request is then taken on:
// LimitConn takes a slot and waits for a 'close' the response emitted already,
// so the slot is never given back, and the key is refused for good. Before the
// pipeline, server.ts also checked `ctx.req.socket.destroyed` (the compat
// socket proxy answers for the stream) and gave the slot back. The same
// check after an scrypt hash (auth_basic) lets a request whose HTTP/2 client
// reset its stream during the hash go upstream all the same.

function get(s: ClientHttp2Session, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = s.request({ ':path': '/', ...headers });
    let status = 0;
    r.on('response', (h) => { status = Number(h[':status']); });
    r.on('data', () => {});
    r.on('end', () => resolve(status));
    r.on('error', reject);
  });
}

describe('limit_conn under HTTP/2, a client gone during a limit_req delay', { timeout: 30_000 }, () => {
  let p: TestProxy;
  let origin = '';

  before(async () => {
    const c = await certFiles('a.test');
    p = await startProxy((port) => `
      limit_req_zone $http_x_rate zone=slow:1m rate=1r/s;
      limit_conn_zone $http_x_conn zone=conns:1m;
      server {
        listen 127.0.0.1:${port} ssl;
        server_name a.test;
        ssl_certificate ${c.cert};
        ssl_certificate_key ${c.key};
        location / { limit_req zone=slow burst=5; limit_conn conns 1; return 200 "ok"; }
      }
    `);
    origin = `https://127.0.0.1:${p.port}`;
  });

  after(async () => {
    await p.close();
  });

  for (const how of ['resets its stream', 'closes its connection'] as const) {
    test(`a client that ${how} while delayed does not keep its limit_conn slot`, async () => {
      const key = how.split(' ')[0];
      const s = h2connect(origin, { rejectUnauthorized: false, servername: 'a.test' });
      s.on('error', () => {});
      // The first request of the rate key goes at once; the second waits ~1 s in the burst.
      assert.equal(await within(get(s, { 'x-rate': `r-${key}`, 'x-conn': `c-${key}` }), 5000, 'first'), 200);
      const delayed = s.request({ ':path': '/', 'x-rate': `r-${key}`, 'x-conn': `c-${key}` });
      delayed.on('error', () => {});
      await new Promise((r) => setTimeout(r, 200));
      if (how === 'resets its stream') delayed.close(8); else s.destroy();
      // Past the delay: the request would have gone on by now.
      await new Promise((r) => setTimeout(r, 1500));
      const s2 = h2connect(origin, { rejectUnauthorized: false, servername: 'a.test' });
      s2.on('error', () => {});
      try {
        // Another rate key (no delay), the same connection key: nothing of it is in flight.
        assert.equal(await within(get(s2, { 'x-rate': `other-${key}`, 'x-conn': `c-${key}` }), 5000, 'after'), 200, 'the slot of the request that left was never given back');
      } finally {
        s2.destroy();
        s.destroy();
      }
    });
  }
});

describe('auth_basic under HTTP/2, a client gone while its password is hashed', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b').listen();
    const c = await certFiles('a.test');
    const users = join(mkdtempSync(join(tmpdir(), 'lbconf-users-')), 'users');
    // A slow hash (N = 2^16): the client resets its stream while it runs.
    writeFileSync(users, `u:${scryptHash('pw', randomBytes(16), 1 << 16, 8, 1)}\n`);
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port} ssl;
        server_name a.test;
        ssl_certificate ${c.cert};
        ssl_certificate_key ${c.key};
        location / { auth_basic "r"; auth_basic_user_file ${users}; proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('the request is not sent upstream', async () => {
    const s = h2connect(`https://127.0.0.1:${p.port}`, { rejectUnauthorized: false, servername: 'a.test' });
    s.on('error', () => {});
    try {
      const r = s.request({ ':path': '/', authorization: `Basic ${Buffer.from('u:pw').toString('base64')}` });
      r.on('error', () => {});
      await new Promise((resolve) => setTimeout(resolve, 20));
      r.close(8);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      assert.equal(b.requests, 0, 'the upstream got a request whose client had left');
    } finally {
      s.destroy();
    }
  });
});
