import type { LocationIR } from '../ir.ts';
import { hostKey, isPrefixMatch, isRegexMatch, type RoutingModel, type SourceLine } from './model.ts';

// One routing decision, told step by step, for `lbconf route` and `lbconf test`.
// This walks the rules of spec/routing.md over the IR; it is not the hot path.
// The CLI checks that it reaches the same route as the generated route().

export type HostStage = 'exact' | 'wildcard-head' | 'wildcard-tail' | 'regex' | 'default';

export interface HostChoice {
  raw: string;
  /** As compared: lower case, no port, no trailing dot. */
  normalized: string;
  server: number;
  stage: HostStage;
  /** The server_name that matched, as written; null for the default server. */
  name: string | null;
  source: SourceLine | null;
  why: string;
}

export interface LocationStep {
  /** Nesting depth: 0 for the server's own locations. */
  depth: number;
  pointer: string;
  text: string;
  source: SourceLine | null;
  matched: boolean;
  result: string;
}

export interface Explanation {
  listener: number;
  host: HostChoice;
  path: string;
  steps: LocationStep[];
  route: number;
  why: string;
}

const at = (s: SourceLine | null) => (s ? `${s.file}:${s.line}` : '?');

export function explainHost(model: RoutingModel, listener: number, raw: string): HostChoice {
  const l = model.listeners[listener];
  const names = model.hosts[listener];
  const h = hostKey(raw);
  const base = { raw, normalized: h };
  const exact = names.exact.get(h);
  const several = l.servers.length > 1;
  if (!several) {
    return { ...base, server: l.servers[0], stage: 'default', name: null, source: model.servers[l.servers[0]].source, why: `the only server block listening on ${l.key}` };
  }
  if (exact) return { ...base, server: exact.server, stage: 'exact', name: h, source: exact.source, why: `exact server_name ${h === '' ? '""' : h}` };
  for (const n of names.head) {
    if (h.endsWith('.' + n.base) || (n.bare && h === n.base)) return { ...base, server: n.server, stage: 'wildcard-head', name: n.name, source: n.source, why: `wildcard server_name ${n.name} (the longest matching leading wildcard)` };
  }
  for (const n of names.tail) {
    if (h.length > n.base.length && h.startsWith(n.base)) return { ...base, server: n.server, stage: 'wildcard-tail', name: n.name, source: n.source, why: `wildcard server_name ${n.name} (the longest matching trailing wildcard)` };
  }
  for (const n of names.regex) {
    if (new RegExp(n.pattern, 'i').test(h)) return { ...base, server: n.server, stage: 'regex', name: n.name, source: n.source, why: `regex server_name ${n.name} (the first regex name that matches)` };
  }
  const d = l.defaultServer;
  const marked = model.ir.servers[d].listen.some((x) => x.defaultServer);
  return { ...base, server: d, stage: 'default', name: null, source: model.servers[d].source, why: `no server_name matches ${JSON.stringify(h)}: the default server of ${l.key}${marked ? ' (default_server)' : ' (the first block listening there)'}` };
}

interface Found {
  location: LocationIR | null;
  final: boolean;
  why: string;
}

export function explain(model: RoutingModel, listener: number, host: string, path: string): Explanation {
  const choice = explainHost(model, listener, host);
  const server = model.ir.servers[choice.server];
  const info = model.servers[choice.server];
  const steps: LocationStep[] = [];
  if (server.return) {
    return { listener, host: choice, path, steps, route: info.fallback, why: `the server block answers every request with its own \`return ${server.return.status}\`` };
  }
  const step = (depth: number, l: LocationIR, matched: boolean, result: string) => {
    const r = model.routes[model.routeOf.get(l)!];
    steps.push({ depth, pointer: model.pointerOf.get(l)!, text: r.text!, source: r.source, matched, result });
  };
  const describe = (l: LocationIR) => `\`${model.routes[model.routeOf.get(l)!].text}\``;

  const find = (list: LocationIR[], depth: number): Found => {
    for (const l of list) {
      if (l.match !== 'exact') continue;
      if (l.path === path) { step(depth, l, true, 'equal: chosen, an exact match ends the search'); return { location: l, final: true, why: 'an exact match' }; }
      step(depth, l, false, 'not equal');
    }
    let longest: LocationIR | null = null;
    for (const l of list) {
      if (!isPrefixMatch(l)) continue;
      const ok = path.startsWith(l.path);
      if (ok && (longest === null || l.path.length > longest.path.length)) longest = l;
      step(depth, l, ok, ok ? `prefix matches (${l.path.length} character${l.path.length === 1 ? '' : 's'})` : 'prefix does not match');
    }
    let result: Found = { location: null, final: false, why: 'no location matches' };
    let skip = false;
    if (longest) {
      const r = steps.find((s) => s.pointer === model.pointerOf.get(longest!));
      if (r) r.result += ', the longest';
      if (longest.locations.length > 0) {
        const inner = find(longest.locations, depth + 1);
        if (inner.final) return inner;
        if (inner.location) result = inner;
      }
      if (!result.location) result = { location: longest, final: false, why: 'the longest prefix' };
      skip = longest.match === 'prefix-no-regex';
    }
    const regexes = list.filter(isRegexMatch);
    if (skip) {
      if (regexes.length) result = { ...result, why: `${result.why}; its \`^~\` skips the regexes` };
      return result;
    }
    for (const l of regexes) {
      const ok = new RegExp(l.path, l.match === 'regex-nocase' ? 'i' : '').test(path);
      if (!ok) { step(depth, l, false, 'regex does not match'); continue; }
      step(depth, l, true, result.location ? `regex matches: chosen over ${describe(result.location)}, regexes win over a plain prefix` : 'regex matches: chosen');
      if (l.locations.length > 0) {
        const inner = find(l.locations, depth + 1);
        if (inner.location) return { ...inner, final: true };
      }
      return { location: l, final: true, why: 'the first regex that matches, in file order' };
    }
    if (result.location && regexes.length) result = { ...result, why: `${result.why}, as no regex matches` };
    return result;
  };

  const found = find(server.locations, 0);
  const route = found.location ? model.routeOf.get(found.location)! : info.fallback;
  const why = found.location ? found.why : 'no location matches: lbconf answers 404';
  return { listener, host: choice, path, steps, route, why };
}

export function describeSource(s: SourceLine | null): string {
  return at(s);
}
