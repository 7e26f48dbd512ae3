import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { raw, startProxy, until, within, type TestProxy } from '../../helpers/proxy.ts';

// Request limits (spec/security.md § Limits): body size, body and header
// timeouts, header size and count, target length, keep-alive, connections.

/** A socket to the proxy that collects what it receives and notes when it closes. */
async function open(port: number): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => {});
  await once(socket, 'connect');
  return { socket, text: () => Buffer.concat(chunks).toString('latin1'), closed };
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? -1);

describe('request limits', { timeout: 60_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  const seen = { requests: 0, bytes: 0, complete: 0, aborted: 0 };

  before(async () => {
    b = await new Backend('b', (req, res) => {
      seen.requests++;
      let bytes = 0;
      req.on('data', (c: Buffer) => { bytes += c.length; seen.bytes += c.length; });
      req.on('end', () => { seen.complete++; res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`got ${bytes}`); });
      req.on('close', () => { if (!req.complete) seen.aborted++; });
    }).listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        client_max_body_size 1k;
        client_header_timeout 1s;
        client_max_headers 6;
        client_max_uri_length 64;
        client_max_header_size 2k;
        keepalive_requests 2;
        location / { proxy_pass http://app; }
        location /big/ { client_max_body_size 0; proxy_pass http://app; }
        location /slow/ { client_body_timeout 500ms; proxy_pass http://app; }
        location /answer/ { return 200 "answered"; }
      }`);
  });
  after(async () => {
    await p?.close();
    await stopAll([b]);
  });

  test('a Content-Length over client_max_body_size gets 413 before the upstream sees anything', async () => {
    const before = seen.requests;
    const text = await raw(p.port, `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(100)}`);
    assert.equal(statusOf(text), 413);
    assert.match(text, /connection: close/i);
    assert.equal(seen.requests, before);
    // The same limit holds for a location that answers by itself.
    assert.equal(statusOf(await raw(p.port, 'POST /answer/ HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n')), 413);
    // At the limit is fine.
    assert.equal(statusOf(await raw(p.port, `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n${'x'.repeat(1024)}`)), 200);
  });

  test('a chunked body is counted as it streams: past the limit the upstream request is aborted and the client gets 413', async () => {
    const before = { ...seen };
    const c = await open(p.port);
    c.socket.write('POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let i = 0; i < 4; i++) {
      c.socket.write(`200\r\n${'y'.repeat(512)}\r\n`);
      await new Promise((r) => setTimeout(r, 30));
    }
    await within(c.closed, 5000, 'the proxy to close the connection');
    assert.equal(statusOf(c.text()), 413);
    await until(() => seen.aborted > before.aborted || seen.requests === before.requests, 3000, 'the upstream request to be aborted');
    assert.equal(seen.complete, before.complete, 'the upstream never got a complete body');
    assert.ok(seen.bytes - before.bytes <= 1024, `the upstream got at most the limit (${seen.bytes - before.bytes} bytes)`);
    // Under the limit, chunked bodies pass whole; with 0, there is no limit.
    const small = await raw(p.port, `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n200\r\n${'z'.repeat(512)}\r\n0\r\n\r\n`);
    assert.match(small, /\r\ngot 512\r\n/);
    const big = await p.get('/big/x', { method: 'POST', body: Buffer.alloc(200_000) });
    assert.equal(big.body, 'got 200000');
  });

  test('a client that pauses longer than client_body_timeout gets 408 and the upstream request ends', async () => {
    const before = { ...seen };
    const c = await open(p.port);
    const t0 = Date.now();
    c.socket.write('POST /slow/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc');
    await within(c.closed, 5000, 'the proxy to close the connection');
    assert.equal(statusOf(c.text()), 408);
    assert.ok(Date.now() - t0 >= 400, 'not before the timeout');
    await until(() => seen.aborted > before.aborted, 3000, 'the upstream request to be aborted');
    // A client that keeps sending, slowly but within the timeout, is served.
    const d = await open(p.port);
    d.socket.write('POST /slow/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\n');
    for (const ch of 'abcd') { await new Promise((r) => setTimeout(r, 200)); d.socket.write(ch); }
    await within(d.closed, 5000, 'the response');
    assert.match(d.text(), /\r\ngot 4\r\n/);
  });

  test('a client that does not finish its headers within client_header_timeout gets 408', async () => {
    const c = await open(p.port);
    const t0 = Date.now();
    c.socket.write('GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: ');
    await within(c.closed, 5000, 'the proxy to close the connection');
    assert.equal(statusOf(c.text()), 408);
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 3500, `closed after ${took} ms`);
  });

  test('too many header fields get 431; a target over client_max_uri_length gets 414; headers over client_max_header_size get 431', async () => {
    const headers = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('');
    assert.equal(statusOf(await raw(p.port, `GET /x HTTP/1.1\r\nHost: a\r\n${headers(5)}Connection: close\r\n\r\n`)), 431);
    assert.equal(statusOf(await raw(p.port, `GET /x HTTP/1.1\r\nHost: a\r\n${headers(4)}Connection: close\r\n\r\n`)), 200);
    assert.equal(statusOf(await raw(p.port, `GET /${'a'.repeat(64)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)), 414);
    assert.equal(statusOf(await raw(p.port, `GET /${'a'.repeat(62)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)), 200);
    // A request line longer than the whole header allowance: 414 too.
    assert.equal(statusOf(await raw(p.port, `GET /${'a'.repeat(3000)} HTTP/1.1\r\nHost: a\r\n\r\n`)), 414);
    assert.equal(statusOf(await raw(p.port, `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`)), 431);
  });

  test('keepalive_requests closes a client connection after that many requests', async () => {
    const text = await raw(p.port, 'GET /answer/ HTTP/1.1\r\nHost: a\r\n\r\nGET /answer/ HTTP/1.1\r\nHost: a\r\n\r\nGET /answer/ HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(text.match(/HTTP\/1\.1 200/g)?.length, 2, text);
    assert.match(text, /connection: close/i);
  });
});

describe('connection limits', { timeout: 30_000 }, () => {
  let p: TestProxy;
  before(async () => {
    p = await startProxy((port) => `
      server { listen 127.0.0.1:${port}; keepalive_timeout 300ms; max_connections 3; location / { return 200 "ok"; } }`);
  });
  after(async () => { await p?.close(); });

  test('keepalive_timeout closes an idle client connection', async () => {
    const c = await open(p.port);
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    const t0 = Date.now();
    await within(c.closed, 3000, 'the idle connection to close');
    assert.equal(statusOf(c.text()), 200);
    assert.ok(Date.now() - t0 >= 250, 'not before the timeout');
  });

  test('max_connections: connections over the limit are closed unread; the others are served', async () => {
    const held = await Promise.all([open(p.port), open(p.port), open(p.port)]);
    await new Promise((r) => setTimeout(r, 50));
    const extra = await open(p.port);
    extra.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await within(extra.closed, 3000, 'the extra connection to be closed');
    assert.equal(extra.text(), '');
    held[0].socket.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await within(held[0].closed, 3000, 'the held connection to be answered');
    assert.equal(statusOf(held[0].text()), 200);
    await until(() => true, 10);
    // A place is free again.
    assert.equal(statusOf(await raw(p.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')), 200);
    for (const h of held) h.socket.destroy();
  });

  test('keepalive_timeout 0 closes the connection after each response; a reload applies it to the open listener', async () => {
    await p.load(p.source.replace('keepalive_timeout 300ms', 'keepalive_timeout 0'));
    const text = await raw(p.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(text.match(/HTTP\/1\.1 200/g)?.length, 1, text);
    assert.match(text, /connection: close/i);
  });
});
