import type { RequestContext } from '../../core/context.ts';
import { CACHE_OUTCOMES } from '../../core/cache-outcomes.ts';
import type { RouteCache } from './route.ts';

// The cache status header: nginx's `$upstream_cache_status` words in
// `X-Cache-Status`, or RFC 9211's `Cache-Status` list member for lbconf.
// decideStatus is the one place a client's cache status is decided: it counts
// it in the metrics and gives the header value, so the two always agree.

export type CacheStatus = 'HIT' | 'MISS' | 'EXPIRED' | 'STALE' | 'UPDATING' | 'REVALIDATED' | 'BYPASS';

/** A status's index in CACHE_OUTCOMES, as the metrics count it. */
const OUTCOME = Object.fromEntries(CACHE_OUTCOMES.map((o, i) => [o.toUpperCase(), i])) as Record<CacheStatus, number>;

/** Records the request's cache status (the metrics count it) and returns its header value; null with `proxy_cache_status_header off`. Once per client answer. */
export function decideStatus(ctx: RequestContext, rc: RouteCache, status: CacheStatus, ttl: number, stored: boolean, fwdStatus: number): string | null {
  ctx.cacheOutcome = OUTCOME[status];
  return rc.statusHeader === '' ? null : cacheStatusValue(rc.statusHeader, status, ttl, stored, fwdStatus);
}

/**
 * The header value. `ttl` is the remaining freshness in seconds (negative when
 * stale), `stored` whether this response was stored, `fwdStatus` the status the
 * upstream answered with when the request went forward: 0 when not known yet
 * (passed through as it comes), -1 when it did not go forward (only-if-cached).
 */
export function cacheStatusValue(header: string, status: CacheStatus, ttl: number, stored: boolean, fwdStatus: number): string {
  if (header !== 'cache-status') return status;
  if (fwdStatus < 0) return 'lbconf; detail=only-if-cached';
  switch (status) {
    case 'HIT': return `lbconf; hit; ttl=${ttl}`;
    case 'STALE':
    case 'UPDATING': return `lbconf; hit; ttl=${ttl}`;
    case 'MISS': return `lbconf; fwd=uri-miss${forwarded(fwdStatus, stored)}`;
    case 'EXPIRED': return `lbconf; fwd=stale${forwarded(fwdStatus, stored)}`;
    case 'REVALIDATED': return `lbconf; fwd=stale; fwd-status=304; ttl=${ttl}`;
    case 'BYPASS': return `lbconf; fwd=bypass${forwarded(fwdStatus, stored)}`;
  }
}

function forwarded(fwdStatus: number, stored: boolean): string {
  return `${fwdStatus > 0 ? `; fwd-status=${fwdStatus}` : ''}${stored ? '; stored' : ''}`;
}
