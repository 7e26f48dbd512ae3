import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy, until, within, type TestProxy } from '../../helpers/proxy.ts';
import { RawClient } from '../../helpers/raw.ts';
import { stalledReader } from '../../helpers/stalled-reader.ts';

// What a client does is never a server's failure, and one connection cannot
// fan out into many upstream requests (security review, items 4 and 7).

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

describe('send_timeout: a client that reads nothing', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  const progress = { sent: 0 };

  before(async () => {
    b = await new Backend('b', (req, res) => {
      if (req.url === '/small') { res.end('small'); return; }
      progress.sent = 0;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = () => {
        while (progress.sent < 64 * 1024 * 1024) {
          progress.sent += CHUNK.length;
          if (!res.write(CHUNK)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
    }).listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address} max_fails=1 fail_timeout=30s; server 127.0.0.1:1 backup; }
      server {
        listen 127.0.0.1:${port};
        send_timeout 1s;
        proxy_read_timeout 300ms;
        location / { proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('is closed after send_timeout, logged as the client\'s doing, and the server is not blamed', async () => {
    const reader = await stalledReader(p.port, 'GET /big HTTP/1.1\r\nHost: x\r\n\r\n', () => progress.sent, 5000, 'the backend to stall');
    const stalledAt = Date.now();
    const closed = once(reader.socket, 'close');
    // proxy_read_timeout (300 ms) does not run while lbconf waits for the client: only send_timeout (1 s) does.
    const line = await p.waitLog(/client timed out/, 5000);
    assert.equal(line.level, 'info');
    assert.ok(Date.now() - stalledAt >= 700, `closed after ${Date.now() - stalledAt} ms: send_timeout, not proxy_read_timeout`);
    reader.socket.resume();
    await within(closed, 5000, 'the client connection to close');
    const peers = p.rt.upstreams.get('app')!.peers;
    assert.equal(peers.fails[0], 0, 'no failure counted against the server');
    const r = await p.get('/small');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'small');
  });
});

describe('pipelined requests on Node\'s server are answered one at a time', { timeout: 60_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let maxInflight = 0;

  before(async () => {
    b = await new Backend('b', (req, res) => {
      maxInflight = Math.max(maxInflight, b.inflight);
      req.resume();
      // A little later, so that concurrent requests would overlap at the backend.
      setTimeout(() => res.end(`${req.method} ${req.url}`), 2);
    }).listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address}; keepalive 8; }
      server {
        listen 127.0.0.1:${port};
        keepalive_requests 100000;
        location / { proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  /** A chunked POST (lbconf's listener hands the connection to Node's server) followed by `n` pipelined GETs, in one write. */
  function attack(n: number): Buffer {
    let text = 'POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    for (let i = 0; i < n; i++) text += `GET /g${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    return Buffer.from(text);
  }

  test('pipelined requests reach the server one after another, in order, all answered', async () => {
    maxInflight = 0;
    const before = b.requests;
    const c = await RawClient.open(p.port);
    c.send(attack(30));
    // The client reads nothing for a while: the requests must not all go upstream at once.
    c.socket.pause();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(maxInflight, 1, 'one upstream request at a time');
    c.socket.resume();
    await until(() => (c.text.match(/HTTP\/1\.1 200/g) ?? []).length === 31, 10_000, 'all 31 responses');
    c.socket.destroy();
    assert.equal(b.requests - before, 31);
    assert.equal(maxInflight, 1);
    const bodies = [...c.text.matchAll(/\r\n\r\n(?:[0-9a-f]+\r\n)?(POST \/first|GET \/g\d+)/g)].map((m) => m[1]);
    assert.deepEqual(bodies, ['POST /first', ...Array.from({ length: 30 }, (_, i) => `GET /g${i}`)]);
  });

  test('a response that closes the connection (a refusal) is the last: what is pipelined behind it is not served', async () => {
    const before = b.requests;
    const c = await RawClient.open(p.port);
    // A target over client_max_uri_length (8k): 414 and Connection: close; the GET behind it is a whole request of its own.
    c.send('POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
      `GET /${'u'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\nGET /g0 HTTP/1.1\r\nHost: x\r\n\r\n`);
    await within(c.closed, 5000, 'the connection to close');
    assert.deepEqual(c.text.match(/HTTP\/1\.1 \d{3}/g), ['HTTP/1.1 200', 'HTTP/1.1 414'], JSON.stringify(c.text));
    assert.equal(b.requests - before, 1, 'only the first reached the backend');
  });

  test('bytes after a request that closes the connection are not a request: that request is answered all the same', async () => {
    for (const first of [
      'POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET /a HTTP/1.0\r\nHost: x\r\n\r\n',
      // Absolute form with a query and no path: the path is `/`.
      'GET http://x?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ]) {
      const c = await RawClient.open(p.port);
      c.send(`${first}GET /b HTTP/1.1\r\nHost: x\r\n\r\n`);
      await within(c.closed, 5000, 'the connection to close');
      assert.deepEqual(c.text.match(/HTTP\/1\.[01] \d{3}/g), ['HTTP/1.1 200'], JSON.stringify(c.text));
      assert.match(c.text, /(?:POST|GET) \/(?:a|\?q=1)$/);
    }
  });

  test('a client that pipelines 1,000 requests ahead is closed, having put at most a few upstream', async () => {
    maxInflight = 0;
    const before = b.requests;
    const c = await RawClient.open(p.port);
    c.send(attack(1000)); // and reads all that comes back
    await within(c.closed, 5000, 'the connection to be closed');
    assert.ok(p.logs.some((l) => /pipelined requests ahead; connection closed/.test(l.message)), 'logged');
    await until(() => b.inflight === 0, 5000, 'the backend to be idle');
    assert.equal(maxInflight, 1);
    assert.ok(b.requests - before <= 2, `${b.requests - before} upstream requests`);
  });

  test('24 such connections that never read: bounded upstream requests, others still served, memory given back', async () => {
    gc();
    const rssBefore = process.memoryUsage().rss;
    maxInflight = 0;
    const clients = await Promise.all(Array.from({ length: 24 }, async () => {
      const c = await RawClient.open(p.port);
      c.send(attack(1000)).socket.pause();
      return c;
    }));
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(maxInflight <= 24, `at most one upstream request per connection: saw ${maxInflight} at once`);
    const r = await within(p.get('/other'), 5000, 'another client to be served');
    assert.equal(r.status, 200);
    for (const c of clients) c.socket.destroy();
    await until(() => b.inflight === 0, 10_000, 'the backend to be idle');
    await new Promise((r) => setTimeout(r, 200));
    gc();
    gc();
    const grown = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    assert.ok(grown < 50, `RSS after the attack is within 50 MiB of before: grew ${grown.toFixed(1)} MiB`);
  });
});
