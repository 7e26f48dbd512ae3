import { isIPv6 } from 'node:net';
import type { ProxySettingsIR } from '../../../compiler/ir.ts';
import type { ServerResponse } from 'node:http';
import { AccessRules } from '../../core/access-rules.ts';
import type { RequestContext } from '../../core/context.ts';
import type { ErrorPages } from '../../core/errors.ts';
import type { HeaderRule } from '../../core/headers.ts';
import type { ResponseFilter } from '../../core/response-filter.ts';
import type { ResponseSink } from '../../core/sink.ts';
import { compileTemplate, type Evaluate } from '../../core/template.ts';
import type { ConfiguredLifetime } from './freshness.ts';
import { compileKey } from './key.ts';
import type { CacheStore } from './store.ts';
import type { CacheZones } from './zones.ts';

// What a location with `proxy_cache` needs per request, prepared once when a
// Plan loads: the store, the key and conditions compiled, the purge allow-list.

/**
 * The location's proxying, as the cache uses it (the handler the cache wraps;
 * http/routes.ts gives it): without compression, so that what is stored is what
 * the origin sent.
 */
export interface CacheOrigin {
  proxyHost: string;
  /** proxy_set_header, for the request the cache sends. */
  headers: readonly HeaderRule[];
  /** add_header without `always`. */
  addHeaders: readonly HeaderRule[] | null;
  pages: ErrorPages;
  /** Proxies the request as if there were no cache. */
  pass(ctx: RequestContext, res: ServerResponse): void;
  /** Goes upstream with these request headers (null: made from the request), the response written to `sink`. */
  fetch(ctx: RequestContext, sink: ResponseSink, headers: string[] | null): void;
}

export interface RouteCache {
  store: CacheStore;
  /** The request's key: `proxy_cache_key` with its variables' values delimited (key.ts). */
  key: Evaluate;
  lock: boolean;
  lockTimeout: number;
  bypass: Evaluate[] | null;
  noStore: Evaluate[] | null;
  valid: readonly ConfiguredLifetime[];
  purge: { method: string; from: AccessRules } | null;
  /** For its `others` under workers, which purges and invalidations reach too. */
  zones: CacheZones;
  /** Lower case; '' for none. */
  statusHeader: string;
  /** Where misses go. */
  route: CacheOrigin;
  /** The location's compression, applied on the way out to each client, for hits and misses alike. */
  compression: ResponseFilter | null;
}

export function buildRouteCache(s: ProxySettingsIR, origin: CacheOrigin, compression: ResponseFilter | null, zones: CacheZones): RouteCache | null {
  if (s.cache === null || s.cache.size === 0) return null;
  const cidr = (source: string) => (source === 'all' || source.includes('/') ? source : `${source}/${isIPv6(source) ? 128 : 32}`);
  return {
    store: zones.get(s.cache),
    key: compileKey(s.cacheKey),
    lock: s.cacheLock,
    lockTimeout: s.cacheLockTimeout,
    bypass: s.cacheBypass.length > 0 ? s.cacheBypass.map(compileTemplate) : null,
    noStore: s.cacheNoStore.length > 0 ? s.cacheNoStore.map(compileTemplate) : null,
    valid: s.cacheValid,
    purge: s.cachePurge === null ? null : {
      method: s.cachePurge.method,
      from: new AccessRules([...s.cachePurge.from.map((source) => ({ action: 'allow' as const, source: cidr(source) })), { action: 'deny', source: 'all' }]),
    },
    zones,
    statusHeader: s.cacheStatusHeader,
    route: origin,
    compression,
  };
}
