import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { certFiles } from '../../helpers/certs.ts';
import { h2session } from '../../helpers/h2.ts';
import { startProxy, until, within } from '../../helpers/proxy.ts';
import { RawClient } from '../../helpers/raw.ts';
import { tlsServer, type CertFiles } from '../../helpers/tls-proxy.ts';
import { RawH2, get, requestBlock, rst, frame } from './h2-raw.ts';

// HTTP/2 streams on a TLS listener (issue 13, item 3): how many one connection
// may have open (http2_max_concurrent_streams, enforced through HTTP/2's own
// SETTINGS), streams the client resets before they are sent upstream (never
// sent), the rapid-reset attack (CVE-2023-44487: HEADERS then RST_STREAM,
// repeated; the connection is closed and nothing reaches the upstream), and
// CONNECT (a 405 on the stream, never a 200). On real loopback sockets: raw
// HTTP/2 frames or node:http2's client against the proxy and a real backend.

const NAME = 'streams.test';
let tls: CertFiles;

/** A backend that holds every response until released, and records its peak of requests in flight. */
class HoldingBackend extends Backend {
  peak = 0;
  held: ServerResponse[] = [];
  holding = true;
  paths: string[] = [];

  constructor() {
    super('held', (req, res, b) => {
      const self = b as HoldingBackend;
      self.paths.push(req.url ?? '');
      self.peak = Math.max(self.peak, self.inflight);
      if (self.holding && req.url?.startsWith('/hold')) self.held.push(res);
      else res.end('ok');
    });
  }

  release(): void {
    this.holding = false;
    for (const res of this.held.splice(0)) res.end('ok');
  }

  reset(): void {
    this.release();
    this.holding = true;
    this.peak = 0;
    this.requests = 0;
    this.paths = [];
  }
}

let b: HoldingBackend;

before(async () => {
  tls = await certFiles(NAME);
  b = await new HoldingBackend().listen();
});
after(async () => {
  await stopAll([b]);
});

const config = (extra = '') => (port: number) => `
  upstream app { server ${b.address}; keepalive 16; }
  ${extra}
  ${tlsServer(port, tls, 'location / { proxy_pass http://app; }', NAME)}`;

const session = (port: number) => h2session(port, NAME).on('error', () => {});

/** One GET on a node:http2 session: its status and body (or -1 when the stream failed). */
function h2get(s: ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = s.request({ ':path': path, ':authority': NAME });
    let status = -1;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => resolve({ status, body }));
    req.on('error', () => resolve({ status: -1, body }));
  });
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The heap in use after a full collection: what is still held. */
function liveHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Waits until the backend's count of requests has not moved for `quietMs`. */
async function settled(quietMs = 300): Promise<void> {
  let last = -1;
  while (b.requests !== last) {
    last = b.requests;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

test('1000 streams on one connection are at most http2_max_concurrent_streams (128 by default) requests upstream at once', { timeout: 60_000 }, async () => {
  b.reset();
  const p = await startProxy(config());
  const s = session(p.port);
  try {
    const settings = await within(new Promise<Record<string, unknown>>((resolve) => s.once('remoteSettings', resolve)), 5000, 'the server\'s SETTINGS');
    assert.equal(settings.maxConcurrentStreams, 128, 'advertised in SETTINGS');
    const replies = Array.from({ length: 1000 }, (_, i) => h2get(s, `/hold/${i}`));
    await until(() => b.requests >= 128, 10_000, '128 requests upstream');
    await settled();
    assert.equal(b.peak, 128, `peak of requests in flight at the backend: ${b.peak}`);
    assert.equal(b.requests, 128);
    b.release();
    const done = await within(Promise.all(replies), 30_000, '1000 replies');
    assert.equal(done.filter((r) => r.status === 200).length, 1000, 'all served, 128 at a time');
    assert.ok(b.peak <= 128, `peak ${b.peak}`);
  } finally {
    s.destroy();
    await p.close();
  }
});

test('a client that ignores SETTINGS: streams over http2_max_concurrent_streams are refused, never sent upstream; a reload changes the limit for new connections', { timeout: 60_000 }, async () => {
  b.reset();
  const p = await startProxy(config('http2_max_concurrent_streams 10;'));
  const clients: RawH2[] = [];
  try {
    const hostile = async (streams: number) => {
      const c = await RawH2.open(p.port, NAME);
      clients.push(c);
      const frames: Buffer[] = [];
      for (let i = 0, id = 1; i < streams; i++, id += 2) frames.push(get(id, NAME, `/hold/${id}`));
      // All at once, before the server's SETTINGS can have been read.
      c.write(Buffer.concat(frames));
      return c;
    };
    const c1 = await hostile(100);
    await until(() => b.requests >= 10, 10_000, '10 requests upstream');
    await settled();
    assert.equal(b.peak, 10, `peak in flight ${b.peak}`);
    assert.equal(b.requests, 10);
    await until(() => c1.resets.size >= 90 || c1.goaway !== null, 5000, 'the other 90 refused');

    await p.load(config('http2_max_concurrent_streams 20;')(p.port));
    b.reset();
    await hostile(100);
    await until(() => b.requests >= 20, 10_000, '20 requests upstream');
    await settled();
    assert.equal(b.peak, 20, `after the reload: peak in flight ${b.peak}`);
  } finally {
    b.release();
    for (const c of clients) c.close();
    await p.close();
  }
});

test('streams reset by the client in the same read as their HEADERS never reach the upstream; the connection goes on serving', { timeout: 30_000 }, async () => {
  b.reset();
  const p = await startProxy(config());
  const c = await RawH2.open(p.port, NAME);
  try {
    // A normal request first, so that the upstream has a pooled keep-alive connection to write to at once.
    c.write(get(1, NAME, '/warm'));
    await until(() => c.responded.has(1), 5000, 'the first response');
    const frames: Buffer[] = [];
    for (let id = 3; id < 3 + 2 * 50; id += 2) frames.push(get(id, NAME, `/reset/${id}`), rst(id));
    const last = 3 + 2 * 50;
    frames.push(get(last, NAME, '/after'));
    c.write(Buffer.concat(frames));
    await until(() => c.responded.has(last), 5000, 'the response after the resets');
    await settled(200);
    assert.deepEqual(b.paths.filter((x) => x.startsWith('/reset/')), [], 'no reset stream was sent upstream');
    assert.deepEqual(b.paths, ['/warm', '/after']);
    assert.equal(c.responded.get(last), 0x88, ':status 200');
    assert.equal(c.goaway, null, '50 resets are not an attack');
  } finally {
    c.close();
    await p.close();
  }
});

test('a connection that resets more streams than it completes, by more than 2 x http2_max_concurrent_streams, gets GOAWAY ENHANCE_YOUR_CALM, even when it resets slowly', { timeout: 30_000 }, async () => {
  b.reset();
  const p = await startProxy(config('http2_max_concurrent_streams 16;'));
  const c = await RawH2.open(p.port, NAME);
  try {
    // 10 completed, then resets 10 at a time, 20 ms apart (about 500/s, under nghttp2's own burst of 1000):
    // the guard allows max(2 x 16, 128) = 128 more resets than completions.
    let id = 1;
    for (let i = 0; i < 10; i++, id += 2) c.write(get(id, NAME, `/ok/${id}`));
    await until(() => c.responded.size === 10, 5000, '10 responses');
    let pairs = 0;
    while (!c.closed && pairs < 400) {
      const batch: Buffer[] = [];
      for (let i = 0; i < 10; i++, id += 2) batch.push(get(id, NAME, `/reset/${id}`), rst(id));
      c.write(Buffer.concat(batch));
      pairs += 10;
      await new Promise((r) => setTimeout(r, 20));
    }
    await within(c.whenClosed, 5000, 'the connection to be closed');
    assert.equal(c.goaway, 11, 'GOAWAY ENHANCE_YOUR_CALM');
    assert.ok(pairs > 128 && pairs <= 128 + 10 + 20, `closed after ${pairs} resets`);
    const line = p.logs.find((l) => /rapid reset/.test(l.message));
    assert.match(line?.message ?? '', /closed: 139 streams reset against 10 completed \(rapid reset\)/);
    await settled(200);
    assert.equal(b.paths.filter((x) => x.startsWith('/reset/')).length, 0, 'no reset stream went upstream');
  } finally {
    c.close();
    await p.close();
  }
});

test('rapid reset (HEADERS + RST_STREAM, repeated) over 4 connections: nothing upstream, the connections are closed, memory stays bounded, other clients are served', { timeout: 90_000 }, async () => {
  b.reset();
  const p = await startProxy(config());
  const normal = session(p.port);
  try {
    assert.equal((await h2get(normal, '/normal')).status, 200);
    const heapBefore = liveHeap();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 50);
    // The attackers in a process of their own, so that this process's memory is the proxy's (and the backend's).
    const child = spawn(process.execPath, [fileURLToPath(new URL('h2-rapid-reset-attacker.ts', import.meta.url)), String(p.port), NAME, '4', '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    let served = 0;
    let failed = 0;
    let attacking = true;
    void exited.then(() => { attacking = false; });
    while (attacking) {
      const r = await h2get(normal, '/normal');
      if (r.status === 200) served++; else failed++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    clearInterval(sampler);
    await settled(200);
    const perConnection = JSON.parse(out) as { pairs: number; goaway: number | null; closed: boolean; deadline: boolean }[];
    const attackUpstream = b.paths.filter((x) => x.startsWith('/attack/')).length;
    const heapAfter = liveHeap();
    const summary = JSON.stringify({
      connections: perConnection.length, pairs: perConnection.reduce((n, c) => n + c.pairs, 0), attackUpstream, served, failed,
      goaways: perConnection.reduce<Record<string, number>>((n, c) => { n[String(c.goaway)] = (n[String(c.goaway)] ?? 0) + 1; return n; }, {}),
      rssGrowthMiB: Math.round((rssPeak - rssBefore) / 1048576), heapRetainedMiB: Math.round((heapAfter - heapBefore) / 1048576), 
    });
    assert.equal(attackUpstream, 0, `attack requests that reached the upstream; ${summary}`);
    assert.ok(perConnection.length >= 8, `the attackers had to reconnect; ${summary}`);
    for (const c of perConnection) {
      assert.ok(c.closed || c.deadline, `every attack connection was closed by the proxy; ${summary}`);
      // ENHANCE_YOUR_CALM from lbconf's guard; INTERNAL_ERROR from nghttp2's own limit (1000 resets) when one read held
      // that many; none when the connection was cut with unread data (TCP RST).
      assert.ok(c.goaway === null || c.goaway === 11 || c.goaway === 2, `GOAWAY ${c.goaway}; ${summary}`);
    }
    assert.ok(p.logs.some((l) => /\(rapid reset\)/.test(l.message)), `the guard closed connections; ${summary}`);
    assert.equal(failed, 0, summary);
    assert.ok(served >= 20, `the other client was served during the attack; ${summary}`);
    // Bounded: the stream churn grows V8's heap for a while, but nothing stays (before the fix: +230 MiB and rising, 120 MiB live).
    assert.ok(rssPeak - rssBefore < 256 * 1048576, `RSS grew by ${Math.round((rssPeak - rssBefore) / 1048576)} MiB; ${summary}`);
    assert.ok(heapAfter - heapBefore < 16 * 1048576, `live heap after the attack; ${summary}`);
    assert.equal((await h2get(normal, '/normal')).status, 200, 'still served after');
  } finally {
    normal.destroy();
    await p.close();
  }
});

test('a client that cancels streams it no longer wants, among many it completes, is not cut off', { timeout: 30_000 }, async () => {
  b.reset();
  const p = await startProxy(config('http2_max_concurrent_streams 8;'));
  const s = session(p.port);
  try {
    const cancel = async (path: string) => {
      const r = s.request({ ':path': path, ':authority': NAME });
      r.on('error', () => {});
      await until(() => b.held.length > 0, 5000, 'the request upstream');
      r.close(0x8);
      await new Promise<void>((resolve) => r.once('close', () => resolve()));
      b.release();
      b.holding = true;
    };
    // 20 cancelled before any completes (more than 2 x 8, fewer than the floor of 128), then 100 completed, then 20 more cancelled.
    for (let i = 0; i < 20; i++) await cancel(`/hold/first/${i}`);
    for (let i = 0; i < 100; i++) assert.equal((await h2get(s, `/ok/${i}`)).status, 200);
    for (let i = 0; i < 20; i++) await cancel(`/hold/then/${i}`);
    assert.equal(s.closed || s.destroyed, false, 'the session is still open');
    assert.equal((await h2get(s, '/last')).status, 200);
  } finally {
    s.destroy();
    await p.close();
  }
});

test('HTTP/2 CONNECT gets a 405 response on its stream (not a 200 with an HTTP/1.1 text); HTTP/1.1 CONNECT on the same listener still gets 405', { timeout: 20_000 }, async () => {
  b.reset();
  const p = await startProxy(config());
  const s = session(p.port);
  try {
    const reply = await within(new Promise<{ status: number; body: string }>((resolve) => {
      const req = s.request({ ':method': 'CONNECT', ':authority': 'example.com:443' });
      let status = -1;
      let body = '';
      req.setEncoding('utf8');
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (c: string) => { body += c; });
      req.on('close', () => resolve({ status, body }));
      req.on('error', () => {});
    }), 5000, 'the CONNECT reply');
    assert.notEqual(reply.status, 200, JSON.stringify(reply));
    assert.equal(reply.status, 405, JSON.stringify(reply));
    assert.doesNotMatch(reply.body, /HTTP\/1\.1/);
    // The raw frames too: a CONNECT from a client that does not check.
    const c = await RawH2.open(p.port, NAME);
    c.write(frame(1, 0x5, 1, requestBlock('example.com:443', '', 'CONNECT')));
    await until(() => c.responded.has(1) || c.resets.has(1), 5000, 'an answer to the raw CONNECT');
    assert.notEqual(c.responded.get(1), 0x88, 'not :status 200');
    c.close();
    assert.equal((await h2get(s, '/after')).status, 200, 'the session still serves');
    assert.equal(b.requests, 1, 'nothing but the last request went upstream');

    const http1 = await (await RawClient.openTls(p.port, NAME)).send('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n').readToEnd(3000);
    assert.match(http1, /^HTTP\/1\.1 405 /);
  } finally {
    s.destroy();
    await p.close();
  }
});
