import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxySettingsIR } from '../../compiler/ir.ts';
import type { Listener, Plan } from '../../compiler/plan.ts';
import { RequestContext } from '../core/context.ts';
import { DEFAULT_PAGES, sendError, type ErrorPages } from '../core/errors.ts';
import { unfitLine } from '../core/field-value.ts';
import { normalizeRequestPath } from '../core/normalize-path.ts';
import { addResponseHeaders } from '../core/headers.ts';
import { proxy, type RequestLog } from './proxy.ts';
import { applyHttp2, deferHttp2, http2Settings, refuseHttp2Connect } from './http2.ts';
import { serveCached } from '../filters/cache/cache.ts';
import type { TlsContexts } from '../transport/tls.ts';
import type { RouteRuntime } from './routes.ts';
import { runFilters, type PipelineHost } from './pipeline.ts';
import { proxyUpgrade, refuseUpgrade, UpgradeRecord } from './upgrade.ts';
import type { UpstreamRuntime } from './upstream.ts';
import type { GenerationObserver, Observer } from '../observe/observer.ts';
import { Http1Listener } from '../transport/http1/listener.ts';
import type { HeadLimits, Http1Request } from '../transport/http1/request-head.ts';
import type { Http1Response } from '../transport/http1/response-writer.ts';

// The HTTP front: listeners and the per-request glue: normalize the path,
// route with the Plan's generated function, check access, then answer,
// redirect or proxy. Which Generation serves is control's (control/runtime.ts
// swaps it in a single assignment); the front reads it through current() once
// per request, so a request keeps the generation it started on.

export interface Generation {
  id: number;
  plan: Plan;
  routes: RouteRuntime[];
  upstreams: Map<string, UpstreamRuntime>;
  /** Listener key → the Plan's listener index. */
  listenerIndex: Map<string, number>;
  /** By the Plan's listener index: the limits checked before routing. */
  listenerLimits: ListenerLimits[];
  tls: TlsContexts;
  /** Metric slots and access logs by route. */
  observe: GenerationObserver;
}

/** What a listener checks before it routes, from its default server's settings. */
export interface ListenerLimits {
  maxUri: number;
  maxHeaders: number;
  /** client_max_header_size: the request line and header fields, in bytes. */
  maxHeaderSize: number;
  pages: ErrorPages;
}

interface OpenListener {
  key: string;
  /** Node's server for this listener: the one listening (TLS), or the fallback behind `own`. */
  server: Server;
  /** lbconf's own HTTP/1.1 listener (plain listeners): it accepts, and hands `server` what it does not serve. */
  own: Http1Listener | null;
  ssl: boolean;
  /** The header size the listener was opened with (Node fixes it per server). */
  maxHeaderSize: number;
}

/** A byte a request target cannot hold raw (RFC 3986): anything but visible ASCII, as Node's HTTP/1 parser refuses. */
const BAD_TARGET = /[^\x21-\x7e]/;

/** A host name or IPv4 address, or a bracketed IPv6 address, with an optional port. No userinfo, no path, no spaces. */
const VALID_HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The checks every request passes before it is routed, on every path it can
 * come by: lbconf's own listener, Node's HTTP/1 server behind it, TLS, HTTP/2
 * and upgrades all call this one function. 0 when the request may go on, else
 * the status that refuses it:
 * - 414 for a target over client_max_uri_length; 431 for more header fields
 *   than client_max_headers, or more bytes than client_max_header_size (Node's
 *   parser counts these on plain listeners, but not for HTTP/1.1 under the
 *   HTTP/2 TLS server, nor for HTTP/2 itself);
 * - what Node's parser lets through but a proxy must not (RFC 9112 §6.1, §6.3,
 *   §3.2; nginx refuses the same): a Transfer-Encoding other than `chunked`
 *   (400 when chunked is not the final coding, as that body's end cannot be
 *   known; 501 for codings lbconf does not decode), Transfer-Encoding in an
 *   HTTP/1.0 request, two Host headers, an HTTP version other than 1.x on an
 *   HTTP/1 connection (505);
 * - a target with a raw byte outside visible ASCII (400): HTTP/1's parser refuses
 *   them, HTTP/2 hands its :path over as latin1 text;
 * - HTTP/2: a `host` that names another authority than `:authority`, the
 *   scheme's default port aside (400, RFC 9113 §8.3.1).
 * On HTTP/2 the fields are counted as in the HTTP/1.1 request it becomes.
 */
function admission(limits: ListenerLimits, req: IncomingMessage): number {
  const url = req.url ?? '';
  if (url.length > limits.maxUri) return 414;
  // Raw bytes a target cannot have (RFC 3986): HTTP/1's parser refuses them, but HTTP/2's :path comes as latin1 text.
  if (BAD_TARGET.test(url)) return 400;
  const raw = req.rawHeaders;
  // By its stream, not its version: an HTTP/1 request line may say HTTP/2.0 (505 below).
  const h2 = (req as unknown as { stream?: unknown }).stream !== undefined;
  if (!h2 && raw.length > limits.maxHeaders * 2) return 431;
  // Counted as the request would be in HTTP/1.1, the fewest bytes its head can take ("M T HTTP/1.1\r\n",
  // "name:value\r\n"), so that this never refuses what a parser counted as within the limit. HTTP/2 is counted
  // as translated (RFC 9113 §8.3.1, §8.2.3): its pseudo-header fields are the request line, and no header fields
  // (:authority and :scheme count their bytes); its cookie crumbs are one Cookie field, joined with "; ".
  let size = url.length + (req.method?.length ?? 0) + 12;
  let fields = 0;
  let hosts = 0;
  let cookies = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (h2) {
      if (name.charCodeAt(0) === 58) { // ':'
        if (name !== ':method' && name !== ':path') size += name.length + value.length + 3;
        continue;
      }
      if (name === 'cookie' && cookies++ > 0) { size += value.length + 2; continue; }
    }
    fields++;
    size += name.length + value.length + 3;
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host') && ++hosts > 1) return 400;
  }
  if (fields > limits.maxHeaders || size > limits.maxHeaderSize) return 431;
  const h = req.headers;
  const te = h['transfer-encoding'];
  if (te !== undefined) {
    if (req.httpVersionMinor === 0 && req.httpVersionMajor === 1) return 400;
    const value = te.trim().toLowerCase();
    if (value !== 'chunked') return /,\s*chunked$/.test(value) ? 501 : 400;
  }
  if (req.httpVersionMajor !== 1) {
    if (!h2) return 505;
    const authority = h[':authority'] as string | undefined;
    if (authority !== undefined && h.host !== undefined) {
      const scheme = h[':scheme'] === 'http' ? 'http' : 'https';
      if (withoutDefaultPort(authority, scheme) !== withoutDefaultPort(h.host, scheme)) return 400;
    }
  }
  return 0;
}

/** An authority in lower case, without its scheme's default port: `A.test:443` is `a.test` for https. */
function withoutDefaultPort(authority: string, scheme: 'http' | 'https'): string {
  const a = authority.toLowerCase();
  const port = scheme === 'https' ? ':443' : ':80';
  return a.endsWith(port) ? a.slice(0, -port.length) : a;
}

/**
 * An upgrade lbconf does not make: HTTP/2 over cleartext (`Upgrade: h2c`).
 * Served as the plain HTTP/1.1 request it also is, its Upgrade and
 * HTTP2-Settings dropped like any hop-by-hop field, as RFC 9110 §7.8 lets a
 * server do: a proxy that passed it on would hand the client a connection to
 * the backend that lbconf no longer reads.
 */
function isUpgrade(req: IncomingMessage): boolean {
  const protocols = req.headers.upgrade;
  return protocols === undefined || !/(?:^|[\s,])h2c(?:$|[\s,])/i.test(protocols);
}

/** A connection's HTTP/1 requests on Node's server, answered one at a time, in order (pipelined ones wait). */
interface Pipeline {
  /** A request of this connection is being answered. */
  busy: boolean;
  /** Those that wait their turn: [listener key, request, response] … */
  waiting: Array<string | IncomingMessage | ServerResponse>;
  /** An upgrade behind them (the last request a connection can send): it goes once they are answered. */
  upgrade: { key: string; req: IncomingMessage; head: Buffer } | null;
}

const kPipeline = Symbol('lbconf.pipeline');

function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * The most requests that wait behind the one being answered. Node's parser
 * reads all it was given before the connection pauses (a read: up to 64 KiB,
 * two thousand small requests); a client that sends more ahead than this is
 * closed, so that it cannot make lbconf hold thousands of requests.
 */
const MAX_PIPELINED = 32;
type Pipelined = Socket & { [kPipeline]?: Pipeline };

/** What lbconf's own listener holds a request head to; over any of it, the request goes to Node's server. */
function headLimits(maxHeaderSize: number, s: ProxySettingsIR): HeadLimits {
  return { maxHeaderSize, maxUri: s.clientMaxUriLength, maxHeaders: s.clientMaxHeaders };
}

/** Stops a listener accepting; `done` runs when all its connections have closed. */
function closeListener(l: OpenListener, done?: () => void): void {
  if (l.own !== null) l.own.close(done);
  else l.server.close(() => done?.());
}

/** Node's timers for slow clients: how often the header timeout is checked. */
const CHECK_INTERVAL_MS = 1000;

/** What the front is given by the runtime that owns it (control/runtime.ts). */
export interface FrontOptions {
  /** The Generation being served, or null before the first swap. */
  current: () => Generation | null;
  /** The TLS contexts of a Plan being loaded, for listeners it opens before the swap (null when none is). */
  loadingTls: () => TlsContexts | null;
  /** Request counters by listener, and connections (runtime/observe/). */
  observer: Observer;
  log: RequestLog;
  /** Add `x-lbconf-generation` to responses (for tests and debugging reloads). */
  exposeGeneration?: boolean;
  /** Add `x-lbconf-worker: NAME` to responses (for tests and debugging workers). */
  exposeWorker?: string;
  /** Listen with SO_REUSEPORT, beside other threads on the same ports. */
  reusePort?: boolean;
}

/**
 * The listeners and the request path. Its owner says which listeners to open,
 * reconfigure and close as Plans come and go; the front serves each request
 * with the Generation current() gives when it arrives.
 */
export class HttpFront {
  private readonly listeners = new Map<string, OpenListener>();
  private readonly sockets = new Set<Socket>();
  /** close() has begun: responses say `Connection: close`. */
  private closing = false;
  private readonly options: FrontOptions;
  private readonly current: () => Generation | null;
  private readonly log: RequestLog;

  constructor(options: FrontOptions) {
    this.options = options;
    this.current = options.current;
    this.log = options.log;
  }

  /** Whether the listener `key` is open. */
  has(key: string): boolean {
    return this.listeners.has(key);
  }

  /** The addresses actually bound, by listener key (ports resolved when the config says 0). */
  addresses(): Map<string, { address: string; port: number }> {
    const out = new Map<string, { address: string; port: number }>();
    for (const [key, l] of this.listeners) {
      const a = (l.own ?? l.server).address();
      if (a && typeof a === 'object') out.set(key, { address: a.address, port: a.port });
    }
    return out;
  }

  /**
   * A new Plan's settings for a listener that stays open (nothing when `key` is
   * not open): timeouts, keep-alive and connection limits apply to it too.
   */
  reconfigure(key: string, s: ProxySettingsIR): void {
    const open = this.listeners.get(key);
    if (!open) return;
    this.applyListener(open, s);
    if (s.clientMaxHeaderSize !== open.maxHeaderSize) {
      this.log('warn', `listener ${key}: client_max_header_size ${s.clientMaxHeaderSize} takes effect when the listener opens again (it keeps ${open.maxHeaderSize})`);
    }
  }

  /** Listeners that stay get the new default certificate; SNI picks from the new contexts from now on. */
  useTls(tls: TlsContexts): void {
    for (const [key, l] of this.listeners) {
      const defaults = l.ssl ? tls.defaults(key) : undefined;
      if (defaults) (l.server as unknown as { setSecureContext(o: object): void }).setSecureContext(defaults);
    }
  }

  /** Listeners whose key `keep` does not have stop accepting (connections in flight finish). */
  keepOnly(keep: ReadonlyMap<string, unknown>): void {
    for (const [key, l] of this.listeners) {
      if (!keep.has(key)) {
        this.listeners.delete(key);
        closeListener(l);
      }
    }
  }

  /** Stops the listener `key` accepting, if it is open, and forgets it. */
  drop(key: string): void {
    const l = this.listeners.get(key);
    if (l) closeListener(l);
    this.listeners.delete(key);
  }

  /** The listener settings that may change on an open listener. */
  private applyListener(l: OpenListener, s: ProxySettingsIR): void {
    const server = l.server;
    const maxConnections = s.maxConnections > 0 ? s.maxConnections : Infinity;
    // One request per connection under keepalive_timeout 0 (see below).
    const maxRequests = s.keepaliveTimeout === 0 ? 1 : s.keepaliveRequests;
    if (l.own !== null) {
      l.own.configure(s.keepaliveTimeout, maxRequests, s.clientHeaderTimeout);
      l.own.limits = headLimits(l.maxHeaderSize, s);
      l.own.server.maxConnections = maxConnections;
    }
    if ('updateSettings' in server) {
      // HTTP/2 (beside HTTP/1.1 on a TLS listener): a session with nothing moving for client_header_timeout
      // (or client_body_timeout, the longer) is closed, so idle or slow HTTP/2 clients cannot hold connections either.
      (server as unknown as { setTimeout(ms: number): void }).setTimeout(Math.max(s.clientHeaderTimeout, s.clientBodyTimeout));
      applyHttp2(server, s, (message) => this.log('warn', message));
    }
    if (!('headersTimeout' in server)) return;
    // Slowloris: a client gets this long to send its headers (client_header_timeout); checked every CHECK_INTERVAL_MS.
    server.headersTimeout = s.clientHeaderTimeout;
    // keepalive_timeout 0 closes after each response, as in nginx (Node's 0 would mean "never").
    server.keepAliveTimeout = s.keepaliveTimeout === 0 ? 1 : s.keepaliveTimeout;
    server.maxRequestsPerSocket = maxRequests;
    // One more than allowed, so that a request with too many headers is seen (and refused with 431), not cut short.
    server.maxHeadersCount = s.clientMaxHeaders + 1;
    // Counted where connections are accepted: by lbconf's own listener in front of it, if there is one.
    server.maxConnections = l.own === null ? maxConnections : Infinity;
  }

  /** Opens the Plan's listener `l` with its default server's settings; rejects when it cannot listen. */
  async open(l: Listener, settings: ProxySettingsIR): Promise<void> {
    const key = l.key;
    const http1 = {
      // Upgrade: h2c is served as a plain request (isUpgrade).
      shouldUpgradeCallback: isUpgrade,
      headersTimeout: settings.clientHeaderTimeout,
      requestTimeout: 0,
      keepAliveTimeout: 75_000,
      maxHeaderSize: settings.clientMaxHeaderSize,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
      // A Host header is required of HTTP/1.1 requests (RFC 9112 §3.2): 400 without one.
      requireHostHeader: true,
    };
    let server: Server;
    if (l.ssl) {
      const contexts = () => {
        const g = this.current();
        return g?.listenerIndex.has(key) ? g.tls : this.options.loadingTls() ?? g?.tls;
      };
      const tls = contexts()!;
      const secure = {
        ...tls.defaults(key),
        SNICallback: (servername: string, done: (err: Error | null, ctx?: import('node:tls').SecureContext) => void) => done(null, contexts()?.select(key, servername)),
      };
      // HTTP/2 by ALPN beside HTTP/1.1; upstream traffic stays HTTP/1.1.
      if (tls.http2(key)) {
        // Node counts every cookie crumb and pseudo-field as a pair: room for them, so that admission() counts fields as HTTP/1.1 would.
        server = createSecureServer({ ...secure, allowHTTP1: true, maxSessionMemory: 32, maxHeaderListPairs: 2 * settings.clientMaxHeaders + 4, settings: { maxHeaderListSize: settings.clientMaxHeaderSize, ...http2Settings(settings) } }) as unknown as Server;
        // Its HTTP/1.1 connections are Node's HTTP/1 server's, which reads these from the server object
        // (createSecureServer takes none of them): h2c is not an upgrade there either, and no whole-request timer.
        Object.assign(server, { shouldUpgradeCallback: isUpgrade, requestTimeout: 0 });
      } else {
        server = createHttpsServer({ ...secure, ...http1 }) as unknown as Server;
      }
    } else {
      server = createServer(http1);
    }
    const slot = this.options.observer.listenerSlot(key);
    const counts = this.options.observer.metrics.store;
    const accepted = (socket: Socket) => {
      this.sockets.add(socket);
      counts.connectionOpened(slot);
      socket.on('close', () => { this.sockets.delete(socket); counts.connectionClosed(slot); });
    };
    const own = l.ssl ? null : new Http1Listener({
      fallback: server,
      handler: (req, res) => this.handlePlain(key, req, res),
      limits: headLimits(settings.clientMaxHeaderSize, settings),
      onConnection: accepted,
    });
    const open: OpenListener = { key, server, own, ssl: l.ssl, maxHeaderSize: settings.clientMaxHeaderSize };
    this.applyListener(open, settings);
    if (!('headersTimeout' in server)) (server as unknown as { maxConnections: number }).maxConnections = settings.maxConnections > 0 ? settings.maxConnections : Infinity;
    server.on('request', deferHttp2((req: IncomingMessage, res: ServerResponse) => this.handle(key, req, res)));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(key, req, socket, head));
    // CONNECT (a tunnel to any host) is not something lbconf does.
    server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      const pages = this.limitsOf(key)?.pages ?? DEFAULT_PAGES;
      // HTTP/2 (runtime/http/http2.ts): Node passes the stream's response, not a socket.
      if (refuseHttp2Connect(req, socket, pages)) return;
      socket.on('error', () => socket.destroy());
      socket.end(pages.raw(405));
    });
    if (own === null) server.on('connection', accepted);
    server.on('clientError', (err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex) => {
      if (!socket.writable) { socket.destroy(); return; }
      // Bytes after a request that closes the connection (Connection: close, HTTP/1.0): not a request. Its
      // response, if one is being written, goes out first; Node closes the connection after it, as nginx does.
      if (err.code === 'HPE_CLOSED_CONNECTION') {
        if ((socket as Socket & { _httpMessage?: unknown })._httpMessage == null) socket.destroy();
        return;
      }
      const limits = this.limitsOf(key);
      let status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      if (err.code === 'HPE_HEADER_OVERFLOW') {
        // Too much before the end of the headers: 414 when the request line itself never ended, else 431.
        status = 431;
        const packet = err.rawPacket;
        if (packet !== undefined && /^[A-Z]+ [^ \r\n]/.test(packet.subarray(0, 32).toString('latin1'))) {
          const nl = packet.indexOf(10);
          if (nl < 0 || nl > (limits?.maxUri ?? 8192)) status = 414;
        }
      }
      const pages = limits?.pages ?? DEFAULT_PAGES;
      // Then closed for good once written: ended alone, it stays half-open as long as the client keeps its side open.
      socket.end(pages.raw(status), () => socket.destroy());
    });
    const where = { port: l.port, host: l.address === '*' ? undefined : l.address, reusePort: this.options.reusePort === true };
    const listening = own?.server ?? server;
    try {
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(where, () => { listening.off('error', reject); resolve(); });
      });
    } catch (err) {
      closeListener(open);
      throw err;
    }
    listening.on('error', (err) => this.log('error', `listener ${key}: ${err.message}`));
    this.listeners.set(key, open);
  }

  /** What the serving Plan checks on the listener `key` before routing; null when no Plan serves it. */
  private limitsOf(key: string): ListenerLimits | null {
    const g = this.current();
    const index = g?.listenerIndex.get(key);
    return index === undefined ? null : g!.listenerLimits[index];
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
      // An empty path is `/` (RFC 9112 §3.2.2): `http://a.test?x=1` asks for `/?x=1`.
      pathAndQuery = m[2] === '' || m[2].startsWith('?') ? `/${m[2]}` : m[2];
    }
    // A Host (or authority) that is not a host name or address with an optional port: 400, as nginx does.
    // Two dots in a row (`a..b`) too, as nginx refuses them (ngx_http_validate_host).
    if (host !== '' && (!VALID_HOST.test(host) || host.includes('..'))) return null;
    const q = pathAndQuery.indexOf('?');
    const rawPath = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
    const path = normalizeRequestPath(rawPath);
    if (path === null) return null;
    return new RequestContext(req, scheme, host, path, q < 0 ? '' : pathAndQuery.slice(q + 1), pathAndQuery);
  }

  private resolve(g: Generation, listener: number, req: IncomingMessage): { ctx: RequestContext; route: RouteRuntime } | null {
    const ctx = this.context(req, g.plan.listeners[listener].ssl ? 'https' : 'http');
    if (ctx === null) return null;
    const index = g.plan.route(listener, ctx.rawHost, ctx.uri);
    const route = g.routes[index];
    ctx.routeIndex = index;
    ctx.serverName = route.serverName;
    return { ctx, route };
  }

  /** Refuses a request before routing, and counts it. */
  private refuse(g: Generation, listener: number, req: IncomingMessage, res: ServerResponse, status: number, startedAt: number): void {
    sendError(res, status, g.listenerLimits[listener].pages, undefined, true);
    g.observe.early(listener, req, res, startedAt);
  }

  /**
   * The last resort: an exception that escaped the request path (a bug, not a
   * client's doing) answers 500 to that request alone, and is logged with its
   * stack; lbconf goes on serving everyone else.
   */
  private fault(err: unknown, res: ServerResponse | null, socket: Duplex | null = null): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.log('error', `internal error while serving a request (answered 500): ${e.stack ?? e.message}`, { event: 'fault' });
    try {
      if (res !== null) sendError(res, 500, undefined, undefined, true);
      else if (socket !== null) refuseUpgrade(socket, 500);
    } catch {
      (res ?? socket)?.destroy();
    }
  }

  /** A request on Node's server (behind lbconf's listener, TLS, HTTP/2). */
  private handle(key: string, req: IncomingMessage, res: ServerResponse): void {
    // HTTP/1: one request of a connection at a time, as nginx does; those pipelined behind it wait their turn.
    if (req.httpVersionMajor === 1 && !this.nextInPipeline(req.socket as Pipelined, key, req, res)) return;
    try {
      this.handleNow(key, req, res);
    } catch (err) {
      this.fault(err, res);
    }
  }

  /**
   * Whether the request may be served now: else it waits behind the one being
   * answered, and the connection stops being read (Node's parser goes no
   * further than what it has already read) until its turn comes.
   */
  private nextInPipeline(socket: Pipelined, key: string, req: IncomingMessage, res: ServerResponse): boolean {
    let p = socket[kPipeline];
    if (p === undefined) p = socket[kPipeline] = { busy: false, waiting: [], upgrade: null };
    if (p.busy) {
      if (p.waiting.length >= MAX_PIPELINED * 3) {
        if (!socket.destroyed) this.log('info', `a client sent more than ${MAX_PIPELINED} pipelined requests ahead; connection closed`, { event: 'pipelining' });
        p.waiting.length = 0;
        socket.destroy();
        return false;
      }
      p.waiting.push(key, req, res);
      socket.pause();
      return false;
    }
    p.busy = true;
    res.once('close', () => this.pipelineNext(socket, res));
    return true;
  }

  private pipelineNext(socket: Pipelined, done: ServerResponse): void {
    const p = socket[kPipeline]!;
    p.busy = false;
    // A response that closes the connection (Connection: close, a 413 before its body) is the last: what follows is not served.
    if (socket.destroyed || (done as ServerResponse & { _last?: boolean })._last === true) { p.waiting.length = 0; p.upgrade = null; return; }
    if (p.waiting.length === 0 && p.upgrade !== null) {
      const u = p.upgrade;
      p.upgrade = null;
      this.handleUpgrade(u.key, u.req, socket, u.head);
      return;
    }
    if (p.waiting.length === 0) {
      // Node may have paused it too (a client that reads nothing): then Node resumes it.
      if (socket.isPaused() && !(socket as Socket & { _paused?: boolean })._paused) socket.resume();
      return;
    }
    const key = p.waiting.shift() as string;
    const req = p.waiting.shift() as IncomingMessage;
    const res = p.waiting.shift() as ServerResponse;
    this.handle(key, req, res);
  }

  private handleNow(key: string, req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    const g = this.current();
    const listener = g?.listenerIndex.get(key);
    // A listener opened by a load() whose Plan is not swapped in yet (it is checking servers, or opening
    // others), or one a reload removed (a keep-alive connection made before): not served here.
    if (listener === undefined) { res.setHeader('connection', 'close'); sendError(res, 503); return; }
    const status = admission(g!.listenerLimits[listener], req);
    if (status !== 0) { this.refuse(g!, listener, req, res, status, startedAt); return; }
    this.admit(g!, listener, req, res, this.resolve(g!, listener, req), startedAt);
  }

  /**
   * A request on lbconf's own HTTP/1.1 listener (transport/http1/listener.ts),
   * whose head its parser found plain. Served like any other, cached and
   * compressed routes included (a compressor pipes into the response as into
   * Node's); false only when no Plan serves this listener.
   */
  private handlePlain(key: string, request: Http1Request, response: Http1Response): boolean {
    const g = this.current();
    const listener = g?.listenerIndex.get(key);
    if (listener === undefined) return false;
    const startedAt = performance.now();
    // Http1Request and Http1Response have the members of IncomingMessage and ServerResponse that the request path reads.
    const req = request as unknown as IncomingMessage;
    const res = response as unknown as ServerResponse;
    try {
      // The listener hands off what it would refuse; checked again all the same, so that no path skips a check.
      const status = admission(g!.listenerLimits[listener], req);
      if (status !== 0) { this.refuse(g!, listener, req, res, status, startedAt); return true; }
      const r = this.resolve(g!, listener, req);
      this.admit(g!, listener, req, res, r, startedAt);
    } catch (err) {
      this.fault(err, res);
    }
    return true;
  }

  /** Answers a request that passed the listener's checks: refused (400) when its target or Host could not be read, else routed through its filters. */
  private admit(g: Generation, listener: number, req: IncomingMessage, res: ServerResponse, r: { ctx: RequestContext; route: RouteRuntime } | null, startedAt: number): void {
    if (r === null) { this.refuse(g, listener, req, res, 400, startedAt); return; }
    const { ctx, route } = r;
    ctx.route = route;
    g.observe.begin(ctx, res, startedAt);
    if (this.options.exposeGeneration) res.setHeader('x-lbconf-generation', String(g.id));
    if (this.options.exposeWorker !== undefined) res.setHeader('x-lbconf-worker', this.options.exposeWorker);
    if (this.closing) res.setHeader('connection', 'close');
    runFilters(this.http, route.filters, 0, ctx, res, res, res);
  }

  /** The HTTP path's end of the pipeline (http/pipeline.ts): the handler, a refusal, or the last resort. */
  private readonly http: PipelineHost<ServerResponse> = {
    passed: (ctx, res) => this.dispatch(ctx, res, ctx.route as RouteRuntime),
    refused: (ctx, res, refusal) => {
      const route = ctx.route as RouteRuntime;
      if (refusal.reason !== undefined) this.log('info', refusal.reason, { event: 'refused', status: refusal.status });
      // The request body, if any, is not needed: drained (or the connection closed after the answer).
      if (refusal.close !== true) ctx.req.resume();
      sendError(res, refusal.status, route.pages, refusal.headers, refusal.close === true);
    },
    fault: (err, res) => this.fault(err, res),
  };

  /** A value made from the request that a header field cannot carry (core/field-value.ts): 400 for this request, and a line saying which. */
  private unfit(ctx: RequestContext, res: ServerResponse, route: RouteRuntime, what: string): void {
    this.log('info', unfitLine(what, ctx.remoteAddr), { event: 'unfit-header', header: what });
    ctx.req.resume();
    sendError(res, 400, route.pages);
  }

  /** The handler, once the route's filters let the request through. */
  private dispatch(ctx: RequestContext, res: ServerResponse, route: RouteRuntime): void {
    switch (route.kind) {
      case 'proxy':
        if (route.cache !== null) serveCached(ctx, res, route.cache);
        else proxy(ctx, res, route.proxy!);
        return;
      case 'return':
        this.answer(ctx, res, route);
        return;
      default:
        ctx.req.resume();
        sendError(res, route.status, route.pages);
    }
  }

  private answer(ctx: RequestContext, res: ServerResponse, route: RouteRuntime): void {
    // nginx's 444: no response at all, the connection closed (on HTTP/2, the stream reset).
    if (route.status === 444) { res.destroy(); return; }
    // The request body, if any, is not needed: drain it so the connection stays usable.
    ctx.req.resume();
    if (route.location !== null) {
      const location = route.location(ctx);
      if (location === null) { this.unfit(ctx, res, route, 'Location'); return; }
      const headers = ['location', location, 'content-length', '0'];
      if (route.pages.serverTokens) headers.push('server', 'lbconf');
      if (!addResponseHeaders(headers, route.addOnSuccess, route.status, ctx)) { this.unfit(ctx, res, route, 'add_header'); return; }
      res.writeHead(route.status, headers);
      res.end();
      return;
    }
    const text = route.text ? route.text(ctx) : '';
    if (text === '' && route.status >= 400) { sendError(res, route.status, route.pages); return; }
    const body = Buffer.from(text);
    const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length)];
    if (route.pages.serverTokens) headers.push('server', 'lbconf');
    if (!addResponseHeaders(headers, route.addOnSuccess, route.status, ctx)) { this.unfit(ctx, res, route, 'add_header'); return; }
    res.writeHead(route.status, headers);
    res.end(ctx.req.method === 'HEAD' ? undefined : body);
  }

  private handleUpgrade(key: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node's server has let go of the socket: an error on it (a reset while a limit delays it) is ours to take.
    if (!socket.listeners('error').includes(destroyOnError)) socket.on('error', destroyOnError);
    // Behind a request still being answered on this connection: its turn comes after it (answered in order).
    const p = (socket as Pipelined)[kPipeline];
    if (p !== undefined && (p.busy || p.waiting.length > 0)) { p.upgrade = { key, req, head }; return; }
    try {
      const g = this.current();
      const listener = g?.listenerIndex.get(key);
      if (listener === undefined) { refuseUpgrade(socket, 503); return; }
      const status = admission(g!.listenerLimits[listener], req);
      if (status !== 0) { refuseUpgrade(socket, status); return; }
      const r = this.resolve(g!, listener, req);
      if (r === null) { refuseUpgrade(socket, 400); return; }
      const { ctx, route } = r;
      ctx.route = route;
      // Counted and logged like a request, when its socket closes.
      g!.observe.begin(ctx, new UpgradeRecord(req, socket) as unknown as ServerResponse, performance.now());
      // The same filters as a request: a limit_conn slot is held while the tunnel is open (its ending is the socket).
      runFilters(this.upgrades, route.filters, 0, ctx, null, socket, { socket, head });
    } catch (err) {
      this.fault(err, null, socket);
    }
  }

  /** The upgrade path's end of the pipeline: the tunnel, or a refusal written on the socket. */
  private readonly upgrades: PipelineHost<{ socket: Duplex; head: Buffer }> = {
    passed: (ctx, u) => {
      const route = ctx.route as RouteRuntime;
      if (route.kind !== 'proxy') { refuseUpgrade(u.socket, route.kind === 'return' ? route.status : 404); return; }
      proxyUpgrade(ctx, u.socket, u.head, route.proxy!);
    },
    refused: (_ctx, u, refusal) => {
      if (refusal.reason !== undefined) this.log('info', refusal.reason, { event: 'refused', status: refusal.status });
      refuseUpgrade(u.socket, refusal.status, refusal.headers);
    },
    fault: (err, u) => this.fault(err, null, u.socket),
  };

  /** Stops accepting and lets requests in flight finish (up to `graceMs`); then what is still open is destroyed. */
  async close(graceMs: number): Promise<void> {
    const open = [...this.listeners.values()];
    this.listeners.clear();
    this.closing = true;
    const closeIdle = (l: OpenListener) => (l.own ?? l.server).closeIdleConnections();
    const closed = Promise.all(open.map((l) => new Promise<void>((resolve) => { closeListener(l, resolve); closeIdle(l); })));
    const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    // A keep-alive connection whose request was in flight is idle once it is answered: close it then, not at the end of the grace.
    const sweep = setInterval(() => { for (const l of open) closeIdle(l); }, 50);
    await Promise.race([closed, timer]);
    clearInterval(sweep);
    for (const socket of this.sockets) socket.destroy();
  }
}
