// least_busy: lbconf's load-aware method (after Finagle's and Linkerd's peak-EWMA P2C).
//
// Each server has a peak-EWMA latency: a sample above the current value replaces it at once
// (a sudden slow response counts immediately); otherwise samples blend in with weight
// 1 − e^(−Δt/decay), so the average spans about `decay` of wall time whatever the request
// rate. A failed response counts as at least FAILURE_PENALTY × the typical latency, so a
// server failing fast does not look fast. When read, the value decays toward zero with the
// time since its last sample, so a server that was penalized and then left alone is
// eventually probed again.
//
// score = (decayed EWMA + ε) × (in flight + 1). A pick draws two different servers by weight
// (slow start scales the weight) and takes the lower score; with probability `explore` it
// instead takes a uniformly random eligible server, so every healthy server keeps receiving a
// small share and its latency stays measured. Servers never measured score with the typical
// latency of the upstream. O(log n) per pick (the weighted draw), no allocation.

import { BaseBalancer, defaultRng, type PeerSet, type PickRequest, type Rng, type TriedSet } from './balancer.ts';
import { Tiers } from './random.ts';

export const DEFAULT_DECAY_MS = 10_000;
export const DEFAULT_EXPLORE = 0.02;
export const FAILURE_PENALTY = 4;
const EPSILON_MS = 1e-3;

export interface LeastBusyOptions {
  /** Time constant of the EWMA, ms (`decay=`, default 10 s). */
  readonly decayMs?: number;
  /** Share of picks that go to a uniformly random eligible server (default 0.02). */
  readonly explore?: number;
  readonly rng?: Rng;
}

export class LeastBusy extends BaseBalancer {
  readonly method: string = 'least_busy';
  readonly decayMs: number;
  readonly explore: number;
  private readonly tiers: Tiers;
  private readonly rng: Rng;
  /** A time-decayed mean of every sample: the latency assumed for servers never measured. */
  private typical = -1;
  private typicalAt = 0;

  constructor(peers: PeerSet, options: LeastBusyOptions = {}) {
    super(peers);
    this.decayMs = options.decayMs !== undefined && options.decayMs > 0 ? options.decayMs : DEFAULT_DECAY_MS;
    this.explore = Math.min(1, Math.max(0, options.explore ?? DEFAULT_EXPLORE));
    this.rng = options.rng ?? defaultRng;
    this.tiers = new Tiers(peers);
  }

  pick(request: PickRequest, tried: TriedSet): number {
    const peers = this.peers;
    const now = request.now;
    const tiers = this.tiers;
    tiers.refresh(peers, now);
    if (this.explore > 0 && this.rng() < this.explore) return tiers.uniform(peers, now, tried, this.rng);
    const a = tiers.sample(peers, now, tried, this.rng);
    if (a < 0) return -1;
    const b = tiers.of(peers, a).sample(peers, now, tried, this.rng, a);
    if (b < 0) return a;
    return this.score(b, now) < this.score(a, now) ? b : a;
  }

  /** The server's current latency estimate in ms (decayed EWMA, or the typical latency). */
  latency(i: number, now: number): number {
    const peers = this.peers;
    // The pair is written together by every worker's onEnd: read it under the server's seqlock.
    let e: number;
    let at: number;
    for (;;) {
      const s = peers.readBegin(i);
      e = peers.ewma[i];
      at = peers.ewmaAt[i];
      if (peers.readEnd(i, s)) break;
    }
    if (e < 0) return this.typical >= 0 ? this.typical : 1;
    const dt = now - at;
    return dt > 0 ? e * Math.exp(-dt / this.decayMs) : e;
  }

  /** Lower is better: latency × (in flight + 1). */
  score(i: number, now: number): number {
    return (this.latency(i, now) + EPSILON_MS) * (this.peers.inflight[i] + 1);
  }

  /** Every server's score (for the admin endpoint and tests). Allocates unless `out` is given. */
  scores(now: number, out: Float64Array = new Float64Array(this.peers.n)): Float64Array {
    for (let i = 0; i < this.peers.n; i++) out[i] = this.score(i, now);
    return out;
  }

  override onEnd(index: number, latencyMs: number, ok: boolean, now: number): void {
    const peers = this.peers;
    peers.end(index, ok, now);
    let s = latencyMs > 0 ? latencyMs : 0;
    // Read-modify-write of shared floats: under the server's seqlock, so no worker's sample is lost.
    peers.lock(index);
    const e = peers.ewma[index];
    if (!ok) {
      const base = e > this.typical ? e : this.typical;
      if (base > 0 && s < FAILURE_PENALTY * base) s = FAILURE_PENALTY * base;
    }
    if (e < 0 || s > e) {
      peers.ewma[index] = s; // peak: a slower sample counts at once
    } else {
      const dt = now - peers.ewmaAt[index];
      const w = dt > 0 ? Math.exp(-dt / this.decayMs) : 1;
      peers.ewma[index] = e * w + s * (1 - w);
    }
    if (now > peers.ewmaAt[index]) peers.ewmaAt[index] = now;
    peers.unlock(index);
    if (this.typical < 0) {
      this.typical = s;
    } else {
      const dt = now - this.typicalAt;
      const w = dt > 0 ? Math.exp(-dt / this.decayMs) : 1;
      this.typical = this.typical * w + s * (1 - w);
    }
    this.typicalAt = now;
  }
}
