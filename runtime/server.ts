import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Listener, Plan } from '../compiler/plan.ts';
import { RequestContext } from './context.ts';
import { sendError } from './errors.ts';
import { HealthChecker, type HealthEvent } from './health/active.ts';
import { normalizeRequestPath } from './normalize-path.ts';
import { proxy } from './proxy.ts';
import { TlsContexts } from './tls.ts';
import { buildRoutes, type RouteRuntime } from './routes.ts';
import { proxyUpgrade, refuseUpgrade } from './upgrade.ts';
import { PoolRegistry, type UpstreamRuntime } from './upstream.ts';

// Listeners and the per-request glue: normalize the path, route with the
// Plan's generated function, check access, then answer, redirect or proxy.
// The active generation is one object swapped in a single assignment; a request
// keeps the generation it started on.

interface Generation {
  id: number;
  plan: Plan;
  routes: RouteRuntime[];
  upstreams: Map<string, UpstreamRuntime>;
  /** Listener key → the Plan's listener index. */
  listenerIndex: Map<string, number>;
  tls: TlsContexts;
}

interface OpenListener {
  key: string;
  server: Server;
  ssl: boolean;
}

export interface RuntimeOptions {
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** Add `x-lbconf-generation` to responses (for tests and debugging reloads). */
  exposeGeneration?: boolean;
}

export class ProxyRuntime {
  private active: Generation | null = null;
  /** The TLS contexts of a Plan being loaded, for listeners it opens before the swap. */
  private loadingTls: TlsContexts | null = null;
  private generationCount = 0;
  private readonly listeners = new Map<string, OpenListener>();
  private readonly sockets = new Set<Socket>();
  /** close() has begun: responses say `Connection: close`. */
  private closing = false;
  readonly pools = new PoolRegistry();
  readonly health: HealthChecker;
  private readonly options: RuntimeOptions;

  constructor(options: RuntimeOptions = {}) {
    this.options = options;
    this.health = new HealthChecker((e: HealthEvent) => this.log(e.healthy ? 'info' : 'warn', `server ${e.id} is ${e.healthy ? 'healthy again' : 'unhealthy'}: ${e.reason}`));
  }

  private log(level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.options.log?.(level, message, fields);
  }

  get generation(): number {
    return this.active?.id ?? 0;
  }

  get upstreams(): ReadonlyMap<string, UpstreamRuntime> {
    return this.active?.upstreams ?? new Map();
  }

  /** The addresses actually bound, by listener key (ports resolved when the config says 0). */
  addresses(): Map<string, { address: string; port: number }> {
    const out = new Map<string, { address: string; port: number }>();
    for (const [key, l] of this.listeners) {
      const a = l.server.address();
      if (a && typeof a === 'object') out.set(key, { address: a.address, port: a.port });
    }
    return out;
  }

  /**
   * Serves `plan`: builds its routes, carries upstream state over by identity,
   * runs health checks (waiting for `initial=checked` ones), opens new listeners,
   * then swaps it in. Listeners the new Plan does not have stop accepting.
   */
  async load(plan: Plan): Promise<void> {
    const previous = this.active;
    // Certificates are read first: one that cannot be used fails the load before anything changes.
    const tls = new TlsContexts(plan);
    this.loadingTls = tls;
    const { routes, upstreams } = buildRoutes(plan.routes, plan.upstreams, (s) => plan.servers[s].names[0] ?? '', this.pools, previous?.upstreams);
    const health = await this.health.watch(upstreams.values());
    const listenerIndex = new Map<string, number>();
    for (const l of plan.listeners) listenerIndex.set(l.key, l.index);
    const opened: string[] = [];
    try {
      for (const l of plan.listeners) {
        if (!this.listeners.has(l.key)) { await this.open(l); opened.push(l.key); }
      }
    } catch (err) {
      // Nothing of this Plan stays: the running one goes on as it was.
      health.discard();
      this.loadingTls = null;
      for (const key of opened) { this.listeners.get(key)?.server.close(); this.listeners.delete(key); }
      throw err;
    }
    this.active = { id: ++this.generationCount, plan, routes, upstreams, listenerIndex, tls };
    this.loadingTls = null;
    // Listeners that stay get the new default certificate; SNI picks from the new contexts from now on.
    for (const [key, l] of this.listeners) {
      const defaults = l.ssl ? tls.defaults(key) : undefined;
      if (defaults) (l.server as unknown as { setSecureContext(o: object): void }).setSecureContext(defaults);
    }
    health.commit();
    for (const [key, l] of this.listeners) {
      if (!listenerIndex.has(key)) {
        this.listeners.delete(key);
        l.server.close();
      }
    }
    const keep = new Set<string>();
    for (const u of upstreams.values()) for (const id of u.peers.ids) keep.add(id);
    // Pools of servers that left drain their in-flight requests, then close.
    void this.pools.retain(keep);
  }

  private async open(l: Listener): Promise<void> {
    const key = l.key;
    const http1 = {
      // Slowloris: a client gets this long to send its headers (nginx's client_header_timeout).
      headersTimeout: 60_000,
      requestTimeout: 0,
      keepAliveTimeout: 75_000,
      maxHeaderSize: 16 * 1024,
    };
    let server: Server;
    if (l.ssl) {
      const contexts = () => (this.active?.listenerIndex.has(key) ? this.active.tls : this.loadingTls ?? this.active?.tls);
      const tls = contexts()!;
      const secure = {
        ...tls.defaults(key),
        SNICallback: (servername: string, done: (err: Error | null, ctx?: import('node:tls').SecureContext) => void) => done(null, contexts()?.select(key, servername)),
      };
      // HTTP/2 by ALPN beside HTTP/1.1; upstream traffic stays HTTP/1.1.
      server = (tls.http2(key)
        ? createSecureServer({ ...secure, allowHTTP1: true, maxSessionMemory: 32 })
        : createHttpsServer({ ...secure, ...http1 })) as unknown as Server;
    } else {
      server = createServer(http1);
    }
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(key, req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(key, req, socket, head));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      if (!socket.writable) { socket.destroy(); return; }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const text = `${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\n`;
      socket.end(`HTTP/1.1 ${text.trim()}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: l.port, host: l.address === '*' ? undefined : l.address }, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', (err) => this.log('error', `listener ${key}: ${err.message}`));
    this.listeners.set(key, { key, server, ssl: l.ssl });
  }

  /** Parses the request target and normalizes its path; null when the request must be refused with 400. */
  private context(req: IncomingMessage, scheme: string): RequestContext | null {
    const target = req.url ?? '';
    // HTTP/2 carries the host in :authority.
    let host = req.headers.host ?? (req.headers[':authority'] as string | undefined) ?? '';
    let pathAndQuery = target;
    if (!target.startsWith('/')) {
      // Absolute form (RFC 9112 §3.2.2): its authority replaces the Host header.
      const m = /^https?:\/\/([^/?#]+)([^#]*)$/i.exec(target);
      if (!m) return null;
      host = m[1];
      pathAndQuery = m[2] || '/';
    }
    const q = pathAndQuery.indexOf('?');
    const rawPath = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
    const path = normalizeRequestPath(rawPath);
    if (path === null) return null;
    return new RequestContext(req, scheme, host, path, q < 0 ? '' : pathAndQuery.slice(q + 1), pathAndQuery);
  }

  private resolve(g: Generation, listener: number, req: IncomingMessage): { ctx: RequestContext; route: RouteRuntime } | null {
    const ctx = this.context(req, g.plan.listeners[listener].ssl ? 'https' : 'http');
    if (ctx === null) return null;
    const route = g.routes[g.plan.route(listener, ctx.rawHost, ctx.uri)];
    ctx.serverName = route.serverName;
    return { ctx, route };
  }

  private handle(key: string, req: IncomingMessage, res: ServerResponse): void {
    const g = this.active;
    const listener = g?.listenerIndex.get(key);
    // A listener opened by a load() whose Plan is not swapped in yet (it is checking servers, or opening
    // others), or one a reload removed (a keep-alive connection made before): not served here.
    if (listener === undefined) { res.setHeader('connection', 'close'); sendError(res, 503); return; }
    const r = this.resolve(g!, listener, req);
    if (r === null) { sendError(res, 400); return; }
    const { ctx, route } = r;
    if (this.options.exposeGeneration) res.setHeader('x-lbconf-generation', String(g!.id));
    if (this.closing) res.setHeader('connection', 'close');
    if (route.access !== null && !route.access.allows(ctx.remoteAddr)) { sendError(res, 403); return; }
    switch (route.kind) {
      case 'proxy':
        proxy(ctx, res, route.proxy!);
        return;
      case 'return':
        this.answer(ctx, res, route);
        return;
      default:
        sendError(res, route.status);
    }
  }

  private answer(ctx: RequestContext, res: ServerResponse, route: RouteRuntime): void {
    // The request body, if any, is not needed: drain it so the connection stays usable.
    ctx.req.resume();
    const text = route.text ? route.text(ctx) : '';
    if (route.redirect) {
      res.writeHead(route.status, { location: text, 'content-length': 0 });
      res.end();
      return;
    }
    if (text === '' && route.status >= 400) { sendError(res, route.status); return; }
    const body = Buffer.from(text);
    res.writeHead(route.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length });
    res.end(ctx.req.method === 'HEAD' ? undefined : body);
  }

  private handleUpgrade(key: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const g = this.active;
    const listener = g?.listenerIndex.get(key);
    if (listener === undefined) { refuseUpgrade(socket, 503); return; }
    const r = this.resolve(g!, listener, req);
    if (r === null) { refuseUpgrade(socket, 400); return; }
    const { ctx, route } = r;
    if (route.access !== null && !route.access.allows(ctx.remoteAddr)) { refuseUpgrade(socket, 403); return; }
    if (route.kind !== 'proxy') { refuseUpgrade(socket, route.kind === 'return' ? route.status : 404); return; }
    proxyUpgrade(ctx, socket, head, route.proxy!);
  }

  /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes every pool. */
  async close(graceMs = 10_000): Promise<void> {
    this.health.stop();
    const servers = [...this.listeners.values()].map((l) => l.server);
    this.listeners.clear();
    this.closing = true;
    const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => { s.close(() => resolve()); s.closeIdleConnections(); })));
    const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    // A keep-alive connection whose request was in flight is idle once it is answered: close it then, not at the end of the grace.
    const sweep = setInterval(() => { for (const s of servers) s.closeIdleConnections(); }, 50);
    await Promise.race([closed, timer]);
    clearInterval(sweep);
    for (const socket of this.sockets) socket.destroy();
    await this.pools.destroyAll();
  }
}
