import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng, TriedSet } from '../../../runtime/upstream/balancers/balancer.ts';
import { createBalancer } from '../../../runtime/upstream/balancers/index.ts';
import { LeastBusy } from '../../../runtime/upstream/balancers/least-busy.ts';
import { peerSet, req } from './helpers.ts';

/**
 * A deterministic simulation: one request arrives every `gapMs`; each server answers after
 * its latency; completions are delivered in time order before the next arrival.
 */
function simulate(b: LeastBusy, latency: (i: number, now: number) => number, picks: number, gapMs = 1, start = 0): number[] {
  const n = b.peers.n;
  const counts = new Array<number>(n).fill(0);
  const pending: Array<{ at: number; i: number; lat: number }> = [];
  const t = new TriedSet(n);
  let now = start;
  for (let k = 0; k < picks; k++, now += gapMs) {
    pending.sort((x, y) => x.at - y.at);
    while (pending.length > 0 && pending[0].at <= now) {
      const p = pending.shift()!;
      b.onEnd(p.i, p.lat, true, p.at);
    }
    const i = b.pick(req(now), t);
    assert.ok(i >= 0);
    counts[i]++;
    b.onStart(i, now);
    const lat = latency(i, now);
    pending.push({ at: now + lat, i, lat });
  }
  for (const p of pending) b.onEnd(p.i, p.lat, true, p.at);
  return counts;
}

describe('least_busy', () => {
  it('moves traffic away from a server 10× slower, but never below the exploration floor', () => {
    const peers = peerSet([{}, {}, {}]);
    const b = new LeastBusy(peers, { rng: seededRng(7), explore: 0.02 });
    const N = 20_000;
    const c = simulate(b, (i) => (i === 2 ? 100 : 10), N, 2);
    const slow = c[2] / N;
    const floor = 0.02 / 3;
    assert.ok(slow < 0.08, `slow share ${slow} (${c})`);
    assert.ok(slow >= floor * 0.8, `slow share ${slow} ≥ floor ${floor}`);
    assert.ok(Math.abs(c[0] - c[1]) / N < 0.05, `fast servers share evenly: ${c}`);
    const s = b.scores(N * 2);
    assert.equal(s.length, 3);
    assert.ok(s[2] > s[0] && s[2] > s[1], `scores ${[...s]}`);
  });

  it('sends everything but the floor away with sequential traffic', () => {
    const peers = peerSet([{}, {}]);
    const b = createBalancer({ kind: 'least_busy', decay: 10_000, explore: 0.02 }, peers, { rng: seededRng(8) }) as LeastBusy;
    const c = simulate(b, (i) => (i === 1 ? 100 : 10), 10_000, 200);
    const slow = c[1] / 10_000;
    assert.ok(slow >= 0.008 && slow < 0.03, `slow share ${slow}`);
  });

  it('a sudden slow response raises the score at once (peak), then decays', () => {
    const peers = peerSet([{}, {}]);
    const b = new LeastBusy(peers, { rng: seededRng(9), decayMs: 1000 });
    b.onStart(0, 0);
    b.onEnd(0, 10, true, 0);
    b.onStart(1, 0);
    b.onEnd(1, 10, true, 0);
    for (let k = 1; k <= 10; k++) {
      b.onStart(0, k);
      b.onEnd(0, 10, true, k);
    }
    b.onStart(1, 11);
    b.onEnd(1, 500, true, 11);
    assert.equal(b.latency(1, 11), 500, 'peak: counted at once');
    assert.ok(b.score(1, 11) > 40 * b.score(0, 11));
    // Left alone it decays (time constant 1 s) and gets probed again.
    assert.ok(b.latency(1, 11 + 3000) < 500 * Math.exp(-2.9));
    // A fast sample after a slow one blends in rather than replacing it.
    b.onStart(1, 12);
    b.onEnd(1, 10, true, 111);
    const l = b.latency(1, 111);
    assert.ok(l > 10 && l < 500, `${l}`);
  });

  it('counts a failed response as slow', () => {
    const peers = peerSet([{ maxFails: 0 }, { maxFails: 0 }]);
    const b = new LeastBusy(peers, { rng: seededRng(10) });
    b.onEnd(0, 10, true, 0);
    b.onEnd(1, 10, true, 0);
    b.onEnd(1, 1, false, 1);
    assert.ok(b.latency(1, 1) >= 40, `${b.latency(1, 1)}`);
  });

  it('scores servers never measured with the typical latency', () => {
    const peers = peerSet([{}, {}, {}]);
    const b = new LeastBusy(peers, { rng: seededRng(11) });
    assert.equal(b.latency(2, 0), 1);
    b.onEnd(0, 20, true, 0);
    b.onEnd(1, 40, true, 0);
    const typical = b.latency(2, 0);
    assert.ok(typical >= 20 && typical <= 40, `${typical}`);
  });

  it('prefers fewer in flight at equal latency, primaries before backups', () => {
    const peers = peerSet([{}, {}, { backup: true }]);
    const b = new LeastBusy(peers, { rng: seededRng(12), explore: 0 });
    const t = new TriedSet(3);
    for (let k = 0; k < 3; k++) b.onStart(0, 0);
    for (let k = 0; k < 50; k++) assert.equal(b.pick(req(k), t), 1);
    peers.setHealthy(0, false, 0);
    peers.setHealthy(1, false, 0);
    assert.equal(b.pick(req(100), t), 2);
    peers.setHealthy(2, false, 0);
    assert.equal(b.pick(req(101), t), -1);
  });
});
