import type { ProxySettingsIR } from '../../compiler/ir.ts';
import type { Listener, Plan } from '../../compiler/plan.ts';
import { ZoneRegistry } from '../filters/limits.ts';
import { HealthChecker, type HealthEvent } from '../upstream/health/checker.ts';
import { HttpProbe } from '../http/health-probe.ts';
import { CacheZones } from '../filters/cache/zones.ts';
import { TlsContexts } from '../transport/tls.ts';
import { buildRoutes, type RouteRuntime } from '../http/routes.ts';
import { HttpFront, type Generation, type ListenerLimits } from '../http/front.ts';
import { PoolRegistry, type PeerStorage, type UpstreamRuntime } from '../http/upstream.ts';
import type { Metrics } from '../observe/metrics.ts';
import { Observer } from '../observe/observer.ts';

// Config generations and the swap: load() makes a Plan ready to serve (routes,
// upstream state carried over, health checks, new listeners), then swaps it in.
// The active generation is one object swapped in a single assignment; the HTTP
// front (http/front.ts) reads it per request, so a request keeps the generation
// it started on. The registries here (pools, zones, caches, health, counters)
// outlive every Plan.

/** The settings that apply to a listener: those of its default server block (as nginx does for client_header_timeout and header buffers). */
function listenerSettings(plan: Plan, l: Listener): ProxySettingsIR {
  return plan.routes[plan.servers[l.defaultServer].fallback].settings;
}

export interface RuntimeOptions {
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** Add `x-lbconf-generation` to responses (for tests and debugging reloads). */
  exposeGeneration?: boolean;
  /** Where requests are counted (runtime/observe/metrics.ts); workers pass one over their SharedArrayBuffer. */
  metrics?: Metrics;
  // Worker mode (runtime/worker/): the main thread's runtime holds the shared state and
  // runs the health checks but opens no listeners; each worker's runtime listens with
  // SO_REUSEPORT, runs no checks, and attaches to the main thread's shared memory.
  /** Where each upstream's PeerSet lives (default: a private buffer). */
  peers?: PeerStorage;
  /** limit_req/limit_conn state (default: in-process stores). */
  zones?: ZoneRegistry;
  /** Open the Plan's listeners (default true). */
  listen?: boolean;
  /** Run active health checks (default true). */
  healthChecks?: boolean;
  /** Listen with SO_REUSEPORT, beside other threads on the same ports. */
  reusePort?: boolean;
  /** Add `x-lbconf-worker: NAME` to responses (for tests and debugging workers). */
  exposeWorker?: string;
}

/** A Plan made ready to serve by prepare(): commit() swaps it in, abort() undoes it. */
export interface PreparedLoad {
  /** The Plan's upstreams (under workers, their PeerSets are the shared state to send). */
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  commit(): void;
  abort(): void;
}

const NO_CHECKS = { commit() {}, discard() {} };

export class ProxyRuntime {
  private active: Generation | null = null;
  /** The TLS contexts of a Plan being loaded, for listeners it opens before the swap. */
  private loadingTls: TlsContexts | null = null;
  private generationCount = 0;
  readonly pools = new PoolRegistry();
  /** limit_req and limit_conn state, by zone name: it survives reloads. */
  readonly zones: ZoneRegistry;
  /** The HTTP cache stores, by zone name: they survive reloads. `cacheZones.purge(zone, key)` is for the admin API. */
  readonly cacheZones = new CacheZones();
  readonly health: HealthChecker<UpstreamRuntime>;
  /** Request counters and access logs (runtime/observe/). */
  readonly observer: Observer;
  private readonly options: RuntimeOptions;
  /** The listeners and the request path: they serve whatever `active` is when a request arrives. */
  private readonly front: HttpFront;

  constructor(options: RuntimeOptions = {}) {
    this.options = options;
    this.zones = options.zones ?? new ZoneRegistry();
    this.health = new HealthChecker<UpstreamRuntime>(new HttpProbe(), (e: HealthEvent) => this.log(e.healthy ? 'info' : 'warn', `server ${e.id} is ${e.healthy ? 'healthy again' : 'unhealthy'}: ${e.reason}`, { event: 'health', server: e.id, healthy: e.healthy, reason: e.reason }));
    this.observer = new Observer(options.metrics, (err) => this.log('error', err.message));
    this.front = new HttpFront({
      current: () => this.active,
      loadingTls: () => this.loadingTls,
      observer: this.observer,
      log: this.requestLog,
      exposeGeneration: options.exposeGeneration,
      exposeWorker: options.exposeWorker,
      reusePort: options.reusePort,
    });
  }

  /** The Plan being served, or null before the first load. */
  get plan(): Plan | null {
    return this.active?.plan ?? null;
  }

  get metrics(): Metrics {
    return this.observer.metrics;
  }

  private log(level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.options.log?.(level, message, fields);
  }

  /** What the request path logs through (http/proxy.ts, http/front.ts): the runtime's log, bound once. */
  private readonly requestLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void => this.log(level, message, fields);

  get generation(): number {
    return this.active?.id ?? 0;
  }

  get upstreams(): ReadonlyMap<string, UpstreamRuntime> {
    return this.active?.upstreams ?? new Map();
  }

  /** The addresses actually bound, by listener key (ports resolved when the config says 0). */
  addresses(): Map<string, { address: string; port: number }> {
    return this.front.addresses();
  }

  /**
   * Serves `plan`: builds its routes, carries upstream state over by identity,
   * runs health checks (waiting for `initial=checked` ones), opens new listeners,
   * then swaps it in. Listeners the new Plan does not have stop accepting.
   */
  async load(plan: Plan): Promise<void> {
    (await this.prepare(plan)).commit();
  }

  /**
   * load() in two steps, so a reload can be atomic across workers: prepare does
   * everything that can fail or take time (certificates, routes, initial health
   * checks, opening new listeners) without changing what is served; commit()
   * swaps the Plan in; abort() undoes the preparation. `id` sets the generation
   * number (workers take the main thread's).
   */
  async prepare(plan: Plan, id?: number): Promise<PreparedLoad> {
    const previous = this.active;
    // Certificates are read first: one that cannot be used fails the load before anything changes.
    const tls = new TlsContexts(plan);
    this.loadingTls = tls;
    const { routes, upstreams } = buildRoutes(plan.routes, plan.upstreams, (s) => plan.servers[s].names[0] ?? '', this.pools, previous?.upstreams, this.zones, this.options.peers, this.cacheZones, this.requestLog);
    const health = this.options.healthChecks === false ? NO_CHECKS : await this.health.watch(upstreams.values());
    const listenerIndex = new Map<string, number>();
    for (const l of plan.listeners) listenerIndex.set(l.key, l.index);
    const listenerLimits = plan.listeners.map((l): ListenerLimits => {
      const s = listenerSettings(plan, l);
      return { maxUri: s.clientMaxUriLength, maxHeaders: s.clientMaxHeaders, maxHeaderSize: s.clientMaxHeaderSize, pages: routes[plan.servers[l.defaultServer].fallback].pages };
    });
    const opened: string[] = [];
    // Nothing of this Plan stays: the running one goes on as it was.
    const abort = () => {
      health.discard();
      this.loadingTls = null;
      for (const key of opened) this.front.drop(key);
    };
    try {
      for (const l of plan.listeners) {
        if (this.options.listen !== false && !this.front.has(l.key)) { await this.front.open(l, listenerSettings(plan, l)); opened.push(l.key); }
      }
    } catch (err) {
      abort();
      throw err;
    }
    return { upstreams, commit: () => this.commit(plan, id, routes, upstreams, listenerIndex, listenerLimits, tls, health), abort };
  }

  private commit(
    plan: Plan, generation: number | undefined, routes: RouteRuntime[], upstreams: Map<string, UpstreamRuntime>, listenerIndex: Map<string, number>,
    listenerLimits: ListenerLimits[], tls: TlsContexts, health: { commit(): void },
  ): void {
    if (generation !== undefined) this.generationCount = generation - 1;
    const observe = this.observer.generation(plan, upstreams);
    this.active = { id: ++this.generationCount, plan, routes, upstreams, listenerIndex, listenerLimits, tls, observe };
    void this.observer.retain(observe);
    this.loadingTls = null;
    // Timeouts, keep-alive and connection limits apply to listeners that stay, too.
    for (const l of plan.listeners) this.front.reconfigure(l.key, listenerSettings(plan, l));
    const zoneNames = new Set<string>();
    for (const r of plan.routes) for (const z of [...r.settings.limitReq, ...r.settings.limitConn]) zoneNames.add(z.zone);
    for (const r of plan.routes) if (r.settings.authBasicLimit !== null) zoneNames.add(r.settings.authBasicLimit.zone);
    this.zones.retain(zoneNames);
    const cacheNames = new Set<string>();
    for (const r of plan.routes) if (r.settings.cache !== null) cacheNames.add(r.settings.cache.name);
    this.cacheZones.retain(cacheNames);
    // Listeners that stay get the new default certificate; SNI picks from the new contexts from now on.
    this.front.useTls(tls);
    health.commit();
    // Listeners the new Plan does not have stop accepting.
    this.front.keepOnly(listenerIndex);
    const keep = new Set<string>();
    for (const u of upstreams.values()) for (const id of u.peers.ids) keep.add(id);
    // Pools of servers that left drain their in-flight requests, then close.
    void this.pools.retain(keep);
  }

  /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes every pool. */
  async close(graceMs = 10_000): Promise<void> {
    this.health.stop();
    await this.front.close(graceMs);
    await Promise.all([this.pools.destroyAll(), this.observer.close()]);
  }
}
