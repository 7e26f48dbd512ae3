import { isIPv6 } from 'node:net';
import type { ProxySettingsIR } from '../../../compiler/ir.ts';
import type { CompressionRuntime } from '../compress/compress.ts';
import { AccessRules } from '../../core/access-rules.ts';
import type { ProxyRoute } from '../../http/proxy.ts';
import { compileTemplate, type Evaluate } from '../../core/template.ts';
import type { ConfiguredLifetime } from './freshness.ts';
import { compileKey } from './key.ts';
import type { CacheStore } from './store.ts';
import type { CacheZones } from './zones.ts';

// What a location with `proxy_cache` needs per request, prepared once when a
// Plan loads: the store, the key and conditions compiled, the purge allow-list.

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
  /** The location's proxying, as the cache's fetches use it: without compression, so that what is stored is what the origin sent. */
  route: ProxyRoute;
  /** The location's compression, applied on the way out to each client, for hits and misses alike. */
  compression: CompressionRuntime | null;
}

export function buildRouteCache(s: ProxySettingsIR, route: ProxyRoute, zones: CacheZones): RouteCache | null {
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
    route: route.compression === null ? route : { ...route, compression: null },
    compression: route.compression,
  };
}
