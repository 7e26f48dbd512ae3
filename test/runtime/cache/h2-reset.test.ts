import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { h2session } from '../../helpers/h2.ts';
import { within, type TestProxy } from '../../helpers/proxy.ts';
import { startTlsProxy } from '../../helpers/tls-proxy.ts';

// An HTTP/2 client that resets its stream while a response is being stored.
// The fetch goes on without it, for the requests waiting on the key (as nginx
// does). It used to miss the reset: Node ends the writable side of a stream
// the client resets, so the response looked finished, and the fetch kept
// writing to the closed stream, which took nothing more: it stalled until
// send_timeout, and the requests waiting on the key went upstream themselves
// after proxy_cache_lock_timeout.

describe('cache: an HTTP/2 client that resets mid-response', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b', (_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'application/octet-stream' });
      let i = 0;
      const t = setInterval(() => { res.write(Buffer.alloc(1000, 0x61)); if (++i === 20) { clearInterval(t); res.end(); } }, 25);
    }).listen();
    p = await startTlsProxy(`
      proxy_cache_zone z size=10m;
      upstream app { server ${b.address}; }
    `, 'location / { proxy_cache z; proxy_pass http://app; }');
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('the fetch goes on without it, and the request waiting on the key gets the stored response', async () => {
    const s = h2session(p.port).on('error', () => {});
    try {
      // RST_STREAM CANCEL after the first bytes, as a browser cancels.
      const cancel = new AbortController();
      const first = s.request({ ':path': '/f' }, { signal: cancel.signal });
      first.on('error', () => {});
      await within(new Promise<void>((resolve) => first.once('data', () => resolve())), 5000, 'the first bytes');
      cancel.abort();
      const second = await within(new Promise<{ status: number; bytes: number }>((resolve, reject) => {
        const r = s.request({ ':path': '/f' });
        let status = 0;
        let bytes = 0;
        r.on('response', (h) => { status = Number(h[':status']); });
        r.on('data', (d: Buffer) => { bytes += d.length; });
        r.on('end', () => resolve({ status, bytes }));
        r.on('error', reject);
      }), 10_000, 'the second response');
      assert.deepEqual(second, { status: 200, bytes: 20_000 });
      assert.equal(b.requests, 1, 'one upstream request: the second waited for the fetch and got what it stored');
    } finally {
      s.destroy();
    }
  });
});
