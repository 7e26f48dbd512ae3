// Smooth weighted round robin, exactly as nginx does it: on each pick every candidate's
// current weight grows by its effective weight, the largest wins and gives back the total.
// Weights 5,1,1 give a a b a c a a. Plain round robin is the all-weights-1 case.
//
// nginx walks every server per pick (O(n)). Here the sequence over the servers that are up
// is computed once per availability change (the PeerSet version) into a schedule, and a
// pick reads the next slot: O(1). Slots whose server cannot take this request (tried,
// max_conns) are skipped; a server in slow start takes its slot only as often as its ramp
// allows (a credit counter, still deterministic). When a handful of slots in a row are
// unusable, or the schedule would be too long, the pick falls back to nginx's own O(n) loop
// over the eligible servers with their effective weights.

import { BaseBalancer, gcd, type PeerSet, type PickRequest, type TriedSet } from './balancer.ts';

/** Longest schedule kept; longer cycles (huge co-prime weights) use the O(n) loop. */
const MAX_SCHEDULE = 1 << 14;
/** Cap on the work of building one schedule (slots × servers). */
const MAX_BUILD_WORK = 1 << 22;
/** Slots a pick may skip before falling back to the O(n) loop. */
const FAST_TRIES = 16;

/** One tier (primaries or backups) of a smooth weighted round robin. */
export class SwrrGroup {
  readonly members: Int32Array;
  /** nginx current_weight, per server index (the O(n) loop). */
  private readonly current: Float64Array;
  /** Slow-start credit per server index (the schedule). */
  private readonly credit: Float64Array;
  private schedule: Int32Array;
  private length = 0;
  private pos = 0;

  constructor(n: number, members: Int32Array) {
    this.members = members;
    this.current = new Float64Array(n);
    this.credit = new Float64Array(n);
    this.schedule = new Int32Array(0);
  }

  /** Recompute the schedule over the members usable now (call when the PeerSet version changes). */
  rebuild(peers: PeerSet, now: number): void {
    const m = this.members;
    let g = 0;
    let total = 0;
    let count = 0;
    let integral = true;
    for (let k = 0; k < m.length; k++) {
      const i = m[k];
      this.current[i] = 0;
      this.credit[i] = 0;
      if (!peers.usable(i, now)) continue;
      const w = peers.weight[i];
      if (!Number.isInteger(w)) integral = false;
      g = gcd(g, Math.round(w));
      total += w;
      count++;
    }
    this.pos = 0;
    this.length = 0;
    if (count === 0 || !integral) return;
    const len = total / g;
    if (len > MAX_SCHEDULE || len * count > MAX_BUILD_WORK) return;
    if (this.schedule.length < len) this.schedule = new Int32Array(len);
    // Run nginx's loop `len` times: the sequence is periodic with that period.
    const cw = this.current;
    for (let s = 0; s < len; s++) {
      let best = -1;
      for (let k = 0; k < m.length; k++) {
        const i = m[k];
        if (!peers.usable(i, now)) continue;
        cw[i] += peers.weight[i] / g;
        if (best < 0 || cw[i] > cw[best]) best = i;
      }
      cw[best] -= len;
      this.schedule[s] = best;
    }
    for (let k = 0; k < m.length; k++) cw[m[k]] = 0;
    this.length = len;
  }

  /** The next server of this tier that may take the request, or -1. */
  pick(peers: PeerSet, now: number, tried: TriedSet): number {
    const len = this.length;
    if (len > 0) {
      const sched = this.schedule;
      let pos = this.pos;
      for (let k = len < FAST_TRIES ? len : FAST_TRIES; k > 0; k--) {
        const i = sched[pos];
        pos = pos + 1 === len ? 0 : pos + 1;
        if (!peers.eligible(i, now, tried)) continue;
        const f = peers.rampFraction(i, now);
        if (f < 1) {
          const c = this.credit[i] + f;
          if (c < 1) {
            this.credit[i] = c;
            continue;
          }
          this.credit[i] = c - 1;
        }
        this.pos = pos;
        return i;
      }
      this.pos = pos;
    }
    return this.pickSlow(peers, now, tried);
  }

  /** nginx's ngx_http_upstream_get_peer: O(members), effective weights, exact. */
  pickSlow(peers: PeerSet, now: number, tried: TriedSet): number {
    const m = this.members;
    const cw = this.current;
    let best = -1;
    let total = 0;
    for (let k = 0; k < m.length; k++) {
      const i = m[k];
      if (!peers.eligible(i, now, tried)) continue;
      const w = peers.effectiveWeight(i, now);
      cw[i] += w;
      total += w;
      if (best < 0 || cw[i] > cw[best]) best = i;
    }
    if (best >= 0) cw[best] -= total;
    return best;
  }
}

export class RoundRobin extends BaseBalancer {
  readonly method: string = 'round_robin';
  private readonly primary: SwrrGroup;
  private readonly backup: SwrrGroup;
  private seen = -1;

  constructor(peers: PeerSet) {
    super(peers);
    this.primary = new SwrrGroup(peers.n, peers.primaries);
    this.backup = new SwrrGroup(peers.n, peers.backups);
  }

  pick(request: PickRequest, tried: TriedSet): number {
    const now = request.now;
    const peers = this.peers;
    peers.sync(now);
    if (peers.version !== this.seen) {
      this.seen = peers.version;
      this.primary.rebuild(peers, now);
      this.backup.rebuild(peers, now);
    }
    const i = this.primary.pick(peers, now, tried);
    return i >= 0 ? i : this.backup.pick(peers, now, tried);
  }
}
