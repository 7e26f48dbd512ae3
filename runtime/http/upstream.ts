import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Http1Pool as Pool } from '../transport/http1/pool.ts';
import type { UpstreamIR, UpstreamTlsIR } from '../../compiler/ir.ts';
import { CertificateError } from '../transport/tls.ts';
import { ServerSet, type PeerStorage } from '../upstream/server-set.ts';
import type { UpstreamObserver } from '../observe/observer.ts';
import { compileTemplate, type Evaluate } from '../core/template.ts';

// The HTTP face of an upstream: its server set (upstream/server-set.ts) with
// one connection pool per server (lbconf's own HTTP/1.1 client,
// transport/http1/), the TLS options of https upstreams, the hash key read from
// the request, and the sticky Set-Cookie text.

export type { PeerStorage };

export interface PoolOptions {
  connectTimeout: number;
  keepAliveTimeout: number;
  /** The most connections to one server; 0 for no limit. */
  connections: number;
  /** TLS options for https upstreams (CA, SNI name, client certificate, verification). */
  tls?: ConnectionOptions;
  /** Identifies `tls` for the registry: a change of these makes a new pool. */
  tlsKey?: string;
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
    const key = `${origin}|${options.connectTimeout}|${options.keepAliveTimeout}|${options.connections}|${options.tlsKey ?? ''}`;
    const existing = this.pools.get(id);
    if (existing && existing.key === key) return existing.pool;
    if (existing) this.replaced.push(existing.pool);
    const pool = new Pool(origin, {
      connections: options.connections,
      connectTimeout: options.connectTimeout,
      keepAliveTimeout: options.keepAliveTimeout,
      tls: options.tls,
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

export class UpstreamRuntime extends ServerSet {
  readonly scheme: 'http' | 'https';
  /** One connection pool per server (lbconf's own HTTP/1.1 client), by index. */
  readonly pools: Pool[];
  /** The `hash KEY` of hash methods, compiled: read from the request. */
  readonly hashKey: Evaluate | null;
  /** The metric slots of its servers, given by the runtime when the upstream is first served. */
  observe: UpstreamObserver | null = null;
  /** The `proxy_ssl_*` options of an https upstream (health checks connect with them too); null for defaults. */
  readonly tls: ConnectionOptions | null;
  /** Identifies `tls` (file contents included): health checks keep a connection per server and key. */
  readonly tlsKey: string;
  readonly connectTimeout: number;
  /** The attributes after `name=value` in the sticky Set-Cookie, built once. */
  private readonly cookieSuffix: string;

  constructor(ir: UpstreamIR, scheme: 'http' | 'https', registry: PoolRegistry, connectTimeout: number, previous?: UpstreamRuntime, storage?: PeerStorage) {
    super(ir, previous, storage);
    this.scheme = scheme;
    this.connectTimeout = connectTimeout;
    const st = ir.sticky;
    this.cookieSuffix = st === null ? '' : [
      `; Path=${st.path}`, st.maxAge !== null ? `; Max-Age=${Math.round(st.maxAge / 1000)}` : '', st.domain ? `; Domain=${st.domain}` : '',
      st.httpOnly ? '; HttpOnly' : '', st.secure ? '; Secure' : '', st.sameSite ? `; SameSite=${st.sameSite[0].toUpperCase()}${st.sameSite.slice(1)}` : '',
    ].join('');
    this.hashKey = ir.method.kind === 'hash' ? compileTemplate(ir.method.key) : null;
    const tls = scheme === 'https' && ir.tls ? upstreamTlsOptions(ir.tls) : null;
    this.tls = tls?.options ?? null;
    this.tlsKey = tls?.key ?? '';
    this.pools = this.source.servers().map((s, i) => registry.get(this.peers.ids[i], `${scheme}://${s.address}`, {
      connectTimeout, keepAliveTimeout: ir.keepaliveTimeout, connections: s.maxConns, tls: tls?.options, tlsKey: tls?.key,
    }));
  }

  /** The Set-Cookie value that pins a client with the sticky cookie value `value`. */
  stickyCookie(value: string): string {
    return `${this.sticky!.cookie}=${value}${this.cookieSuffix}`;
  }
}

/** The TLS options of `proxy_ssl_*`, with the files read; throws CertificateError when one cannot be read. */
function upstreamTlsOptions(tls: UpstreamTlsIR): { options: ConnectionOptions; key: string } {
  const read = (path: string | null, what: string) => {
    if (path === null) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new CertificateError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const options: ConnectionOptions = {
    rejectUnauthorized: tls.verify,
    ca: read(tls.trusted, 'proxy_ssl_trusted_certificate'),
    cert: read(tls.cert, 'proxy_ssl_certificate'),
    key: read(tls.key, 'proxy_ssl_certificate_key'),
    ...(tls.name ? { servername: tls.name } : {}),
  };
  // A renewed file means new connections: the registry keys pools by content, not only by path.
  const h = createHash('sha256').update(JSON.stringify({ ...tls })).update('\0');
  for (const b of [options.ca, options.cert, options.key]) if (b) h.update(b as Buffer);
  return { options, key: h.digest('hex').slice(0, 16) };
}
