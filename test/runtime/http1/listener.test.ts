import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { Http1Listener } from '../../../runtime/transport/http1/listener.ts';
import type { Http1Request } from '../../../runtime/transport/http1/request-head.ts';
import type { Http1Response } from '../../../runtime/transport/http1/response-writer.ts';
import { startListener } from '../../helpers/listener.ts';
import { within } from '../../helpers/proxy.ts';

// lbconf's own HTTP/1.1 listener against real sockets: what it serves itself,
// what it hands to Node's server (and that the connection goes on correctly
// there), keep-alive, pipelining, timeouts and framing.

interface Rig {
  listener: Http1Listener;
  port: number;
  /** Requests the listener served itself, and those Node's server got. */
  lane: string[];
  node: string[];
  /** What the last request on each side looked like, for comparing the two. */
  laneSeen: Http1Request | null;
  nodeSeen: IncomingMessage | null;
  close(): Promise<void>;
}

/** The listener with a handler that serves every path but `/node…`, and a Node fallback that answers `node PATH`. */
async function rig(serve: (req: Http1Request, res: Http1Response) => void = (req, res) => {
  res.writeHead(200, ['content-type', 'text/plain']);
  res.end(Buffer.from(`lane ${req.url}`));
}): Promise<Rig> {
  const r = { lane: [] as string[], node: [] as string[], laneSeen: null as Http1Request | null, nodeSeen: null as IncomingMessage | null } as Rig;
  const started = await startListener((req, res) => {
    if (req.url.startsWith('/node')) return false;
    r.lane.push(req.url);
    r.laneSeen = req;
    serve(req, res);
    return true;
  }, (req, res) => {
    r.node.push(req.url!);
    r.nodeSeen = req;
    req.resume();
    req.on('end', () => res.end(`node ${req.url}`));
  }, (err, socket) => {
    socket.end(`HTTP/1.1 ${err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  });
  r.listener = started.listener;
  r.port = started.port;
  r.close = started.close;
  return r;
}

interface Parsed { status: number; headers: Map<string, string>; body: string }

/** Reads responses off one socket, by their framing (Content-Length, chunked, or none for HEAD/204/304). */
class Reader {
  private data = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  closed = false;
  readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => { this.data = Buffer.concat([this.data, c]); this.wake?.(); });
    socket.on('close', () => { this.closed = true; this.wake?.(); });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<Reader> {
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    return new Reader(s);
  }

  private async more(): Promise<void> {
    if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.data.toString('latin1'))}`);
    await within(new Promise<void>((resolve) => { this.wake = resolve; }), 3000, 'more response bytes');
    this.wake = null;
  }

  async response(bodiless = false): Promise<Parsed> {
    let end: number;
    while ((end = this.data.indexOf('\r\n\r\n')) < 0) await this.more();
    const lines = this.data.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) headers.set(l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim());
    this.data = this.data.subarray(end + 4);
    let body = '';
    if (bodiless || status === 204 || status === 304 || status < 200) return { status, headers, body };
    if (headers.has('content-length')) {
      const n = Number(headers.get('content-length'));
      while (this.data.length < n) await this.more();
      body = this.data.subarray(0, n).toString('latin1');
      this.data = this.data.subarray(n);
    } else if (headers.get('transfer-encoding') === 'chunked') {
      for (;;) {
        let eol: number;
        while ((eol = this.data.indexOf('\r\n')) < 0) await this.more();
        const size = parseInt(this.data.subarray(0, eol).toString('latin1'), 16);
        while (this.data.length < eol + 2 + size + 2) await this.more();
        body += this.data.subarray(eol + 2, eol + 2 + size).toString('latin1');
        this.data = this.data.subarray(eol + 2 + size + 2);
        if (size === 0) break;
      }
    }
    return { status, headers, body };
  }

  async closedByPeer(ms = 3000): Promise<void> {
    if (!this.closed) await within(once(this.socket, 'close'), ms, 'the server to close the connection');
  }

  get unread(): number {
    return this.data.length;
  }
}

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;

test('plain requests are served by the listener; the first one it does not serve hands the connection to Node, which serves the rest in order', async () => {
  const r = await rig();
  try {
    const c = await Reader.open(r.port);
    c.socket.write(get('/a'));
    assert.equal((await c.response()).body, 'lane /a');
    c.socket.write(get('/b'));
    const b = await c.response();
    assert.equal(b.body, 'lane /b');
    assert.equal(b.headers.get('connection'), 'keep-alive');
    assert.equal(b.headers.get('keep-alive'), 'timeout=75');
    assert.ok(b.headers.has('date'));
    // A chunked body: Node's server takes the connection from this request on.
    c.socket.write('POST /post HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.equal((await c.response()).body, 'node /post');
    c.socket.write(get('/after'));
    assert.equal((await c.response()).body, 'node /after');
    assert.deepEqual(r.lane, ['/a', '/b']);
    assert.deepEqual(r.node, ['/post', '/after']);
    assert.equal(r.listener.connections.size, 0, 'the connection is no longer the listener\'s');
    c.socket.destroy();
  } finally {
    await r.close();
  }
});

test('pipelined requests are answered in order, across the hand-off, with nothing lost', async () => {
  const r = await rig();
  try {
    const c = await Reader.open(r.port);
    c.socket.write(get('/1') + get('/2') + get('/node/3') + get('/4') + 'POST /5 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' + get('/6'));
    const bodies = [];
    for (let i = 0; i < 6; i++) bodies.push((await c.response()).body);
    assert.deepEqual(bodies, ['lane /1', 'lane /2', 'node /node/3', 'node /4', 'node /5', 'node /6']);
    c.socket.destroy();
  } finally {
    await r.close();
  }
});

test('a head split over reads, and heads that are not plain, go to Node untouched', async () => {
  const r = await rig();
  try {
    const c = await Reader.open(r.port);
    c.socket.write('GET /split HTTP/1.1\r\nHo');
    await new Promise((resolve) => setTimeout(resolve, 50));
    c.socket.write('st: a\r\n\r\n');
    assert.equal((await c.response()).body, 'node /split');
    c.socket.destroy();
    const notPlain = [
      'GET /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET /v10 HTTP/1.0\r\nHost: a\r\n\r\n',
      'GET http://a/abs HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /fold HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  2\r\n\r\n',
      'GET /obs HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n',
      'GET /nohost HTTP/1.1\r\n\r\n',
      'GET /twohosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
      'GET /up HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
      'GET /expect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n',
      'GET /space HTTP/1.1\r\nHost : a\r\n\r\n',
      'GET /lf HTTP/1.1\nHost: a\n\n',
      'X-CUSTOM /method HTTP/1.1\r\nHost: a\r\n\r\n',
      'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n',
    ];
    for (const head of notPlain) {
      const d = await Reader.open(r.port);
      d.socket.write(Buffer.from(head, 'latin1'));
      await d.response().catch(() => null);
      d.socket.destroy();
    }
    assert.deepEqual(r.lane, [], 'the listener served none of them');
  } finally {
    await r.close();
  }
});

/** Answers `lane URL LENGTH SHA1-OF-BODY` once the body is read; `/early…` answers at once, reading nothing. */
function echoBody(req: Http1Request, res: Http1Response): void {
  if (req.url.startsWith('/early')) { res.writeHead(200, []); res.end(Buffer.from(`early ${req.url}`)); return; }
  const hash = createHash('sha1');
  let n = 0;
  req.on('data', (c: Buffer) => { hash.update(c); n += c.length; });
  req.on('end', () => { res.writeHead(200, []); res.end(Buffer.from(`lane ${req.url} ${n} ${hash.digest('hex')}`)); });
}

const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');
const post = (path: string, body: string) => `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('a Content-Length body is served by the listener: whole, split over reads, pipelined, and dropped when answered early', async () => {
  const r = await rig(echoBody);
  try {
    const c = await Reader.open(r.port);
    c.socket.write(post('/one', 'hello'));
    assert.equal((await c.response()).body, `lane /one 5 ${sha1('hello')}`);
    // The body split from its head, and inside itself (a split head goes to Node: tested above).
    const text = post('/split', 'abcdefghij');
    for (const cut of [text.indexOf('\r\n\r\n') + 4, text.length - 3]) {
      c.socket.write(text.slice(0, cut));
      await new Promise((resolve) => setTimeout(resolve, 20));
      c.socket.write(text.slice(cut));
      assert.equal((await c.response()).body, `lane /split 10 ${sha1('abcdefghij')}`);
    }
    // Pipelined behind and before bodies; an early answer's body is read and dropped, and what follows is served.
    c.socket.write(post('/a', 'xx') + get('/g') + post('/early', 'never read') + post('/b', 'yyy') + get('/h'));
    const bodies = [];
    for (let i = 0; i < 5; i++) bodies.push((await c.response()).body);
    assert.deepEqual(bodies, [`lane /a 2 ${sha1('xx')}`, `lane /g 0 ${sha1('')}`, 'early /early', `lane /b 3 ${sha1('yyy')}`, `lane /h 0 ${sha1('')}`]);
    assert.deepEqual(r.node, [], 'none went to Node');
    c.socket.destroy();
  } finally {
    await r.close();
  }
});

test('a large body flows with backpressure: reading stops while the reader is full', async () => {
  let held: Http1Request | null = null;
  const r = await rig((req, res) => {
    held = req;
    req.pause();
    echoBody(req, res);
  });
  try {
    const body = Buffer.from(Array.from({ length: 8 * 1024 * 1024 }, (_, i) => (i * 13) % 251));
    const c = await Reader.open(r.port);
    c.socket.write(`POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`);
    let written = true;
    c.socket.write(body, () => { written = true; });
    written = false;
    await within((async () => { while (held === null) await new Promise((resolve) => setTimeout(resolve, 5)); })(), 3000, 'the request');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The reader paused: the listener holds about one high-water mark of it, the rest waits in the kernel and the client.
    assert.ok(held!.readableLength <= 256 * 1024, `${held!.readableLength} bytes buffered in the request`);
    assert.equal(written, false, 'the client could not write it all');
    held!.resume();
    assert.equal((await c.response()).body, `lane /big ${body.length} ${sha1(body)}`);
    c.socket.destroy();
  } finally {
    await r.close();
  }
});

test('a client gone in the middle of its body: the request is aborted, and an error only for those listening for one', async () => {
  const seen: string[] = [];
  const r = await rig((req) => {
    req.on('data', () => {});
    req.on('close', () => seen.push(`close aborted=${req.aborted}`));
    if (req.url === '/listening') req.on('error', (err: Error & { code?: string }) => seen.push(`error ${err.code}`));
  });
  try {
    for (const path of ['/quiet', '/listening']) {
      const c = await Reader.open(r.port);
      c.socket.write(`POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly some`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      c.socket.destroy();
      await within((async () => { while (!seen.some((x) => x.startsWith('close'))) await new Promise((resolve) => setTimeout(resolve, 5)); })(), 3000, 'the request to close');
      if (path === '/quiet') { assert.deepEqual(seen, ['close aborted=true']); seen.length = 0; }
    }
    assert.deepEqual(seen, ['error ECONNRESET', 'close aborted=true']);
  } finally {
    await r.close();
  }
});

test('Connection: close from the client, and keepalive_requests, close the connection after the response', async () => {
  const r = await rig();
  try {
    const c = await Reader.open(r.port);
    c.socket.write(get('/bye', 'Connection: close\r\n'));
    const res = await c.response();
    assert.equal(res.headers.get('connection'), 'close');
    await c.closedByPeer();

    r.listener.configure(75_000, 2, 60_000);
    const d = await Reader.open(r.port);
    d.socket.write(get('/1'));
    assert.equal((await d.response()).headers.get('connection'), 'keep-alive');
    d.socket.write(get('/2'));
    assert.equal((await d.response()).headers.get('connection'), 'close');
    await d.closedByPeer();
  } finally {
    await r.close();
  }
});

test('an idle keep-alive connection is closed after keepalive_timeout; a silent new one gets 408 after client_header_timeout', async () => {
  const r = await rig();
  try {
    r.listener.configure(300, 0, 300);
    const c = await Reader.open(r.port);
    c.socket.write(get('/a'));
    await c.response();
    await c.closedByPeer(3000);
    const d = await Reader.open(r.port);
    const res = await d.response();
    assert.equal(res.status, 408);
    await d.closedByPeer(3000);
  } finally {
    await r.close();
  }
});

test('framing: HEAD and 204 carry no body, a streamed body is chunked, setHeader merges with writeHead, Early Hints go first', async () => {
  const r = await rig((req, res) => {
    if (req.url === '/head') { res.writeHead(200, ['content-length', '5']); res.end(Buffer.from('hello')); return; }
    if (req.url === '/204') { res.writeHead(204, []); res.end(); return; }
    if (req.url === '/hints') { res.writeEarlyHints({ link: ['</a.css>; rel=preload', '</b.js>; rel=preload'] }); res.writeHead(200, []); res.end(Buffer.from('x')); return; }
    res.setHeader('x-early', 'kept');
    res.setHeader('x-over', 'replaced');
    res.writeHead(201, 'Made', ['x-over', 'given']);
    res.write(Buffer.from('ab'));
    res.write(Buffer.from('cd'));
    res.end(Buffer.from('e'));
  });
  try {
    const c = await Reader.open(r.port);
    c.socket.write('HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n');
    const head = await c.response(true);
    assert.equal(head.headers.get('content-length'), '5');
    c.socket.write(get('/204'));
    const nothing = await c.response();
    assert.equal(nothing.status, 204);
    assert.equal(nothing.headers.has('content-length') || nothing.headers.has('transfer-encoding'), false);
    c.socket.write(get('/stream'));
    const s = await c.response();
    assert.equal(s.status, 201);
    assert.equal(s.headers.get('transfer-encoding'), 'chunked');
    assert.equal(s.body, 'abcde');
    assert.equal(s.headers.get('x-early'), 'kept');
    assert.equal(s.headers.get('x-over'), 'given');
    c.socket.write(get('/hints'));
    const hints = await c.response();
    assert.equal(hints.status, 103);
    assert.equal(hints.headers.get('link'), '</a.css>; rel=preload, </b.js>; rel=preload');
    assert.equal((await c.response()).body, 'x');
    assert.equal(c.unread, 0, 'no stray bytes: every response framed exactly');
    c.socket.destroy();
  } finally {
    await r.close();
  }
});

test('a header value Node would refuse is refused here too (ERR_INVALID_CHAR), and a client gone mid-response closes the response', async () => {
  let thrown: unknown = null;
  let held: Http1Response | null = null;
  const r = await rig((req, res) => {
    if (req.url === '/bad') {
      try { res.writeHead(200, ['x-bad', 'a\r\nset-cookie: evil=1']); } catch (err) { thrown = err; }
      res.writeHead(500, []);
      res.end();
      return;
    }
    held = res; // never answered
  });
  try {
    const c = await Reader.open(r.port);
    c.socket.write(get('/bad'));
    assert.equal((await c.response()).status, 500);
    assert.equal((thrown as { code?: string } | null)?.code, 'ERR_INVALID_CHAR');
    c.socket.write(get('/hold'));
    await within((async () => { while (held === null) await new Promise((resolve) => setTimeout(resolve, 5)); })(), 3000, 'the held request');
    const closed = once(held!, 'close');
    c.socket.destroy();
    await within(closed, 3000, 'close on the abandoned response');
    assert.equal(held!.destroyed, true);
  } finally {
    await r.close();
  }
});

/** A plain head: a token method, an origin-form target, Host once, and other fields, some repeated. */
const plainHead = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'DELETE', 'OPTIONS', 'PURGE', 'PROPFIND'),
  path: fc.stringMatching(/^\/[!-~]{0,40}$/),
  fields: fc.array(fc.tuple(
    // `constructor` and `__proto__`: names an object already has (Node joins duplicates onto strings only).
    fc.constantFrom('Accept', 'accept', 'Cookie', 'Set-Cookie', 'User-Agent', 'X-Forwarded-For', 'X-A', 'x-a', 'Content-Type', 'Referer', 'Connection', 'Content-Length', 'constructor', '__proto__'),
    fc.stringMatching(/^[!-~]([ !-~]{0,20}[!-~])?$/),
  ), { maxLength: 8 }),
  hostAt: fc.nat(8),
});

/** Sends one head to the listener and (under /node) to Node's server; when the listener served it, Node must have read it the same way. True when the listener served it. */
async function compare(r: Rig, method: string, path: string, head: string): Promise<boolean> {
  const send = async (p: string) => {
    const c = await Reader.open(r.port);
    c.socket.write(Buffer.from(head.replace(` ${path} `, ` ${p} `), 'latin1'));
    await c.response(method === 'HEAD').catch(() => null);
    c.socket.destroy();
  };
  r.laneSeen = null;
  r.nodeSeen = null;
  await send(path);
  await send(`/node${path}`);
  const lane = r.laneSeen as Http1Request | null;
  const node = r.nodeSeen as IncomingMessage | null;
  // Handed off: Node's server decides, whatever it decides.
  if (lane === null) return false;
  assert.ok(node !== null, `Node refuses a head the listener served: ${JSON.stringify(head)}`);
  assert.equal(lane.method, node.method);
  assert.equal(`/node${lane.url}`, node.url);
  assert.deepEqual({ ...lane.headers }, { ...node.headers });
  assert.deepEqual(lane.rawHeaders, node.rawHeaders);
  return true;
}

function headText(method: string, path: string, fields: [string, string][], hostAt: number): string {
  // Content-Length other than 0 is a body (not plain); keep-alive/close are the connection's business, not under test.
  const list = fields.map(([n, v]) => (n === 'Content-Length' ? [n, '0'] : n === 'Connection' ? [n, 'keep-alive'] : [n, v]));
  list.splice(Math.min(hostAt, list.length), 0, ['Host', 'example.test']);
  return `${method} ${path} HTTP/1.1\r\n${list.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`;
}

test('differential: for plain heads the listener reads the same method, target, headers and raw headers as Node\'s HTTP server', async () => {
  const r = await rig();
  let served = 0;
  try {
    await fc.assert(fc.asyncProperty(plainHead, async ({ method, path, fields, hostAt }) => {
      if (await compare(r, method, path, headText(method, path, fields, hostAt))) served++;
    }), { numRuns: 150 });
    assert.ok(served > 100, `the listener served ${served} of 150`);
  } finally {
    await r.close();
  }
});

test('differential: a hostile byte anywhere in a head, and the listener either hands it off or reads it as Node does', async () => {
  const r = await rig();
  const hostile = fc.constantFrom('\0', '\x7f', '\x80', '\xff', '\r', '\n', '\t', ' ', ':', '\r\n', '\r\n ', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n', 'Host: b\r\n');
  try {
    await fc.assert(fc.asyncProperty(plainHead, hostile, fc.nat(), async ({ method, path, fields, hostAt }, bad, at) => {
      const head = headText(method, path, fields, hostAt);
      // Anywhere in the head but inside the target (compare() finds the target by its text) and before the final blank line.
      const targetEnd = head.indexOf(' HTTP/1.1');
      const spots = head.length - 4 - targetEnd - 1;
      const i = targetEnd + 1 + (at % spots);
      await compare(r, method, path, head.slice(0, i) + bad + head.slice(i));
    }), { numRuns: 200 });
  } finally {
    await r.close();
  }
});
