import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { request } from 'undici';
import { Backend, type Behavior } from '../../helpers/backends.ts';
import { startProxy, upstream, type TestProxy } from '../../helpers/proxy.ts';
import { stalledReader } from '../../helpers/stalled-reader.ts';
import { Http1Request } from '../../../runtime/transport/http1/request-head.ts';

// Bodies stream through the proxy in both directions with backpressure: 100 MB
// each way with bounded memory, and a slow reader holds the backend back.
// Everything here is generated on the fly; the test never holds a body.

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** Writes `total` bytes to `res` as fast as it drains; counts what it wrote in `progress.sent`. */
function generate(res: ServerResponse, total: number, progress: { sent: number }): void {
  const pump = () => {
    while (progress.sent < total) {
      const n = Math.min(CHUNK.length, total - progress.sent);
      progress.sent += n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) { res.once('drain', pump); return; }
    }
    res.end();
  };
  pump();
}

const downloads = { sent: 0 };

const behavior: Behavior = (req, res) => {
  const size = Number(new URL(req.url!, 'http://x').searchParams.get('size') ?? 0);
  if (req.method === 'POST') {
    let received = 0;
    // /slow reads at most 1 MB every 10 ms: slower than the client sends, so the proxy must hold the client back.
    const slow = req.url!.startsWith('/slow');
    let quota = MB;
    req.on('data', (c: Buffer) => {
      received += c.length;
      if (slow && (quota -= c.length) <= 0) { quota = MB; req.pause(); setTimeout(() => req.resume(), 10); }
    });
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(String(received)); });
    return;
  }
  downloads.sent = 0;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
  generate(res, size, downloads);
};

/**
 * Samples rss and arrayBuffers every 20 ms while `fn` runs; returns the largest
 * growth over the start. Each sample follows a full GC, so that it measures
 * memory held (a body buffered somewhere), not garbage not yet collected.
 */
async function peakGrowth(fn: () => Promise<void>): Promise<{ rss: number; arrayBuffers: number }> {
  gc();
  const base = process.memoryUsage();
  let rss = 0;
  let arrayBuffers = 0;
  const sample = () => {
    gc();
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss - base.rss);
    arrayBuffers = Math.max(arrayBuffers, m.arrayBuffers - base.arrayBuffers);
  };
  const timer = setInterval(sample, 20);
  try {
    await fn();
  } finally {
    clearInterval(timer);
    sample();
  }
  return { rss, arrayBuffers };
}

async function* body(total: number): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += CHUNK.length) yield CHUNK;
}

describe('streaming', { timeout: 60_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('stream', behavior).listen();
    p = await startProxy((port) => `${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; client_max_body_size 0; location / { proxy_pass http://app; } }`);
    // Warm up the code paths and pools so that memory growth below is the transfer's.
    await p.get('/?size=1000000');
    await p.get('/', { method: 'POST', body: Buffer.alloc(1_000_000) });
  });

  test('a 100 MB download streams with bounded memory', async (t) => {
    let received = 0;
    const growth = await peakGrowth(async () => {
      const res = await request(`${p.origin}/?size=${100 * MB}`, { dispatcher: p.agent });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-length'], String(100 * MB));
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    });
    assert.equal(received, 100 * MB);
    t.diagnostic(`peak growth: rss ${(growth.rss / MB).toFixed(1)} MB, arrayBuffers ${(growth.arrayBuffers / MB).toFixed(1)} MB`);
    assert.ok(growth.arrayBuffers < 32 * MB, `arrayBuffers grew ${(growth.arrayBuffers / MB).toFixed(1)} MB`);
    assert.ok(growth.rss < 64 * MB, `rss grew ${(growth.rss / MB).toFixed(1)} MB`);
  });

  test('a 100 MB upload streams with bounded memory (chunked from the client)', async (t) => {
    let answer = '';
    const growth = await peakGrowth(async () => {
      const res = await request(`${p.origin}/up`, { dispatcher: p.agent, method: 'POST', body: Readable.from(body(100 * MB)) });
      assert.equal(res.statusCode, 200);
      answer = await res.body.text();
    });
    assert.equal(answer, String(100 * MB));
    t.diagnostic(`peak growth: rss ${(growth.rss / MB).toFixed(1)} MB, arrayBuffers ${(growth.arrayBuffers / MB).toFixed(1)} MB`);
    assert.ok(growth.arrayBuffers < 32 * MB, `arrayBuffers grew ${(growth.arrayBuffers / MB).toFixed(1)} MB`);
    assert.ok(growth.rss < 64 * MB, `rss grew ${(growth.rss / MB).toFixed(1)} MB`);
  });

  test('a 100 MB upload with a Content-Length streams with bounded memory through lbconf\'s own listener, to a server slower than the client', async (t) => {
    // Counts reads of bodies on lbconf's listener (Node's server would be an IncomingMessage).
    let laneReads = 0;
    const read = Http1Request.prototype._read;
    Http1Request.prototype._read = function (this: Http1Request) { laneReads++; read.call(this); };
    let answer = '';
    try {
      const growth = await peakGrowth(async () => {
        const res = await request(`${p.origin}/slow-up`, { dispatcher: p.agent, method: 'POST', headers: { 'content-length': String(100 * MB) }, body: Readable.from(body(100 * MB)) });
        assert.equal(res.statusCode, 200);
        answer = await res.body.text();
      });
      assert.equal(answer, String(100 * MB));
      assert.ok(laneReads > 0, 'the body was read on lbconf\'s listener');
      t.diagnostic(`peak growth: rss ${(growth.rss / MB).toFixed(1)} MB, arrayBuffers ${(growth.arrayBuffers / MB).toFixed(1)} MB`);
      assert.ok(growth.arrayBuffers < 32 * MB, `arrayBuffers grew ${(growth.arrayBuffers / MB).toFixed(1)} MB`);
      assert.ok(growth.rss < 64 * MB, `rss grew ${(growth.rss / MB).toFixed(1)} MB`);
    } finally {
      Http1Request.prototype._read = read;
    }
  });

  test('a slow reader holds the backend back (backpressure), then gets every byte', async (t) => {
    const total = 100 * MB;
    gc();
    const base = process.memoryUsage().arrayBuffers;
    // Let the pipeline fill up: the backend stops once every buffer on the way is full.
    const reader = await stalledReader(p.port, `GET /?size=${total} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, () => downloads.sent, 5000, 'the backend to stall');
    t.diagnostic(`the backend stalled after ${(downloads.sent / MB).toFixed(1)} MB`);
    // Not more than the kernel's socket buffers (up to tens of MB on loopback with
    // autotuning) and a few stream buffers ahead of the reader; and not in our memory.
    assert.ok(downloads.sent < 48 * MB, `backend wrote ${(downloads.sent / MB).toFixed(1)} MB while the client read 1 MB`);
    gc();
    const held = process.memoryUsage().arrayBuffers - base;
    assert.ok(held < 16 * MB, `${(held / MB).toFixed(1)} MB held in buffers while stalled`);
    await reader.finish(20_000);
    assert.ok(reader.got > total && reader.got < total + 1000, `got ${reader.got}`);
  });

  after(async () => {
    await p?.close();
    await b?.kill();
  });
});
