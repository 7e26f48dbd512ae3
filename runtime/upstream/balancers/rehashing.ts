import { BaseBalancer, type PeerSet } from './balancer.ts';
import { prefixWeights } from './hashing.ts';
import { RoundRobin } from './round-robin.ts';

// What nginx's two rehashing methods (ip_hash and the non-consistent hash)
// share: the primaries' cumulative weights to map a hash onto, and round robin
// to fall back on when every rehash lands on an unavailable server.

export abstract class Rehashing extends BaseBalancer {
  protected readonly prefix: Float64Array;
  protected readonly total: number;
  protected readonly fallback: RoundRobin;

  constructor(peers: PeerSet) {
    super(peers);
    this.prefix = prefixWeights(peers.weight, peers.primaries);
    this.total = this.prefix.length > 0 ? this.prefix[this.prefix.length - 1] : 0;
    this.fallback = new RoundRobin(peers);
  }
}
