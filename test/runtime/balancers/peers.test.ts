import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PEER_DOWN, PEER_UNHEALTHY, PEER_UP, PeerSet, serverSpecs, TriedSet } from '../../../runtime/upstream/balancers/balancer.ts';
import { RoundRobin } from '../../../runtime/upstream/balancers/round-robin.ts';
import { peerSet, req, tally } from './helpers.ts';

describe('PeerSet', () => {
  it('lives in one buffer, so two views of a SharedArrayBuffer share all live state', () => {
    const specs = serverSpecs('app', [
      { address: '10.0.0.1:80', weight: 1, backup: false, down: false },
      { address: '10.0.0.2:80', weight: 1, backup: false, down: false },
    ]);
    const sab = new SharedArrayBuffer(PeerSet.byteLength(specs.length));
    const a = new PeerSet(specs, sab);
    const b = new PeerSet(specs, sab, false);
    a.start(1);
    assert.equal(b.inflight[1], 1);
    assert.equal(b.totalInflight, 1);
    const rr = new RoundRobin(b);
    const t = new TriedSet(2);
    assert.deepEqual(tally(2, 10, (k) => rr.pick(req(k), t)), [5, 5]);
    a.setHealthy(0, false, 10);
    assert.deepEqual(tally(2, 10, (k) => rr.pick(req(10 + k), t)), [0, 10], 'the other view sees the version bump');
    assert.equal(b.ids[0], 'app/10.0.0.1:80');
  });

  it('carries health, failures and latency over a reload by identity, not in-flight counts', () => {
    const old = peerSet([{ id: 'u/a:1' }, { id: 'u/b:1' }, { id: 'u/c:1' }]);
    old.setState(1, PEER_UNHEALTHY, 0);
    old.ewma[2] = 42;
    old.start(2);
    old.end(0, false, 5);
    const next = peerSet([{ id: 'u/c:1' }, { id: 'u/b:1', down: true }, { id: 'u/a:1' }, { id: 'u/d:1' }]);
    next.adopt(old);
    assert.equal(next.ewma[0], 42);
    assert.equal(next.inflight[0], 0);
    assert.equal(next.state[1], PEER_DOWN, 'configured down wins');
    assert.equal(next.fails[2], 1);
    assert.ok(!next.available(2, 6), 'still failed out');
    assert.equal(next.state[3], PEER_UP);
    const again = peerSet([{ id: 'u/b:1' }]);
    again.adopt(old);
    assert.equal(again.state[0], PEER_UNHEALTHY);
  });

  it('health verdicts do not revive configured-down servers', () => {
    const p = peerSet([{ down: true }]);
    p.setHealthy(0, true, 0);
    assert.equal(p.state[0], PEER_DOWN);
  });

  it('rejects bad input', () => {
    assert.throws(() => peerSet([{ id: 'x' }, { id: 'x' }]), /duplicate/);
    assert.throws(() => peerSet([{ weight: 0 }]), /weight/);
    assert.throws(() => new PeerSet([{ id: 'x', weight: 1, backup: false, down: false }], new ArrayBuffer(8)), /bytes/);
  });

  it('TriedSet adds, dedups and clears', () => {
    const t = new TriedSet(70);
    t.add(3);
    t.add(3);
    t.add(69);
    assert.equal(t.size, 2);
    assert.ok(t.has(3) && t.has(69) && !t.has(4) && !t.has(35));
    t.clear();
    assert.equal(t.size, 0);
    assert.ok(!t.has(3) && !t.has(69));
  });
});
