import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Http1Pool } from '../../../runtime/transport/http1/pool.ts';
import type { ResponseHeaders } from '../../../runtime/transport/http1/response-parser.ts';
import type { UpstreamController, UpstreamRequestOptions } from '../../../runtime/transport/http1/types.ts';

// lbconf's upstream client against real servers on loopback: node:http ones for
// the ordinary cases, raw TCP ones where a test needs a server that misbehaves.

interface Result { status: number; headers: ResponseHeaders; body: string; interim: number[] }

function request(pool: Http1Pool, opts: Partial<UpstreamRequestOptions>, onController?: (c: UpstreamController) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const r: Result = { status: 0, headers: {}, body: '', interim: [] };
    pool.dispatch({ method: 'GET', path: '/', headers: ['host', 'test'], ...opts }, {
      onRequestStart: (c) => onController?.(c),
      onResponseInformation: (_c, status) => { r.interim.push(status); },
      onResponseStart: (_c, status, headers) => { r.status = status; r.headers = headers; },
      onResponseData: (_c, chunk) => { r.body += chunk.toString(); },
      onResponseEnd: () => resolve(r),
      onResponseError: (_c, err) => reject(err),
    });
  });
}

const servers: Server[] = [];
after(() => { for (const s of servers) s.close(); });

/** A raw TCP server: `onRequest` gets each request head (up to the blank line) and the socket. */
async function raw(onRequest: (head: string, socket: Socket) => void): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        onRequest(head, socket);
      }
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

async function http(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = createHttpServer(handler);
  server.on('connection', () => { connections++; });
  servers.push(server as unknown as Server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

function pool(port: number, options: Partial<ConstructorParameters<typeof Http1Pool>[1]> = {}): Http1Pool {
  return new Http1Pool(`http://127.0.0.1:${port}`, { connectTimeout: 2000, keepAliveTimeout: 10_000, connections: 0, ...options });
}

describe('upstream HTTP/1.1 client', () => {
  test('keeps one connection alive across sequential requests', async () => {
    const s = await http((req, res) => res.end(`you asked ${req.url}`));
    const p = pool(s.port);
    for (let i = 0; i < 20; i++) {
      const r = await request(p, { path: `/n${i}` });
      assert.equal(r.body, `you asked /n${i}`);
    }
    assert.equal(s.connections(), 1);
    await p.close();
  });

  test('a request value HTTP cannot carry is refused before anything is sent', async () => {
    const s = await http((_req, res) => res.end('no'));
    const p = pool(s.port);
    await assert.rejects(request(p, { headers: ['x-a', 'bad\r\nx-injected: 1'] }), { code: 'LBCONF_BAD_REQUEST_VALUE' });
    await assert.rejects(request(p, { headers: ['x-a', 'snow\u2603'] }), { code: 'LBCONF_BAD_REQUEST_VALUE' });
    assert.equal(s.connections(), 0);
    await p.close();
  });

  test('the keep-alive race: a GET on a kept-alive connection that dies unanswered goes again on a new one', async () => {
    // Each connection answers its first request, then dies on the second without a byte,
    // as a server does that closed an idle connection just as the request arrived.
    const served = new WeakMap<Socket, number>();
    const s = await raw((_head, socket) => {
      const n = (served.get(socket) ?? 0) + 1;
      served.set(socket, n);
      if (n > 1) { socket.destroy(); return; }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(s.port);
    for (let i = 0; i < 5; i++) assert.equal((await request(p, {})).body, 'ok');
    assert.equal(s.connections(), 5, 'each retry went on a new connection');
    await p.close();
  });

  test('a POST is not sent twice when its connection dies', async () => {
    let posts = 0;
    const s = await raw((head, socket) => {
      if (head.startsWith('POST')) { posts++; socket.destroy(); return; }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(s.port);
    assert.equal((await request(p, {})).body, 'ok');
    await assert.rejects(request(p, { method: 'POST', headers: ['host', 't', 'content-length', '0'] }), (err: Error & { code?: string }) => /LBCONF_UPSTREAM_CLOSED|ECONNRESET|EPIPE/.test(err.code ?? ''));
    assert.equal(posts, 1);
    await p.close();
  });

  test('`connections` caps the connections; the rest wait their turn and all complete', async () => {
    let open = 0;
    let most = 0;
    const s = await http((_req, res) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => { open--; res.end('done'); }, 20);
    });
    const p = pool(s.port, { connections: 2 });
    const results = await Promise.all(Array.from({ length: 8 }, () => request(p, {})));
    assert.deepEqual(results.map((r) => r.body), Array(8).fill('done'));
    assert.equal(most, 2);
    assert.equal(s.connections(), 2);
    await p.close();
  });

  test('idle connections close after keepAliveTimeout, or the server\'s Keep-Alive hint when shorter', async () => {
    const closed: number[] = [];
    const s = await raw((head, socket) => {
      socket.once('close', () => closed.push(Date.now()));
      const hint = head.includes('/hint') ? 'Keep-Alive: timeout=1\r\n' : '';
      socket.write(`HTTP/1.1 200 OK\r\n${hint}Content-Length: 2\r\n\r\nok`);
    });
    const p = pool(s.port, { keepAliveTimeout: 300 });
    const t0 = Date.now();
    await request(p, {});
    await sleep(700);
    assert.equal(closed.length, 1, 'closed by keepAliveTimeout');
    assert.ok(closed[0] - t0 >= 250, `closed after ${closed[0] - t0} ms`);
    const q = pool(s.port, { keepAliveTimeout: 60_000 });
    await request(q, { path: '/hint' });
    await sleep(400);
    assert.equal(closed.length, 2, 'closed by the Keep-Alive hint (timeout=1 s, less a second of margin)');
    await p.close();
    await q.close();
  });

  test('head and body timeouts', async () => {
    const s = await raw((head, socket) => {
      if (head.includes('/silent')) return;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    });
    const p = pool(s.port);
    await assert.rejects(request(p, { path: '/silent', headersTimeout: 200 }), { code: 'LBCONF_HEAD_TIMEOUT' });
    await assert.rejects(request(p, { path: '/half', bodyTimeout: 200 }), { code: 'LBCONF_BODY_TIMEOUT' });
    await p.close();
  });

  test('a refused connection reports ECONNREFUSED', async () => {
    const s = await raw(() => {});
    const port = s.port;
    servers.pop()!.close();
    await sleep(20);
    const p = pool(port);
    await assert.rejects(request(p, {}), { code: 'ECONNREFUSED' });
    await p.close();
  });

  test('a body without Content-Length goes chunked; with one, as is', async () => {
    const s = await http((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => res.end(`${req.headers['transfer-encoding'] ?? 'length ' + req.headers['content-length']}:${body}`));
    });
    const p = pool(s.port);
    const chunked = await request(p, { method: 'POST', body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]) });
    assert.equal(chunked.body, 'chunked:abcd');
    const sized = await request(p, { method: 'POST', headers: ['host', 't', 'Content-Length', '4'], body: Readable.from([Buffer.from('wxyz')]) });
    assert.equal(sized.body, 'length 4:wxyz');
    assert.equal(s.connections(), 1, 'both on one kept-alive connection');
    await p.close();
  });

  test('interim responses reach the handler; trailers are read; the connection stays usable', async () => {
    const s = await raw((_head, socket) => {
      socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n');
    });
    const p = pool(s.port);
    const r = await request(p, {});
    assert.deepEqual(r.interim, [103]);
    assert.equal(r.body, 'abc');
    assert.equal((await request(p, {})).body, 'abc');
    assert.equal(s.connections(), 1);
    await p.close();
  });

  test('bytes after a complete response mean the connection is not reused', async () => {
    const s = await raw((_head, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n'));
    const p = pool(s.port);
    assert.equal((await request(p, {})).body, 'ok');
    assert.equal((await request(p, {})).body, 'ok');
    assert.equal(s.connections(), 2);
    await p.close();
  });

  test('pause() stops reading from the server until resume()', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'z');
    let flushed = false;
    const s = await http((_req, res) => { res.end(big, () => { flushed = true; }); });
    const p = pool(s.port);
    let controller: UpstreamController | null = null;
    let received = 0;
    const done = new Promise<void>((resolve, reject) => {
      p.dispatch({ method: 'GET', path: '/', headers: ['host', 't'] }, {
        onResponseData: (c, chunk) => { controller = c; received += chunk.length; if (!c.paused) c.pause(); },
        onResponseEnd: () => resolve(),
        onResponseError: (_c, err) => reject(err),
      });
    });
    await sleep(300);
    const heldAt = received;
    assert.ok(heldAt < big.length / 2, `read ${heldAt} bytes while paused`);
    assert.equal(flushed, false, 'the server could not write it all');
    // Resume repeatedly until the whole body is through.
    while (received < big.length) { (controller as UpstreamController | null)?.resume(); await sleep(1); }
    await done;
    assert.equal(received, big.length);
    await p.close();
  });

  test('a response paused on its last chunk leaves the connection readable for the next request', async () => {
    const s = await http((_req, res) => res.end('body'));
    const p = pool(s.port);
    for (let i = 0; i < 3; i++) {
      const got = await new Promise<string>((resolve, reject) => {
        let body = '';
        p.dispatch({ method: 'GET', path: '/', headers: ['host', 't'], headersTimeout: 1000 }, {
          // As the proxy does when the client's socket is full: pause, and never resume (the response ended).
          onResponseData: (c, chunk) => { body += chunk; c.pause(); },
          onResponseEnd: () => resolve(body),
          onResponseError: (_c, err) => reject(err),
        });
      });
      assert.equal(got, 'body');
    }
    assert.equal(s.connections(), 1);
    await p.close();
  });

  test('queued requests can be aborted where they wait, thousands of them, without touching the connection', async () => {
    let release: () => void = () => {};
    const s = await http((req, res) => { if (req.url === '/slow') release = () => res.end('slow'); else res.end('ok'); });
    const p = pool(s.port, { connections: 1 });
    const slow = request(p, { path: '/slow' });
    await sleep(30);
    const controllers: UpstreamController[] = [];
    const waiting = Array.from({ length: 3000 }, () => request(p, { path: '/q' }, (c) => controllers.push(c)).then(() => 'answered', (e: Error) => e.message));
    assert.equal(p.stats.pending, 3000);
    for (const c of controllers) c.abort(new Error('client left'));
    assert.equal(p.stats.pending, 0);
    release();
    assert.equal((await slow).body, 'slow');
    assert.deepEqual(new Set(await Promise.all(waiting)), new Set(['client left']));
    assert.equal(s.connections(), 1, 'the one connection carried on');
    assert.equal((await request(p, {})).body, 'ok');
    await p.close();
  });

  test('a request that waits longer than the connect timeout for a free connection fails as a connect timeout', async () => {
    const s = await http((req, res) => { if (req.url === '/slow') setTimeout(() => res.end('slow'), 600); else res.end('ok'); });
    const p = pool(s.port, { connections: 1, connectTimeout: 200 });
    const slow = request(p, { path: '/slow' });
    await assert.rejects(request(p, {}), { code: 'LBCONF_CONNECT_TIMEOUT' });
    assert.equal((await slow).body, 'slow');
    await p.close();
  });

  test('the head timeout starts when the body is sent: a slow upload is not a slow server', async () => {
    const s = await http((req, res) => { let n = 0; req.on('data', (d) => { n += d.length; }); req.on('end', () => res.end(`got ${n}`)); });
    const p = pool(s.port);
    const body = new PassThrough();
    const r = request(p, { method: 'PUT', headers: ['host', 't', 'content-length', '30'], body, headersTimeout: 300 });
    for (let i = 0; i < 3; i++) { body.write('0123456789'); await sleep(200); }
    body.end();
    assert.equal((await r).body, 'got 30');
    await p.close();
  });

  test('a body resent after the keep-alive race arrives whole, with the bytes that came while reconnecting', async () => {
    let connection = 0;
    const bodies: string[] = [];
    const s = await raw((head, socket) => {
      void head;
      const id = (socket as Socket & { id?: number }).id ??= ++connection;
      const seen = ((socket as Socket & { seen?: number }).seen ?? 0) + 1;
      (socket as Socket & { seen?: number }).seen = seen;
      if (id === 1 && seen === 2) { socket.destroy(); return; } // dies on its second request, unanswered
      if (id === 1) { socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); return; }
      let buf = '';
      socket.on('data', (d) => {
        buf += d.toString('latin1');
        if (buf.endsWith('0\r\n\r\n')) { bodies.push(buf); socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); }
      });
    });
    const p = pool(s.port);
    assert.equal((await request(p, {})).body, 'ok');
    const body = new PassThrough();
    const put = request(p, { method: 'PUT', body });
    await sleep(20); // the first connection has died by now, and the resend is on its way
    body.write('FIRST-');
    await sleep(20);
    body.end('LAST');
    assert.equal((await put).body, 'ok');
    assert.equal(bodies.length, 1);
    assert.match(bodies[0], /^6\r\nFIRST-\r\n4\r\nLAST\r\n0\r\n\r\n$/);
    await p.close();
  });

  test('a body shorter or longer than its Content-Length is never sent as such: the request fails and its connection is not reused', async () => {
    // The server answers each head at once (as one refusing an upload does); the heads it reads must stay heads.
    const heads: string[] = [];
    const s = await raw((head, socket) => { heads.push(head.split('\r\n')[0]); socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); });
    const p = pool(s.port);
    const sized = (length: number, body: string) => request(p, { method: 'PUT', path: `/${length}`, headers: ['host', 't', 'content-length', String(length)], body: Readable.from([Buffer.from(body)]) });
    // Short: 5 of 10 bytes, then the body ends. Sent as is, the server would take the next head's first 5 bytes as the rest.
    await assert.rejects(sized(10, 'hello'), { code: 'LBCONF_BODY_LENGTH' });
    assert.equal((await request(p, { path: '/next' })).body, 'ok');
    // Long: 7 bytes for 3. The extra 4 would be read by the server as the start of a request.
    await assert.rejects(sized(3, 'abcdefg'), { code: 'LBCONF_BODY_LENGTH' });
    assert.equal((await request(p, { path: '/last' })).body, 'ok');
    assert.deepEqual(heads, ['PUT /10 HTTP/1.1', 'GET /next HTTP/1.1', 'PUT /3 HTTP/1.1', 'GET /last HTTP/1.1']);
    await p.close();
  });

  test('a response paused for longer than the send timeout is cut, and its connection closed', async () => {
    const s = await http((_req, res) => { res.write('first'); setTimeout(() => res.end('rest'), 2000); });
    const p = pool(s.port, { sendTimeout: 300 });
    const t0 = Date.now();
    const failed = await new Promise<Error & { code?: string }>((resolve, reject) => {
      p.dispatch({ method: 'GET', path: '/', headers: ['host', 't'], bodyTimeout: 5000 }, {
        onResponseData: (c) => { c.pause(); }, // a client that stops reading, and never resumes
        onResponseEnd: () => reject(new Error('the response was not cut')),
        onResponseError: (_c, err) => resolve(err),
      });
    });
    assert.equal(failed.code, 'LBCONF_SEND_TIMEOUT');
    assert.ok(Date.now() - t0 < 1500, 'cut at the send timeout, not at the body timeout or the end');
    assert.equal(p.stats.connected, 0);
    await p.close();
  });

  test('close() lets requests in flight finish; later dispatches are refused', async () => {
    const s = await http((_req, res) => setTimeout(() => res.end('late'), 100));
    const p = pool(s.port);
    const inflight = request(p, {});
    await sleep(20);
    const closing = p.close();
    await assert.rejects(request(p, {}), { code: 'LBCONF_POOL_CLOSED' });
    assert.equal((await inflight).body, 'late');
    await closing;
    assert.equal(p.stats.connected, 0);
  });

  test('abort() fails the request at once and closes its connection', async () => {
    const s = await raw(() => {});
    const p = pool(s.port);
    let controller: UpstreamController | null = null;
    const r = request(p, {}, (c) => { controller = c; });
    await sleep(50);
    (controller as UpstreamController | null)!.abort(new Error('client went away'));
    await assert.rejects(r, /client went away/);
    assert.equal(p.stats.connected, 0);
    await p.close();
  });
});
