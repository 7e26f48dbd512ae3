// The outcomes of a request to a cached location, as the cache status header
// words them (lower case). The cache records one on the request's context
// (RequestContext.cacheOutcome, an index of this list); the metrics count it.

export const CACHE_OUTCOMES = ['hit', 'miss', 'expired', 'stale', 'updating', 'revalidated', 'bypass'] as const;
