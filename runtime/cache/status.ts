// The cache status header: nginx's `$upstream_cache_status` words in
// `X-Cache-Status`, or RFC 9211's `Cache-Status` list member for lbconf.

export type CacheStatus = 'HIT' | 'MISS' | 'EXPIRED' | 'STALE' | 'UPDATING' | 'REVALIDATED' | 'BYPASS';

/**
 * The header value. `ttl` is the remaining freshness in seconds (negative when
 * stale), `stored` whether this response was stored, `fwdStatus` the status the
 * upstream answered with when the request went forward.
 */
export function cacheStatusValue(header: string, status: CacheStatus, ttl: number, stored: boolean, fwdStatus: number): string {
  if (header !== 'cache-status') return status;
  switch (status) {
    case 'HIT': return `lbconf; hit; ttl=${ttl}`;
    case 'STALE':
    case 'UPDATING': return `lbconf; hit; ttl=${ttl}`;
    case 'MISS': return `lbconf; fwd=uri-miss; fwd-status=${fwdStatus}${stored ? '; stored' : ''}`;
    case 'EXPIRED': return `lbconf; fwd=stale; fwd-status=${fwdStatus}${stored ? '; stored' : ''}`;
    case 'REVALIDATED': return `lbconf; fwd=stale; fwd-status=304; ttl=${ttl}`;
    case 'BYPASS': return `lbconf; fwd=bypass; fwd-status=${fwdStatus}${stored ? '; stored' : ''}`;
  }
}
