import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backend, echoName, stopAll, type Behavior } from '../../helpers/backends.ts';
import { startProxy, until, upstream, type TestProxy } from '../../helpers/proxy.ts';

// Health through the proxy (spec/proxy.md § Passive health, § Active health
// checks; spec/balancing.md § Servers and availability). Waits are on the
// runtime's health log lines, not on sleeps.

/** A backend whose /healthz answers 200 while `healthy` is set (or waits on `gate`), else 500. */
class Checked extends Backend {
  healthy = true;
  checks = 0;
  gate: Promise<void> | null = null;
  /** Requests to /hold wait for this. */
  hold: Promise<void> = Promise.resolve();
  constructor(name: string) {
    const behavior: Behavior = (req, res, b) => {
      const self = b as Checked;
      if (req.url === '/healthz') {
        self.checks++;
        const answer = () => { res.writeHead(self.healthy ? 200 : 500); res.end(self.healthy ? 'ok' : 'sick'); };
        if (self.gate) void self.gate.then(answer);
        else answer();
        return;
      }
      if (req.url === '/hold') { void self.hold.then(() => echoName(req, res, b)); return; }
      echoName(req, res, b);
    };
    super(name, behavior);
  }
}

async function checkedBackends(n: number): Promise<Checked[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => new Checked(`b${i}`).listen()));
}

function config(bs: Backend[], block: string, perServer?: (i: number) => string) {
  return (port: number) => `${upstream('app', bs.map((b) => b.address), block, perServer)}
    server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`;
}

const HC = 'health_check uri=/healthz interval=100ms timeout=1s fails=2 passes=2';

describe('health', { timeout: 30_000 }, () => {
  test('active checks take a failing server out and bring it back', async () => {
    const bs = await checkedBackends(2);
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(bs, `${HC};`));
      assert.deepEqual(await p.count(10), { b0: 5, b1: 5 });
      const out = p.waitHealth(bs[0].address, false);
      bs[0].healthy = false;
      await out;
      assert.deepEqual(await p.count(10), { b1: 10 });
      const back = p.waitHealth(bs[0].address, true);
      bs[0].healthy = true;
      await back;
      const counts = await p.count(10);
      assert.ok(counts.b0 >= 4, JSON.stringify(counts));
      // Health checks go to the server as `host: <upstream>` with lbconf's user agent, and count.
      assert.ok(bs[1].checks >= 2);
    } finally {
      await p?.close();
      await stopAll(bs);
    }
  });

  test('every server unhealthy: 503', async () => {
    const bs = await checkedBackends(2);
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(bs, `${HC};`));
      const out = [p.waitHealth(bs[0].address, false), p.waitHealth(bs[1].address, false)];
      for (const b of bs) b.healthy = false;
      await Promise.all(out);
      const r = await p.get('/');
      assert.equal(r.status, 503);
      assert.equal(r.body, '503 Service Unavailable\n');
    } finally {
      await p?.close();
      await stopAll(bs);
    }
  });

  test('initial=checked: a server failing its first check gets no traffic from the start', async () => {
    const bs = await checkedBackends(2);
    let p: TestProxy | undefined;
    try {
      bs[0].healthy = false;
      p = await startProxy(config(bs, `${HC} initial=checked;`));
      // load() resolved after one check of each: b1 passed it and serves, b0 does not.
      assert.deepEqual(await p.count(6), { b1: 6 });
    } finally {
      await p?.close();
      await stopAll(bs);
    }
  });

  test('initial=unhealthy: no traffic until a check passes', async () => {
    const bs = await checkedBackends(1);
    let release!: () => void;
    bs[0].gate = new Promise<void>((r) => { release = r; });
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(bs, `${HC} initial=unhealthy;`));
      assert.equal((await p.get('/')).status, 503);
      const up = p.waitHealth(bs[0].address, true);
      release();
      await up;
      assert.equal((await p.get('/')).status, 200);
    } finally {
      release();
      await p?.close();
      await stopAll(bs);
    }
  });

  test('a backup server serves only while every primary is down', async () => {
    const bs = await checkedBackends(3);
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(bs, `${HC};`, (i) => (i === 2 ? 'backup' : '')));
      assert.deepEqual(await p.count(10), { b0: 5, b1: 5 });
      let out = p.waitHealth(bs[0].address, false);
      bs[0].healthy = false;
      await out;
      assert.deepEqual(await p.count(6), { b1: 6 });
      out = p.waitHealth(bs[1].address, false);
      bs[1].healthy = false;
      await out;
      assert.deepEqual(await p.count(6), { b2: 6 });
      const back = p.waitHealth(bs[1].address, true);
      bs[1].healthy = true;
      await back;
      assert.deepEqual(await p.count(6), { b1: 6 });
    } finally {
      await p?.close();
      await stopAll(bs);
    }
  });

  test('passive: max_fails=1 fail_timeout=1s takes a dead server out; a request after it probes it back', async () => {
    const bs = [await new Backend('b0').listen(), await new Backend('b1').listen()];
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(bs, '', () => 'max_fails=1 fail_timeout=1s'));
      const peers = p.rt.upstreams.get('app')!.peers;
      await bs[0].kill();
      // The first request fails on b0 and is retried on b1; b0 is out from then on.
      assert.deepEqual(await p.count(6), { b1: 6 });
      assert.equal(peers.fails[0], 1);
      const outAt = peers.lastFailAt[0];
      await bs[0].restart();
      // Still out until fail_timeout has passed, even though it is listening again.
      assert.deepEqual(await p.count(4), { b1: 4 });
      await until(() => Date.now() >= outAt + 1000, 3000, 'fail_timeout');
      const counts = await p.count(10);
      assert.ok(counts.b0 >= 4, JSON.stringify(counts));
      assert.equal(peers.fails[0], 0, 'a success reset the count');
    } finally {
      await p?.close();
      await stopAll(bs);
    }
  });

  test('slow_start ramps a server back in', async () => {
    const bs = await checkedBackends(2);
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(bs, `${HC};`, (i) => (i === 0 ? 'slow_start=2s' : '')));
      // Not ramped at boot.
      assert.deepEqual(await p.count(10), { b0: 5, b1: 5 });
      const out = p.waitHealth(bs[0].address, false);
      bs[0].healthy = false;
      await out;
      const back = p.waitHealth(bs[0].address, true);
      bs[0].healthy = true;
      await back;
      const backAt = Date.now();
      const early = await p.count(100);
      const earlyShare = (early.b0 ?? 0) / 100;
      // Its weight was at most f = elapsed / 2s of b1's during the batch, so its share at most f / (1 + f).
      const f = Math.min(1, (Date.now() - backAt) / 2000);
      assert.ok(earlyShare <= f / (1 + f) + 0.05, `early share ${earlyShare} with the ramp at most ${f.toFixed(2)}`);
      assert.ok(earlyShare < 0.35, `early share ${earlyShare}: no ramp?`);
      assert.ok((early.b0 ?? 0) >= 1, 'ramping from 1%, not 0');
      await until(() => Date.now() >= backAt + 2000, 5000, 'slow start');
      const late = await p.count(100);
      assert.ok(late.b0 >= 40 && late.b0 <= 60, JSON.stringify(late));
    } finally {
      await p?.close();
      await stopAll(bs);
    }
  });

  test('a `down` server stays down and is not reported healthy by its passing checks', async () => {
    const bs = await checkedBackends(2);
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(bs, `${HC};`, (i) => (i === 0 ? 'down' : '')));
      await until(() => bs[0].checks >= 3, 5000, 'three checks of the down server');
      assert.deepEqual(await p.count(4), { b1: 4 });
      assert.deepEqual(p.logs.filter((l) => l.message.includes(bs[0].address)), []);
    } finally {
      await p?.close();
      await stopAll(bs);
    }
  });

  test('a server at max_conns keeps being checked (checks do not queue behind its requests)', async () => {
    const bs = await checkedBackends(1);
    let release!: () => void;
    bs[0].hold = new Promise<void>((r) => { release = r; });
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(bs, 'health_check uri=/healthz interval=100ms timeout=300ms fails=2 passes=2;', () => 'max_conns=1'));
      const long = p.get('/hold');
      await until(() => bs[0].inflight === 1, 3000, 'the long request');
      const before = bs[0].checks;
      await until(() => bs[0].checks >= before + 4, 4000, 'checks while the server is full');
      assert.deepEqual(p.logs, [], 'never reported unhealthy');
      release();
      assert.equal((await long).status, 200);
    } finally {
      release();
      await p?.close();
      await stopAll(bs);
    }
  });
});
