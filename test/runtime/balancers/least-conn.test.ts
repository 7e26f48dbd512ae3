import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TriedSet } from '../../../runtime/upstream/balancers/balancer.ts';
import { LeastConn } from '../../../runtime/upstream/balancers/least-conn.ts';
import { NAMES, peerSet, req, tally } from './helpers.ts';

describe('least_conn', () => {
  it('picks the idle server while another holds requests', () => {
    const peers = peerSet([{}, {}, {}]);
    const lc = new LeastConn(peers);
    const t = new TriedSet(3);
    lc.onStart(0, 0);
    lc.onStart(0, 0);
    lc.onStart(2, 0);
    assert.equal(lc.pick(req(1), t), 1);
    lc.onStart(1, 1);
    // Now 2,1,1: b and c tie; either, never a.
    const i = lc.pick(req(2), t);
    assert.ok(i === 1 || i === 2);
    lc.onStart(i, 2);
    assert.equal(lc.pick(req(3), t), i === 1 ? 2 : 1);
  });

  it('spreads concurrent requests evenly', () => {
    const peers = peerSet([{}, {}, {}, {}]);
    const lc = new LeastConn(peers);
    const t = new TriedSet(4);
    for (let k = 0; k < 400; k++) lc.onStart(lc.pick(req(k), t), k);
    assert.deepEqual([...peers.inflight], [100, 100, 100, 100]);
    for (let k = 0; k < 50; k++) lc.onEnd(2, 1, true, 500);
    for (let k = 0; k < 50; k++) {
      const i = lc.pick(req(600 + k), t);
      assert.equal(i, 2);
      lc.onStart(i, 600 + k);
    }
  });

  it('weighs in-flight counts by weight', () => {
    const peers = peerSet([{ weight: 3 }, { weight: 1 }]);
    const lc = new LeastConn(peers);
    const t = new TriedSet(2);
    for (let k = 0; k < 400; k++) lc.onStart(lc.pick(req(k), t), k);
    assert.deepEqual([...peers.inflight], [300, 100]);
  });

  it('breaks ties by weighted round robin, so idle traffic follows the weights', () => {
    const peers = peerSet([{ weight: 3 }, { weight: 1 }]);
    const lc = new LeastConn(peers);
    const t = new TriedSet(2);
    let s = '';
    for (let k = 0; k < 4000; k++) {
      const i = lc.pick(req(k), t);
      lc.onStart(i, k);
      lc.onEnd(i, 1, true, k);
      s += NAMES[i];
    }
    const a = [...s].filter((c) => c === 'a').length / s.length;
    assert.ok(Math.abs(a - 0.75) <= 0.02, `share ${a}`);
    assert.ok(!s.includes('aaaa') && !s.includes('bb'), 'interleaved');
    const eq = new LeastConn(peerSet([{}, {}, {}]));
    let r = '';
    for (let k = 0; k < 6; k++) r += NAMES[eq.pick(req(k), t)];
    assert.equal(r, 'abcabc');
  });

  it('uses backups only when every primary is unavailable, never down ones', () => {
    const peers = peerSet([{}, { down: true }, { backup: true }]);
    const lc = new LeastConn(peers);
    const t = new TriedSet(3);
    for (let k = 0; k < 5; k++) lc.onStart(0, k);
    assert.equal(lc.pick(req(10), t), 0, 'a busy primary beats an idle backup');
    peers.setHealthy(0, false, 20);
    assert.equal(lc.pick(req(21), t), 2);
    peers.setHealthy(2, false, 22);
    assert.equal(lc.pick(req(23), t), -1);
  });

  it('excludes tried servers and restores them afterwards', () => {
    const peers = peerSet([{}, {}, {}]);
    const lc = new LeastConn(peers);
    const tried = new TriedSet(3);
    lc.onStart(1, 0);
    lc.onStart(2, 0);
    tried.add(0);
    const i = lc.pick(req(1), tried);
    assert.ok(i === 1 || i === 2);
    tried.add(1);
    tried.add(2);
    assert.equal(lc.pick(req(2), tried), -1);
    assert.equal(lc.pick(req(3), new TriedSet(3)), 0);
  });

  it('respects max_conns and failures', () => {
    const peers = peerSet([{ maxConns: 2 }, { weight: 10 }]);
    const lc = new LeastConn(peers);
    const t = new TriedSet(2);
    for (let k = 0; k < 50; k++) lc.onStart(1, 0);
    lc.onStart(0, 0);
    assert.equal(lc.pick(req(1), t), 0);
    lc.onStart(0, 1);
    assert.equal(lc.pick(req(2), t), 1, 'a is full');
    lc.onEnd(0, 1, false, 3); // max_fails=1: out for 10 s
    assert.equal(lc.pick(req(4), t), 1);
    assert.equal(lc.pick(req(10_004), t), 0, 'back after fail_timeout');
  });

  it('slow start ramps a returning server', () => {
    const peers = peerSet([{ slowStartMs: 10_000 }, { slowStartMs: 10_000 }]);
    const lc = new LeastConn(peers);
    const t = new TriedSet(2);
    peers.setHealthy(1, false, 0);
    peers.setHealthy(1, true, 1000);
    const share = (at: number): number => {
      const c = tally(2, 2000, () => {
        const i = lc.pick(req(at), t);
        lc.onStart(i, at);
        lc.onEnd(i, 1, true, at);
        return i;
      });
      return c[1] / 2000;
    };
    const early = share(2000);
    const mid = share(6000);
    const done = share(11_001);
    assert.ok(early < 0.12, `early ${early}`);
    assert.ok(mid > 0.25 && mid < 0.4, `mid ${mid}`);
    assert.ok(Math.abs(done - 0.5) < 0.02, `done ${done}`);
  });
});
