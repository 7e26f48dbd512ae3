import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TriedSet } from '../../../runtime/upstream/balancers/balancer.ts';
import { RoundRobin } from '../../../runtime/upstream/balancers/round-robin.ts';
import { Sticky } from '../../../runtime/upstream/balancers/sticky.ts';
import { peerSet, req } from './helpers.ts';

const specs = [{ id: 'app/10.0.0.1:80' }, { id: 'app/10.0.0.2:80' }, { id: 'app/10.0.0.3:80', backup: true }];

describe('sticky cookie', () => {
  it('round-trips every server', () => {
    const peers = peerSet(specs);
    const s = new Sticky(peers, { cookie: 'lb', secret: 'change-me' });
    for (let i = 0; i < peers.n; i++) assert.equal(s.decode(s.encode(i)), i);
    assert.equal(new Set([0, 1, 2].map((i) => s.encode(i))).size, 3);
    assert.match(s.encode(0), /^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}$/);
  });

  it('names servers by identity: survives reordering and other instances', () => {
    const a = new Sticky(peerSet(specs), { cookie: 'lb', secret: 'k' });
    const reordered = peerSet([specs[2], specs[0], { id: 'app/10.0.0.9:80' }, specs[1]]);
    const b = new Sticky(reordered, { cookie: 'lb', secret: 'k' });
    assert.equal(b.decode(a.encode(0)), 1);
    assert.equal(b.decode(a.encode(1)), 3);
    assert.equal(b.decode(a.encode(2)), 0);
    const removed = new Sticky(peerSet([specs[0]]), { cookie: 'lb', secret: 'k' });
    assert.equal(removed.decode(a.encode(1)), -1, 'a server no longer configured');
  });

  it('rejects tampered, foreign and malformed values', () => {
    const s = new Sticky(peerSet(specs), { cookie: 'lb', secret: 'secret-1' });
    const v = s.encode(1);
    for (let k = 0; k < v.length; k++) {
      if (k === 16) continue;
      const c = v[k] === 'A' ? 'B' : 'A';
      assert.equal(s.decode(v.slice(0, k) + c + v.slice(k + 1)), -1, `flip at ${k}`);
    }
    // The signature of one server with the token of another.
    const w = s.encode(0);
    assert.equal(s.decode(w.slice(0, 17) + v.slice(17)), -1);
    const other = new Sticky(peerSet(specs), { cookie: 'lb', secret: 'secret-2' });
    assert.equal(s.decode(other.encode(1)), -1);
    for (const bad of [undefined, null, '', '1', '0', 'x'.repeat(39), v + 'x', v.replace('.', '_'), `${v.slice(0, 16)}.`]) {
      assert.equal(s.decode(bad), -1, String(bad));
    }
  });

  it('falls back to the method and re-pins when the pinned server is unavailable', () => {
    const peers = peerSet(specs);
    const s = new Sticky(peers, { cookie: 'lb', secret: 'k' });
    const rr = new RoundRobin(peers);
    const t = new TriedSet(3);
    const v = s.encode(1);
    for (let k = 0; k < 5; k++) assert.equal(s.pick(v, rr, req(k), t), 1);
    peers.setHealthy(1, false, 10);
    assert.equal(s.pick(v, rr, req(11), t), 0);
    assert.equal(s.pick('garbage', rr, req(12), t) >= 0, true);
    const tried = new TriedSet(3);
    peers.setHealthy(1, true, 13);
    tried.add(1);
    assert.equal(s.pick(v, rr, req(14), tried), 0, 'failover never repeats the pinned server');
    // A pin to a backup holds only while no primary can serve.
    const b = s.encode(2);
    assert.equal(s.pick(b, rr, req(15), t) !== 2, true);
    peers.setHealthy(0, false, 16);
    peers.setHealthy(1, false, 16);
    assert.equal(s.pick(b, rr, req(17), t), 2);
  });

  it('refuses an empty secret', () => {
    assert.throws(() => new Sticky(peerSet(specs), { cookie: 'lb', secret: '' }));
  });
});
