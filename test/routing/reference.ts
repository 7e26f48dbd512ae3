import type { ConfigIR, LocationIR, ServerIR } from '../../compiler/ir.ts';

// A plain reference interpreter of nginx's server_name and location rules
// (spec/routing.md), written to be obviously right rather than fast: lists are
// walked, strings compared, regexes compiled once and kept in a Map. The generated
// route() must agree with it on every request (test/routing/differential.test.ts),
// and bench/route.ts measures both.

export interface ReferenceDecision {
  server: number;
  /** JSON pointer of the chosen location, or null when none applies (or the server answers with its own `return`). */
  location: string | null;
}

function key(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** The server blocks listening on `listenerKey` (`*:80`), in file order. */
export function serversOn(ir: ConfigIR, listenerKey: string): number[] {
  const out: number[] = [];
  ir.servers.forEach((s, i) => {
    if (s.listen.some((l) => key(l.address, l.port) === listenerKey)) out.push(i);
  });
  return out;
}

export function defaultServer(ir: ConfigIR, listenerKey: string): number {
  for (const i of serversOn(ir, listenerKey)) {
    if (ir.servers[i].listen.some((l) => key(l.address, l.port) === listenerKey && l.defaultServer)) return i;
  }
  return serversOn(ir, listenerKey)[0];
}

/** Lower case, without the port, without a trailing dot. */
export function normalizeHost(host: string): string {
  let h = host;
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    if (close >= 0) h = h.slice(0, close + 1);
  } else if (h.includes(':')) {
    h = h.slice(0, h.indexOf(':'));
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}

const plainName = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** nginx's order: exact name, longest `*.` wildcard, longest `.*` wildcard, regexes in file order, the default server. */
export function referenceServer(ir: ConfigIR, listenerKey: string, rawHost: string): number {
  const host = normalizeHost(rawHost);
  const servers = serversOn(ir, listenerKey);
  const named: Array<{ server: number; name: string }> = [];
  for (const s of servers) for (const name of ir.servers[s].serverNames) named.push({ server: s, name });

  for (const { server, name } of named) {
    if (name.startsWith('~') || name.startsWith('*.') || name.startsWith('.') || name.endsWith('.*')) continue;
    if (plainName(name) === host) return server;
  }

  let best: { server: number; length: number } | null = null;
  for (const { server, name } of named) {
    if (name.startsWith('~')) continue;
    const n = plainName(name);
    let base: string | null = null;
    if (n.startsWith('*.')) base = n.slice(2);
    else if (n.startsWith('.')) base = n.slice(1);
    if (base === null) continue;
    const matches = host.endsWith('.' + base) || (n.startsWith('.') && host === base);
    if (matches && (best === null || base.length > best.length)) best = { server, length: base.length };
  }
  if (best) return best.server;

  for (const { server, name } of named) {
    if (name.startsWith('~')) continue;
    const n = plainName(name);
    if (!n.endsWith('.*') || n.startsWith('*.') || n.startsWith('.')) continue;
    const base = n.slice(0, -1); // keeps the dot: `www.example.`
    if (host.startsWith(base) && host.length > base.length && (best === null || base.length > best.length)) best = { server, length: base.length };
  }
  if (best) return best.server;

  for (const { server, name } of named) {
    if (name.startsWith('~') && re(name.slice(1), 'i').test(host)) return server;
  }
  return defaultServer(ir, listenerKey);
}

interface Found {
  location: LocationIR | null;
  pointer: string | null;
  /** True when the search stops here (an exact match or a regex): nothing outside may change it. */
  final: boolean;
}

// Regexes are compiled on first use and kept, as any interpreter would.
const compiled = new Map<string, RegExp>();
function re(pattern: string, flags: string): RegExp {
  const key = `${flags}/${pattern}`;
  let r = compiled.get(key);
  if (!r) { r = new RegExp(pattern, flags); compiled.set(key, r); }
  return r;
}

function regexMatches(l: LocationIR, path: string): boolean {
  return re(l.path, l.match === 'regex-nocase' ? 'i' : '').test(path);
}

/** ngx_http_core_find_location, as a plain recursion over one level's locations. */
export function referenceFind(locations: LocationIR[], base: string, path: string): Found {
  const at = (i: number) => `${base}/locations/${i}`;
  // 1. An exact location equal to the path ends the search.
  for (let i = 0; i < locations.length; i++) {
    const l = locations[i];
    if (l.match === 'exact' && l.path === path) return { location: l, pointer: at(i), final: true };
  }
  // 2. The longest prefix (the first of equals), then what is nested in it.
  let longest = -1;
  for (let i = 0; i < locations.length; i++) {
    const l = locations[i];
    if ((l.match === 'prefix' || l.match === 'prefix-no-regex') && path.startsWith(l.path)) {
      if (longest < 0 || l.path.length > locations[longest].path.length) longest = i;
    }
  }
  let result: Found = { location: null, pointer: null, final: false };
  let skipRegexes = false;
  if (longest >= 0) {
    const p = locations[longest];
    const inner = referenceFind(p.locations, at(longest), path);
    if (inner.final) return inner;
    result = inner.location ? inner : { location: p, pointer: at(longest), final: false };
    skipRegexes = p.match === 'prefix-no-regex';
  }
  // 3. Unless that prefix is `^~`: the first regex that matches, then what is nested in it.
  if (!skipRegexes) {
    for (let i = 0; i < locations.length; i++) {
      const l = locations[i];
      if ((l.match === 'regex' || l.match === 'regex-nocase') && regexMatches(l, path)) {
        const inner = referenceFind(l.locations, at(i), path);
        return inner.location ? { ...inner, final: true } : { location: l, pointer: at(i), final: true };
      }
    }
  }
  // 4. Else the longest prefix (or what was nested in it), or nothing.
  return result;
}

export function referenceLocation(server: ServerIR, serverIndex: number, path: string): string | null {
  if (server.return) return null;
  return referenceFind(server.locations, `/servers/${serverIndex}`, path).pointer;
}

export function referenceRoute(ir: ConfigIR, listenerKey: string, host: string, path: string): ReferenceDecision {
  const server = referenceServer(ir, listenerKey, host);
  return { server, location: referenceLocation(ir.servers[server], server, path) };
}
