import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { PEER_UNHEALTHY, TriedSet } from '../../../runtime/upstream/balancers/balancer.ts';
import { ConsistentHash } from '../../../runtime/upstream/balancers/consistent-hash.ts';
import { Hash } from '../../../runtime/upstream/balancers/hash.ts';
import { crc32 } from '../../../runtime/upstream/balancers/hashing.ts';
import { createBalancer } from '../../../runtime/upstream/balancers/index.ts';
import { IpHash, ipHashBytes } from '../../../runtime/upstream/balancers/ip-hash.ts';
import { peerSet, req } from './helpers.ts';

function bytes(addr: string): number[] {
  const out = new Uint8Array(16);
  return [...out.subarray(0, ipHashBytes(addr, out))];
}

describe('crc32', () => {
  it('matches zlib on UTF-8 text', () => {
    for (const s of ['', 'a', '/index.html?x=1', 'héllo wörld', '日本語', '😀 emoji', 'x'.repeat(1000)]) {
      assert.equal(crc32(s), zlibCrc32(Buffer.from(s, 'utf8')), s);
    }
  });
});

describe('ip_hash', () => {
  it('hashes the first three octets of IPv4 and all of IPv6', () => {
    assert.deepEqual(bytes('192.168.1.77'), [192, 168, 1]);
    assert.deepEqual(bytes('::ffff:10.1.2.3'), [10, 1, 2]);
    assert.deepEqual(bytes('2001:db8::1'), [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(bytes('fe80::1%eth0'), [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(bytes('::1'), [...new Array(15).fill(0), 1]);
    assert.deepEqual(bytes('1:2:3:4:5:6:7:8'), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    assert.deepEqual(bytes('64:ff9b::1.2.3.4'), [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    for (const bad of ['', 'nonsense', '1.2.3', '1.2.3.256', '1:2', ':::', '1::2::3', 'unix:/tmp/s']) {
      assert.deepEqual(bytes(bad), [0, 0, 0], bad);
    }
  });

  it('matches nginx: hash 89, ×113 + byte mod 6271, bucket by weight', () => {
    const peers = peerSet([{ weight: 2 }, {}, {}]);
    const b = new IpHash(peers);
    const t = new TriedSet(3);
    for (const addr of ['10.0.0.1', '172.16.5.4', '192.168.200.9', '8.8.8.8']) {
      const [x, y, z] = addr.split('.').map(Number);
      let h = 89;
      for (const byte of [x, y, z]) h = (h * 113 + byte) % 6271;
      const w = h % 4;
      assert.equal(b.pick(req(0, '', addr), t), w < 2 ? 0 : w - 1, addr);
    }
  });

  it('keeps a /24 on one server and spreads others', () => {
    const peers = peerSet([{}, {}, {}, {}]);
    const b = new IpHash(peers);
    const t = new TriedSet(4);
    const first = b.pick(req(0, '', '203.0.113.1'), t);
    for (let k = 2; k < 255; k++) assert.equal(b.pick(req(0, '', `203.0.113.${k}`), t), first);
    const seen = new Set<number>();
    for (let k = 0; k < 200; k++) seen.add(b.pick(req(0, '', `10.${k}.${k * 7 % 256}.1`), t));
    assert.equal(seen.size, 4);
  });

  it('rehashes only the clients of a server that is down', () => {
    const peers = peerSet([{}, {}, {}, {}]);
    const b = new IpHash(peers);
    const t = new TriedSet(4);
    const before: number[] = [];
    for (let k = 0; k < 500; k++) before.push(b.pick(req(0, '', `10.${k >> 8}.${k & 255}.1`), t));
    peers.setState(1, PEER_UNHEALTHY, 0);
    for (let k = 0; k < 500; k++) {
      const i = b.pick(req(0, '', `10.${k >> 8}.${k & 255}.1`), t);
      assert.notEqual(i, 1);
      if (before[k] !== 1) assert.equal(i, before[k]);
    }
  });

  it('falls back to round robin and backups when the primaries are gone', () => {
    const peers = peerSet([{ down: true }, { down: true }, { backup: true }]);
    assert.equal(new IpHash(peers).pick(req(0, '', '1.2.3.4'), new TriedSet(3)), 2);
    const none = peerSet([{ down: true }]);
    assert.equal(new IpHash(none).pick(req(0, '', '1.2.3.4'), new TriedSet(1)), -1);
  });

  it('tries another server on failover', () => {
    const peers = peerSet([{}, {}, {}]);
    const b = new IpHash(peers);
    const tried = new TriedSet(3);
    const order: number[] = [];
    for (let k = 0; k < 3; k++) {
      const i = b.pick(req(0, '', '198.51.100.7'), tried);
      order.push(i);
      tried.add(i);
    }
    assert.deepEqual([...order].sort(), [0, 1, 2]);
    assert.equal(b.pick(req(0, '', '198.51.100.7'), tried), -1);
  });
});

describe('hash (not consistent)', () => {
  it('follows the Cache::Memcached scheme: (crc32(KEY) >> 16) & 0x7fff mod total weight', () => {
    const peers = peerSet([{}, { weight: 3 }]);
    const b = new Hash(peers);
    const t = new TriedSet(2);
    for (const key of ['/a', '/b', 'user:42', 'session-xyz']) {
      const w = ((crc32(key) >>> 16) & 0x7fff) % 4;
      assert.equal(b.pick(req(0, key), t), w < 1 ? 0 : 1, key);
    }
  });

  it('rehashes with the try number prefixed when the server is unavailable', () => {
    const peers = peerSet([{}, {}, {}]);
    const b = new Hash(peers);
    const key = 'k1';
    const h0 = (crc32(key) >>> 16) & 0x7fff;
    const first = h0 % 3;
    peers.setHealthy(first, false, 0);
    const h1 = h0 + ((crc32(`1${key}`) >>> 16) & 0x7fff);
    let h = h1;
    let t = 2;
    while (h % 3 === first) h += (crc32(`${t++}${key}`) >>> 16) & 0x7fff;
    assert.equal(b.pick(req(0, key), new TriedSet(3)), h % 3);
  });

  it('spreads keys by weight and is stable', () => {
    const peers = peerSet([{ weight: 3 }, {}]);
    const b = createBalancer({ kind: 'hash', consistent: false }, peers);
    const t = new TriedSet(2);
    let a = 0;
    for (let k = 0; k < 4000; k++) {
      const i = b.pick(req(k, `key-${k}`), t);
      assert.equal(b.pick(req(k, `key-${k}`), t), i);
      if (i === 0) a++;
    }
    assert.ok(Math.abs(a / 4000 - 0.75) < 0.03, `${a}`);
  });
});

function fivePeers(without = -1) {
  const specs = [];
  for (let k = 0; k < 5; k++) if (k !== without) specs.push({ id: `app/10.0.0.${k + 1}:8080` });
  return peerSet(specs);
}

describe('hash consistent', () => {
  it('moves only the removed server\'s keys, about 1/N of them', () => {
    const all = fivePeers();
    const before = new ConsistentHash(all);
    const t = new TriedSet(5);
    const counts = [0, 0, 0, 0, 0];
    const owner: string[] = [];
    for (let k = 0; k < 10_000; k++) {
      const i = before.pick(req(0, `key-${k}`), t);
      counts[i]++;
      owner.push(all.ids[i]);
    }
    for (const c of counts) assert.ok(c > 1200 && c < 2800, `balanced: ${counts}`);
    const fewer = fivePeers(2);
    const after = new ConsistentHash(fewer);
    let moved = 0;
    for (let k = 0; k < 10_000; k++) {
      const id = fewer.ids[after.pick(req(0, `key-${k}`), new TriedSet(4))];
      if (id !== owner[k]) {
        moved++;
        assert.equal(owner[k], all.ids[2], 'only keys of the removed server move');
      }
    }
    assert.ok(moved / 10_000 <= 1 / 5 + 0.05, `moved ${moved}`);
    assert.equal(moved, counts[2]);
  });

  it('passes a down server\'s keys to the next server on the ring, same as removing it', () => {
    const all = fivePeers();
    const b = new ConsistentHash(all);
    all.setHealthy(2, false, 0);
    const removed = new ConsistentHash(fivePeers(2));
    const fewer = removed.peers;
    for (let k = 0; k < 2000; k++) {
      const key = `key-${k}`;
      assert.equal(all.ids[b.pick(req(0, key), new TriedSet(5))], fewer.ids[removed.pick(req(0, key), new TriedSet(4))]);
    }
  });

  it('gives 160 points per unit of weight', () => {
    const peers = peerSet([{ weight: 2 }, {}]);
    const b = new ConsistentHash(peers);
    let a = 0;
    for (let p = 0; p < b.owner.length; p++) if (b.owner[p] === 0) a++;
    assert.equal(b.ring.length, 480);
    assert.equal(a, 320);
    for (let p = 1; p < b.ring.length; p++) assert.ok(b.ring[p - 1] < b.ring[p]);
  });

  it('bounded load caps the hottest server at factor × mean', () => {
    const run = (factor: number): number[] => {
      const peers = fivePeers();
      const b = createBalancer({ kind: 'hash', consistent: true, balanceFactor: factor }, peers);
      const t = new TriedSet(5);
      for (let k = 0; k < 1000; k++) {
        const key = k % 5 === 0 ? `cold-${k}` : 'hot';
        const i = b.pick(req(k, key), t);
        assert.ok(i >= 0);
        b.onStart(i, k);
      }
      return [...peers.inflight];
    };
    const unbounded = run(0);
    assert.ok(Math.max(...unbounded) >= 800, `${unbounded}`);
    const bounded = run(1.25);
    assert.ok(Math.max(...bounded) <= Math.ceil((1.25 * 1000) / 5), `${bounded}`);
    assert.equal(bounded.reduce((x, y) => x + y), 1000);
  });

  it('keeps a key on its server while under the bound', () => {
    const peers = fivePeers();
    const b = new ConsistentHash(peers, 1.25);
    const t = new TriedSet(5);
    for (let k = 0; k < 500; k++) {
      const key = `key-${k}`;
      const i = b.pick(req(k, key), t);
      b.onStart(i, k);
      b.onEnd(i, 1, true, k);
      assert.equal(i, b.owns(key));
    }
  });

  it('walks the ring past tried servers, then falls back to backups', () => {
    const peers = peerSet([{}, {}, {}, { backup: true }]);
    const b = new ConsistentHash(peers);
    const tried = new TriedSet(4);
    const order: number[] = [];
    for (let k = 0; k < 4; k++) {
      const i = b.pick(req(0, 'some-key'), tried);
      order.push(i);
      tried.add(i);
    }
    assert.deepEqual(order.slice(0, 3).sort(), [0, 1, 2]);
    assert.equal(order[3], 3);
    assert.equal(b.pick(req(0, 'some-key'), tried), -1);
  });
});
