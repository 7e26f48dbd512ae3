import type { ConfigIR, LocationIR, ServerIR, UpstreamIR } from './ir.ts';

// What changed between two configs, for the one log line a reload writes:
// listeners, server blocks, locations and upstreams added, removed or changed,
// and servers added to or removed from upstreams.

export interface ConfigDiff {
  listeners: { added: string[]; removed: string[] };
  servers: { added: string[]; removed: string[]; changed: string[] };
  locations: { added: string[]; removed: string[]; changed: string[] };
  upstreams: { added: string[]; removed: string[]; changed: string[] };
  /** `upstream/host:port` identities. */
  upstreamServers: { added: string[]; removed: string[] };
}

const listenerKeys = (ir: ConfigIR) => new Set(ir.servers.flatMap((s) => s.listen.map((l) => `${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}${l.ssl ? ' ssl' : ''}`)));

/** A server block is known by its names and listeners. */
function serverKey(s: ServerIR): string {
  return `${s.serverNames.join(' ') || '""'} on ${s.listen.map((l) => `${l.address}:${l.port}`).join(',')}`;
}

function locationKeys(s: ServerIR): Map<string, LocationIR> {
  const out = new Map<string, LocationIR>();
  const walk = (list: LocationIR[], prefix: string) => {
    for (const l of list) {
      const key = `${prefix}${l.match === 'prefix' ? '' : l.match + ' '}${l.path}`;
      out.set(key, l);
      walk(l.locations, key + ' > ');
    }
  };
  walk(s.locations, '');
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function compare<T>(before: Map<string, T>, after: Map<string, T>, changed?: (a: T, b: T) => boolean) {
  const added = [...after.keys()].filter((k) => !before.has(k));
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const changedKeys = changed ? [...after.keys()].filter((k) => before.has(k) && changed(before.get(k)!, after.get(k)!)) : [];
  return { added, removed, changed: changedKeys };
}

export function diffConfigs(before: ConfigIR, after: ConfigIR): ConfigDiff {
  const lb = listenerKeys(before);
  const la = listenerKeys(after);
  const sb = new Map(before.servers.map((s) => [serverKey(s), s]));
  const sa = new Map(after.servers.map((s) => [serverKey(s), s]));
  const servers = compare(sb, sa, (a, b) => !same({ ...a, locations: null }, { ...b, locations: null }));
  const locBefore = new Map<string, LocationIR>();
  const locAfter = new Map<string, LocationIR>();
  for (const [key, s] of sb) for (const [k, l] of locationKeys(s)) locBefore.set(`${key}: ${k}`, l);
  for (const [key, s] of sa) for (const [k, l] of locationKeys(s)) locAfter.set(`${key}: ${k}`, l);
  const locations = compare(locBefore, locAfter, (a, b) => !same({ ...a, locations: null }, { ...b, locations: null }));
  const ub = new Map(before.upstreams.filter((u) => !u.implicit).map((u) => [u.name, u]));
  const ua = new Map(after.upstreams.filter((u) => !u.implicit).map((u) => [u.name, u]));
  const upstreams = compare(ub, ua, (a: UpstreamIR, b: UpstreamIR) => !same(a, b));
  const ids = (ir: ConfigIR) => new Set(ir.upstreams.flatMap((u) => u.servers.map((s) => `${u.name}/${s.address}`)));
  const ib = ids(before);
  const ia = ids(after);
  return {
    listeners: { added: [...la].filter((k) => !lb.has(k)), removed: [...lb].filter((k) => !la.has(k)) },
    servers,
    locations,
    upstreams,
    upstreamServers: { added: [...ia].filter((k) => !ib.has(k)), removed: [...ib].filter((k) => !ia.has(k)) },
  };
}

/** `listeners +1 -0, locations +2 -1 ~1, servers +upstream/10.0.0.3:80`; `no changes` when nothing did. */
export function describeDiff(d: ConfigDiff): string {
  const parts: string[] = [];
  const count = (name: string, x: { added: string[]; removed: string[]; changed?: string[] }) => {
    if (x.added.length || x.removed.length || x.changed?.length) {
      parts.push(`${name} +${x.added.length} -${x.removed.length}${x.changed ? ` ~${x.changed.length}` : ''}`);
    }
  };
  count('listeners', d.listeners);
  count('server blocks', d.servers);
  count('locations', d.locations);
  count('upstreams', d.upstreams);
  if (d.upstreamServers.added.length) parts.push(`servers added: ${d.upstreamServers.added.join(', ')}`);
  if (d.upstreamServers.removed.length) parts.push(`servers removed: ${d.upstreamServers.removed.join(', ')}`);
  return parts.length ? parts.join('; ') : 'no changes';
}
