// Weighted least connections: the server with the fewest requests in flight relative to its
// (slow-start) weight, primaries before backups.
//
// nginx scans every server per pick and breaks ties with its smooth weighted round robin.
// Here a tournament tree keeps the winner at the root: onStart/onEnd/pick update one leaf
// and its path (O(log n)), a pick reads the root (O(1)), and the few servers a request has
// already tried are masked out and restored (O(k log n)). Ties on load go to the server with
// the smallest virtual time, which advances by 1/(effective weight) each time the server is
// picked (in integer units of the weights' lcm, so equal shares tie exactly): a weighted round robin among the tied servers, so idle traffic still follows the
// weights and slow start.
//
// Over a shared PeerSet (workers) other threads change the in-flight counts, which the tree
// would only see for servers this worker touches: there each pick scans the live counts
// (O(n), as nginx does) with the same ordering, so least_conn is exact across workers.

import { BaseBalancer, gcd, type PeerSet, type PickRequest, type TriedSet } from './balancer.ts';

const UNIT_MAX = 2 ** 24;
const UNIT_FALLBACK = 2 ** 20;
const VT_LIMIT = 2 ** 48;

export class LeastConn extends BaseBalancer {
  readonly method: string = 'least_conn';
  /** Leaves start here; a power of two ≥ n. */
  private readonly size: number;
  /** Winner index per tree node (1 = root), -1 for none. Leaf size+i is i or -1 (unavailable). */
  private readonly tree: Int32Array;
  /** inflight / effective weight, per server. */
  private readonly load: Float64Array;
  /** Virtual time per server: the tie-breaker. */
  private readonly vt: Float64Array;
  private vclock = 0;
  /** Virtual time per pick is unit / weight: unit is the lcm of the weights when small, so ties are exact. */
  private readonly unit: number;
  private seen = -1;
  /** Servers in slow start, whose key changes with time; refreshed every rampStep ms. */
  private readonly ramping: Int32Array;
  private rampCount = 0;
  private nextRampAt = Infinity;

  constructor(peers: PeerSet) {
    super(peers);
    let size = 1;
    while (size < peers.n) size <<= 1;
    this.size = size;
    this.tree = new Int32Array(2 * size).fill(-1);
    this.load = new Float64Array(peers.n);
    this.vt = new Float64Array(peers.n);
    this.ramping = new Int32Array(peers.n);
    let unit = 1;
    for (let i = 0; i < peers.n && unit > 0; i++) {
      const w = peers.weight[i];
      unit = Number.isInteger(w) ? (unit / gcd(unit, w)) * w : 0;
      if (unit > UNIT_MAX) unit = 0;
    }
    this.unit = unit > 0 ? unit : UNIT_FALLBACK;
  }

  pick(request: PickRequest, tried: TriedSet): number {
    const now = request.now;
    const peers = this.peers;
    peers.sync(now);
    if (peers.version !== this.seen) this.rebuild(now);
    else if (now >= this.nextRampAt) this.refreshRamping(now);
    let w: number;
    if (peers.shared) {
      w = this.scan(now, tried);
    } else if (tried.size === 0) {
      w = this.tree[1];
    } else {
      for (let k = 0; k < tried.size; k++) {
        const i = tried.list[k];
        if (i < peers.n) this.setLeaf(i, -1);
      }
      w = this.tree[1];
      for (let k = 0; k < tried.size; k++) {
        const i = tried.list[k];
        if (i < peers.n) this.setLeaf(i, peers.available(i, now) ? i : -1);
      }
    }
    if (w < 0) return -1;
    this.vclock = this.vt[w];
    this.vt[w] += Math.ceil(this.unit / peers.effectiveWeight(w, now));
    if (this.vt[w] > VT_LIMIT) this.renormalize();
    this.update(w, now);
    return w;
  }

  override onStart(index: number, now: number): void {
    this.peers.start(index);
    this.update(index, now);
  }

  override onEnd(index: number, latencyMs: number, ok: boolean, now: number): void {
    this.peers.end(index, ok, now);
    this.update(index, now);
  }

  /** The best server by the live counts (shared PeerSet), or -1. */
  private scan(now: number, tried: TriedSet): number {
    const peers = this.peers;
    let best = -1;
    for (let i = 0; i < peers.n; i++) {
      if (!peers.eligible(i, now, tried)) continue;
      this.load[i] = peers.inflight[i] / peers.effectiveWeight(i, now);
      best = this.better(best, i);
    }
    return best;
  }

  /** Keep virtual times small enough to stay exact integers. */
  private renormalize(): void {
    let min = Infinity;
    for (let i = 0; i < this.peers.n; i++) if (this.vt[i] < min) min = this.vt[i];
    for (let i = 0; i < this.peers.n; i++) this.vt[i] -= min;
    this.vclock = Math.max(0, this.vclock - min);
  }

  /** Recompute every leaf (availability changed). */
  private rebuild(now: number): void {
    const peers = this.peers;
    this.seen = peers.version;
    const size = this.size;
    this.rampCount = 0;
    let step = Infinity;
    for (let i = 0; i < peers.n; i++) {
      const was = this.tree[size + i];
      const ok = peers.available(i, now);
      // A server that (re)joins starts at the current virtual time: no burst of catch-up ties.
      if (ok && was < 0 && this.vt[i] < this.vclock) this.vt[i] = this.vclock;
      this.load[i] = peers.inflight[i] / peers.effectiveWeight(i, now);
      this.tree[size + i] = ok ? i : -1;
      if (peers.ramping(i, now)) {
        this.ramping[this.rampCount++] = i;
        const s = peers.slowStartMs[i] / 100;
        if (s < step) step = s;
      }
    }
    for (let j = size - 1; j >= 1; j--) this.tree[j] = this.better(this.tree[2 * j], this.tree[2 * j + 1]);
    this.nextRampAt = this.rampCount > 0 ? now + Math.max(step, 1) : Infinity;
  }

  private refreshRamping(now: number): void {
    const peers = this.peers;
    let kept = 0;
    let step = Infinity;
    for (let k = 0; k < this.rampCount; k++) {
      const i = this.ramping[k];
      this.update(i, now);
      if (peers.ramping(i, now)) {
        this.ramping[kept++] = i;
        const s = peers.slowStartMs[i] / 100;
        if (s < step) step = s;
      }
    }
    this.rampCount = kept;
    this.nextRampAt = kept > 0 ? now + Math.max(step, 1) : Infinity;
  }

  /** Refresh server i's key and availability, then its path to the root. */
  private update(i: number, now: number): void {
    const peers = this.peers;
    this.load[i] = peers.inflight[i] / peers.effectiveWeight(i, now);
    this.setLeaf(i, peers.available(i, now) ? i : -1);
  }

  private setLeaf(i: number, value: number): void {
    const tree = this.tree;
    let j = this.size + i;
    tree[j] = value;
    for (j >>= 1; j >= 1; j >>= 1) tree[j] = this.better(tree[2 * j], tree[2 * j + 1]);
  }

  /** The better of two candidates: primaries first, then lower load, then lower virtual time. */
  private better(a: number, b: number): number {
    if (a < 0) return b;
    if (b < 0) return a;
    const backup = this.peers.backup;
    if (backup[a] !== backup[b]) return backup[a] < backup[b] ? a : b;
    const la = this.load[a];
    const lb = this.load[b];
    if (la !== lb) return la < lb ? a : b;
    return this.vt[b] < this.vt[a] ? b : a;
  }
}
