import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UpstreamController, UpstreamHandler, UpstreamRequestOptions } from '../transport/http1/types.ts';
import type { RequestContext } from '../core/context.ts';
import { reason } from '../core/errors.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from '../core/headers.ts';
import { REFUSED, upstreamPath, type ProxyRoute } from './proxy.ts';

// Upgrade requests (WebSocket): a path of their own, not a flag on the HTTP
// path. After the upstream's 101 the two sockets are piped together and lbconf
// only watches for either side closing.

/** The status lbconf wrote on an upgrade's socket, for its access log line (see UpgradeRecord). */
const kStatus = Symbol('lbconf.upgrade-status');
type Answered = Duplex & { [kStatus]?: number };

/**
 * An upgrade as the observer counts and logs it (observe/observer.ts reads a
 * response's members): its status is what lbconf wrote on the socket (101
 * for a tunnel), and it ends when the socket closes, so a WebSocket session
 * is one line when it ends, as in nginx.
 */
export class UpgradeRecord extends EventEmitter {
  readonly req: IncomingMessage;
  headersSent = false;
  statusCode = 0;

  constructor(req: IncomingMessage, socket: Duplex) {
    super();
    this.req = req;
    socket.once('close', () => {
      const status = (socket as Answered)[kStatus];
      if (status !== undefined) { this.headersSent = true; this.statusCode = status; }
      this.emit('close');
    });
  }
}

function writeHead(socket: Duplex, status: number, headers: string[]): void {
  (socket as Answered)[kStatus] = status;
  let head = `HTTP/1.1 ${status} ${status === 101 ? 'Switching Protocols' : reason(status)}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  socket.write(head + '\r\n');
}

function refuse(socket: Duplex, status: number, extra: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  (socket as Answered)[kStatus] = status;
  const body = `${status} ${reason(status)}\n`;
  let head = `HTTP/1.1 ${status} ${reason(status)}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n`;
  for (const name in extra) head += `${name}: ${extra[name]}\r\n`;
  socket.end(`${head}\r\n${body}`);
}

class UpgradeExchange implements UpstreamHandler {
  private readonly client: Duplex;
  private readonly head: Buffer;
  private readonly route: ProxyRoute;
  private readonly server: number;
  /** The sticky cookie value to set on the response (the client was not pinned to this server), or null. */
  private readonly pin: string | null;
  private readonly startedAt = Date.now();
  private done = false;
  /** The client left before the upstream answered. */
  private gone = false;
  private controller: UpstreamController | null = null;

  constructor(client: Duplex, head: Buffer, route: ProxyRoute, server: number, pin: string | null) {
    this.client = client;
    this.head = head;
    this.route = route;
    this.server = server;
    this.pin = pin;
    this.onClientGone = this.onClientGone.bind(this);
  }

  private onClientGone(): void {
    this.gone = true;
    if (this.controller && !this.controller.aborted) this.controller.abort(new Error('client closed'));
  }

  private unwatch(): void {
    this.client.off('end', this.onClientGone).off('close', this.onClientGone);
  }

  private end(ok: boolean): void {
    if (this.done) return;
    this.done = true;
    const now = Date.now();
    this.route.upstream.balancer.onEnd(this.server, now - this.startedAt, ok, now);
  }

  onRequestStart(controller: UpstreamController): void {
    this.controller = controller;
    // Until the 101 no HTTP parser watches the client socket. Its FIN (listeners allow
    // half-open sockets, so no 'close' follows) or its close means the client gave up.
    this.client.once('end', this.onClientGone).once('close', this.onClientGone);
  }

  onRequestUpgrade(_controller: UpstreamController, statusCode: number, headers: IncomingHttpHeaders, upstream: Duplex): void {
    const client = this.client;
    this.unwatch();
    if (client.destroyed || client.readableEnded) { upstream.destroy(); client.destroy(); this.end(true); return; }
    // Upgrade and Connection are hop-by-hop and were dropped with the rest; put the protocol switch back.
    const out = clientResponseHeaders(headers, this.route.hideHeaders, this.route.serverTokens);
    out.push('connection', 'Upgrade', 'upgrade', String(headers.upgrade ?? 'websocket'));
    if (this.pin !== null) out.push('set-cookie', this.route.upstream.stickyCookie(this.pin));
    writeHead(client, statusCode, out);
    if (this.head.length > 0) upstream.write(this.head);
    upstream.pipe(client);
    client.pipe(upstream);
    const close = () => { upstream.destroy(); client.destroy(); this.end(true); };
    upstream.on('error', close).on('close', close);
    client.on('error', close).on('close', close);
  }

  onResponseStart(controller: UpstreamController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.unwatch();
    // The upstream declined the upgrade: relay its answer and close.
    const out = clientResponseHeaders(headers, this.route.hideHeaders, this.route.serverTokens);
    out.push('connection', 'close');
    if (this.pin !== null) out.push('set-cookie', this.route.upstream.stickyCookie(this.pin));
    writeHead(this.client, statusCode, out);
    void controller;
  }

  onResponseData(_controller: UpstreamController, chunk: Buffer): void {
    this.client.write(chunk);
  }

  onResponseEnd(): void {
    this.client.end();
    this.end(true);
  }

  onResponseError(_controller: UpstreamController, err: Error & { code?: string }): void {
    // Not the server's fault: the client left, or lbconf's client refused a header value the client supplied.
    const refused = REFUSED.has(err.code ?? '');
    const gone = this.gone || this.client.destroyed;
    this.end(refused || gone);
    if (gone) { this.client.destroy(); return; }
    refuse(this.client, refused ? 400 : err.code === 'LBCONF_HEAD_TIMEOUT' || err.code === 'LBCONF_CONNECT_TIMEOUT' ? 504 : 502);
  }
}

export function proxyUpgrade(ctx: RequestContext, client: Duplex, head: Buffer, route: ProxyRoute): void {
  ctx.proxyHost = route.proxyHost;
  const headers = upstreamRequestHeaders(ctx, route.headers);
  // A proxy_set_header value made from the request that a header cannot carry: refused before any server is picked.
  if (headers === null) { refuse(client, 400); return; }
  const up = route.upstream;
  const now = Date.now();
  const tried = up.peers.newTried();
  const stickyValue = up.sticky ? ctx.cookie(up.sticky.cookie) : '';
  const i = up.select({ now, key: up.hashKey ? up.hashKey(ctx) : '', clientAddr: ctx.remoteAddr }, stickyValue, tried);
  if (i < 0) { refuse(client, 503); return; }
  // Sticky: (re)pin a client whose cookie did not name this server, as proxied requests do.
  const pin = up.pin(i, stickyValue);
  up.balancer.onStart(i, now);
  client.on('error', () => client.destroy());
  up.pools[i].dispatch({
    path: upstreamPath(ctx, route),
    method: ctx.req.method ?? 'GET',
    headers,
    upgrade: String(ctx.req.headers.upgrade ?? 'websocket'),
    headersTimeout: route.headerTimeout,
  } as UpstreamRequestOptions, new UpgradeExchange(client, head, route, i, pin));
}

export { refuse as refuseUpgrade };
