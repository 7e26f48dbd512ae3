// The balancer factory: one method object (as the compiler's IR describes it) and one
// PeerSet in, a Balancer out. Built at compile/swap time, never per request.

import type { Balancer, PeerSet, Rng } from './balancer.ts';
import { ConsistentHash } from './consistent-hash.ts';
import { Hash } from './hash.ts';
import { IpHash } from './ip-hash.ts';
import { LeastBusy } from './least-busy.ts';
import { LeastConn } from './least-conn.ts';
import { Random } from './random.ts';
import { RoundRobin } from './round-robin.ts';

export type BalanceMethod =
  | { readonly kind: 'round_robin' }
  | { readonly kind: 'least_conn' }
  | { readonly kind: 'ip_hash' }
  | { readonly kind: 'hash'; readonly consistent: boolean; readonly balanceFactor?: number | null }
  | { readonly kind: 'random'; readonly two: boolean }
  | {
    readonly kind: 'least_busy';
    /** EWMA decay in ms (`decay=`); `decay` is the compiler IR's name for the same. */
    readonly decayMs?: number;
    readonly decay?: number;
    readonly explore?: number;
  };

export interface BalancerOptions {
  /** Randomness for random, random two and least_busy (inject a seeded one in tests). */
  readonly rng?: Rng;
}

export function createBalancer(method: BalanceMethod, peers: PeerSet, options: BalancerOptions = {}): Balancer {
  switch (method.kind) {
    case 'round_robin':
      return new RoundRobin(peers);
    case 'least_conn':
      return new LeastConn(peers);
    case 'ip_hash':
      return new IpHash(peers);
    case 'hash':
      return method.consistent ? new ConsistentHash(peers, method.balanceFactor ?? 0) : new Hash(peers);
    case 'random':
      return new Random(peers, method.two, options.rng);
    case 'least_busy':
      return new LeastBusy(peers, { decayMs: method.decayMs ?? method.decay, explore: method.explore, rng: options.rng });
  }
}

export {
  BaseBalancer, MIN_RAMP, PEER_DOWN, PEER_DRAINING, PEER_UNHEALTHY, PEER_UP, PeerSet, seededRng, serverSpecs, TriedSet,
} from './balancer.ts';
export type { Balancer, PeerState, PickRequest, Rng, ServerSpec } from './balancer.ts';
export { ConsistentHash } from './consistent-hash.ts';
export { Hash } from './hash.ts';
export { IpHash, ipHashBytes } from './ip-hash.ts';
export { LeastBusy } from './least-busy.ts';
export { LeastConn } from './least-conn.ts';
export { Random } from './random.ts';
export { RoundRobin } from './round-robin.ts';
export { Sticky } from './sticky.ts';
