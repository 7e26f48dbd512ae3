import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { h2session, h2status } from '../../helpers/h2.ts';
import { until, type TestProxy } from '../../helpers/proxy.ts';
import { startTlsProxy } from '../../helpers/tls-proxy.ts';

// A client's doing is never a server's failure, on HTTP/2 too (an adversarial
// review of issue 13). When an HTTP/2 client resets its stream (or drops its
// connection) while its request body is going upstream, Node's
// Http2ServerRequest just ends, as if the body were whole, and Node ends the
// stream's writable side, so the response looked finished. lbconf's client took
// that end for the end of the body: without Content-Length it sent the last
// chunk, and the backend got the truncated upload as a complete request (on
// HTTP/1 the backend sees the abort); with Content-Length it failed with
// LBCONF_BODY_LENGTH, counted as the server's error: with max_fails=1 every
// client got 502/503 for fail_timeout.
//
// The reset is RST_STREAM CANCEL with no END_STREAM before it, as a browser
// cancels (an AbortSignal on node:http2's client). Its stream.close(code) ends
// the stream first, which says the body is complete: the backend may then see
// a complete request, as it would of an HTTP/1 client that closes after its
// last chunk.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('an HTTP/2 upload the client abandons', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  const completed: number[] = [];

  before(async () => {
    b = await new Backend('b', (req, res) => {
      if (req.method === 'GET') { res.end('ok'); return; }
      let n = 0;
      req.on('data', (d: Buffer) => { n += d.length; });
      req.on('end', () => { completed.push(n); res.end('stored'); });
      req.on('error', () => {});
    }).listen();
    p = await startTlsProxy(`upstream app { server ${b.address} max_fails=1 fail_timeout=30s; }`, 'location / { proxy_pass http://app; }');
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  beforeEach(() => {
    completed.length = 0;
    p.rt.upstreams.get('app')!.peers.fails[0] = 0;
  });

  async function abandon(headers: Record<string, string>, how: 'reset' | 'disconnect'): Promise<void> {
    const s = h2session(p.port).on('error', () => {});
    const cancel = new AbortController();
    const r = s.request({ ':path': '/upload', ':method': 'POST', ...headers }, { signal: cancel.signal });
    r.on('error', () => {});
    r.write(Buffer.alloc(1000, 0x78));
    await until(() => b.inflight > 0, 5000, 'the upload to reach the backend');
    await sleep(100);
    if (how === 'reset') cancel.abort(); else s.destroy();
    await until(() => b.inflight === 0, 5000, 'the backend to be done with it');
    await sleep(100);
    s.destroy();
  }

  async function h2get(path: string): Promise<number> {
    const s = h2session(p.port);
    try {
      return await h2status(s, { ':path': path });
    } finally {
      s.close();
    }
  }

  test('the GET used below is served', async () => {
    assert.equal(await h2get('/before'), 200);
  });

  for (const how of ['reset', 'disconnect'] as const) {
    test(`a chunked upload cut by a ${how} never reaches the backend as a complete request`, async () => {
      await abandon({}, how);
      assert.deepEqual(completed, [], 'the backend received a truncated body as complete');
    });

    test(`an upload with Content-Length cut by a ${how} is not counted against the server`, async () => {
      await abandon({ 'content-length': '100000' }, how);
      assert.equal(p.rt.upstreams.get('app')!.peers.fails[0], 0, 'a failure was counted against the server');
      assert.equal(await h2get('/after'), 200, 'other clients are still served');
    });
  }
});
