import { compressionDefaults } from './directives/compression.ts';
import type { ConfigIR, LocationIR, ProxySettingsIR, ServerIR } from './ir.ts';
import { cacheDefaults, fillCacheZones } from './directives/cache.ts';

// nginx's inheritance: a setting written at an outer level (top, server, location)
// applies inside unless an inner level writes its own. Lists (`proxy_set_header`,
// `allow`/`deny`) are inherited whole, and only by a level that writes none.

export function emptySettings(): ProxySettingsIR {
  return {
    setHeaders: [],
    connectTimeout: 60_000,
    sendTimeout: 60_000,
    readTimeout: 60_000,
    // Unset: as proxy_read_timeout, which in nginx covers the wait for the response head too.
    headerTimeout: -1,
    requestTimeout: 0,
    nextUpstream: ['error', 'timeout'],
    nextUpstreamTries: 0,
    nextUpstreamTimeout: 0,
    access: [],
    addHeaders: [],
    hideHeaders: [],
    passHeaders: [],
    serverTokens: false,
    errorPages: [],
    clientMaxBodySize: 1024 * 1024,
    clientBodyTimeout: 60_000,
    sendClientTimeout: 60_000,
    clientHeaderTimeout: 60_000,
    clientMaxHeaderSize: 16 * 1024,
    clientMaxHeaders: 100,
    clientMaxUriLength: 8 * 1024,
    keepaliveTimeout: 75_000,
    keepaliveRequests: 1000,
    maxConnections: 0,
    http2MaxConcurrentStreams: 128,
    limitReq: [],
    limitReqStatus: 429,
    limitConn: [],
    limitConnStatus: 429,
    realIpFrom: [],
    realIpHeader: 'x-real-ip',
    realIpRecursive: false,
    authBasic: null,
    authBasicUserFile: null,
    authBasicLimit: null,
    ...cacheDefaults(),
    ...compressionDefaults(),
    accessLog: null,
  };
}

export type Partials = WeakMap<ServerIR | LocationIR, Partial<ProxySettingsIR>>;

/** Where an inherited value came from: `copy(from, to)` copies the source location of a pointer. */
export type CopyLoc = (fromPointer: string, toPointer: string) => void;

function merge(outer: ProxySettingsIR, own: Partial<ProxySettingsIR> | undefined, outerPointer: string, pointer: string, copy: CopyLoc): ProxySettingsIR {
  const result = { ...outer };
  for (const key of Object.keys(outer) as (keyof ProxySettingsIR)[]) {
    if (own && own[key] !== undefined) {
      (result as Record<string, unknown>)[key] = own[key];
    } else {
      copy(`${outerPointer}/settings/${key}`, `${pointer}/settings/${key}`);
    }
  }
  return result;
}

export function resolveInheritance(ir: ConfigIR, top: Partial<ProxySettingsIR>, partials: Partials, copy: CopyLoc): void {
  const base = merge(emptySettings(), top, '', '', () => {});
  ir.servers.forEach((server, i) => {
    const pointer = `/servers/${i}`;
    server.settings = merge(base, partials.get(server), '', pointer, copy);
    resolveLocations(server.locations, server.settings, pointer, partials, copy);
  });
  fillZones(ir, [top, ...ir.servers.map((s) => partials.get(s)), ...allLocations(ir.servers.flatMap((s) => s.locations)).map((l) => partials.get(l))]);
  fillCacheZones(ir);
}

function allLocations(list: LocationIR[]): LocationIR[] {
  return list.flatMap((l) => [l, ...allLocations(l.locations)]);
}

/**
 * `limit_req zone=NAME`, `auth_basic_limit zone=NAME` and `limit_conn NAME N` name a zone that may be defined
 * later in the file: copy the zone's key, rate and size into each use, so that a
 * route carries all it needs. A name with no zone (checks/references.ts reports
 * it) is left as it is.
 */
function fillZones(ir: ConfigIR, levels: Array<Partial<ProxySettingsIR> | undefined>): void {
  const zones = ir.limitZones ?? [];
  if (zones.length === 0) return;
  for (const level of levels) {
    for (const use of level?.limitReq ?? []) {
      const zone = zones.find((z) => z.kind === 'req' && z.name === use.zone);
      if (zone) { use.key = zone.key; use.rate = zone.rate; use.keys = zone.keys; }
    }
    const auth = level?.authBasicLimit;
    if (auth) {
      const zone = zones.find((z) => z.kind === 'req' && z.name === auth.zone);
      if (zone) { auth.key = zone.key; auth.rate = zone.rate; auth.keys = zone.keys; }
    }
    for (const use of level?.limitConn ?? []) {
      const zone = zones.find((z) => z.kind === 'conn' && z.name === use.zone);
      if (zone) { use.key = zone.key; use.keys = zone.keys; }
    }
  }
}

function resolveLocations(locations: LocationIR[], outer: ProxySettingsIR, outerPointer: string, partials: Partials, copy: CopyLoc): void {
  locations.forEach((location, i) => {
    const pointer = `${outerPointer}/locations/${i}`;
    location.settings = merge(outer, partials.get(location), outerPointer, pointer, copy);
    resolveLocations(location.locations, location.settings, pointer, partials, copy);
  });
}
