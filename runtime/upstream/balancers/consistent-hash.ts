// `hash KEY consistent [balance_factor=F]`: a ketama ring built the way nginx builds it.
// Each primary (down ones included) gets 160 × weight points: base = crc32 of
// host NUL port (from the server's address), point j = crc32(base, previous point as 4
// little-endian bytes). Points are sorted; equal hashes keep the first. A key maps to the
// first point ≥ crc32(KEY), wrapping. A server that cannot take the request passes it to the
// next server along the ring, so every instance with the same config maps keys the same way
// and removing one of N servers moves only that server's keys (about 1/N).
//
// Bounded load (HAProxy's hash-balance-factor, "consistent hashing with bounded loads"):
// a server is skipped while its in-flight count is at or above
// ceil(F × (total in flight + 1) × weight / total weight of usable primaries).
//
// Lookup is a binary search over the ring (O(log points)); the walk steps over runs of one
// server's points with a precomputed jump table. If the walk finds nothing (every primary
// unavailable) the pick falls back to round robin, which also serves the backups.

import { BaseBalancer, type PeerSet, type PickRequest, type TriedSet } from './balancer.ts';
import { CRC32_INIT, crc32, crc32Byte, crc32Final, crc32String, crc32Uint32LE } from './hashing.ts';
import { RoundRobin } from './round-robin.ts';

export const POINTS_PER_WEIGHT = 160;

/** `host` and `port` of an identity `upstream/host:port` (nginx splits at the last colon). */
function hostPort(id: string): [string, string] {
  const slash = id.indexOf('/');
  const addr = slash >= 0 ? id.slice(slash + 1) : id;
  if (addr.length >= 5 && addr.slice(0, 5).toLowerCase() === 'unix:') return [addr.slice(5), ''];
  const colon = addr.lastIndexOf(':');
  return colon >= 0 ? [addr.slice(0, colon), addr.slice(colon + 1)] : [addr, ''];
}

export class ConsistentHash extends BaseBalancer {
  readonly method: string = 'hash consistent';
  /** Sorted point hashes. */
  readonly ring: Uint32Array;
  /** The server index owning each point. */
  readonly owner: Int32Array;
  /** The next point (cyclically) owned by a different server. */
  private readonly jump: Int32Array;
  private readonly balanceFactor: number;
  private readonly fallback: RoundRobin;
  private readonly walkLimit: number;
  private seen = -1;
  private usableWeight = 0;
  private usableCount = 0;

  /** @param balanceFactor > 1 turns bounded load on; 0 or null: off. */
  constructor(peers: PeerSet, balanceFactor: number | null = 0) {
    super(peers);
    this.balanceFactor = balanceFactor && balanceFactor > 0 ? Math.max(1, balanceFactor) : 0;
    this.fallback = new RoundRobin(peers);

    const prim = peers.primaries;
    let count = 0;
    const npoints = new Int32Array(prim.length);
    for (let k = 0; k < prim.length; k++) {
      npoints[k] = Math.max(1, Math.round(POINTS_PER_WEIGHT * peers.weight[prim[k]]));
      count += npoints[k];
    }
    const hashes = new Uint32Array(count);
    const owners = new Int32Array(count);
    let p = 0;
    for (let k = 0; k < prim.length; k++) {
      const [host, port] = hostPort(peers.ids[prim[k]]);
      let base = crc32String(CRC32_INIT, host);
      base = crc32Byte(base, 0);
      base = crc32String(base, port);
      let prev = 0;
      for (let j = 0; j < npoints[k]; j++) {
        const h = crc32Final(crc32Uint32LE(base, prev));
        hashes[p] = h;
        owners[p] = prim[k];
        p++;
        prev = h;
      }
    }
    // Sort by hash, ties in insertion order (server order), then drop repeated hashes.
    const order = new Uint32Array(count);
    for (let k = 0; k < count; k++) order[k] = k;
    order.sort((a, b) => hashes[a] - hashes[b] || a - b);
    let unique = 0;
    for (let k = 0; k < count; k++) if (k === 0 || hashes[order[k]] !== hashes[order[k - 1]]) unique++;
    this.ring = new Uint32Array(unique);
    this.owner = new Int32Array(unique);
    for (let k = 0, u = 0; k < count; k++) {
      if (k > 0 && hashes[order[k]] === hashes[order[k - 1]]) continue;
      this.ring[u] = hashes[order[k]];
      this.owner[u] = owners[order[k]];
      u++;
    }
    // jump[p]: the first point after p (cyclically) whose owner differs from owner[p].
    const P = unique;
    this.jump = new Int32Array(P);
    if (P > 0) {
      let next = -1;
      for (let pass = 0; pass < 2; pass++) {
        for (let q = P - 1; q >= 0; q--) {
          const r = q + 1 === P ? 0 : q + 1;
          if (this.owner[r] !== this.owner[q]) next = r;
          this.jump[q] = next >= 0 ? next : r;
        }
      }
    }
    // Each step lands on a different server than the last; a few rounds of all servers is plenty.
    this.walkLimit = Math.max(20, 4 * prim.length);
  }

  pick(request: PickRequest, tried: TriedSet): number {
    const peers = this.peers;
    const now = request.now;
    peers.sync(now);
    if (peers.version !== this.seen) this.recount(now);
    const P = this.ring.length;
    if (P > 0 && this.usableCount > 0) {
      let p = this.slot(crc32(request.key));
      const bf = this.balanceFactor;
      const limit = this.walkLimit;
      for (let s = 0; s < limit; s++) {
        const i = this.owner[p];
        if (peers.eligible(i, now, tried) && (bf === 0 || this.underCap(i, bf))) return i;
        p = this.jump[p];
      }
    }
    return this.fallback.pick(request, tried);
  }

  /** The server a key maps to with every server up and idle (for tests and `lbconf route`). */
  owns(key: string): number {
    const P = this.ring.length;
    if (P === 0) return -1;
    return this.owner[this.slot(crc32(key))];
  }

  /** The ring point a hash lands on: the first point at or after it, wrapping around (binary search). */
  private slot(h: number): number {
    const P = this.ring.length;
    let lo = 0;
    let hi = P;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === P ? 0 : lo;
  }

  private underCap(i: number, bf: number): boolean {
    const peers = this.peers;
    const cap = Math.ceil((bf * (peers.totalInflight + 1) * peers.weight[i]) / this.usableWeight);
    return peers.inflight[i] < cap;
  }

  private recount(now: number): void {
    const peers = this.peers;
    this.seen = peers.version;
    let w = 0;
    let c = 0;
    for (let k = 0; k < peers.primaries.length; k++) {
      const i = peers.primaries[k];
      if (!peers.usable(i, now)) continue;
      w += peers.weight[i];
      c++;
    }
    this.usableWeight = w;
    this.usableCount = c;
  }
}
