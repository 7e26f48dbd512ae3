import type { Route } from '../../compiler/codegen/model.ts';
import type { UpstreamIR } from '../../compiler/ir.ts';
import { AccessRules } from '../core/access-rules.ts';
import { ErrorPages } from '../core/errors.ts';
import { RouteLimits, type ZoneRegistry } from '../filters/limits.ts';
import { BasicAuth } from '../filters/auth.ts';
import { RealIp } from '../filters/real-ip.ts';
import type { RequestFilter } from '../filters/filter.ts';
import { buildFilters } from './pipeline.ts';
import type { HeaderRule } from '../core/headers.ts';
import { Exchange, NEXT_ERROR, NEXT_INVALID_HEADER, NEXT_NON_IDEMPOTENT, NEXT_TIMEOUT, proxy as proxyRequest, type ProxyRoute, type RequestLog } from './proxy.ts';
import type { Template } from '../../compiler/variables.ts';
import { compileHeaderTemplate, compileTemplate, type Evaluate, type HeaderEvaluate } from '../core/template.ts';
import { compressionFilter } from '../filters/compress/filter.ts';
import { PoolRegistry, UpstreamRuntime, type PeerStorage } from './upstream.ts';
import { buildRouteCache, type CacheOrigin, type RouteCache } from '../filters/cache/route.ts';
import type { CacheZones } from '../filters/cache/zones.ts';

// What the runtime keeps for each route of a Plan: everything a request needs,
// prepared once at load (templates compiled, access lists built, upstreams and
// their pools resolved), so the request path only reads fields.

export interface RouteRuntime {
  kind: 'proxy' | 'return' | 'none';
  status: number;
  /** The request features, in the pipeline's order (http/pipeline.ts). */
  filters: RequestFilter[];
  proxy: ProxyRoute | null;
  /** For `return` with a body: its text. */
  text: Evaluate | null;
  /** For a `return` redirect: its Location (null when the request's values cannot be carried in it). */
  location: HeaderEvaluate | null;
  serverName: string;
  /** error_page bodies and server_tokens. */
  pages: ErrorPages;
  /** `add_header` without `always`: on 2xx and 3xx answers only (with it, a filter). */
  addOnSuccess: HeaderRule[] | null;
  /** `proxy_cache`: the location's cache (runtime/filters/cache/), or null. */
  cache: RouteCache | null;
}

/** Headers lbconf hides from every response unless `proxy_pass_header` names them. */
const HIDDEN_BY_DEFAULT = ['server', 'x-powered-by'];

/** Files read while building routes (error pages, user files), shared by the routes that name them. */
export interface LoadCaches {
  pages: Map<string, Buffer>;
  auth: Map<string, BasicAuth>;
  hidden: Map<string, ReadonlySet<string>>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const CONDITIONS: Record<string, number> = { error: NEXT_ERROR, timeout: NEXT_TIMEOUT, invalid_header: NEXT_INVALID_HEADER, non_idempotent: NEXT_NON_IDEMPOTENT };

export interface BuiltRoutes {
  routes: RouteRuntime[];
  upstreams: Map<string, UpstreamRuntime>;
}

/**
 * Builds the runtime side of a Plan. `previous` upstreams carry their live state
 * (health, failures, latency) over by server identity.
 */
export function buildRoutes(
  routes: readonly Route[], upstreamIR: readonly UpstreamIR[], serverNames: (server: number) => string,
  pools: PoolRegistry, previous: ReadonlyMap<string, UpstreamRuntime> = new Map(), zones?: ZoneRegistry, peers?: PeerStorage, cacheZones?: CacheZones,
  log: RequestLog = () => {},
): BuiltRoutes {
  const caches: LoadCaches = { pages: new Map(), auth: new Map(), hidden: new Map() };
  const upstreams = new Map<string, UpstreamRuntime>();
  // The connect timeout belongs to the pool: use the shortest any location asks of this upstream.
  const connectTimeout = new Map<string, number>();
  const scheme = new Map<string, 'http' | 'https'>();
  for (const r of routes) {
    if (r.kind !== 'proxy' || !r.upstream) continue;
    connectTimeout.set(r.upstream, Math.min(connectTimeout.get(r.upstream) ?? Infinity, r.settings.connectTimeout));
    scheme.set(r.upstream, r.proxyPass?.scheme ?? 'http');
  }
  for (const ir of upstreamIR) {
    if (!connectTimeout.has(ir.name)) continue;
    const prev = previous.get(ir.name);
    if (prev && prev.scheme === scheme.get(ir.name) && prev.connectTimeout === connectTimeout.get(ir.name) && JSON.stringify(prev.ir) === JSON.stringify(ir)) {
      // Unchanged upstream: the very same runtime object carries on, so in-flight
      // counts, balancer position, EWMA scores, health and sticky pins are exact across the reload.
      upstreams.set(ir.name, prev);
      continue;
    }
    upstreams.set(ir.name, new UpstreamRuntime(ir, scheme.get(ir.name)!, pools, connectTimeout.get(ir.name)!, prev, peers));
  }
  const built = routes.map((r): RouteRuntime => {
    const s = r.settings;
    const access = s.access.length > 0 ? new AccessRules(s.access) : null;
    const pages = routePages(s, caches);
    const always = s.addHeaders.filter((h) => h.always);
    const onSuccess = s.addHeaders.filter((h) => !h.always);
    const addAlways = always.length > 0 ? always.map(headerRule) : null;
    const addOnSuccess = onSuccess.length > 0 ? onSuccess.map(headerRule) : null;
    const hideKey = `${s.hideHeaders.join(',')}|${s.passHeaders.join(',')}`;
    let hidden = caches.hidden.get(hideKey);
    if (!hidden) {
      hidden = new Set([...HIDDEN_BY_DEFAULT, ...s.hideHeaders].filter((h) => !s.passHeaders.includes(h)));
      caches.hidden.set(hideKey, hidden);
    }
    let proxy: ProxyRoute | null = null;
    if (r.kind === 'proxy' && r.upstream && upstreams.has(r.upstream)) {
      let next = 0;
      const statuses = new Set<number>();
      for (const w of s.nextUpstream) {
        if (w.startsWith('http_')) statuses.add(Number(w.slice(5)));
        else next |= CONDITIONS[w] ?? 0;
      }
      const locationPath = r.text !== null && r.proxyPass?.uri != null && /^location (\^~ )?\//.test(r.text) ? r.text.replace(/^location (\^~ )?/, '') : null;
      proxy = {
        upstream: upstreams.get(r.upstream)!,
        proxyHost: r.upstream,
        headers: s.setHeaders.map(headerRule),
        addHeaders: addOnSuccess,
        rewritePrefix: locationPath,
        rewriteTo: locationPath === null ? null : r.proxyPass!.uri,
        headerTimeout: s.headerTimeout < 0 ? s.readTimeout : s.headerTimeout,
        readTimeout: s.readTimeout,
        sendTimeout: s.sendTimeout,
        clientSendTimeout: s.sendClientTimeout,
        requestTimeout: s.requestTimeout,
        next,
        nextStatuses: statuses,
        nextTries: s.nextUpstreamTries,
        nextTimeout: s.nextUpstreamTimeout,
        hideHeaders: hidden.size > 0 ? hidden : null,
        serverTokens: s.serverTokens,
        pages,
        maxBodySize: s.clientMaxBodySize,
        bodyTimeout: s.clientBodyTimeout,
        compression: compressionFilter(s),
        log,
      };
    }
    const ret = r.return;
    return {
      kind: proxy ? 'proxy' : r.kind === 'proxy' ? 'none' : r.kind,
      status: r.kind === 'proxy' && !proxy ? 502 : r.status,
      filters: buildFilters({
        realIp: s.realIpFrom.length > 0 ? new RealIp(s.realIpFrom, s.realIpHeader, s.realIpRecursive) : null,
        addAlways,
        maxBodySize: s.clientMaxBodySize,
        limits: zones && (s.limitReq.length > 0 || s.limitConn.length > 0) ? new RouteLimits(s.limitReq, s.limitConn, s.limitReqStatus, s.limitConnStatus, zones) : null,
        access,
        auth: authFor(s.authBasic, s.authBasicUserFile, s.authBasicLimit, caches, zones),
      }),
      proxy,
      text: ret?.text && !REDIRECTS.has(ret.status) ? compileTemplate(ret.text) : null,
      location: ret !== null && REDIRECTS.has(ret.status) ? compileHeaderTemplate(ret.text ?? []) : null,
      serverName: serverNames(r.server),
      pages,
      addOnSuccess,
      cache: proxy !== null && cacheZones !== undefined ? buildRouteCache(s, cacheOrigin(proxy), proxy.compression, cacheZones) : null,
    };
  });
  return { routes: built, upstreams };
}

/** The handler the cache wraps: the location's proxying without compression (the cache compresses on the way out to each client). */
function cacheOrigin(route: ProxyRoute): CacheOrigin {
  // Its fetches add neither compression nor add_header: what is stored is what the origin sent; both go on per client.
  const passed: ProxyRoute = route.compression === null ? route : { ...route, compression: null };
  const fetched: ProxyRoute = { ...passed, addHeaders: null };
  return {
    proxyHost: route.proxyHost,
    headers: route.headers,
    addHeaders: route.addHeaders,
    pages: route.pages,
    pass: (ctx, res) => proxyRequest(ctx, res, passed),
    fetch: (ctx, sink, headers) => new Exchange(ctx, sink, fetched, headers).start(),
  };
}

function headerRule(h: { name: string; value: Template }): HeaderRule {
  return { name: h.name.toLowerCase(), display: h.name, value: compileHeaderTemplate(h.value) };
}

/** The error pages of a route's settings; identical settings share one object. */
export function routePages(s: Route['settings'], caches: LoadCaches): ErrorPages {
  return new ErrorPages(s.errorPages, s.serverTokens, caches.pages);
}

function authFor(realm: string | null, file: string | null, limit: Route['settings']['authBasicLimit'], caches: LoadCaches, zones: ZoneRegistry | undefined): BasicAuth | null {
  if (realm === null || file === null) return null;
  // auth_basic_limit counts in a limit_req zone's store (kept across reloads by name, shared by workers).
  const counted = limit !== null && zones !== undefined ? limit : null;
  const key = `${realm}\0${file}\0${counted === null ? '' : `${counted.zone}\0${counted.burst}`}`;
  let auth = caches.auth.get(key);
  if (!auth) {
    auth = new BasicAuth(realm, file, counted === null ? null : { store: zones!.store('req', counted.zone, counted.keys), key: compileTemplate(counted.key), rate: counted.rate, burst: counted.burst });
    caches.auth.set(key, auth);
  }
  return auth;
}
