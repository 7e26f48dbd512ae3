import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createBrotliDecompress, createGunzip, createZstdDecompress } from 'node:zlib';
import { request } from 'undici';
import { Backend, type Behavior } from '../../helpers/backends.ts';
import { startProxy, until, upstream, type TestProxy } from '../../helpers/proxy.ts';
import { stalledReader } from '../../helpers/stalled-reader.ts';
import { Exchange } from '../../../runtime/http/proxy.ts';

// Compression is a stream: a body of many megabytes goes through with bounded
// memory, a slow client holds the origin back through the compressor, and a
// client that leaves mid-body frees the compressor and the upstream request.

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MB = 1024 * 1024;
/** 1 MB of base64 text: compresses to about 3/4, so the bytes the origin wrote say how far ahead of the client it got. */
const BLOCK = Buffer.from(randomBytes(768 * 1024).toString('base64'));
const CHUNK = 64 * 1024;

const progress = { sent: 0, closedEarly: 0 };

/** Writes `total` bytes as fast as the proxy takes them, counting them in progress.sent. */
function generate(res: ServerResponse, total: number): void {
  progress.sent = 0;
  res.on('close', () => { if (!res.writableFinished) progress.closedEarly++; });
  const pump = () => {
    while (progress.sent < total) {
      const at = progress.sent % BLOCK.length;
      const n = Math.min(CHUNK, total - progress.sent, BLOCK.length - at);
      progress.sent += n;
      if (!res.write(BLOCK.subarray(at, at + n))) { res.once('drain', pump); return; }
    }
    res.end();
  };
  pump();
}

const behavior: Behavior = (req, res) => {
  const size = Number(new URL(req.url!, 'http://x').searchParams.get('size') ?? 0);
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(size) });
  generate(res, size);
};

// The Exchanges of this test, to look at their compressor after an abort.
const exchanges: Exchange[] = [];
const start = Exchange.prototype.start;
Exchange.prototype.start = function (this: Exchange) {
  exchanges.push(this);
  start.call(this);
};
const zipOf = (e: Exchange) => (e as unknown as { zip: import('node:stream').Transform | null }).zip;

describe('compression: streaming', { timeout: 90_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('stream', behavior).listen();
    p = await startProxy((port) => `${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; gzip on; gzip_types text/plain; location / { proxy_pass http://app; } }`);
    // Warm up the code paths and pools so that memory growth below is the transfer's.
    const res = await request(`${p.origin}/?size=${MB}`, { dispatcher: p.agent, headers: { 'accept-encoding': 'gzip' } });
    await res.body.arrayBuffer();
  });

  after(async () => {
    await p?.close();
    await b?.kill();
  });

  /** Streams a `total`-byte body through the proxy with this encoding; checks every decoded byte; returns the bytes on the wire and the peak growth of arrayBuffers. */
  async function streamed(encoding: string, total: number): Promise<{ wire: number; peak: number }> {
    gc();
    const base = process.memoryUsage();
    let peak = 0;
    const timer = setInterval(() => { gc(); peak = Math.max(peak, process.memoryUsage().arrayBuffers - base.arrayBuffers); }, 50);
    let decoded = 0;
    let wire = 0;
    let same = true;
    try {
      const res = await request(`${p.origin}/?size=${total}`, { dispatcher: p.agent, headers: { 'accept-encoding': encoding } });
      assert.equal(res.headers['content-encoding'], encoding);
      assert.equal(res.headers['content-length'], undefined);
      const decoder = encoding === 'gzip' ? createGunzip() : encoding === 'br' ? createBrotliDecompress() : createZstdDecompress();
      decoder.on('data', (c: Buffer) => {
        // Compare with what the origin sent at this offset, without holding the body.
        const at = decoded % BLOCK.length;
        if (c.length <= BLOCK.length - at && !c.equals(BLOCK.subarray(at, at + c.length))) same = false;
        decoded += c.length;
      });
      for await (const chunk of res.body) { wire += (chunk as Buffer).length; if (!decoder.write(chunk)) await once(decoder, 'drain'); }
      decoder.end();
      await once(decoder, 'end');
    } finally {
      clearInterval(timer);
    }
    assert.equal(decoded, total);
    assert.ok(same, 'the decoded bytes are the origin\'s');
    assert.ok(wire < total * 0.8, `compressed to ${wire}`);
    return { wire, peak };
  }

  test('a 64 MB body is compressed as a stream: memory stays far below the body\'s size', async (t) => {
    const { wire, peak } = await streamed('zstd', 64 * MB);
    t.diagnostic(`${wire} bytes on the wire for ${64 * MB}; peak arrayBuffers growth ${(peak / MB).toFixed(1)} MB`);
    // Samples show a few MB, with a rare transient spike (socket reads in flight); a buffered body would show 64.
    assert.ok(peak < 24 * MB, `arrayBuffers grew ${(peak / MB).toFixed(1)} MB`);
  });

  for (const encoding of ['gzip', 'br']) {
    test(`${encoding}: an 8 MB streamed body decodes to every byte the origin sent`, async () => {
      await streamed(encoding, 8 * MB);
    });
  }

  test('a slow client holds the origin back through the compressor (backpressure)', async (t) => {
    const total = 96 * MB;
    gc();
    const base = process.memoryUsage().arrayBuffers;
    const reader = await stalledReader(p.port, `GET /?size=${total} HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n`, () => progress.sent, 10_000, 'the origin to stall');
    t.diagnostic(`the origin stalled after ${(progress.sent / MB).toFixed(1)} MB while the client had read ${(reader.got / MB).toFixed(1)} MB`);
    // Kernel socket buffers on both sides (tens of MB at most on loopback) and a few
    // stream buffers; without backpressure the origin would have written all 96 MB.
    assert.ok(progress.sent < 40 * MB, `origin wrote ${(progress.sent / MB).toFixed(1)} MB while the client read ${(reader.got / MB).toFixed(1)} MB`);
    gc();
    const held = process.memoryUsage().arrayBuffers - base;
    assert.ok(held < 16 * MB, `${(held / MB).toFixed(1)} MB held in buffers while stalled`);
    await reader.finish(30_000);
    assert.equal(progress.sent, total);
  });

  test('a client that leaves mid-body destroys the compressor and aborts the upstream request', async () => {
    const before = progress.closedEarly;
    const first = exchanges.length;
    for (let i = 0; i < 10; i++) {
      const s = connect(p.port, '127.0.0.1');
      s.on('error', () => {});
      await once(s, 'connect');
      s.write(`GET /?size=${64 * MB} HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n`);
      let got = 0;
      await new Promise<void>((resolve) => s.on('data', (c: Buffer) => { got += c.length; if (got > 256 * 1024) resolve(); }));
      s.destroy();
    }
    const mine = exchanges.slice(first);
    assert.equal(mine.length, 10);
    await until(() => mine.every((e) => zipOf(e)?.destroyed === true), 5000, 'every compressor to be destroyed');
    await until(() => progress.closedEarly - before === 10, 5000, 'the origin to see every request closed early');
    // The proxy still serves compressed responses afterwards.
    const res = await request(`${p.origin}/?size=${MB}`, { dispatcher: p.agent, headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    const body = Buffer.from(await res.body.arrayBuffer());
    assert.ok(body.length > 0);
  });
});
