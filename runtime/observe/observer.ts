import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plan } from '../../compiler/plan.ts';
import type { RequestContext } from '../core/context.ts';
import { AccessLogs, type AccessEntry, type AccessLog } from './access-log.ts';
import { Metrics, type MetricsStore, type RouteLabels } from './metrics.ts';

// The end of every request: count it (metrics.ts) and log it (access-log.ts).
// Everything a request needs is prepared per Plan (slots and logs by route
// index); per request there is one `close` listener, a module function that
// finds the request's context through a symbol, and a few array increments.

const kContext = Symbol('lbconf.observe');
const kObserver = Symbol('lbconf.observer');
type Observed = ServerResponse & { [kContext]?: RequestContext; [kObserver]?: GenerationObserver };

function requestDone(this: Observed): void {
  const ctx = this[kContext];
  if (ctx !== undefined) this[kObserver]!.end(ctx, this);
}

/** An upstream as the observer sees it: its name and its servers' addresses, in order. */
export interface UpstreamLabels {
  readonly name: string;
  readonly addresses: readonly string[];
}

/** Body bytes of a response lbconf wrote itself (error pages, `return`): its Content-Length. */
function ownBodyBytes(res: ServerResponse): number {
  // These carry no body, whatever their Content-Length says.
  if (res.req?.method === 'HEAD' || res.statusCode === 304 || res.statusCode === 204) return 0;
  const n = (res as unknown as { _contentLength?: number | null })._contentLength;
  return typeof n === 'number' && n > 0 ? n : 0;
}

/** The client address as a request context would give it (for requests refused before routing). */
function peerAddress(req: IncomingMessage): string {
  const a = req.socket?.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Per upstream: the metric slot of each of its servers. Kept on the UpstreamRuntime, so it lives as long as the upstream does. */
export class UpstreamObserver {
  private readonly store: MetricsStore;
  readonly slots: Int32Array;

  constructor(metrics: Metrics, upstream: UpstreamLabels) {
    this.store = metrics.store;
    this.slots = Int32Array.from(upstream.addresses, (a) => metrics.layout.peerSlot(upstream.name, a));
  }

  /** One try on server `index`: its status (0: no response), time, bytes relayed to the client, and whether it was a retry. */
  attempt(index: number, status: number, seconds: number, bytes: number, retry: boolean): void {
    this.store.attempt(this.slots[index], status, seconds, bytes, retry);
  }
}

/** What one Plan's requests are counted and logged by. */
export class GenerationObserver {
  private readonly store: MetricsStore;
  /** Metric slot by route index. */
  readonly slots: Int32Array;
  /** Cache zone slot by route index (-1: the route does not cache). */
  readonly zoneSlots: Int32Array;
  readonly labels: RouteLabels[];
  /** The access log by route index (null: off). */
  readonly logs: (AccessLog | null)[];
  /** By route index: the addresses of its upstream's servers (for the access log), or null. */
  private readonly servers: ReadonlyArray<readonly string[] | null>;
  /** By listener index: the route of its default server, where requests refused before routing are counted. */
  private readonly fallback: Int32Array;

  constructor(metrics: Metrics, logs: AccessLogs, plan: Plan, upstreams: ReadonlyMap<string, UpstreamLabels>) {
    this.store = metrics.store;
    this.servers = plan.routes.map((r) => (r.upstream ? upstreams.get(r.upstream)?.addresses ?? null : null));
    this.labels = plan.routes.map((r) => ({
      server: plan.servers[r.server].names[0] || '_',
      location: r.text === null ? '' : r.text.replace(/^location /, ''),
      upstream: r.upstream ?? '',
    }));
    this.slots = Int32Array.from(this.labels, (l) => metrics.layout.routeSlot(l));
    // After the route slots and in route order: workers number them as this thread does.
    this.zoneSlots = Int32Array.from(plan.routes, (r) => (r.kind !== 'proxy' || r.settings.cache === null ? -1 : metrics.layout.zoneSlot(r.settings.cache.name)));
    this.zoneSlots.forEach((z, i) => { if (z >= 0) metrics.layout.cacheRoutes.add(this.slots[i]); });
    this.logs = plan.routes.map((r) => logs.open(r.settings.accessLog));
    this.fallback = Int32Array.from(plan.listeners, (l) => plan.servers[l.defaultServer].fallback);
  }

  /** The targets of this Plan's access logs. */
  logTargets(): Set<string> {
    const out = new Set<string>();
    for (const l of this.logs) if (l !== null) out.add(l.target);
    return out;
  }

  /** A routed request starts: it is counted and logged when its response closes. */
  begin(ctx: RequestContext, res: ServerResponse, startedAt: number): void {
    ctx.startedAt = startedAt;
    (res as Observed)[kContext] = ctx;
    (res as Observed)[kObserver] = this;
    res.on('close', requestDone);
    // Its log line is owed: the log stays open for it, whatever reloads happen meanwhile.
    this.logs[ctx.routeIndex]?.hold();
  }

  /** @internal: the response of a routed request closed. */
  end(ctx: RequestContext, res: ServerResponse): void {
    const route = ctx.routeIndex;
    const status = res.headersSent ? res.statusCode : 499;
    const seconds = (performance.now() - ctx.startedAt) / 1000;
    const bytes = ctx.bytesSent > 0 ? ctx.bytesSent : ownBodyBytes(res);
    this.store.request(this.slots[route], status, seconds, bytes);
    if (ctx.cacheOutcome >= 0) this.cache(ctx, ctx.cacheOutcome);
    const log = this.logs[route];
    if (log === null) return;
    const labels = this.labels[route];
    const servers = this.servers[route];
    log.write({
      req: ctx.req, res, remoteAddr: ctx.remoteAddr, status, bytes, seconds, serverName: ctx.serverName,
      location: labels.location, upstream: labels.upstream, upstreamAddr: servers !== null && ctx.peer >= 0 ? servers[ctx.peer] ?? '' : '',
    });
    log.release();
  }

  /** Counts a cache outcome (an index of CACHE_STATUSES, metrics.ts) for this request's route and zone. */
  private cache(ctx: RequestContext, status: number): void {
    const r = ctx.routeIndex;
    if (r >= 0 && this.zoneSlots[r] >= 0) this.store.cache(this.slots[r], this.zoneSlots[r], status);
  }

  /** A request refused before routing (malformed, too large): counted and logged under its listener's default server. */
  early(listener: number, req: IncomingMessage, res: ServerResponse, startedAt: number): void {
    const route = this.fallback[listener];
    const status = res.headersSent ? res.statusCode : 499;
    const seconds = (performance.now() - startedAt) / 1000;
    const bytes = ownBodyBytes(res);
    this.store.request(this.slots[route], status, seconds, bytes);
    const log = this.logs[route];
    if (log === null) return;
    const entry: AccessEntry = { req, res, remoteAddr: peerAddress(req), status, bytes, seconds, serverName: this.labels[route].server, location: '', upstream: '', upstreamAddr: '' };
    log.write(entry);
  }
}

/** A ProxyRuntime's counters and access logs; they outlive every Plan. */
export class Observer {
  readonly metrics: Metrics;
  readonly accessLogs: AccessLogs;

  constructor(metrics: Metrics = new Metrics(), onError: (err: Error) => void = () => {}) {
    this.metrics = metrics;
    this.accessLogs = new AccessLogs(onError);
  }

  /** Prepares a Plan's slots and logs, and gives upstreams seen for the first time their slots. */
  generation(plan: Plan, upstreams: ReadonlyMap<string, UpstreamLabels & { observe: UpstreamObserver | null }>): GenerationObserver {
    for (const u of upstreams.values()) u.observe ??= new UpstreamObserver(this.metrics, u);
    return new GenerationObserver(this.metrics, this.accessLogs, plan, upstreams);
  }

  /** After a swap: close the access logs the running Plan no longer names. */
  retain(active: GenerationObserver): Promise<void> {
    return this.accessLogs.retain(active.logTargets());
  }

  listenerSlot(key: string): number {
    return this.metrics.layout.listenerSlot(key);
  }

  close(): Promise<void> {
    return this.accessLogs.close();
  }
}
