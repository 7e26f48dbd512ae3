import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { Backend } from '../../helpers/backends.ts';
import { rawBackend, startProxy, until, within } from '../../helpers/proxy.ts';
import { exchanges, gc } from '../../helpers/exchanges.ts';

// Request bodies through the whole proxy, on lbconf's own listener (a
// Content-Length body) and on Node's (the same request with a byte that hands
// it off): a body goes upstream whole or not at all, never cut or extended.

/** Records every request body it got (when the request ended or was cut), and answers 200 with it. */
function recorder(close = false): { backend: Backend; bodies: string[] } {
  const bodies: string[] = [];
  const backend = new Backend('recorder', (req: IncomingMessage, res) => {
    let body = '';
    let ended = false;
    req.setEncoding('latin1');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      ended = true;
      bodies.push(body);
      if (close) res.setHeader('connection', 'close');
      res.end(`got ${body}`);
    });
    res.on('close', () => { if (!ended) bodies.push(`cut after ${JSON.stringify(body)}`); });
  });
  return { backend, bodies };
}

/** A head that lbconf's listener serves itself, or (with `node`) one with an obs-text byte that it hands to Node's server. */
function putHead(path: string, length: number, node: boolean): string {
  return `PUT ${path} HTTP/1.1\r\nHost: a\r\n${node ? 'X-Hand-Off: \xe9\r\n' : ''}Content-Length: ${length}\r\n\r\n`;
}

async function client(port: number): Promise<{ socket: Socket; text: () => string }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => { text += c; });
  return { socket, text: () => text };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('request bodies through the proxy', { timeout: 30_000 }, () => {
  for (const node of [false, true]) {
    const path = node ? "Node's server" : "lbconf's listener";
    test(`a status retried by proxy_next_upstream: the next server gets the whole body, not what was left of it (${path})`, async () => {
      // The first server answers 503 to the head at once, and ends that answer 150 ms later.
      const busy = await rawBackend((s) => {
        s.once('data', () => {
          s.write('HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\n');
          setTimeout(() => s.write('busy'), 150);
        });
      });
      const { backend, bodies } = recorder();
      await backend.listen();
      const p = await startProxy((port) => `upstream app { server ${busy.address} max_fails=0; server ${backend.address}; }
        server { listen 127.0.0.1:${port}; location / { proxy_next_upstream error timeout http_503; proxy_header_timeout 1s; proxy_pass http://app; } }`);
      try {
        const c = await client(p.port);
        // Part of the body while the 503 is being read, the rest after it.
        c.socket.write(putHead('/', 10, node));
        await sleep(50);
        c.socket.write('hello');
        await sleep(250);
        c.socket.write('world');
        await within(until(() => /\r\n\r\n/.test(c.text()), 5000), 5000, 'the answer');
        assert.deepEqual(bodies, ['helloworld'], 'the second server got the body whole');
        assert.match(c.text(), /^HTTP\/1\.1 200 /);
        c.socket.destroy();
      } finally {
        await p.close();
        await busy.close();
        await backend.kill();
      }
    });
  }

  test('a retry (after a 503, or a reset) never sends a body whose bytes went elsewhere meanwhile', async () => {
    // The client's body and the first server's 503 (or its reset) arrive at the proxy together, again and again:
    // whichever lbconf reads first, the second server gets the whole body or no request.
    let sendBody: (() => void) | null = null;
    let reset = false;
    const busy = await rawBackend((s) => {
      s.once('data', () => {
        if (reset) s.resetAndDestroy();
        else s.write('HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy');
        sendBody?.();
      });
    });
    // No connection to the second server is kept: every retry connects, and the body waits for that.
    const { backend, bodies } = recorder(true);
    // A request that starts at the second server gets its body once there.
    backend.server.prependListener('request', () => sendBody?.());
    await backend.listen();
    const p = await startProxy((port) => `upstream app { server ${busy.address} max_fails=0; server ${backend.address}; }
      server { listen 127.0.0.1:${port}; location / { proxy_next_upstream error timeout http_503; proxy_header_timeout 1s; proxy_pass http://app; } }`);
    try {
      const statuses: string[] = [];
      for (let i = 0; i < 40; i++) {
        reset = i % 8 >= 4;
        const c = await client(p.port);
        sendBody = () => { sendBody = null; c.socket.write('0123456789'); };
        c.socket.write(putHead(`/${i}`, 10, i % 4 >= 2));
        await within(until(() => /\r\n\r\n/.test(c.text()), 5000), 5000, `answer ${i}`);
        statuses.push(c.text().slice(9, 12));
        c.socket.destroy();
      }
      await until(() => bodies.length >= statuses.filter((s) => s === '200').length, 3000, 'the second server to record');
      for (const body of bodies) assert.equal(body, '0123456789', `every body the second server got is whole: ${JSON.stringify(bodies)}`);
      assert.ok(statuses.every((s) => s === '200' || s === '503' || s === '502'), `statuses: ${statuses.join(' ')}`);
    } finally {
      await p.close();
      await busy.close();
      await backend.kill();
    }
  });

  test('a server that stops taking the body is not the client pausing: proxy_send_timeout answers (504), not client_body_timeout (408)', async () => {
    // Reads the head, then nothing more: the kernel's buffers fill, lbconf stops writing to it, then stops reading from the client.
    const stalled = await rawBackend((socket) => { socket.once('data', () => socket.pause()); });
    const p = await startProxy((port) => `upstream stalled { server ${stalled.address} max_fails=0; }
      server { listen 127.0.0.1:${port};
        location / { client_body_timeout 300ms; proxy_send_timeout 1500ms; proxy_header_timeout 30s; client_max_body_size 0; proxy_pass http://stalled; }
      }`);
    try {
      // Content-Length: lbconf's listener; chunked: Node's server.
      for (const headers of [{ 'content-length': 256 * 1024 * 1024 }, { 'transfer-encoding': 'chunked' }]) {
        const started = Date.now();
        const status = await within(new Promise<number>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: p.port, method: 'PUT', path: '/upload', headers }, (res) => { res.resume(); resolve(res.statusCode!); req.destroy(); });
          req.on('error', (err) => { if (!(err as NodeJS.ErrnoException).code?.startsWith('ECONN') && err.message !== 'socket hang up') reject(err); });
          const chunk = Buffer.alloc(256 * 1024, 'x');
          let sent = 0;
          // Bounded: at most 256 MiB, and it stops as soon as the answer comes (req destroyed).
          const pump = () => { while (sent < 256 * 1024 * 1024 && !req.destroyed) { sent += chunk.length; if (!req.write(chunk)) { req.once('drain', pump); return; } } };
          pump();
        }), 10_000, 'the answer to the stalled upload');
        assert.equal(status, 504, `${JSON.stringify(headers)}: the server's fault`);
        assert.ok(Date.now() - started >= 1400, `not before proxy_send_timeout (${Date.now() - started} ms)`);
        for (const s of stalled.sockets) s.destroy();
      }
    } finally {
      await p.close();
      await stalled.close();
    }
  });

  test('a client that stops sending while lbconf is not reading still gets 408 once lbconf reads again', async () => {
    // The server takes nothing for 1 s, then everything.
    const stalled = await rawBackend((socket) => { socket.once('data', () => { socket.pause(); setTimeout(() => socket.resume(), 1000); }); });
    const p = await startProxy((port) => `upstream stalled { server ${stalled.address} max_fails=0; }
      server { listen 127.0.0.1:${port};
        location / { client_body_timeout 300ms; proxy_send_timeout 10s; client_max_body_size 0; proxy_pass http://stalled; }
      }`);
    const runtime = (p.rt as unknown as { front: { sockets: Set<Socket> } }).front;
    try {
      for (const node of [false, true]) {
        const c = await client(p.port);
        const started = Date.now();
        const size = 64 * 1024 * 1024;
        c.socket.write(node ? `PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${size.toString(16)}\r\n` : putHead('/', size, false));
        // 64 KiB at a time, each read before the next: the client stops as soon as lbconf stops reading from it,
        // so that nothing of its body waits in the kernel (no read, no activity, when lbconf reads again).
        const piece = Buffer.alloc(64 * 1024, 'x');
        const paused = () => [...runtime.sockets].some((s) => s.isPaused());
        // Paused for good, not for a moment (a body arrives before its upstream connection is open).
        const stopped = async () => paused() && (await sleep(100), paused());
        for (let sent = 0; sent < size && !(await stopped()) && c.text() === ''; sent += piece.length) {
          c.socket.write(piece);
          await sleep(2);
        }
        assert.ok(paused(), 'lbconf stopped reading from the client');
        assert.ok(Date.now() - started < 1000, 'before the server reads again');
        await within(until(() => c.text() !== '', 5000), 5000, 'the answer');
        assert.match(c.text(), /^HTTP\/1\.1 408 /, node ? 'chunked' : 'Content-Length');
        assert.ok(Date.now() - started >= 1000, 'not while lbconf was not reading');
        c.socket.destroy();
        for (const s of stalled.sockets) s.destroy();
      }
    } finally {
      await p.close();
      await stalled.close();
    }
  });

  test('uploads cut mid-body, timed out, or answered early leave no Exchange, no upstream request, no connection behind', async () => {
    // /sink reads bodies and never answers; /early answers at once without reading them.
    const backend = new Backend('b', (req, res) => {
      if (req.url!.startsWith('/early')) { res.writeHead(401, { 'content-length': '2' }); res.end('no'); return; }
      req.resume();
    });
    await backend.listen();
    const p = await startProxy((port) => `upstream app { server ${backend.address} max_fails=0; }
      server { listen 127.0.0.1:${port}; client_max_body_size 0; location / { client_body_timeout 300ms; proxy_pass http://app; } }`);
    const runtime = (p.rt as unknown as { front: { sockets: Set<Socket> } }).front;
    try {
      const before = exchanges.created;
      const collectedBefore = exchanges.collected;
      let next = 0;
      const worker = async () => {
        while (next < 150) {
          const k = next++;
          const c = await client(p.port);
          if (k % 3 === 0) {
            // Gone mid-body, once the backend has some of it.
            c.socket.write(`PUT /sink/${k} HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(20_000)}`);
            await until(() => backend.inflight > 0, 3000, 'the upload at the backend');
            await sleep(10);
          } else if (k % 3 === 1) {
            // Stops sending: 408 after client_body_timeout.
            c.socket.write(`PUT /sink/${k} HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc`);
            await within(until(() => c.text().startsWith('HTTP/1.1 408'), 3000), 3000, '408');
          } else {
            // Answered before the body is sent: the rest is read and dropped, and the next request is served.
            c.socket.write(`PUT /early/${k} HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n`);
            await within(until(() => c.text().includes('\r\n\r\nno'), 3000), 3000, '401');
            c.socket.write(Buffer.alloc(300_000, 'y'));
            c.socket.write(`PUT /early/after HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n`);
            await within(until(() => c.text().split('HTTP/1.1 401').length === 3, 3000), 3000, 'the request after the dropped body');
          }
          c.socket.destroy();
        }
      };
      await Promise.all(Array.from({ length: 5 }, worker));
      assert.equal(exchanges.created - before, 200);
      const up = p.rt.upstreams.get('app')!;
      await until(() => backend.inflight === 0 && up.peers.totalInflight === 0, 5000, 'all upstream requests closed');
      await until(() => { const s = up.pools[0].stats; return s.running === 0 && s.pending === 0 && s.queued === 0; }, 5000, 'pool idle');
      await until(() => runtime.sockets.size === 0, 5000, `client connections closed (${runtime.sockets.size} open)`);
      await until(() => { gc(); return exchanges.collected - collectedBefore >= 190; }, 5000, `Exchanges collected (${exchanges.collected - collectedBefore} of 200)`);
    } finally {
      await p.close();
      await backend.kill();
    }
  });
});
