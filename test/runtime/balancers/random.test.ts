import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng, TriedSet } from '../../../runtime/upstream/balancers/balancer.ts';
import { createBalancer } from '../../../runtime/upstream/balancers/index.ts';
import { Random } from '../../../runtime/upstream/balancers/random.ts';
import { peerSet, req, tally } from './helpers.ts';

describe('random', () => {
  it('weights 3:1 give 75% ± 2% over 4,000 picks', () => {
    const peers = peerSet([{ weight: 3 }, {}]);
    const b = createBalancer({ kind: 'random', two: false }, peers, { rng: seededRng(1) });
    const c = tally(2, 4000, (k) => b.pick(req(k), new TriedSet(2)));
    assert.ok(Math.abs(c[0] / 4000 - 0.75) <= 0.02, `${c}`);
  });

  it('skips unavailable and tried servers, backups last, -1 when none', () => {
    const peers = peerSet([{ down: true }, {}, {}, { backup: true }]);
    peers.setHealthy(2, false, 0);
    const b = new Random(peers, false, seededRng(2));
    assert.deepEqual(tally(4, 200, (k) => b.pick(req(k), new TriedSet(4))), [0, 200, 0, 0]);
    const tried = new TriedSet(4);
    tried.add(1);
    assert.equal(b.pick(req(1), tried), 3);
    tried.add(3);
    assert.equal(b.pick(req(1), tried), -1);
  });

  it('slow start thins a returning server by its ramp', () => {
    const peers = peerSet([{ slowStartMs: 10_000 }, { slowStartMs: 10_000 }]);
    const b = new Random(peers, false, seededRng(3));
    peers.setHealthy(1, false, 0);
    peers.setHealthy(1, true, 0);
    const c = tally(2, 20_000, () => b.pick(req(5000), new TriedSet(2)));
    assert.ok(Math.abs(c[1] / 20_000 - 1 / 3) < 0.015, `${c}`);
  });

  it('two: the less loaded of two random servers', () => {
    const peers = peerSet([{}, {}, {}, {}]);
    const b = createBalancer({ kind: 'random', two: true }, peers, { rng: seededRng(4) });
    const t = new TriedSet(4);
    for (let k = 0; k < 20; k++) b.onStart(0, 0);
    const c = tally(4, 1000, (k) => b.pick(req(k), t));
    assert.equal(c[0], 0, 'a busy server never beats an idle one');
    // Concurrent load stays nearly even (P2C's max - min is small).
    const even = peerSet([{}, {}, {}, {}, {}]);
    const r = new Random(even, true, seededRng(5));
    for (let k = 0; k < 5000; k++) r.onStart(r.pick(req(k), t), k);
    const inflight = [...even.inflight];
    assert.ok(Math.max(...inflight) - Math.min(...inflight) <= 10, `${inflight}`);
  });

  it('two: with one eligible server returns it', () => {
    const peers = peerSet([{}, { down: true }]);
    const b = new Random(peers, true, seededRng(6));
    assert.equal(b.pick(req(0), new TriedSet(2)), 0);
  });
});
