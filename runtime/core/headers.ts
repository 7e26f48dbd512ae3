import type { IncomingHttpHeaders } from 'node:http';
import type { RequestContext } from './context.ts';
import type { HeaderEvaluate } from './template.ts';

// The header pipeline, in this order (RFC 9110 §7.6.1):
//   1. read the client's Connection header: the names it lists are hop-by-hop;
//   2. drop those and the standard hop-by-hop headers, and every Proxy-* header;
//   3. only then add lbconf's own: Host, X-Forwarded-*, Via, proxy_set_header.
// Doing 3 after 2 means no client can strip a header the proxy adds by naming
// it in Connection.

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** Headers lbconf writes itself; a client's copy is dropped, not forwarded. */
const OWN = new Set(['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via']);

export interface HeaderRule {
  /** Lower case. */
  name: string;
  /** The name as configured, sent as written. */
  display: string;
  /** null: the request's values cannot be carried in a header (runtime/core/field-value.ts). */
  value: HeaderEvaluate;
}

function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const tokens = new Set<string>();
  for (const line of Array.isArray(value) ? value : [value]) {
    for (const token of line.split(',')) {
      const t = token.trim().toLowerCase();
      if (t) tokens.add(t);
    }
  }
  return tokens;
}

function isHopByHop(name: string, listed: Set<string> | null): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-') || (listed !== null && listed.has(name));
}

/**
 * The headers for the upstream request, as a flat [name, value, …] list.
 * `host` is nginx's default `$proxy_host` unless a rule sets Host. null when a
 * `proxy_set_header` value made from the request cannot be carried (the caller answers 400).
 */
export function upstreamRequestHeaders(ctx: RequestContext, rules: readonly HeaderRule[]): string[] | null {
  const raw = ctx.req.rawHeaders;
  const listed = connectionTokens(ctx.req.headers.connection);
  const out: string[] = [];
  let via = '';
  /** Where the Cookie field is in `out`, once there is one. */
  let cookie = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are not headers upstream.
    if (name.charCodeAt(0) === 58 || isHopByHop(name, listed)) continue;
    // HTTP/2 splits cookies over several fields; HTTP/1.1 allows one (RFC 9113 §8.2.3, RFC 6265 §5.4): joined with "; ".
    if (name === 'cookie' && !(rules.length > 0 && ruleFor(rules, name))) {
      if (cookie < 0) { cookie = out.length + 1; out.push(raw[i], raw[i + 1]); } else out[cookie] += `; ${raw[i + 1]}`;
      continue;
    }
    // Node answered `Expect: 100-continue` already; undici cannot send it (and refuses the request).
    if (name === 'expect') continue;
    if (OWN.has(name)) {
      if (name === 'via') via = via ? `${via}, ${raw[i + 1]}` : raw[i + 1];
      continue;
    }
    if (rules.length > 0 && ruleFor(rules, name)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  let setHost = false;
  let setForwardedFor = false;
  for (const rule of rules) {
    const value = rule.value(ctx);
    if (value === null) return null;
    if (rule.name === 'host') setHost = true;
    if (rule.name === 'x-forwarded-for') setForwardedFor = true;
    // As in nginx, an empty value removes the header.
    if (value !== '') out.push(rule.display, value);
  }
  if (!setHost) out.push('host', ctx.proxyHost);
  if (!setForwardedFor) out.push('x-forwarded-for', ctx.forwardedFor());
  if (!ruleFor(rules, 'x-forwarded-proto')) out.push('x-forwarded-proto', ctx.scheme);
  // The host the client asked for: the Host header, or the authority of an absolute-form target (which replaces it).
  if (!ruleFor(rules, 'x-forwarded-host') && ctx.rawHost) out.push('x-forwarded-host', ctx.rawHost);
  out.push('via', via ? `${via}, 1.1 lbconf` : '1.1 lbconf');
  return out;
}

function ruleFor(rules: readonly HeaderRule[], name: string): boolean {
  for (let i = 0; i < rules.length; i++) if (rules[i].name === name) return true;
  return false;
}

/** The upstream's response headers for the client: hop-by-hop and hidden ones removed, as a flat list for writeHead. `server` adds `Server: lbconf`. */
export function clientResponseHeaders(headers: IncomingHttpHeaders, hide: ReadonlySet<string> | null, server = false): string[] {
  const listed = connectionTokens(headers.connection);
  const out: string[] = [];
  for (const name in headers) {
    if (isHopByHop(name, listed) || (hide !== null && hide.has(name))) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  if (server) out.push('server', 'lbconf');
  return out;
}

/** The statuses nginx's `add_header` applies to without `always`. */
const ADD_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

/**
 * `add_header` rules for a response of `status`, appended to a flat header
 * list. false when a value made from the request cannot be carried (the caller answers 400 instead).
 */
export function addResponseHeaders(out: string[], rules: readonly HeaderRule[] | null, status: number, ctx: RequestContext): boolean {
  if (rules === null || !ADD_STATUSES.has(status)) return true;
  for (let i = 0; i < rules.length; i++) {
    const value = rules[i].value(ctx);
    if (value === null) return false;
    if (value !== '') out.push(rules[i].display, value);
  }
  return true;
}
