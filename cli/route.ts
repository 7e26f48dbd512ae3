import { checkFile, type CheckResult } from '../compiler/check.ts';
import { explain, type Explanation } from '../compiler/codegen/explain.ts';
import { buildModel, type Listener, type RoutingModel } from '../compiler/codegen/model.ts';
import type { AccessRuleIR, UpstreamIR } from '../compiler/ir.ts';
import { compilePlan, type Plan, type Route } from '../compiler/plan.ts';
import type { Template } from '../compiler/variables.ts';
import { normalizePathDetailed } from '../runtime/core/normalize-path.ts';
import { renderReport } from './render.ts';
import { oneOf, parse, UsageError } from './usage.ts';

export const routeHelp = `Usage: lbconf route [options] FILE [METHOD] URL

Explains how the config routes one request, without running anything: the
server block chosen and why, the locations tried in order with the result of
each, the location chosen (file:line), the upstream and balancing method that
would serve it, and the headers that would be set.

URL is http://host[:port]/path?query (the port picks the listener; the host is
the Host header), or just /path?query with -H 'Host: ...'. METHOD defaults to GET.

Options:
  -H, --header 'Name: value'  a request header; only Host changes routing
  --listen ADDR:PORT          the listener the request arrives on (default: the
                              URL's port, on any address)
  --format text|json          how to print the decision (default text)
  -h, --help                  show this help

Exit status: 0 explained (whatever the outcome), 1 the config has errors,
2 usage error or unreadable file.`;

export interface Loaded {
  check: CheckResult;
  model: RoutingModel;
  plan: Plan;
}

/** Checks and compiles a config; on errors prints them and returns exit status 1. */
export function loadConfigForRouting(file: string, out: (s: string) => void, color: boolean): Loaded | number {
  const check = checkFile(file);
  const errors = check.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    out(`${renderReport(errors, check.files, { color })}; nothing routed`);
    return 1;
  }
  const { plan } = compilePlan(check);
  return { check, model: buildModel(check.ir, check.locs), plan };
}

export interface RequestSpec {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  /** `ADDR:PORT` of the listener, when given. */
  listen?: string;
}

export interface Decision {
  method: string;
  url: string;
  /** The Host header value routing saw. */
  host: string;
  listener: Listener;
  /** The request target: path and query as sent. */
  target: string;
  /** The normalized path, or the reason the path is refused with 400. */
  path: { ok: true; path: string } | { ok: false; error: string };
  explanation: Explanation | null;
  route: Route | null;
  /** What lbconf would answer itself (400, 404, a `return` status), or 0 when it proxies. */
  status: number;
}

const URL_RE = /^(https?):\/\/([^/?#]*)(.*)$/i;

/**
 * Decides one request the way the runtime would: listener from the port, Host
 * from the URL (or a Host header), path normalized, then the Plan's route().
 * Returns a message when the request cannot be made (no such listener, bad URL).
 */
export function decide(loaded: Loaded, req: RequestSpec): Decision | string {
  const { plan, model } = loaded;
  let scheme = 'http';
  let authority: string | null = null;
  let target = req.url;
  const m = URL_RE.exec(req.url);
  if (m) {
    scheme = m[1].toLowerCase();
    authority = m[2].replace(/^[^@]*@/, '');
    target = m[3] === '' ? '/' : m[3];
  } else if (!req.url.startsWith('/')) {
    return `'${req.url}' is not a URL: write http://host/path or /path`;
  }
  target = target.replace(/#.*$/, '');
  try {
    // Non-ASCII characters travel percent-encoded (UTF-8), as a client sends them.
    target = target.replace(/[^\x00-\x7f]+/g, (s) => encodeURIComponent(s));
  } catch {
    return `'${req.url}' has an unpaired surrogate`;
  }
  const hostHeader = req.headers.find(([n]) => n.toLowerCase() === 'host')?.[1];
  const host = hostHeader ?? authority ?? '';
  let port = scheme === 'https' ? 443 : 80;
  if (authority !== null) {
    const pm = /:(\d+)$/.exec(authority);
    if (pm && !/^\[[^\]]*$/.test(authority)) port = Number(pm[1]);
  }
  let listener: Listener | undefined;
  if (req.listen !== undefined) {
    listener = plan.listeners.find((l) => l.key === req.listen) ?? plan.listeners.find((l) => l.key === `*:${/:(\d+)$/.exec(req.listen!)?.[1]}`);
    if (!listener) return `no server block listens on ${req.listen}; the listeners are ${plan.listeners.map((l) => l.key).join(', ')}`;
  } else {
    if (authority === null && plan.listeners.length > 0 && !plan.listeners.some((l) => l.port === port)) port = plan.listeners[0].port;
    listener = plan.listeners.find((l) => l.address === '*' && l.port === port) ?? plan.listeners.find((l) => l.port === port);
    if (!listener) return `no server block listens on port ${port}; the listeners are ${plan.listeners.map((l) => l.key).join(', ') || 'none'}`;
  }
  const path = normalizePathDetailed(target);
  const base = { method: req.method, url: req.url, host, listener, target };
  if (!path.ok) return { ...base, path, explanation: null, route: null, status: 400 };
  const index = plan.route(listener.index, host, path.path);
  const explanation = explain(model, listener.index, host, path.path);
  if (explanation.route !== index) {
    throw new Error(`route() chose route ${index} but the explanation reached ${explanation.route} for ${req.url}: please report this`);
  }
  const route = plan.routes[index];
  return { ...base, path, explanation, route, status: route.status };
}

// ---- rendering ----

/** A template as one would write it: `$var`, or `${var}` where a letter follows. */
export function templateText(t: Template): string {
  return t.map((p, i) => {
    if (typeof p === 'string') return p.replaceAll('$', '\\$');
    const next = t[i + 1];
    return typeof next === 'string' && /^[A-Za-z0-9_]/.test(next) ? `\${${p.var}}` : `$${p.var}`;
  }).join('');
}

export function duration(ms: number): string {
  if (ms === 0) return 'off';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const where = (s: { file: string; line: number } | null) => (s ? `${s.file}:${s.line}` : '?');

function upstreamText(u: UpstreamIR | undefined, name: string): string {
  if (!u) return name;
  const method = u.method.kind === 'hash' ? `hash ${templateText(u.method.key)}${u.method.consistent ? ' consistent' : ''}` : u.method.kind === 'random' && u.method.two ? 'random two' : u.method.kind;
  const servers = u.servers.map((s) => `${s.address}${s.weight !== 1 ? ` weight=${s.weight}` : ''}${s.backup ? ' backup' : ''}${s.down ? ' down' : ''}`).join(', ');
  return `${u.implicit ? `${name} (written in place)` : name}, ${method}: ${servers}`;
}

const accessText = (rules: AccessRuleIR[]) => rules.map((r) => `${r.action} ${r.source}`).join('; ');

export function renderDecision(d: Decision, loaded: Loaded): string {
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(10)} ${text}`);
  const more = (text: string) => lines.push(`${''.padEnd(10)} ${text}`);
  lines.push(`${d.method} ${d.url}`);
  lines.push('');
  row('listener', d.listener.key + (d.listener.ssl ? ' ssl' : ''));
  row('host', d.host === '' ? '(none)' : d.host);
  if (!d.path.ok) {
    row('path', d.target);
    row('answer', `400 Bad Request: ${d.path.error}`);
    return lines.join('\n');
  }
  const e = d.explanation!;
  const server = loaded.model.servers[e.host.server];
  row('server', `${where(server.source)}  server_name ${server.names.map((n) => (n === '' ? '""' : n)).join(' ')}`);
  more(`why: ${e.host.why}`);
  row('path', d.path.path === d.target ? d.path.path : `${d.path.path}  (normalized from ${d.target})`);
  if (e.steps.length > 0) {
    row('tried', '');
    lines.pop();
    lines.push('locations, in the order the rules try them:');
    const width = Math.min(40, Math.max(...e.steps.map((s) => s.text.length - 'location '.length + 2 * s.depth)));
    const sourceWidth = Math.max(...e.steps.map((s) => where(s.source).length));
    for (const s of e.steps) {
      const text = '  '.repeat(s.depth) + s.text.slice('location '.length);
      lines.push(`  ${s.matched ? '+' : '-'} ${text.padEnd(width)}  ${where(s.source).padEnd(sourceWidth)}  ${s.result}`);
    }
  }
  const r = d.route!;
  row('chosen', r.text ? `${r.text}  (${where(r.source)})` : r.kind === 'return' ? `the server block's own return (${where(r.source)})` : 'no location');
  more(`why: ${e.why}`);
  if (r.kind === 'proxy') {
    const u = loaded.plan.upstreams.find((x) => x.name === r.upstream);
    row('upstream', upstreamText(u, r.upstream!));
    row('proxy', `${r.proxyPass!.scheme}://${r.proxyPass!.upstream}${r.proxyPass!.uri ?? ''}${r.proxyPass!.uri !== null ? `  (the matched prefix is replaced by ${r.proxyPass!.uri})` : ''}`);
  } else if (r.kind === 'return') {
    row('answer', `return ${r.return!.status}${r.return!.text ? ` ${templateText(r.return!.text)}` : ''}`);
  } else {
    row('answer', '404 Not Found (no proxy_pass or return here)');
  }
  const s = r.settings;
  if (s.setHeaders.length) {
    row('headers', `${s.setHeaders[0].name}: ${templateText(s.setHeaders[0].value)}`);
    for (const h of s.setHeaders.slice(1)) more(`${h.name}: ${templateText(h.value)}`);
  }
  if (s.access.length) row('access', accessText(s.access) + '  (checked by the runtime, first match wins)');
  if (r.kind === 'proxy') {
    row('timeouts', `connect ${duration(s.connectTimeout)}, send ${duration(s.sendTimeout)}, read ${duration(s.readTimeout)}, header ${s.headerTimeout < 0 ? `${duration(s.readTimeout)} (proxy_read_timeout)` : duration(s.headerTimeout)}, request ${duration(s.requestTimeout)}`);
    row('retry', s.nextUpstream.length ? `next upstream on ${s.nextUpstream.join(' ')}; tries ${s.nextUpstreamTries || 'unlimited'}; timeout ${duration(s.nextUpstreamTimeout)}` : 'off');
  }
  return lines.join('\n');
}

export function decisionJson(d: Decision, loaded: Loaded): object {
  const base = { method: d.method, url: d.url, host: d.host, listener: d.listener.key, target: d.target };
  if (!d.path.ok) return { ...base, status: 400, error: d.path.error };
  const e = d.explanation!;
  const r = d.route!;
  const server = loaded.model.servers[e.host.server];
  return {
    ...base,
    path: d.path.path,
    server: { index: server.index, names: server.names, source: server.source, stage: e.host.stage, name: e.host.name, why: e.host.why },
    steps: e.steps.map((s) => ({ depth: s.depth, location: s.text, pointer: s.pointer, source: s.source, matched: s.matched, result: s.result })),
    route: r.index,
    location: r.location === null ? null : { text: r.text, pointer: r.location, source: r.source },
    why: e.why,
    kind: r.kind,
    status: r.status,
    upstream: r.kind === 'proxy' ? { name: r.upstream, proxyPass: r.proxyPass, config: loaded.plan.upstreams.find((x) => x.name === r.upstream) ?? null } : null,
    return: r.return ? { status: r.return.status, text: r.return.text ? templateText(r.return.text) : null } : null,
    headers: r.settings.setHeaders.map((h) => ({ name: h.name, value: templateText(h.value) })),
    access: r.settings.access,
    settings: r.settings,
  };
}

export function runRoute(argv: string[], out: (s: string) => void, color: boolean): number {
  const { values, positionals } = parse(argv, { header: { type: 'string', short: 'H', multiple: true }, listen: { type: 'string' }, format: { type: 'string' } });
  if (values.help) { out(routeHelp); return 0; }
  const format = oneOf(values.format as string | undefined, ['text', 'json'] as const, '--format', 'text');
  if (positionals.length < 2 || positionals.length > 3) throw new UsageError('lbconf route needs FILE [METHOD] URL');
  const [file, ...rest] = positionals;
  const method = rest.length === 2 ? rest[0] : 'GET';
  const url = rest[rest.length - 1];
  if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`'${method}' is not an HTTP method`);
  const headers: Array<[string, string]> = [];
  for (const h of (values.header as string[] | undefined) ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new UsageError(`-H takes 'Name: value', not '${h}'`);
    headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
  }
  const listen = values.listen as string | undefined;
  if (listen !== undefined && !/^(\*|[0-9.]+|\[[0-9a-fA-F:.]+\]):\d+$/.test(listen)) throw new UsageError(`--listen takes ADDR:PORT, as in *:80 or 127.0.0.1:8080, not '${listen}'`);
  const loaded = loadConfigForRouting(file, out, color);
  if (typeof loaded === 'number') return loaded;
  const d = decide(loaded, { method: method.toUpperCase(), url, headers, listen });
  if (typeof d === 'string') throw new UsageError(d);
  out(format === 'json' ? JSON.stringify(decisionJson(d, loaded), null, 2) : renderDecision(d, loaded));
  return 0;
}
