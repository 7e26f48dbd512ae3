import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { h2session } from '../../helpers/h2.ts';
import { until, type TestProxy } from '../../helpers/proxy.ts';
import { startTlsProxy } from '../../helpers/tls-proxy.ts';
import { frame, RawH2 } from './h2-raw.ts';

// client_body_timeout on HTTP/2 streams (an adversarial review of issue 13:
// one connection cannot hold many upstream requests). It was armed on HTTP/1.1
// only (runtime/http/proxy.ts Exchange.start); on HTTP/2 the only bound was the
// session's idle timeout, which any moving stream resets. One connection that
// kept one download flowing held up to http2_max_concurrent_streams - 1 uploads
// stalled mid-body, each an open upstream request, for as long as it liked.
// Now each stream's own idle timer bounds its body: 408, the upstream request
// aborted, and the server not blamed.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BIG = Buffer.alloc(64 * 1024 * 1024, 0x61);

describe('client_body_timeout on HTTP/2 streams', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let session: ClientHttp2Session;

  before(async () => {
    b = await new Backend('b', (req, res) => {
      if (req.url === '/big') { res.end(BIG); return; }
      req.resume();
      req.on('end', () => res.end('ok'));
      req.on('error', () => {});
    }).listen();
    p = await startTlsProxy(`upstream app { server ${b.address}; }`, `
      client_body_timeout 1s;
      client_header_timeout 1s;
      location / { proxy_pass http://app; }
    `);
    session = h2session(p.port).on('error', () => {});
  });

  after(async () => {
    session.destroy();
    await p.close();
    await stopAll([b]);
  });

  test('an upload stalled mid-body is ended after client_body_timeout while another stream keeps the session busy', async () => {
    // A download read slowly but steadily: the session is never idle.
    const download = session.request({ ':path': '/big' });
    download.on('error', () => {});
    download.pause();
    const pump = setInterval(() => { let n = 0; let c: Buffer | null; while (n < 16384 && (c = download.read() as Buffer | null) !== null) n += c.length; }, 100);
    try {
      const statuses: Array<number | string> = [];
      let closed = 0;
      for (let i = 0; i < 10; i++) {
        const r = session.request({ ':path': '/up', ':method': 'POST', 'content-length': '1000' });
        r.on('error', () => { statuses.push('reset'); });
        r.on('close', () => { closed++; });
        r.on('response', (h) => { statuses.push(Number(h[':status'])); r.resume(); });
        r.write('x'.repeat(10));
      }
      await sleep(4000);
      assert.equal(b.inflight, 1, `${b.inflight - 1} stalled uploads still open upstream 3 s past client_body_timeout`);
      assert.deepEqual(statuses, Array(10).fill(408), 'each stalled upload was answered 408');
      assert.equal(closed, 10, 'and its stream closed');
      assert.equal(p.rt.upstreams.get('app')!.peers.fails[0], 0, 'the server was not blamed');
      assert.ok(p.logs.every((l) => !/rapid reset/.test(l.message)), 'no rapid-reset warning');
    } finally {
      clearInterval(pump);
      download.destroy();
    }
  });

  test('after its 408 the stream is closed (RST_STREAM NO_ERROR), even if the client keeps its side open', async () => {
    // POST /up with Content-Length 1000, then 10 bytes of it, and nothing more (raw frames: node:http2's client resets a
    // stream itself once its response is in).
    const c = await RawH2.open(p.port, 'a.test');
    try {
      const lit = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
      // :method POST, :scheme https (static table); :path, :authority, content-length: literals with an indexed name.
      const block = Buffer.concat([Buffer.from([0x83, 0x87, 0x04]), lit('/up'), Buffer.from([0x01]), lit('a.test'), Buffer.from([0x0f, 0x0d]), lit('1000')]);
      c.write(Buffer.concat([frame(1, 0x4, 1, block), frame(0, 0, 1, Buffer.alloc(10, 0x78))]));
      await until(() => c.responded.has(1), 5000, 'the 408');
      await until(() => c.resets.has(1), 2000, 'the stream to be closed');
      assert.equal(c.resets.get(1), 0, 'RST_STREAM NO_ERROR');
    } finally {
      c.close();
    }
  });
});
