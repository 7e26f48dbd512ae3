import { describeLocation } from '../checks/check.ts';
import type { ConfigIR, LocationIR, ProxyPassIR, ProxySettingsIR, ReturnIR, ServerIR, TlsIR } from '../ir.ts';
import type { SourceRef } from '../lower.ts';

// The routing model: what codegen, the Plan and `lbconf route` share. It numbers
// the routes (one per location, one "no location" route per server block, or
// one for a server-level `return`), groups server blocks by listener, and
// sorts every listener's server names into nginx's lookup stages.

export interface SourceLine {
  file: string;
  line: number;
  column: number;
}

/** One possible outcome of routing; `route()` returns an index into a table of these. */
export interface Route {
  index: number;
  /** Index of the server block in the IR. */
  server: number;
  /** JSON pointer of the location chosen (`/servers/0/locations/2`), or null when no location applies. */
  location: string | null;
  /** The location as written, e.g. `location ~* \.(png|jpg)$`; null with `location`. */
  text: string | null;
  /** `proxy`: pass to `upstream`; `return`: answer with `return`; `none`: no handler, answer 404. */
  kind: 'proxy' | 'return' | 'none';
  /** The status lbconf answers with itself: the `return` status, 404 for `none`, 0 for `proxy`. */
  status: number;
  upstream: string | null;
  proxyPass: ProxyPassIR | null;
  return: ReturnIR | null;
  /** Headers, timeouts, retry policy and access rules, resolved (inherited) for this location. */
  settings: ProxySettingsIR;
  /** Where the location (or, without one, the server block) is written. */
  source: SourceLine | null;
}

export interface Listener {
  index: number;
  /** `address:port`, IPv6 in brackets: `*:80`, `127.0.0.1:8080`, `[::1]:443`. */
  key: string;
  address: string;
  port: number;
  ssl: boolean;
  /** Server blocks listening here, in file order. */
  servers: number[];
  /** The server block for hosts that match no name: the one marked `default_server`, else the first. */
  defaultServer: number;
}

export interface ServerInfo {
  index: number;
  pointer: string;
  names: string[];
  /** Keys of the listeners this block is on. */
  listen: string[];
  source: SourceLine | null;
  /** The route taken when no location matches (or the server's own `return`). */
  fallback: number;
  /** Certificates, protocols and ciphers of a server with a TLS listener. */
  tls: TlsIR | null;
}

export interface HostNames {
  /** Exact names (lower case) → server; the first block to name a host keeps it. */
  exact: Map<string, { server: number; pointer: string; source: SourceLine | null }>;
  /** `*.example.com` and `.example.com`, longest first. `base` is `example.com`; `bare` is true for `.example.com` (it also matches `example.com`). */
  head: Array<{ base: string; bare: boolean; server: number; name: string; pointer: string; source: SourceLine | null }>;
  /** `www.example.*`, longest first. `base` is `www.example.` (with the dot). */
  tail: Array<{ base: string; server: number; name: string; pointer: string; source: SourceLine | null }>;
  /** `~regex` names in file order; the pattern without `~`, matched case-insensitively. */
  regex: Array<{ pattern: string; server: number; name: string; pointer: string; source: SourceLine | null }>;
}

export interface RoutingModel {
  ir: ConfigIR;
  routes: Route[];
  listeners: Listener[];
  servers: ServerInfo[];
  hosts: HostNames[];
  /** The route of each location. */
  routeOf: Map<LocationIR, number>;
  /** The pointer of each location. */
  pointerOf: Map<LocationIR, string>;
}

export const isPrefixMatch = (l: LocationIR) => l.match === 'prefix' || l.match === 'prefix-no-regex';
export const isRegexMatch = (l: LocationIR) => l.match === 'regex' || l.match === 'regex-nocase';

export function listenKey(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

function sourceOf(locs: Map<string, SourceRef>, pointer: string): SourceLine | null {
  const ref = locs.get(pointer);
  return ref ? { file: ref.span.file, line: ref.span.start.line, column: ref.span.start.column } : null;
}

function routeFor(index: number, server: number, pointer: string | null, owner: ServerIR | LocationIR, location: LocationIR | null, source: SourceLine | null): Route {
  const ret = owner.return;
  const pass = location ? location.proxyPass : null;
  const kind = ret ? 'return' : pass ? 'proxy' : 'none';
  return {
    index,
    server,
    location: pointer,
    text: location ? describeLocation(location) : null,
    kind,
    status: ret ? ret.status : pass ? 0 : 404,
    upstream: kind === 'proxy' ? pass!.upstream : null,
    proxyPass: pass,
    return: ret,
    settings: owner.settings,
    source,
  };
}

export function buildModel(ir: ConfigIR, locs: Map<string, SourceRef> = new Map()): RoutingModel {
  const routes: Route[] = [];
  const routeOf = new Map<LocationIR, number>();
  const pointerOf = new Map<LocationIR, string>();
  const servers: ServerInfo[] = [];

  ir.servers.forEach((server, s) => {
    const pointer = `/servers/${s}`;
    const source = sourceOf(locs, pointer);
    const fallback = routes.length;
    // A server-level `return` answers before any location is looked at, as in nginx.
    routes.push(routeFor(fallback, s, null, server, null, source));
    const walk = (list: LocationIR[], base: string) => {
      list.forEach((l, i) => {
        const p = `${base}/locations/${i}`;
        pointerOf.set(l, p);
        if (!server.return) {
          routeOf.set(l, routes.length);
          routes.push(routeFor(routes.length, s, p, l, l, sourceOf(locs, p)));
        }
        walk(l.locations, p);
      });
    };
    walk(server.locations, pointer);
    servers.push({ index: s, pointer, names: [...server.serverNames], listen: server.listen.map((l) => listenKey(l.address, l.port)), source, fallback, tls: server.tls });
  });

  const listeners: Listener[] = [];
  const byKey = new Map<string, Listener>();
  ir.servers.forEach((server, s) => {
    for (const l of server.listen) {
      const key = listenKey(l.address, l.port);
      let listener = byKey.get(key);
      if (!listener) {
        listener = { index: listeners.length, key, address: l.address, port: l.port, ssl: l.ssl, servers: [], defaultServer: -1 };
        byKey.set(key, listener);
        listeners.push(listener);
      }
      if (!listener.servers.includes(s)) listener.servers.push(s);
      if (l.defaultServer && listener.defaultServer < 0) listener.defaultServer = s;
    }
  });
  for (const l of listeners) if (l.defaultServer < 0) l.defaultServer = l.servers[0];

  const hosts = listeners.map((l) => hostNames(ir, l, locs));
  return { ir, routes, listeners, servers, hosts, routeOf, pointerOf };
}

function hostNames(ir: ConfigIR, listener: Listener, locs: Map<string, SourceRef>): HostNames {
  const names: HostNames = { exact: new Map(), head: [], tail: [], regex: [] };
  for (const s of listener.servers) {
    ir.servers[s].serverNames.forEach((raw, n) => {
      const pointer = `/servers/${s}/serverNames/${n}`;
      const source = sourceOf(locs, pointer) ?? sourceOf(locs, `/servers/${s}`);
      if (raw.startsWith('~')) { names.regex.push({ pattern: raw.slice(1), server: s, name: raw, pointer, source }); return; }
      // Compared as nginx compares hosts: lower case, without a trailing dot.
      const name = raw.toLowerCase().replace(/\.$/, '');
      if (name.startsWith('*.')) names.head.push({ base: name.slice(2), bare: false, server: s, name: raw, pointer, source });
      else if (name.startsWith('.')) names.head.push({ base: name.slice(1), bare: true, server: s, name: raw, pointer, source });
      else if (name.endsWith('.*')) names.tail.push({ base: name.slice(0, -1), server: s, name: raw, pointer, source });
      else if (!names.exact.has(name)) names.exact.set(name, { server: s, pointer, source });
    });
  }
  // Longest first; Array.prototype.sort is stable, so among equals the first written wins.
  names.head.sort((a, b) => b.base.length - a.base.length);
  names.tail.sort((a, b) => b.base.length - a.base.length);
  return names;
}

/** The host as nginx compares it: lower case, without the port, without a trailing dot. */
export function hostKey(host: string): string {
  let end = host.length;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close > 0) end = close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46) end--;
  return host.slice(0, end).toLowerCase();
}

/** The listener a connection on `address:port` belongs to: the exact address first, then `*:port`; -1 if none. */
export function findListener(listeners: readonly Listener[], address: string, port: number): number {
  const key = listenKey(address, port);
  for (const l of listeners) if (l.key === key) return l.index;
  for (const l of listeners) if (l.address === '*' && l.port === port) return l.index;
  return -1;
}
