import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import { Backend, echoName, startBackends, stopAll, type Behavior } from '../../helpers/backends.ts';
import { freePort, startProxy, upstream, type TestProxy } from '../../helpers/proxy.ts';

// Failover (spec/proxy.md § Failover): which failures go to the next server,
// which never do, and how many servers one request may try.

/** Reads the request body, then drops the connection without answering. */
const readThenDie: Behavior = (req) => {
  req.resume();
  req.on('end', () => req.socket.destroy());
};

/** Drops the connection as soon as the request arrives. */
const die: Behavior = (req) => { req.socket.destroy(); };

const status503: Behavior = (req, res, b) => {
  req.resume();
  res.writeHead(503, { 'x-backend': b.name, 'content-type': 'text/plain' });
  res.end(`busy ${b.name}`);
};

/** Echoes the request body with the backend's name. */
const echoBody: Behavior = (req: IncomingMessage, res: ServerResponse, b: Backend) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(200, { 'x-backend': b.name });
    res.end(Buffer.concat(chunks));
  });
};

async function run(backends: Backend[], block: string, location: string, fn: (p: TestProxy) => Promise<void>, perServer?: (i: number) => string): Promise<void> {
  const p = await startProxy((port) => `${upstream('app', backends.map((b) => b.address), block, perServer)}
    server { listen 127.0.0.1:${port}; location / { ${location} proxy_pass http://app; } }`);
  try {
    await fn(p);
  } finally {
    await p.close();
  }
}

describe('failover', { timeout: 30_000 }, () => {
  test('a backend killed in the middle of a run of GETs: no client sees an error', async () => {
    const bs = await startBackends(3);
    try {
      await run(bs, '', '', async (p) => {
        let done = 0;
        const statuses: Record<string, number> = {};
        let next = 0;
        const worker = async () => {
          while (next < 600) {
            next++;
            const r = await p.get('/');
            statuses[r.status] = (statuses[r.status] ?? 0) + 1;
            if (++done === 200) void bs[1].kill();
          }
        };
        await Promise.all(Array.from({ length: 8 }, worker));
        assert.deepEqual(statuses, { 200: 600 });
        assert.ok(bs[1].requests > 0 && bs[1].requests < 300, `b1 served ${bs[1].requests}`);
      });
    } finally {
      await stopAll(bs);
    }
  });

  test('a request whose body was read is not sent again (PUT, POST even with non_idempotent)', async () => {
    const first = await new Backend('first', readThenDie).listen();
    const second = await new Backend('second', echoBody).listen();
    try {
      await run([first, second], '', 'proxy_next_upstream error timeout non_idempotent;', async (p) => {
        for (const method of ['POST', 'PUT'] as const) {
          first.requests = 0;
          second.requests = 0;
          const r = await p.get('/', { method, body: 'x'.repeat(10_000) });
          // Round robin started on `first`, which read the body and died.
          assert.equal(r.status, 502, method);
          assert.equal(first.requests, 1);
          assert.equal(second.requests, 0, `${method} must not be replayed`);
          // Both are back in rotation for the next method's test.
          await p.get('/x', { method: 'GET' });
        }
      }, () => 'max_fails=0');
    } finally {
      await stopAll([first, second]);
    }
  });

  test('a POST is not retried after it was sent, but is when the connection was refused', async () => {
    const deadPort = await freePort();
    const good = await new Backend('good', echoBody).listen();
    const dies = await new Backend('dies', die).listen();
    try {
      // Refused: nothing was sent, so even a POST goes to the next server, body intact.
      await run([{ address: `127.0.0.1:${deadPort}` } as Backend, good], '', '', async (p) => {
        const r = await p.get('/', { method: 'POST', body: 'hello body' });
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-backend'], 'good');
        assert.equal(r.body, 'hello body');
      });
      // Sent, then the connection dropped: a POST is not idempotent, no retry.
      await run([dies, good], '', '', async (p) => {
        good.requests = 0;
        const r = await p.get('/', { method: 'POST', body: 'once' });
        assert.equal(r.status, 502);
        assert.equal(good.requests, 0);
      });
    } finally {
      await stopAll([good, dies]);
    }
  });

  test('proxy_next_upstream http_503 retries a 503 on another server', async () => {
    const busy = await new Backend('busy', status503).listen();
    const good = await new Backend('good').listen();
    try {
      await run([busy, good], '', 'proxy_next_upstream error timeout http_503;', async (p) => {
        for (let k = 0; k < 6; k++) {
          const r = await p.get(`/${k}`);
          assert.equal(r.status, 200);
          assert.equal(r.headers['x-backend'], 'good');
        }
        // The 503 counted as a failure (max_fails=1): `busy` was taken out after one.
        assert.equal(busy.requests, 1);
      });
      // Without http_503 the 503 goes to the client as the server sent it.
      await run([busy, good], '', '', async (p) => {
        const r = await p.get('/');
        assert.equal(r.status, 503);
        assert.equal(r.body, 'busy busy');
      });
    } finally {
      await stopAll([busy, good]);
    }
  });

  test('proxy_next_upstream_tries 2 bounds the attempts; the client gets the last status', async () => {
    const bs = await startBackends(4, status503);
    try {
      await run(bs, '', 'proxy_next_upstream http_503; proxy_next_upstream_tries 2;', async (p) => {
        const r = await p.get('/');
        assert.equal(r.status, 503);
        assert.equal(bs.reduce((n, b) => n + b.requests, 0), 2);
      }, () => 'max_fails=0');
    } finally {
      await stopAll(bs);
    }
  });

  test('a listed status relayed to the client (no try left) still counts as a failure', async () => {
    // Two servers: a group of one never counts failures (nginx).
    const busy = await new Backend('busy', status503).listen();
    const other = await new Backend('other', status503).listen();
    try {
      await run([busy, other], '', 'proxy_next_upstream http_503; proxy_next_upstream_tries 1;', async (p) => {
        const r = await p.get('/');
        assert.equal(r.status, 503);
        assert.match(r.body, /busy/, 'the server\'s own response');
        const fails = p.rt.upstreams.get('app')!.peers.fails;
        assert.equal(fails[0] + fails[1], 1);
      }, () => 'max_fails=3');
    } finally {
      await stopAll([busy, other]);
    }
  });

  test('a retry never goes to a server this request already tried', async () => {
    const bs = await startBackends(3, die);
    try {
      await run(bs, '', '', async (p) => {
        const r = await p.get('/');
        assert.equal(r.status, 502);
        assert.deepEqual(bs.map((b) => b.requests), [1, 1, 1]);
      }, () => 'max_fails=0');
    } finally {
      await stopAll(bs);
    }
  });

  test('retries are bounded by the retry budget (20% of recent requests, at least 3)', async () => {
    const bs = await startBackends(3, die);
    try {
      await run(bs, '', '', async (p) => {
        for (let k = 0; k < 20; k++) assert.equal((await p.get('/')).status, 502);
        // 20 requests, and retries up to max(3, 20% of 20) = 4: the first request
        // tries all three servers, the second two, then only the 20th may retry again.
        const budget = p.rt.upstreams.get('app')!.budget as unknown as { retriesNow: number; retriesBefore: number };
        assert.equal(budget.retriesNow + budget.retriesBefore, 4);
        const sent = bs.reduce((n, b) => n + b.requests, 0);
        assert.ok(sent <= 24 && sent >= 21, `sent ${sent}`);
      }, () => 'max_fails=0');
    } finally {
      await stopAll(bs);
    }
  });

  test('when every server has failed out passively, the next request tries them again (nginx), not 503 for fail_timeout', async () => {
    const bs = await startBackends(2, die);
    try {
      await run(bs, '', '', async (p) => {
        assert.equal((await p.get('/')).status, 502);
        const r = await p.get('/');
        assert.equal(r.status, 502);
        assert.deepEqual(bs.map((b) => b.requests), [2, 2]);
      }, () => 'max_fails=1 fail_timeout=10s');
    } finally {
      await stopAll(bs);
    }
  });
});
