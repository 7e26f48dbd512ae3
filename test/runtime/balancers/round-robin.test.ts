import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PEER_DRAINING, PEER_UNHEALTHY, PEER_UP, TriedSet } from '../../../runtime/upstream/balancers/balancer.ts';
import { createBalancer } from '../../../runtime/upstream/balancers/index.ts';
import { RoundRobin, SwrrGroup } from '../../../runtime/upstream/balancers/round-robin.ts';
import { NAMES, peerSet, req, tally } from './helpers.ts';

function sequence(weights: number[], picks: number): string {
  const peers = peerSet(weights.map((weight) => ({ weight })));
  const rr = new RoundRobin(peers);
  const tried = new TriedSet(peers.n);
  let s = '';
  for (let k = 0; k < picks; k++) s += NAMES[rr.pick(req(k), tried)];
  return s;
}

describe('round robin', () => {
  it('follows nginx smooth weighted round robin: 5,1,1 gives a a b a c a a', () => {
    assert.equal(sequence([5, 1, 1], 7), 'aabacaa');
    assert.equal(sequence([5, 1, 1], 21), 'aabacaa'.repeat(3));
  });

  it('is plain round robin with equal weights', () => {
    assert.equal(sequence([1, 1, 1], 9), 'abcabcabc');
    assert.equal(sequence([2, 2, 2], 6), 'abcabc');
  });

  it('weights 3:1 give 75% ± 2% over 4,000 picks and interleave', () => {
    const s = sequence([3, 1], 4000);
    const a = [...s].filter((c) => c === 'a').length / s.length;
    assert.ok(Math.abs(a - 0.75) <= 0.02, `share ${a}`);
    assert.equal(s.slice(0, 8), 'aabaaaba');
    assert.ok(!s.includes('aaaa'), 'never four in a row');
    assert.ok(!s.includes('bb'));
  });

  it('matches the O(n) nginx loop when weights are too large for a schedule', () => {
    assert.equal(sequence([50_000, 10_000, 10_000], 7), 'aabacaa', 'weights reduce by their gcd');
    const peers = peerSet([{ weight: 5 }, {}, {}]);
    const group = new SwrrGroup(peers.n, peers.primaries);
    const t = new TriedSet(3);
    let slow = '';
    for (let k = 0; k < 14; k++) slow += NAMES[group.pickSlow(peers, 0, t)];
    assert.equal(slow, 'aabacaa'.repeat(2));
    const s = sequence([9973, 9967], 2000);
    const a = [...s].filter((c) => c === 'a').length;
    assert.ok(Math.abs(a - 1000) <= 2);
  });

  it('never picks down, unhealthy or draining servers', () => {
    const peers = peerSet([{ down: true }, {}, {}, {}]);
    peers.setState(2, PEER_UNHEALTHY, 0);
    peers.setState(3, PEER_DRAINING, 0);
    const rr = createBalancer({ kind: 'round_robin' }, peers);
    const c = tally(4, 100, (k) => rr.pick(req(k), new TriedSet(4)));
    assert.deepEqual(c, [0, 100, 0, 0]);
  });

  it('redistributes among the rest when a server goes down, and takes it back', () => {
    const peers = peerSet([{ weight: 2 }, {}, {}]);
    const rr = new RoundRobin(peers);
    const t = new TriedSet(3);
    peers.setState(0, PEER_UNHEALTHY, 0);
    assert.deepEqual(tally(3, 100, (k) => rr.pick(req(k), t)), [0, 50, 50]);
    peers.setState(0, PEER_UP, 100);
    assert.deepEqual(tally(3, 400, (k) => rr.pick(req(100 + k), t)), [200, 100, 100]);
  });

  it('uses backups only when every primary is unavailable', () => {
    const peers = peerSet([{}, {}, { backup: true }, { backup: true }]);
    const rr = new RoundRobin(peers);
    const t = new TriedSet(4);
    assert.deepEqual(tally(4, 10, (k) => rr.pick(req(k), t)), [5, 5, 0, 0]);
    peers.setHealthy(0, false, 10);
    assert.deepEqual(tally(4, 10, (k) => rr.pick(req(10 + k), t)), [0, 10, 0, 0]);
    peers.setHealthy(1, false, 20);
    assert.deepEqual(tally(4, 10, (k) => rr.pick(req(20 + k), t)), [0, 0, 5, 5]);
    peers.setHealthy(0, true, 30);
    assert.deepEqual(tally(4, 10, (k) => rr.pick(req(30 + k), t)), [10, 0, 0, 0]);
  });

  it('returns -1 when nothing is available', () => {
    assert.equal(new RoundRobin(peerSet([])).pick(req(), new TriedSet(0)), -1);
    const peers = peerSet([{ down: true }, { backup: true, down: true }]);
    assert.equal(new RoundRobin(peers).pick(req(), new TriedSet(2)), -1);
  });

  it('never repeats a tried server while another is available', () => {
    const peers = peerSet([{ weight: 5 }, {}, {}, { backup: true }]);
    const rr = new RoundRobin(peers);
    const tried = new TriedSet(4);
    const seen: number[] = [];
    for (let k = 0; k < 4; k++) {
      const i = rr.pick(req(k), tried);
      assert.ok(!tried.has(i));
      tried.add(i);
      seen.push(i);
    }
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
    assert.equal(seen[3], 3, 'the backup comes last');
    assert.equal(rr.pick(req(5), tried), -1);
    tried.clear();
    assert.notEqual(rr.pick(req(6), tried), -1);
  });

  it('respects max_conns', () => {
    const peers = peerSet([{ maxConns: 1 }, {}]);
    const rr = new RoundRobin(peers);
    const t = new TriedSet(2);
    rr.onStart(0, 0);
    assert.deepEqual(tally(2, 10, (k) => rr.pick(req(k), t)), [0, 10]);
    rr.onEnd(0, 5, true, 10);
    assert.deepEqual(tally(2, 10, (k) => rr.pick(req(10 + k), t)), [5, 5]);
  });

  it('takes a server out after max_fails failures for fail_timeout, then probes it', () => {
    const peers = peerSet([{ maxFails: 2, failTimeoutMs: 1000 }, {}]);
    const rr = new RoundRobin(peers);
    const t = new TriedSet(2);
    rr.onStart(0, 0);
    rr.onEnd(0, 1, false, 0);
    assert.ok(peers.available(0, 1), 'one failure of two');
    rr.onStart(0, 1);
    rr.onEnd(0, 1, false, 500);
    assert.deepEqual(tally(2, 10, (k) => rr.pick(req(500 + k), t)), [0, 10]);
    // After fail_timeout it is tried again; one success brings it back.
    const i = tally(2, 10, (k) => rr.pick(req(1500 + k), t));
    assert.deepEqual(i, [5, 5]);
    rr.onEnd(0, 1, true, 1600);
    assert.equal(peers.fails[0], 0);
  });

  it('forgets failures older than fail_timeout', () => {
    const peers = peerSet([{ maxFails: 2, failTimeoutMs: 1000 }, {}]);
    peers.end(0, false, 0);
    peers.end(0, false, 5000);
    assert.ok(peers.available(0, 5001));
    peers.end(0, false, 5500);
    assert.ok(!peers.available(0, 5501));
  });

  it('slow start ramps a returning server linearly', () => {
    const peers = peerSet([{ slowStartMs: 10_000 }, { slowStartMs: 10_000 }]);
    const rr = new RoundRobin(peers);
    const t = new TriedSet(2);
    assert.deepEqual(tally(2, 100, () => rr.pick(req(0), t)), [50, 50], 'no ramp at boot');
    peers.setHealthy(1, false, 0);
    peers.setHealthy(1, true, 1000);
    const share = (at: number): number => {
      const c = tally(2, 11_000, () => rr.pick(req(at), t));
      return c[1] / (c[0] + c[1]);
    };
    // b's share is f / (1 + f) at ramp fraction f.
    const s10 = share(2000);
    const s50 = share(6000);
    const s100 = share(11_000);
    assert.ok(Math.abs(s10 - 0.1 / 1.1) < 0.01, `10%: ${s10}`);
    assert.ok(Math.abs(s50 - 0.5 / 1.5) < 0.01, `50%: ${s50}`);
    assert.ok(Math.abs(s100 - 0.5) < 0.01, `100%: ${s100}`);
    assert.equal(peers.rampFraction(1, 1000), 0.01);
    assert.equal(peers.rampFraction(1, 3500), 0.25);
    assert.equal(peers.effectiveWeight(1, 3500), 0.25);
  });

  it('picks a ramping server when it is the only one', () => {
    const peers = peerSet([{ slowStartMs: 10_000 }, {}]);
    const rr = new RoundRobin(peers);
    peers.setHealthy(0, false, 0);
    peers.setHealthy(0, true, 1);
    peers.setHealthy(1, false, 1);
    assert.equal(rr.pick(req(2), new TriedSet(2)), 0);
  });
});
