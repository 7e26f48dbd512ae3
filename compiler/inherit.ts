import type { ConfigIR, LocationIR, ProxySettingsIR, ServerIR } from './ir.ts';

// nginx's inheritance: a setting written at an outer level (top, server, location)
// applies inside unless an inner level writes its own. Lists (`proxy_set_header`,
// `allow`/`deny`) are inherited whole, and only by a level that writes none.

export function emptySettings(): ProxySettingsIR {
  return {
    setHeaders: [],
    connectTimeout: 60_000,
    sendTimeout: 60_000,
    readTimeout: 60_000,
    headerTimeout: 60_000,
    requestTimeout: 0,
    nextUpstream: ['error', 'timeout'],
    nextUpstreamTries: 0,
    nextUpstreamTimeout: 0,
    access: [],
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
}

function resolveLocations(locations: LocationIR[], outer: ProxySettingsIR, outerPointer: string, partials: Partials, copy: CopyLoc): void {
  locations.forEach((location, i) => {
    const pointer = `${outerPointer}/locations/${i}`;
    location.settings = merge(outer, partials.get(location), outerPointer, pointer, copy);
    resolveLocations(location.locations, location.settings, pointer, partials, copy);
  });
}
