import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import type { Http1Request } from '../../../runtime/transport/http1/request-head.ts';
import type { Http1Response } from '../../../runtime/transport/http1/response-writer.ts';
import { L_OPEN, LISTENER_STRIDE } from '../../../runtime/observe/metrics.ts';
import { Backend } from '../../helpers/backends.ts';
import { startListener } from '../../helpers/listener.ts';
import { compile, freePort, raw, startProxy, until, within, type TestProxy } from '../../helpers/proxy.ts';

// lbconf's own HTTP/1.1 listener under hostile or careless clients: what it
// must not serve, what it must not keep, and what it must hand to Node's
// server byte for byte. Real sockets on 127.0.0.1; clients that half-close
// (allowHalfOpen) stand for those that never answer a FIN.

/** The listener alone, with a Node fallback that answers `node URL LENGTH SHA1-OF-BODY`. */
async function rig(serve: (req: Http1Request, res: Http1Response) => void) {
  const lane: string[] = [];
  const started = await startListener((req, res) => { lane.push(req.url); serve(req, res); return true; }, (req, res) => {
    const hash = createHash('sha1');
    let n = 0;
    req.on('data', (c: Buffer) => { hash.update(c); n += c.length; });
    req.on('end', () => res.end(`node ${req.url} ${n} ${hash.digest('hex')}`));
  }, (_err, socket) => socket.destroy());
  return { ...started, lane };
}

/** A client socket that keeps its side open after the server's FIN, as a client that never closes would. */
async function halfOpenClient(port: number): Promise<{ socket: Socket; text: () => string; ended: Promise<unknown> }> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(socket, 'end');
  await once(socket, 'connect');
  return { socket, text: () => Buffer.concat(chunks).toString('latin1'), ended };
}

/** Open client connections of the proxy's (only) listener, by its gauge: what Prometheus would show. */
function openConnections(p: TestProxy, port = p.port): number {
  const key = [...p.rt.addresses()].find(([, a]) => a.port === port)![0];
  return p.rt.metrics.store.listeners[p.rt.observer.listenerSlot(key) * LISTENER_STRIDE + L_OPEN];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a response that closes the connection closes it for good: nothing sent after it is served, and the socket goes without waiting for the client', async (t) => {
  const backend = await new Backend('b').listen();
  t.after(() => backend.kill());
  const seen: string[] = [];
  backend.behavior = (req, res) => { seen.push(req.url!); res.end('ok'); };
  const p = await startProxy((port) => `keepalive_requests 2;
    upstream app { server ${backend.address}; }
    server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
  try {
    // Connection: close from the client, then (the client not having seen the FIN yet) another request.
    const a = await halfOpenClient(p.port);
    a.socket.write('GET /close HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await within(a.ended, 3000, 'the FIN after the Connection: close response');
    a.socket.write('DELETE /after-close HTTP/1.1\r\nHost: a\r\n\r\n');
    // keepalive_requests 2: the second response closes, a third request is not served.
    const b = await halfOpenClient(p.port);
    b.socket.write('GET /1 HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => b.text().includes('ok'), 3000, 'the first response');
    b.socket.write('GET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
    await within(b.ended, 3000, 'the FIN after keepalive_requests');
    b.socket.write('DELETE /after-max HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(200);
    assert.deepEqual(seen, ['/close', '/1', '/2'], 'requests sent after the closing response reached the upstream');
    assert.match(a.text(), /^HTTP\/1\.1 200 [^]*\r\nConnection: close\r\n/);
    // As Node's server does (destroySoon): the server's side is gone although the clients never closed theirs.
    await until(() => openConnections(p) === 0, 3000, 'the connections to close on the server side');
    a.socket.destroy();
    b.socket.destroy();
  } finally {
    await p.close();
  }
});

test('graceful shutdown and a reload that drops a listener close its idle keep-alive connections at once, even when the client ignores the FIN', async () => {
  const p = await startProxy((port) => `server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } }`);
  const second = await freePort();
  const both = `${p.source}\nserver { listen 127.0.0.1:${second}; location / { return 200 "two"; } }`;
  try {
    await p.rt.load(compile(both));
    const c = await halfOpenClient(second);
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => c.text().includes('two'), 3000, 'the response on the second listener');
    assert.equal(openConnections(p, second), 1);
    // The reload drops the second listener: its idle connection goes, as Node's server.close() does with its idle ones.
    await p.rt.load(compile(p.source));
    await until(() => openConnectionsOf(p, c) === 0, 3000, 'the idle connection of the dropped listener to close');
    c.socket.destroy();

    const d = await halfOpenClient(p.port);
    d.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => d.text().includes('ok'), 3000, 'the response');
    const started = Date.now();
    await p.rt.close(5000);
    assert.ok(Date.now() - started < 1500, `close() waited ${Date.now() - started} ms for an idle connection whose client ignores the FIN`);
    d.socket.destroy();
  } finally {
    await p.close();
  }
});

/** The runtime's sockets for this client's connection: 0 once the server has closed its side. */
function openConnectionsOf(p: TestProxy, c: { socket: Socket }): number {
  const sockets = (p.rt as unknown as { front: { sockets: Set<Socket> } }).front.sockets;
  let n = 0;
  for (const s of sockets) if (s.remotePort === c.socket.localPort) n++;
  return n;
}

test('a silent connection gets 408 and is closed, even when the client never closes its side', async () => {
  const p = await startProxy((port) => `client_header_timeout 1s; server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } }`);
  try {
    const c = await halfOpenClient(p.port);
    await within(c.ended, 4000, 'the 408');
    assert.match(c.text(), /^HTTP\/1\.1 408 /);
    await until(() => openConnections(p) === 0, 2000, 'the server to close its side after the 408');
    c.socket.destroy();
  } finally {
    await p.close();
  }
});

test('a client pipelining without reading is not read further: what waits for it stays bounded, and every response arrives in order once it reads', async () => {
  const size = 128 * 1024;
  const r = await rig((req, res) => {
    const body = Buffer.alloc(size, 'x');
    body.write(req.url);
    res.writeHead(200, ['content-length', String(size)]);
    res.end(body);
  });
  try {
    const n = 200;
    const socket = connect(r.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.pause();
    let requests = '';
    for (let i = 0; i < n; i++) requests += `GET /r${String(i).padStart(3, '0')} HTTP/1.1\r\nHost: a\r\n\r\n`;
    // Then one the listener hands to Node: it must come after all of them.
    requests += 'POST /last HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';
    socket.write(requests);
    await sleep(500);
    const queued = [...r.sockets].reduce((sum, s) => sum + s.writableLength, 0);
    assert.ok(queued <= 2 * size, `${queued} bytes queued in the process for a client that does not read`);
    assert.ok(r.lane.length < n, `all ${n} requests were served for a client that reads nothing (${n * size} bytes)`);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.resume();
    const total = () => chunks.reduce((sum, c) => sum + c.length, 0);
    await until(() => Buffer.concat(chunks).includes('node /last'), 10_000, 'every response');
    const all = Buffer.concat(chunks).toString('latin1');
    let at = 0;
    for (let i = 0; i < n; i++) {
      const head = all.indexOf('\r\n\r\n', at) + 4;
      assert.ok(all.startsWith(`/r${String(i).padStart(3, '0')}`, head), `response ${i} out of order`);
      at = head + size;
    }
    assert.ok(all.slice(at).includes(`node /last 2 ${createHash('sha1').update('ok').digest('hex')}`));
    assert.ok(total() > n * size);
    socket.destroy();
  } finally {
    await r.close();
  }
});

test('a connection handed to Node in a burst (a large body, paused pipelined bytes behind a slow response) reaches it whole and in order', async () => {
  const r = await rig((req, res) => {
    const answer = () => { res.writeHead(200, ['content-length', String(req.url.length)]); res.end(Buffer.from(req.url)); };
    if (req.url === '/slow') setTimeout(answer, 100);
    else answer();
  });
  try {
    const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
    const sha = createHash('sha1').update(body).digest('hex');
    // Chunked: a body the listener hands to Node.
    const post = Buffer.concat([Buffer.from(`POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
    for (const first of ['', 'GET /fast HTTP/1.1\r\nHost: a\r\n\r\n', 'GET /slow HTTP/1.1\r\nHost: a\r\n\r\n']) {
      const socket = connect(r.port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.write(Buffer.concat([Buffer.from(first), post, Buffer.from('GET /after HTTP/1.1\r\nHost: a\r\n\r\n')]));
      await until(() => Buffer.concat(chunks).includes('node /after'), 5000, `the responses after ${JSON.stringify(first)}`);
      const text = Buffer.concat(chunks).toString('latin1');
      assert.ok(text.includes(`node /p ${body.length} ${sha}`), `the body reached Node altered after ${JSON.stringify(first)}: ${text}`);
      if (first !== '') assert.ok(text.indexOf(first.split(' ')[1]) < text.indexOf('node /p'));
      socket.destroy();
    }
  } finally {
    await r.close();
  }
});

test('framing headers a config adds (Transfer-Encoding, Connection, Keep-Alive) frame the response as Node\'s server does', async () => {
  const p = await startProxy((port) => `server { listen 127.0.0.1:${port};
    location /te { add_header Transfer-Encoding chunked; return 200 "hello"; }
    location /te204 { add_header Transfer-Encoding chunked; return 204; }
    location /conn { add_header Connection keep-alive; return 200 "hello"; }
    location /close { add_header Connection close; return 200 "hello"; }
    location /ka { add_header Keep-Alive timeout=5; return 200 "hello"; }
    location /gzip { add_header Transfer-Encoding gzip; return 200 "hello"; }
    location / { return 200 "ok"; } }`);
  // A first request Node's server takes (obs-text in a field): what follows on that connection is Node's to answer.
  const toNode = 'GET /first HTTP/1.1\r\nHost: a\r\nX-A: \xe9\r\n\r\n';
  const last = 'GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
  const dated = (s: string) => s.replace(/\r\nDate: [^\r]*/g, '\r\nDate: -');
  try {
    for (const path of ['/te', '/te204', '/conn', '/close', '/ka']) {
      for (const method of ['GET', 'HEAD']) {
        const req = `${method} ${path} HTTP/1.1\r\nHost: a\r\n\r\n${last}`;
        const lane = dated(await raw(p.port, req));
        const node = dated(await raw(p.port, Buffer.from(toNode + req, 'latin1')));
        assert.equal(lane, node.slice(node.indexOf('\r\n\r\nok') + 6), `${method} ${path}`);
      }
    }
    // Node keeps the connection of a body whose end only the close can tell (a coding other than chunked) open: the listener closes it.
    const gzip = await raw(p.port, `GET /gzip HTTP/1.1\r\nHost: a\r\n\r\n${last}`);
    assert.match(gzip, /\r\nConnection: close\r\n\r\nhello$/);
  } finally {
    await p.close();
  }
});

test('keep-alive requests (proxied, under limit_conn, or answered by lbconf) add nothing to the connection\'s socket (no listener leak)', async (t) => {
  const backend = await new Backend('b').listen();
  t.after(() => backend.kill());
  backend.behavior = (_req, res) => res.end('ok');
  const p = await startProxy((port) => `limit_conn_zone $remote_addr zone=c:1m;
    upstream app { server ${backend.address}; }
    server { listen 127.0.0.1:${port}; location / { limit_conn c 10; proxy_pass http://app; } location /r { return 200 "r"; } }`, { exposeGeneration: true });
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const c = await halfOpenClient(p.port);
    const sockets = (p.rt as unknown as { front: { sockets: Set<Socket> } }).front.sockets;
    const counts = () => {
      const s = [...sockets][0];
      return ['data', 'end', 'close', 'drain', 'error', 'finish'].map((e) => s.listenerCount(e)).join(',');
    };
    const ask = async (path: string, n: number) => {
      c.socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      await until(() => (c.text().match(/HTTP\/1\.1 /g) ?? []).length >= n, 3000, `response ${n}`);
    };
    await ask('/', 1);
    await sleep(20);
    const first = counts();
    for (let i = 2; i <= 40; i++) await ask(i % 3 === 0 ? '/r' : '/', i);
    await sleep(20);
    assert.equal(counts(), first);
    assert.equal(sockets.size, 1, 'one connection all along');
    assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
    c.socket.destroy();
  } finally {
    process.off('warning', onWarning);
    await p.close();
  }
});

test('a connection handed to Node\'s server is counted once: accepted once, open until it closes, and max_connections still holds it', async () => {
  const p = await startProxy((port) => `max_connections 2; server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } }`);
  try {
    const key = [...p.rt.addresses().keys()][0];
    const base = p.rt.observer.listenerSlot(key) * LISTENER_STRIDE;
    const accepted = () => p.rt.metrics.store.listeners[base];
    const before = accepted();
    const a = await halfOpenClient(p.port);
    a.socket.write('GET /lane HTTP/1.1\r\nHost: a\r\n\r\nPOST /node HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    await until(() => (a.text().match(/HTTP\/1\.1 200/g) ?? []).length === 2, 3000, 'both responses');
    const b = await halfOpenClient(p.port);
    b.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => b.text().includes('ok'), 3000, 'the second connection\'s response');
    assert.equal(accepted() - before, 2);
    assert.equal(openConnections(p), 2);
    // The handed-off connection still counts toward max_connections: a third is turned away.
    const c = connect(p.port, '127.0.0.1');
    c.on('error', () => {});
    await within(once(c, 'close'), 3000, 'the third connection to be refused');
    a.socket.destroy();
    await until(() => openConnections(p) === 1, 3000, 'the handed-off connection to be counted closed');
    b.socket.destroy();
    await until(() => openConnections(p) === 0, 3000, 'both closed');
    assert.equal(accepted() - before, 2);
  } finally {
    await p.close();
  }
});

test('at the limits (client_max_header_size, client_max_uri_length, client_max_headers) a head gets the same answer from the listener as from Node\'s server', async () => {
  const p = await startProxy((port) => `client_max_header_size 1k; client_max_uri_length 200; client_max_headers 5;
    server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } }`);
  const toNode = 'GET /first HTTP/1.1\r\nHost: a\r\nX-A: \xe9\r\n\r\n';
  const statuses = (text: string) => (text.match(/HTTP\/1\.1 \d{3}/g) ?? []).map((s) => s.slice(9));
  try {
    const heads: string[] = [];
    const fixed = 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Pad: \r\n\r\n'.length;
    for (let size = 1024 - 3; size <= 1024 + 3; size++) heads.push(`GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Pad: ${'p'.repeat(size - fixed)}\r\n\r\n`);
    for (let n = 199; n <= 201; n++) heads.push(`GET /${'u'.repeat(n - 1)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    for (let n = 4; n <= 6; n++) heads.push(`GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${Array.from({ length: n - 2 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`);
    const seen = new Set<string>();
    for (const head of heads) {
      const lane = statuses(await raw(p.port, head));
      const node = statuses(await raw(p.port, Buffer.from(toNode + head, 'latin1'))).slice(1);
      assert.deepEqual(lane, node, `${head.length} bytes: ${JSON.stringify(head.slice(0, 60))}…`);
      seen.add(lane.join());
    }
    assert.deepEqual([...seen].sort(), ['200', '414', '431'], 'each limit was reached and passed');
  } finally {
    await p.close();
  }
});
