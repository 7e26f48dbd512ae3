import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { echoName, startBackends, stopAll, type Backend, type Behavior } from '../../helpers/backends.ts';
import { startProxy, until, upstream, type TestProxy } from '../../helpers/proxy.ts';

// How each balancing method spreads real requests over real backends, through
// the real listener (spec/balancing.md). Exact sequences are the balancers'
// unit tests; here: the proxy feeds them the right inputs.

function site(up: string) {
  return (port: number) => `${up} server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`;
}

async function withProxy(backends: Backend[], block: string, fn: (p: TestProxy) => Promise<void>, perServer?: (i: number) => string): Promise<void> {
  const p = await startProxy(site(upstream('app', backends.map((b) => b.address), block, perServer)));
  try {
    await fn(p);
  } finally {
    await p.close();
  }
}

describe('distribution through the proxy', { timeout: 30_000 }, () => {
  let bs: Backend[];
  before(async () => { bs = await startBackends(3); });
  after(async () => { await stopAll(bs); });

  test('round robin over three servers', async () => {
    await withProxy(bs, '', async (p) => {
      const seq: string[] = [];
      for (let k = 0; k < 30; k++) seq.push(await p.who());
      assert.deepEqual(seq.slice(0, 3).sort(), ['b0', 'b1', 'b2']);
      // Plain round robin: the same order of three, repeated.
      for (let k = 3; k < 30; k++) assert.equal(seq[k], seq[k - 3]);
    });
  });

  test('weights 3:1 give 75% ± 2% over 4000 requests', async () => {
    await withProxy(bs.slice(0, 2), '', async (p) => {
      const counts = await p.count(4000, '/', 16);
      assert.equal(counts.b0 + counts.b1, 4000, JSON.stringify(counts));
      const share = counts.b0 / 4000;
      assert.ok(Math.abs(share - 0.75) <= 0.02, `b0 share ${share}`);
    }, (i) => (i === 0 ? 'weight=3' : ''));
  });

  test('least_conn sends new requests to the idle server while another holds long ones', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    const hold: Behavior = (req, res, b) => {
      if (req.url === '/hold') { void released.then(() => echoName(req, res, b)); return; }
      echoName(req, res, b);
    };
    const two = await startBackends(2, hold);
    try {
      await withProxy(two, 'least_conn;', async (p) => {
        const long = [p.get('/hold'), p.get('/hold')];
        await until(() => two[0].inflight + two[1].inflight === 2, 5000, 'two long requests');
        // One long request each (least_conn spreads them); hold a third on whichever…
        const third = p.get('/hold');
        await until(() => two[0].inflight + two[1].inflight === 3, 5000, 'three long requests');
        const busy = two[0].inflight === 2 ? 'b0' : 'b1';
        const idle = busy === 'b0' ? 'b1' : 'b0';
        // …so that server has 2 in flight, the other 1: every short request goes to the other.
        for (let k = 0; k < 10; k++) assert.equal(await p.who('/short'), idle);
        release();
        const done = await Promise.all([...long, third]);
        for (const r of done) assert.equal(r.status, 200);
      });
    } finally {
      release();
      await stopAll(two);
    }
  });

  test('least_busy moves traffic away from a 10× slower server, and still sends it some', async () => {
    const fast = (req: Parameters<Behavior>[0], res: Parameters<Behavior>[1], b: Backend) => {
      setTimeout(() => echoName(req, res, b), b.name === 'b1' ? 30 : 3);
    };
    const two = await startBackends(2, fast);
    try {
      await withProxy(two, 'least_busy decay=2s;', async (p) => {
        const counts = await p.count(400, '/', 4);
        assert.equal((counts.b0 ?? 0) + (counts.b1 ?? 0), 400, JSON.stringify(counts));
        assert.ok(counts.b0 > counts.b1 * 3, `fast server should take most: ${JSON.stringify(counts)}`);
        assert.ok((counts.b1 ?? 0) > 0, `slow server still gets some: ${JSON.stringify(counts)}`);
      });
    } finally {
      await stopAll(two);
    }
  });

  test('ip_hash keeps a client /24 on one server, and different /24s spread', async () => {
    await withProxy(bs, 'ip_hash;', async (p) => {
      const seen = new Set<string>();
      for (let net = 0; net < 12; net++) {
        // Loopback is all of 127/8: a client bound to 127.0.NET.1 is another /24.
        const agent = new Agent({ localAddress: `127.0.${net}.1` });
        try {
          const first = await p.who('/', { dispatcher: agent });
          for (let k = 0; k < 5; k++) assert.equal(await p.who('/', { dispatcher: agent }), first, `127.0.${net}.1`);
          seen.add(first);
        } finally {
          await agent.close();
        }
      }
      assert.ok(seen.size >= 2, `12 networks on ${[...seen]}`);
    });
  });

  test('hash $arg_x keeps a key on one server, and keys spread', async () => {
    await withProxy(bs, 'hash $arg_x;', async (p) => {
      const seen = new Set<string>();
      for (let key = 0; key < 20; key++) {
        const first = await p.who(`/?x=k${key}`);
        for (let k = 0; k < 4; k++) assert.equal(await p.who(`/other?y=1&x=k${key}`), first, `key k${key}`);
        seen.add(first);
      }
      assert.equal(seen.size, 3, `20 keys on ${[...seen]}`);
    });
  });

  test('hash ... consistent keeps a key on one server', async () => {
    await withProxy(bs, 'hash $arg_x consistent;', async (p) => {
      const seen = new Set<string>();
      for (let key = 0; key < 20; key++) {
        const first = await p.who(`/?x=k${key}`);
        for (let k = 0; k < 3; k++) assert.equal(await p.who(`/?x=k${key}`), first);
        seen.add(first);
      }
      assert.ok(seen.size >= 2);
    });
  });

  test('random two spreads over every server', async () => {
    await withProxy(bs, 'random two;', async (p) => {
      const counts = await p.count(600, '/', 8);
      for (const b of ['b0', 'b1', 'b2']) assert.ok((counts[b] ?? 0) > 600 * 0.2, JSON.stringify(counts));
    });
  });
});
