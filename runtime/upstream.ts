import { Pool } from 'undici';
import type { UpstreamIR } from '../compiler/ir.ts';
import { createBalancer, PeerSet, serverSpecs, Sticky, type Balancer } from './balancers/index.ts';
import { RetryBudget } from './retry-budget.ts';
import { compileTemplate, type Evaluate } from './template.ts';

// One upstream as the proxy uses it: its servers' live state (PeerSet), the
// balancer over them, one undici Pool per server, and the sticky cookie helper.

export interface PoolOptions {
  connectTimeout: number;
  keepAliveTimeout: number;
  /** The most connections to one server; 0 for no limit. */
  connections: number;
}

/**
 * Pools by server identity (`upstream/host:port`). They live outside any Plan so
 * that a reload can keep them; one whose options changed is replaced.
 */
export class PoolRegistry {
  private readonly pools = new Map<string, { pool: Pool; key: string }>();
  /** Pools replaced by get() (their options changed): the Plan being replaced still uses them until the swap; retain() closes them. */
  private readonly replaced: Pool[] = [];

  get(id: string, origin: string, options: PoolOptions): Pool {
    const key = `${origin}|${options.connectTimeout}|${options.keepAliveTimeout}|${options.connections}`;
    const existing = this.pools.get(id);
    if (existing && existing.key === key) return existing.pool;
    if (existing) this.replaced.push(existing.pool);
    const pool = new Pool(origin, {
      connections: options.connections > 0 ? options.connections : null,
      pipelining: 1,
      connectTimeout: options.connectTimeout,
      keepAliveTimeout: options.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(options.keepAliveTimeout, 1000),
      // Timeouts are set per request from the location's settings.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.pools.set(id, { pool, key });
    return pool;
  }

  /** Closes the pools whose identity is not in `keep`: their in-flight requests finish first. */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    const closing: Promise<void>[] = this.replaced.splice(0).map((pool) => pool.close().catch(() => {}));
    for (const [id, entry] of this.pools) {
      if (keep.has(id)) continue;
      this.pools.delete(id);
      closing.push(entry.pool.close().catch(() => {}));
    }
    await Promise.all(closing);
  }

  async closeAll(): Promise<void> {
    await this.retain(new Set());
  }

  async destroyAll(): Promise<void> {
    const all = [...this.pools.values()].map((e) => e.pool).concat(this.replaced.splice(0));
    this.pools.clear();
    await Promise.all(all.map((pool) => pool.destroy().catch(() => {})));
  }
}

export class UpstreamRuntime {
  readonly name: string;
  readonly ir: UpstreamIR;
  readonly scheme: 'http' | 'https';
  readonly peers: PeerSet;
  readonly balancer: Balancer;
  readonly sticky: Sticky | null;
  readonly pools: Pool[];
  /** The `hash KEY` of hash methods, compiled. */
  readonly hashKey: Evaluate | null;
  readonly budget = new RetryBudget();
  readonly connectTimeout: number;
  /** The attributes after `name=value` in the sticky Set-Cookie, built once. */
  private readonly cookieSuffix: string;

  constructor(ir: UpstreamIR, scheme: 'http' | 'https', registry: PoolRegistry, connectTimeout: number, previous?: UpstreamRuntime) {
    this.name = ir.name;
    this.ir = ir;
    this.scheme = scheme;
    this.connectTimeout = connectTimeout;
    this.peers = new PeerSet(serverSpecs(ir.name, ir.servers));
    if (previous) this.peers.adopt(previous.peers);
    this.balancer = createBalancer(ir.method, this.peers);
    this.sticky = ir.sticky ? new Sticky(this.peers, { cookie: ir.sticky.cookie, secret: ir.sticky.secret }) : null;
    const st = ir.sticky;
    this.cookieSuffix = st === null ? '' : [
      `; Path=${st.path}`, st.maxAge !== null ? `; Max-Age=${Math.round(st.maxAge / 1000)}` : '', st.domain ? `; Domain=${st.domain}` : '',
      st.httpOnly ? '; HttpOnly' : '', st.secure ? '; Secure' : '', st.sameSite ? `; SameSite=${st.sameSite[0].toUpperCase()}${st.sameSite.slice(1)}` : '',
    ].join('');
    this.hashKey = ir.method.kind === 'hash' ? compileTemplate(ir.method.key) : null;
    this.pools = ir.servers.map((s, i) => registry.get(this.peers.ids[i], `${scheme}://${s.address}`, {
      connectTimeout, keepAliveTimeout: ir.keepaliveTimeout, connections: s.maxConns,
    }));
  }

  /** The Set-Cookie value that pins a client with the sticky cookie value `value`. */
  stickyCookie(value: string): string {
    return `${this.sticky!.cookie}=${value}${this.cookieSuffix}`;
  }
}
