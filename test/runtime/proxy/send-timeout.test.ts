import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { rawBackend, startProxy, within } from '../../helpers/proxy.ts';

// proxy_send_timeout: a server that stops taking the request body is given up
// on after that long (nginx: the time between two writes), with a 504.

test('a server that takes none of the request body for proxy_send_timeout gets the request cut and the client a 504', { timeout: 20_000 }, async () => {
  // Reads the head, then nothing more: the kernel's buffers fill and lbconf's writes stop.
  const stalled = await rawBackend((socket) => { socket.once('data', () => socket.pause()); });
  const p = await startProxy((port) => `
    upstream stalled { server ${stalled.address}; }
    server { listen 127.0.0.1:${port};
      location / { proxy_send_timeout 300ms; proxy_header_timeout 30s; client_max_body_size 0; proxy_pass http://stalled; }
    }`);
  try {
    const started = Date.now();
    const status = await within(new Promise<number>((resolve, reject) => {
      const total = 256 * 1024 * 1024;
      const req = request({ host: '127.0.0.1', port: p.port, method: 'PUT', path: '/upload', headers: { 'content-length': total } }, (res) => { res.resume(); resolve(res.statusCode!); req.destroy(); });
      req.on('error', (err) => { if (!(err as NodeJS.ErrnoException).code?.startsWith('ECONN') && (err as Error).message !== 'socket hang up') reject(err); });
      const chunk = Buffer.alloc(256 * 1024, 'x');
      let sent = 0;
      // Bounded: at most `total` bytes, and it stops as soon as the answer comes (req destroyed).
      const pump = () => { while (sent < total && !req.destroyed) { sent += chunk.length; if (!req.write(chunk)) { req.once('drain', pump); return; } } };
      pump();
    }), 10_000, 'the answer to the stalled upload');
    assert.equal(status, 504);
    // The kernel's buffers take a few MiB before writes stop; then 300 ms and the 100 ms sweep.
    assert.ok(Date.now() - started < 8000, `answered after ${Date.now() - started} ms`);
    // lbconf closed its side: the backend sees the end once it reads again.
    for (const s of stalled.sockets) s.resume();
    await within((async () => { while (stalled.sockets.size > 0) await new Promise((r) => setTimeout(r, 20)); })(), 3000, 'the upstream connection closed');
    assert.equal(p.rt.upstreams.get('stalled')!.peers.inflight[0], 0);
  } finally {
    await p.close();
    await stalled.close();
  }
});
