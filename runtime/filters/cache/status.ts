import type { RequestContext } from '../../core/context.ts';
import { CACHE_BYPASS, CACHE_EXPIRED, CACHE_HIT, CACHE_MISS, CACHE_REVALIDATED, CACHE_STALE, CACHE_UPDATING } from '../../observe/metrics.ts';
import type { RouteCache } from './route.ts';

// The cache status header: nginx's `$upstream_cache_status` words in
// `X-Cache-Status`, or RFC 9211's `Cache-Status` list member for lbconf.
// decideStatus is the one place a client's cache status is decided: it counts
// it in the metrics and gives the header value, so the two always agree.

export type CacheStatus = 'HIT' | 'MISS' | 'EXPIRED' | 'STALE' | 'UPDATING' | 'REVALIDATED' | 'BYPASS';

function metricOf(status: CacheStatus): number {
  switch (status) {
    case 'HIT': return CACHE_HIT;
    case 'MISS': return CACHE_MISS;
    case 'EXPIRED': return CACHE_EXPIRED;
    case 'STALE': return CACHE_STALE;
    case 'UPDATING': return CACHE_UPDATING;
    case 'REVALIDATED': return CACHE_REVALIDATED;
    case 'BYPASS': return CACHE_BYPASS;
  }
}

/** Counts the request's cache status and returns its header value; null with `proxy_cache_status_header off`. Once per client answer. */
export function decideStatus(ctx: RequestContext, rc: RouteCache, status: CacheStatus, ttl: number, stored: boolean, fwdStatus: number): string | null {
  ctx.observe?.cache(ctx, metricOf(status));
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
