// `random` and `random two`.
//
// random: a server at random in proportion to its weight (slow start scales the weight),
// primaries first. Sampling is a binary search over the cumulative weights of the servers
// usable now (rebuilt when the PeerSet version changes): O(log n). A sample that cannot take
// this request (tried, max_conns) is redrawn a few times, a server in slow start is kept with
// probability equal to its ramp; if the draws keep missing, one O(n) draw over exactly the
// eligible servers and their effective weights settles it.
//
// random two: draw two different servers that way and take the one with fewer requests in
// flight relative to its weight (nginx's `random two least_conn`, the power of two choices).

import { BaseBalancer, defaultRng, type PeerSet, type PickRequest, type Rng, type TriedSet } from './balancer.ts';

const DRAWS = 8;

/** Weighted sampling over one tier (primaries or backups). */
export class WeightedSampler {
  readonly members: Int32Array;
  /** Usable members at the last rebuild, and their cumulative weights. */
  private readonly usable: Int32Array;
  private readonly prefix: Float64Array;
  private count = 0;
  private total = 0;

  constructor(members: Int32Array) {
    this.members = members;
    this.usable = new Int32Array(members.length);
    this.prefix = new Float64Array(members.length);
  }

  rebuild(peers: PeerSet, now: number): void {
    let c = 0;
    let sum = 0;
    for (let k = 0; k < this.members.length; k++) {
      const i = this.members[k];
      if (!peers.usable(i, now)) continue;
      sum += peers.weight[i];
      this.usable[c] = i;
      this.prefix[c] = sum;
      c++;
    }
    this.count = c;
    this.total = sum;
  }

  /** A server by weight that may take the request, or -1. `not` is also excluded (-1: none). */
  sample(peers: PeerSet, now: number, tried: TriedSet, rng: Rng, not: number): number {
    if (this.count > 0) {
      const prefix = this.prefix;
      for (let d = 0; d < DRAWS; d++) {
        const w = rng() * this.total;
        let lo = 0;
        let hi = this.count - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (prefix[mid] > w) hi = mid;
          else lo = mid + 1;
        }
        const i = this.usable[lo];
        if (i === not || !peers.eligible(i, now, tried)) continue;
        const f = peers.rampFraction(i, now);
        if (f < 1 && rng() >= f) continue;
        return i;
      }
    }
    return this.sampleSlow(peers, now, tried, rng, not);
  }

  /** Exact: one draw over the eligible members by effective weight. O(members). */
  sampleSlow(peers: PeerSet, now: number, tried: TriedSet, rng: Rng, not: number): number {
    const m = this.members;
    let total = 0;
    for (let k = 0; k < m.length; k++) {
      const i = m[k];
      if (i !== not && peers.eligible(i, now, tried)) total += peers.effectiveWeight(i, now);
    }
    if (total === 0) return -1;
    let w = rng() * total;
    let last = -1;
    for (let k = 0; k < m.length; k++) {
      const i = m[k];
      if (i === not || !peers.eligible(i, now, tried)) continue;
      w -= peers.effectiveWeight(i, now);
      last = i;
      if (w < 0) return i;
    }
    return last;
  }

  /** A server uniformly at random that may take the request, or -1. */
  uniform(peers: PeerSet, now: number, tried: TriedSet, rng: Rng): number {
    if (this.count > 0) {
      for (let d = 0; d < DRAWS; d++) {
        const i = this.usable[Math.floor(rng() * this.count)];
        if (peers.eligible(i, now, tried)) return i;
      }
    }
    const m = this.members;
    let c = 0;
    for (let k = 0; k < m.length; k++) if (peers.eligible(m[k], now, tried)) c++;
    if (c === 0) return -1;
    let r = Math.floor(rng() * c);
    for (let k = 0; k < m.length; k++) {
      if (!peers.eligible(m[k], now, tried)) continue;
      if (r-- === 0) return m[k];
    }
    return -1;
  }
}

/** Primaries then backups, each a WeightedSampler, rebuilt on PeerSet version changes. */
export class Tiers {
  readonly primary: WeightedSampler;
  readonly backup: WeightedSampler;
  private seen = -1;

  constructor(peers: PeerSet) {
    this.primary = new WeightedSampler(peers.primaries);
    this.backup = new WeightedSampler(peers.backups);
  }

  refresh(peers: PeerSet, now: number): void {
    peers.sync(now);
    if (peers.version === this.seen) return;
    this.seen = peers.version;
    this.primary.rebuild(peers, now);
    this.backup.rebuild(peers, now);
  }

  /** The tier a server belongs to. */
  of(peers: PeerSet, i: number): WeightedSampler {
    return peers.backup[i] ? this.backup : this.primary;
  }

  sample(peers: PeerSet, now: number, tried: TriedSet, rng: Rng): number {
    const i = this.primary.sample(peers, now, tried, rng, -1);
    return i >= 0 ? i : this.backup.sample(peers, now, tried, rng, -1);
  }

  uniform(peers: PeerSet, now: number, tried: TriedSet, rng: Rng): number {
    const i = this.primary.uniform(peers, now, tried, rng);
    return i >= 0 ? i : this.backup.uniform(peers, now, tried, rng);
  }
}

export class Random extends BaseBalancer {
  readonly method: string;
  readonly two: boolean;
  private readonly tiers: Tiers;
  private readonly rng: Rng;

  constructor(peers: PeerSet, two: boolean, rng: Rng = defaultRng) {
    super(peers);
    this.two = two;
    this.method = two ? 'random two' : 'random';
    this.tiers = new Tiers(peers);
    this.rng = rng;
  }

  pick(request: PickRequest, tried: TriedSet): number {
    const peers = this.peers;
    const now = request.now;
    this.tiers.refresh(peers, now);
    const a = this.tiers.sample(peers, now, tried, this.rng);
    if (a < 0 || !this.two) return a;
    const b = this.tiers.of(peers, a).sample(peers, now, tried, this.rng, a);
    if (b < 0) return a;
    // Fewer in flight per unit of (effective) weight wins; ties keep the first draw.
    const wa = peers.effectiveWeight(a, now);
    const wb = peers.effectiveWeight(b, now);
    return peers.inflight[b] * wa < peers.inflight[a] * wb ? b : a;
  }
}
