// `hash KEY` without `consistent`: nginx's (and Cache::Memcached's) scheme. Try t (from 0)
// hashes ((crc32([t] KEY) >> 16) & 0x7fff) — the decimal t prefixed from the second try on —
// adds it to the running sum, and takes the weighted bucket sum mod the total weight of the
// primaries (down ones included, so a server going down moves only its own keys). A server
// that cannot take the request is rehashed; after 20 tries the pick falls back to round robin
// (which also serves the backups). Adding or removing a server remaps most keys: use
// `consistent` when that matters.

import type { PickRequest, TriedSet } from './balancer.ts';
import { bucketOf, CRC32_INIT, crc32Decimal, crc32Final, crc32String } from './hashing.ts';
import { Rehashing } from './rehashing.ts';

const TRIES = 20;

export class Hash extends Rehashing {
  readonly method: string = 'hash';

  pick(request: PickRequest, tried: TriedSet): number {
    const peers = this.peers;
    const now = request.now;
    if (this.total > 0) {
      const key = request.key;
      let sum = 0;
      for (let t = 0; t < TRIES; t++) {
        let crc = CRC32_INIT;
        if (t > 0) crc = crc32Decimal(crc, t);
        crc = crc32Final(crc32String(crc, key));
        sum += (crc >>> 16) & 0x7fff;
        const i = peers.primaries[bucketOf(this.prefix, sum % this.total)];
        if (peers.eligible(i, now, tried)) return i;
      }
    }
    return this.fallback.pick(request, tried);
  }
}
