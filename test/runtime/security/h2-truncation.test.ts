import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ClientHttp2Session } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { h2session } from '../../helpers/h2.ts';
import { within, type TestProxy } from '../../helpers/proxy.ts';
import { startTlsProxy } from '../../helpers/tls-proxy.ts';

// An HTTP/2 response that lbconf cuts short must not look complete (an
// adversarial review of issue 13, send_timeout). On HTTP/1 the connection is
// closed (no last chunk: the client knows). On HTTP/2 lbconf called
// res.destroy() with no error (runtime/http/proxy.ts onResponseError
// LBCONF_SEND_TIMEOUT, and runtime/core/errors.ts sendError once headers went out),
// and Node then reset the stream with NO_ERROR: the client saw a clean end of a
// truncated body. Now the stream is reset with INTERNAL_ERROR
// (runtime/core/errors.ts cutShort), and such resets, lbconf's own, do not count
// toward the connection's rapid-reset allowance (runtime/http/http2.ts).

const BIG = randomBytes(8 * 1024 * 1024);

describe('HTTP/2 responses cut short end with an error', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let session: ClientHttp2Session;

  before(async () => {
    b = await new Backend('b', (req, res) => {
      // Chunked (no Content-Length), as a streamed response is: only the end of the stream says it is complete.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' });
      if (req.url === '/dies') { res.write(BIG.subarray(0, 100_000)); setTimeout(() => res.socket?.destroy(), 100); return; }
      res.end(BIG);
    }).listen();
    p = await startTlsProxy(`upstream app { server ${b.address}; }`, `
      send_timeout 1s;
      proxy_next_upstream off;
      location / { proxy_pass http://app; }
    `);
    session = h2session(p.port);
  });

  after(async () => {
    session.close();
    await p.close();
    await stopAll([b]);
  });

  /** GETs `path`, stops reading after `pauseAfter` bytes until `resumeAfterMs`; how the stream ended. */
  function fetch(path: string, pauseAfter: number, resumeAfterMs: number): Promise<{ bytes: number; how: string }> {
    return new Promise((resolve) => {
      const r = session.request({ ':path': path });
      let bytes = 0;
      let paused = false;
      let how = '';
      r.on('data', (d: Buffer) => {
        bytes += d.length;
        if (bytes > pauseAfter && !paused) { paused = true; r.pause(); setTimeout(() => r.resume(), resumeAfterMs); }
      });
      r.on('end', () => { how ||= 'end'; });
      r.on('error', (e: Error) => { how ||= `error ${e.message}`; });
      r.on('close', () => resolve({ bytes, how: how || `close rst=${r.rstCode}` }));
    });
  }

  test('send_timeout: the stream is reset with an error, not ended', async () => {
    const r = await within(fetch('/big', 100_000, 2500), 10_000, 'the stream to close');
    assert.ok(p.logs.some((l) => /client timed out/.test(l.message)), 'send_timeout ran');
    assert.ok(r.bytes < BIG.length, 'cut short');
    assert.notEqual(r.how, 'end', `the client was told the ${r.bytes}-byte response is complete`);
  });

  test('an upstream that dies mid-body: the stream is reset with an error, not ended', async () => {
    const r = await within(fetch('/dies', 1e9, 0), 10_000, 'the stream to close');
    assert.ok(r.bytes < BIG.length, 'cut short');
    assert.notEqual(r.how, 'end', `the client was told the ${r.bytes}-byte response is complete`);
  });
});

describe('HTTP/2 streams lbconf cuts short are not counted as the client\'s resets', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b', (req, res) => {
      if (req.url === '/ok') { res.end('ok'); return; }
      // A server that fails mid-body: headers and a few bytes, then the connection drops.
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
    }).listen();
    p = await startTlsProxy(`
      upstream app { server ${b.address} max_fails=0; }
      http2_max_concurrent_streams 8;
    `, `
      proxy_next_upstream off;
      location / { proxy_pass http://app; }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('more cut responses than the rapid-reset allowance (128 here) leave the connection open', async () => {
    const session = h2session(p.port).on('error', () => {});
    let goaway = false;
    session.on('goaway', () => { goaway = true; });
    const one = (path: string) => new Promise<{ status: number; rst: number }>((resolve) => {
      const r = session.request({ ':path': path });
      let status = 0;
      r.on('response', (h) => { status = Number(h[':status']); });
      r.on('error', () => {});
      r.resume();
      r.on('close', () => resolve({ status, rst: r.rstCode ?? -1 }));
    });
    try {
      for (let i = 0; i < 20; i++) {
        const got = await within(Promise.all(Array.from({ length: 8 }, () => one('/cut'))), 5000, 'a batch of cut responses');
        for (const r of got) assert.equal(r.rst, 2, 'reset with INTERNAL_ERROR');
      }
      assert.equal(goaway, false, 'the connection was closed for rapid reset');
      assert.deepEqual(await one('/ok'), { status: 200, rst: 0 });
      assert.ok(!p.logs.some((l) => /rapid reset/.test(l.message)), 'no rapid-reset warning');
    } finally {
      session.destroy();
    }
  });
});
