import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backend, echoName, startBackends, stopAll } from '../../helpers/backends.ts';
import { createServer } from 'node:net';
import { freePort, rawStatus, startProxy, type TestProxy } from '../../helpers/proxy.ts';

// ProxyRuntime.load() is not instantaneous (new listeners open, `initial=checked`
// servers are checked first): until the swap the old Plan serves, on its own
// pools and health checks; and a load that fails leaves nothing of itself.

describe('load', { timeout: 20_000 }, () => {
  test('changing pool options while a slow first check runs fails no request', async () => {
    const bs = await startBackends(2);
    // The new server's first health check takes 150 ms: load() waits for it.
    const slow = await new Backend('slow', (req, res, b) => setTimeout(() => echoName(req, res, b), 150)).listen();
    const conf = (port: number, maxConns: number, withSlow: boolean) => `upstream app {
        health_check uri=/ interval=10s initial=checked;
        ${bs.map((b) => `server ${b.address} max_conns=${maxConns};`).join(' ')}
        ${withSlow ? `server ${slow.address} weight=1;` : ''}
      }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`;
    let p: TestProxy | undefined;
    try {
      p = await startProxy((port) => conf(port, 100, false));
      const proxy = p;
      const counts: Record<number, number> = {};
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const r = await proxy.get('/');
          counts[r.status] = (counts[r.status] ?? 0) + 1;
        }
      };
      const workers = Array.from({ length: 6 }, worker);
      await proxy.get('/');
      // max_conns changes the pools of b0 and b1; the old Plan keeps serving on the old ones during the check.
      await proxy.load(conf(proxy.port, 50, true));
      await proxy.get('/');
      stop = true;
      await Promise.all(workers);
      assert.deepEqual(Object.keys(counts), ['200'], JSON.stringify(counts));
      assert.ok(counts[200] > 20);
    } finally {
      await p?.close();
      await stopAll([...bs, slow]);
    }
  });

  test('a load that fails (a port in use) leaves the running Plan, its health checks and listeners as they were', async () => {
    const bs = await startBackends(2, (req, res, b) => {
      if (req.url === '/healthz') { res.writeHead(sick.has(b.name) ? 500 : 200); res.end(); return; }
      echoName(req, res, b);
    });
    const sick = new Set<string>();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const busyPort = (blocker.address() as { port: number }).port;
    const extraPort = await freePort();
    let p: TestProxy | undefined;
    try {
      const hc = 'health_check uri=/healthz interval=100ms fails=1 passes=1;';
      p = await startProxy((port) => `upstream app { ${hc} server ${bs[0].address}; server ${bs[1].address}; }
        server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
      // The new config drops b1, changes b0, and listens on a free port and a busy one.
      await assert.rejects(p.load(`upstream app { ${hc} server ${bs[0].address} weight=2; }
        server { listen 127.0.0.1:${p.port}; listen 127.0.0.1:${extraPort}; listen 127.0.0.1:${busyPort}; location / { return 200 "new"; } }`),
      (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
      // The listener it opened before failing is closed again.
      await assert.rejects(rawStatus(extraPort, '/'), /ECONNREFUSED/);
      assert.equal(p.rt.generation, 1);
      assert.deepEqual(await p.count(4), { b0: 2, b1: 2 });
      // b1 is still checked, on the running Plan: a failing check takes it out.
      const out = p.waitHealth(bs[1].address, false);
      sick.add('b1');
      await out;
      assert.deepEqual(await p.count(4), { b0: 4 });
    } finally {
      await p?.close();
      await new Promise<void>((r) => blocker.close(() => r()));
      await stopAll(bs);
    }
  });

  test('removing health_check from an upstream brings its unhealthy servers back', async () => {
    const sick = new Set<string>(['b1']);
    const bs = await startBackends(2, (req, res, b) => {
      if (req.url === '/healthz') { res.writeHead(sick.has(b.name) ? 500 : 200); res.end(); return; }
      echoName(req, res, b);
    });
    let p: TestProxy | undefined;
    try {
      const conf = (port: number, hc: string) => `upstream app { ${hc} server ${bs[0].address}; server ${bs[1].address}; }
        server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`;
      p = await startProxy((port) => conf(port, 'health_check uri=/healthz interval=100ms initial=checked;'));
      assert.deepEqual(await p.count(4), { b0: 4 });
      await p.load(conf(p.port, ''));
      assert.deepEqual(await p.count(4), { b0: 2, b1: 2 });
    } finally {
      await p?.close();
      await stopAll(bs);
    }
  });
});
