import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { Backend, type Behavior } from '../../helpers/backends.ts';
import { startProxy, until, upstream, within } from '../../helpers/proxy.ts';
import { exchanges, gc } from '../../helpers/exchanges.ts';

// A client that goes away aborts its upstream request at once, the server is
// not blamed, and nothing is left behind (spec/proxy.md § Errors).

/** An endless response: a chunk now, then one every 10 ms until the request closes. */
const endless: Behavior = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  res.write('first chunk\n');
  const timer = setInterval(() => res.write('more\n'), 10);
  res.on('close', () => clearInterval(timer));
};

/** Reads the request body and never answers. */
let sunk = 0;
const sink: Behavior = (req) => { req.on('data', (c: Buffer) => { sunk += c.length; }); };

/** Sends `request`, waits until what came back matches `seen` (with null, only for the connection), then destroys the socket. */
async function abortAfter(port: number, request: string, seen: RegExp | null): Promise<void> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  s.write(request);
  if (seen) {
    let text = '';
    s.setEncoding('latin1');
    await new Promise<void>((resolve) => {
      s.on('data', (c: string) => { text += c; if (seen.test(text)) resolve(); });
      s.on('close', () => resolve());
    });
  }
  s.destroy();
  await once(s, 'close');
}

describe('client abort', { timeout: 30_000 }, () => {
  test('an abort mid-response closes the upstream request and does not blame the server', async () => {
    const b = await new Backend('endless', endless).listen();
    const p = await startProxy((port) => `${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    try {
      const closed = new Promise<void>((resolve) => b.server.once('request', (_req, res) => res.once('close', () => resolve())));
      await abortAfter(p.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', /more\n/);
      await within(closed, 3000, 'the backend to see its request closed');
      assert.equal(b.inflight, 0);
      const peers = p.rt.upstreams.get('app')!.peers;
      await until(() => peers.inflight[0] === 0, 2000, 'inflight 0');
      assert.equal(peers.fails[0], 0, 'not blamed');
    } finally {
      await p.close();
      await b.kill();
    }
  });

  test('an abort before the response headers, and one in the middle of an upload, close the upstream request too', async () => {
    const silent = await new Backend('silent', () => {}).listen();
    const uploads = await new Backend('sink', sink).listen();
    const p = await startProxy((port) => `
      upstream silent { server ${silent.address}; }
      upstream sink { server ${uploads.address}; }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://silent; } location /up { proxy_pass http://sink; } }`);
    try {
      const arrived = once(silent.server, 'request');
      const s = connect(p.port, '127.0.0.1');
      s.on('error', () => {});
      s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      const [, res] = await within(arrived, 3000, 'the request at the silent backend');
      const closed = once(res, 'close');
      s.destroy();
      await within(closed, 3000, 'the silent backend to see its request closed');

      const upArrived = once(uploads.server, 'request');
      const u = connect(p.port, '127.0.0.1');
      u.on('error', () => {});
      u.write('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(10_000));
      const [, upRes] = await within(upArrived, 3000, 'the upload at the backend');
      await until(() => sunk > 0, 3000, 'upload data at the backend');
      const upClosed = once(upRes, 'close');
      u.destroy();
      await within(upClosed, 3000, 'the sink backend to see its request closed');

      for (const name of ['silent', 'sink']) {
        const peers = p.rt.upstreams.get(name)!.peers;
        await until(() => peers.inflight[0] === 0, 2000, `${name} inflight 0`);
        assert.equal(peers.fails[0], 0, `${name} not blamed`);
      }
    } finally {
      await p.close();
      await silent.kill();
      await uploads.kill();
    }
  });

  test('200 aborted requests leave no Exchange, no request in the pool, nothing in flight', async () => {
    const b = await new Backend('endless', endless).listen();
    const p = await startProxy((port) => `${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    try {
      const before = exchanges.created;
      const collectedBefore = exchanges.collected;
      let next = 0;
      const worker = async () => {
        while (next < 200) {
          next++;
          await abortAfter(p.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', /first chunk/);
        }
      };
      await Promise.all(Array.from({ length: 10 }, worker));
      assert.equal(exchanges.created - before, 200);
      const up = p.rt.upstreams.get('app')!;
      await until(() => b.inflight === 0 && up.peers.totalInflight === 0, 5000, 'all upstream requests closed');
      await until(() => { const s = up.pools[0].stats; return s.running === 0 && s.pending === 0 && s.queued === 0; }, 5000, 'pool idle');
      assert.equal(up.peers.fails[0], 0);
      // Collected: FinalizationRegistry callbacks run after a GC, on a later turn.
      await until(() => {
        gc();
        return exchanges.collected - collectedBefore >= 195;
      }, 5000, `Exchanges collected (${exchanges.collected - collectedBefore} of 200)`);
    } finally {
      await p.close();
      await b.kill();
    }
  });
});
