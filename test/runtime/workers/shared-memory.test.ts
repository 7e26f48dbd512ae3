import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { LeastBusy } from '../../../runtime/upstream/balancers/least-busy.ts';
import { PeerSet, serverSpecs } from '../../../runtime/upstream/balancers/index.ts';
import { SharedLimitStore } from '../../../runtime/worker/shared-limits.ts';

// The shared state of `workers N` under real contention: several threads
// updating one SharedArrayBuffer at once. A plain `++` on shared memory loses
// updates here; the counts must come out exact.

const THREADS = 4;
const ROUNDS = 20_000;
const balancerUrl = new URL('../../../runtime/upstream/balancers/index.ts', import.meta.url).href;
const limitsUrl = new URL('../../../runtime/worker/shared-limits.ts', import.meta.url).href;

/** Runs `body` (JS, with `m` the imported module and `data` the workerData) on THREADS threads at once; resolves when all are done. */
async function onThreads(moduleUrl: string, body: string, data: unknown): Promise<void> {
  const code = `
    const { parentPort, workerData: data } = require('node:worker_threads');
    const go = new Int32Array(data.go);
    import(${JSON.stringify(moduleUrl)}).then((m) => {
      Atomics.add(go, 0, 1);
      while (Atomics.load(go, 0) < ${THREADS}) {} // start together, for real contention
      ${body}
      parentPort.postMessage('done');
    });`;
  const go = new SharedArrayBuffer(4);
  await Promise.all(Array.from({ length: THREADS }, () => new Promise<void>((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { ...(data as object), go } });
    w.once('message', () => { void w.terminate(); resolve(); });
    w.once('error', reject);
  })));
}

describe('shared memory across threads', { timeout: 60_000 }, () => {
  const specs = serverSpecs('app', [
    { address: '10.0.0.1:80', weight: 1, backup: false, down: false, maxFails: 1000000, failTimeout: 10_000 },
    { address: '10.0.0.2:80', weight: 1, backup: false, down: false },
  ]);

  it('in-flight counts, failures and EWMA samples from four threads add up exactly', async () => {
    const sab = new SharedArrayBuffer(PeerSet.byteLength(specs.length));
    const peers = new PeerSet(specs, sab);
    await onThreads(balancerUrl, `
      const peers = new m.PeerSet(data.specs, data.sab, false);
      const lb = new m.LeastBusy(peers);
      for (let k = 0; k < ${ROUNDS}; k++) {
        peers.start(0);
        peers.start(1);
        lb.onEnd(1, 5, true, 1000);
        peers.end(0, false, 1000);
        peers.start(0);
      }`, { sab, specs });
    assert.equal(peers.inflight[0], THREADS * ROUNDS, 'one start(0) per round left open on every thread');
    assert.equal(peers.inflight[1], 0);
    assert.equal(peers.totalInflight, THREADS * ROUNDS);
    assert.equal(peers.fails[0], THREADS * ROUNDS, 'every failure counted');
    assert.equal(peers.ewma[1], 5, 'the EWMA of identical samples is the sample: no torn or lost write');
    const lb = new LeastBusy(new PeerSet(specs, sab, false));
    assert.equal(lb.latency(1, 1000), 5);
  });

  it('a shared limit table counts limit_conn slots from four threads exactly', async () => {
    const store = new SharedLimitStore(1000);
    await onThreads(limitsUrl, `
      const store = new m.SharedLimitStore(0, data.buffer);
      for (let k = 0; k < ${ROUNDS}; k++) {
        if (!store.acquire('k' + (k % 10), 1e9)) throw new Error('refused');
        if (k < ${ROUNDS / 2}) store.release('k' + (k % 10));
      }`, { buffer: store.buffer });
    // Each key holds THREADS * (ROUNDS / 2) / 10 slots: with that as the limit, one more is refused.
    const held = (THREADS * ROUNDS) / 20;
    for (let k = 0; k < 10; k++) {
      assert.equal(store.acquire(`k${k}`, held), false, `k${k} is full at ${held}`);
      assert.equal(store.acquire(`k${k}`, held + 1), true);
    }
  });
});

describe('SharedLimitStore', () => {
  it('is limit_req\'s leaky bucket, seen alike from two views of one buffer', () => {
    const a = new SharedLimitStore(100);
    const b = new SharedLimitStore(0, a.buffer);
    assert.equal(a.take('ip', 10, 2, 0), 0, 'a new key goes through');
    assert.equal(b.take('ip', 10, 2, 0), 1);
    assert.equal(a.take('ip', 10, 2, 0), 2);
    assert.ok(b.take('ip', 10, 2, 0) < 0, 'over the burst: refused');
    assert.equal(b.take('ip', 10, 2, 0), -1 - 100, 'refusal says when: 100 ms at 10r/s');
    assert.ok(Math.abs(a.take('ip', 10, 2, 300) - 0) < 1e-9, '300 ms drained 3');
    assert.equal(a.size, 1);
  });

  it('evicts the least recently used idle key of a full bucket, never one with requests in flight', () => {
    const s = new SharedLimitStore(8); // one bucket of 8
    for (let k = 0; k < 8; k++) assert.equal(s.acquire(`busy${k}`, 1), true);
    assert.equal(s.acquire('new', 1), false, 'every slot has a request in flight: the zone is full');
    s.release('busy3');
    assert.equal(s.acquire('new', 1), true);
    const r = new SharedLimitStore(8);
    // One request per 1000 s: a key seen before is refused, an evicted one starts over and goes through.
    for (let k = 0; k < 8; k++) r.take(`ip${k}`, 0.001, 0, k);
    r.take('ip0', 0.001, 0, 5000); // refused, but not evicted: ip0 is still known
    assert.ok(r.take('ip0', 0.001, 0, 5000) < 0);
    r.take('late', 0.001, 0, 6000); // evicts the least recently used: ip1 (ip0 was used at 5000? no: a refusal does not count as use)
    assert.equal(r.size, 8);
    assert.ok(r.take('ip2', 0.001, 0, 6000) < 0, 'ip2 kept');
  });
});
