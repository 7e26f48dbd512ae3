import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { UpstreamController, UpstreamHandler, UpstreamRequestOptions } from '../transport/http1/types.ts';
import type { TriedSet } from '../upstream/balancers/index.ts';
import type { ResponseFilter } from '../core/response-filter.ts';
import { failureLine, failureReason } from './failure-log.ts';
import type { RequestContext } from '../core/context.ts';
import { unfitLine } from '../core/field-value.ts';
import { cutShort, sendError, type ErrorPages } from '../core/errors.ts';
import { addResponseHeaders, clientResponseHeaders, upstreamRequestHeaders, type HeaderRule } from '../core/headers.ts';
import type { UpstreamRuntime } from './upstream.ts';
import type { ResponseSink } from '../core/sink.ts';

// One proxied request: pick a server, dispatch on its pool, stream the response
// back with backpressure, and fail over to the next server when the location's
// `proxy_next_upstream` allows it. This is the hot path: state lives in the
// fields of one Exchange object per request, and its methods are bound once.

/** `proxy_next_upstream` conditions as bits. */
export const NEXT_ERROR = 1;
export const NEXT_TIMEOUT = 2;
export const NEXT_INVALID_HEADER = 4;
export const NEXT_NON_IDEMPOTENT = 8;

/** lbconf's log, as the request path writes to it. */
export type RequestLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** What a location needs to proxy, prepared once when a Plan is loaded. */
export interface ProxyRoute {
  upstream: UpstreamRuntime;
  /** `proxy_host`: the upstream's name, the default Host sent upstream. */
  proxyHost: string;
  headers: HeaderRule[];
  /** When proxy_pass has a URI: the location prefix it replaces, and the replacement. */
  rewritePrefix: string | null;
  rewriteTo: string | null;
  headerTimeout: number;
  readTimeout: number;
  /** proxy_send_timeout: the longest the server may take none of the request body. */
  sendTimeout: number;
  /** send_timeout: the longest the client may read none of the response. */
  clientSendTimeout: number;
  requestTimeout: number;
  next: number;
  nextStatuses: ReadonlySet<number>;
  nextTries: number;
  nextTimeout: number;
  /** Response headers not passed to the client (lower case). */
  hideHeaders: ReadonlySet<string> | null;
  /** Add `Server: lbconf` to responses. */
  serverTokens: boolean;
  /** `add_header` without `always` (those with it are set by the listener for every response). */
  addHeaders: HeaderRule[] | null;
  pages: ErrorPages;
  /** client_max_body_size in bytes, 0 for none: a chunked body is counted as it streams. */
  maxBodySize: number;
  /** client_body_timeout: the longest pause between two reads of the request body, 0 for none. */
  bodyTimeout: number;
  /** gzip and friends (runtime/filters/compress/), null when off for this location. */
  compression: ResponseFilter | null;
  log: RequestLog;
}

/**
 * Counts a chunked request body on its way upstream; past the limit it stops
 * and tells the exchange, which answers 413. Made only for chunked bodies under
 * a `client_max_body_size` (a Content-Length is checked before proxying).
 */
class BodyLimit extends Transform {
  private readonly exchange: Exchange;
  private left: number;

  constructor(exchange: Exchange, max: number) {
    super();
    this.exchange = exchange;
    this.left = max;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.left -= chunk.length;
    if (this.left < 0) {
      this.exchange.bodyTooLarge();
      done(new BodyTooLargeError('request body larger than client_max_body_size'));
      return;
    }
    done(null, chunk);
  }
}

class BodyTooLargeError extends Error {
  readonly code = 'LBCONF_BODY_TOO_LARGE';
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

// Nothing was sent: safe to retry whatever the method. A closed pool (its server left in a reload) counts too.
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'LBCONF_POOL_CLOSED', 'LBCONF_POOL_DESTROYED']);

/**
 * The upstream client refused to build the request: a path or header value
 * HTTP cannot carry (values from variables are made fit before, core/field-value.ts;
 * this is the last check). Nothing was sent: 400, no retry, and the server is not blamed.
 */
export const REFUSED = new Set(['LBCONF_BAD_REQUEST_VALUE']);

/** A status line's reason phrase that Node's writers take (else none: the status alone is sent). */
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

type Failure = 'error' | 'timeout' | 'invalid_header';

function classify(err: Error & { code?: string }): { kind: Failure; status: number; connect: boolean } {
  const code = err.code ?? '';
  if (code === 'LBCONF_CONNECT_TIMEOUT') return { kind: 'timeout', status: 504, connect: true };
  if (code === 'LBCONF_HEAD_TIMEOUT' || code === 'LBCONF_BODY_TIMEOUT' || code === 'LBCONF_TIMEOUT' || code === 'LBCONF_UPSTREAM_SEND_TIMEOUT') return { kind: 'timeout', status: 504, connect: false };
  if (code.startsWith('HPE_')) return { kind: 'invalid_header', status: 502, connect: false };
  return { kind: 'error', status: 502, connect: CONNECT_ERRORS.has(code) };
}

class TimeoutError extends Error {
  readonly code = 'LBCONF_TIMEOUT';
}

/**
 * The target sent upstream, in origin form. nginx: with a URI in proxy_pass, the
 * matched prefix is replaced by it; without, the request URI goes as received.
 */
export function upstreamPath(ctx: RequestContext, r: ProxyRoute): string {
  if (r.rewritePrefix === null || r.rewriteTo === null || !ctx.uri.startsWith(r.rewritePrefix)) return ctx.requestUri;
  const rest = ctx.uri.slice(r.rewritePrefix.length);
  const path = encodeURI(r.rewriteTo + rest).replace(/[?#]/g, (c) => encodeURIComponent(c));
  return ctx.args === '' ? path : `${path}?${ctx.args}`;
}

// The Exchange a response or request belongs to: the event listeners below are
// shared module functions that find it here, rather than closures bound per request.
const kExchange = Symbol('lbconf.exchange');
type Owned = { [kExchange]?: Exchange };

function drained(this: Owned): void { this[kExchange]?.onDrain(); }
function clientClosed(this: Owned): void { this[kExchange]?.onClientClose(); }
function bodyTimedOut(this: Owned): void { this[kExchange]?.onBodyTimeout(); }
function bodyEnded(this: Owned): void { this[kExchange]?.onBodyEnd(); }
function timedOut(exchange: Exchange): void { exchange.onTimeout(); }
function zipEnded(this: Owned): void { this[kExchange]?.onZipEnd(); }
/** What the client is sent is the compressed body: count it (as nginx's $body_bytes_sent does). */
function zipData(this: Owned, chunk: Buffer): void { const e = this[kExchange]; if (e) e.countSent(chunk.length); }
function zipFailed(this: Owned): void { this[kExchange]?.onZipError(); }

export class Exchange implements UpstreamHandler {
  private readonly ctx: RequestContext;
  /** The client's response, or another sink (the cache's fetch: runtime/core/sink.ts). */
  private readonly res: ResponseSink;
  private readonly route: ProxyRoute;
  private readonly tried: TriedSet;
  private readonly method: string;
  private readonly hasBody: boolean;
  /** The request came on an HTTP/2 stream. */
  private readonly h2: boolean;
  private readonly startedAt: number;
  private readonly path: string;
  private headers: string[] | null = null;
  /** The compressor the body goes through (its output is piped to the client), or null. */
  private zip: Transform | null = null;
  private controller: UpstreamController | null = null;
  private server = -1;
  private attemptStartedAt = 0;
  private attemptOpen = false;
  /** The status of the current try (0 until it answers), and the bytes of body it received: for metrics. */
  private attemptStatus = 0;
  private attemptBytes = 0;
  /** The bytes written to `res` are what the client is sent (not a sink that counts its own). */
  private readonly relaysToClient: boolean;
  /** The response headers went to the client: no more failover. */
  private responded = false;
  /** A response whose status calls for the next server is being read and dropped. */
  private discarding = false;
  /** The response has a status listed in proxy_next_upstream (a failure for passive health, even when relayed). */
  private failedStatus = false;
  private clientGone = false;
  private finished = false;
  private lastStatus = 503;
  private timer: NodeJS.Timeout | null = null;
  /** What is sent upstream as the body: the request, or a BodyLimit counting it. */
  private body: NodeJS.ReadableStream | null = null;
  /** The body timeout is armed on the client socket. */
  private bodyTimer = false;
  /** Set when sticky routing must (re)pin the client with a Set-Cookie. */
  private pin: string | null = null;
  private readonly stickyValue: string;
  // What the balancer is asked with (upstream/balancers' PickRequest).
  /** @internal */
  now = 0;
  /** @internal: the request's `hash` key, read once. */
  key = '';
  /** @internal */
  readonly clientAddr: string;

  /** `headers`: the request headers to send, when the caller made them (the cache adds its validators); else built here. */
  constructor(ctx: RequestContext, res: ResponseSink, route: ProxyRoute, headers: string[] | null = null) {
    this.ctx = ctx;
    this.res = res;
    this.headers = headers;
    this.relaysToClient = res.countsSent !== true;
    this.route = route;
    this.tried = route.upstream.borrowTried();
    this.method = ctx.req.method ?? 'GET';
    const h = ctx.req.headers;
    // HTTP/2 has no Transfer-Encoding: a body of unknown length is a stream not ended with its headers.
    const stream = (ctx.req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream;
    this.h2 = stream !== undefined;
    this.hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0') ||
      (stream !== undefined && stream.endAfterHeaders === false && h['content-length'] === undefined);
    this.startedAt = Date.now();
    this.path = upstreamPath(ctx, route);
    this.stickyValue = route.upstream.sticky ? ctx.cookie(route.upstream.sticky.cookie) : '';
    this.clientAddr = ctx.remoteAddr;
    (res as Owned)[kExchange] = this;
    (ctx.req as Owned)[kExchange] = this;
  }

  start(): void {
    this.res.on('close', clientClosed);
    if (this.route.requestTimeout > 0) this.timer = setTimeout(timedOut, this.route.requestTimeout, this);
    if (this.hasBody) {
      const req = this.ctx.req;
      // HTTP/2: when the client resets its stream or drops its connection mid-body, Node ends the request as if its body
      // were whole, and may do so before the response's 'close': on 'aborted' the client is leaving, and the upstream
      // request is aborted before the body's end can complete it there.
      if (this.h2) req.once('aborted', clientClosed);
      if (this.route.maxBodySize > 0 && req.headers['content-length'] === undefined) {
        const limit = new BodyLimit(this, this.route.maxBodySize);
        req.pipe(limit);
        this.body = limit;
      } else {
        this.body = req;
      }
      // client_body_timeout: the idle timer of the socket (HTTP/1.1) or of the stream (HTTP/2) while the body arrives.
      if (this.route.bodyTimeout > 0 && !req.complete) {
        this.bodyTimer = true;
        req.setTimeout(this.route.bodyTimeout);
        req.on('timeout', bodyTimedOut);
        req.once('end', bodyEnded);
      }
    }
    this.route.upstream.budget.onRequest(this.startedAt);
    this.attempt();
  }

  private attempt(): void {
    if (this.finished) return;
    if (this.headers === null) {
      this.ctx.proxyHost = this.route.proxyHost;
      this.headers = upstreamRequestHeaders(this.ctx, this.route.headers);
      // Refused before any server is picked: none sees the request, none is blamed.
      if (this.headers === null) { this.unfit('proxy_set_header'); return; }
    }
    const up = this.route.upstream;
    const now = Date.now();
    // The Exchange is the pick request (now, key, clientAddr): nothing is made per try.
    this.now = now;
    if (up.hashKey !== null && this.key === '') this.key = up.hashKey(this.ctx);
    const i = up.select(this, this.stickyValue, this.tried);
    if (i < 0) {
      if (this.tried.size === 0) {
        const text = failureLine(this.ctx, up.name, '*', 'no server to try (down, drained or disabled, failing its health check, or at max_conns); answered 503', 0, now);
        if (text !== null) this.route.log('error', text, { event: 'upstream-failure', upstream: up.name, request_id: this.ctx.requestId });
      }
      this.fail(this.tried.size === 0 ? 503 : this.lastStatus);
      return;
    }
    this.pin = up.pin(i, this.stickyValue);
    this.tried.add(i);
    this.ctx.peer = i;
    this.attemptStatus = 0;
    this.attemptBytes = 0;
    this.server = i;
    this.attemptStartedAt = now;
    this.attemptOpen = true;
    this.discarding = false;
    this.failedStatus = false;
    this.controller = null;
    up.balancer.onStart(i, now);
    // Held until this try's connection reads it: a retry's new connection may take a turn to connect, and a
    // flowing body would meanwhile go to nobody (the server would get it cut).
    if (this.body !== null) this.body.pause();
    up.pools[i].dispatch({
      path: this.path,
      method: this.method,
      headers: this.headers,
      body: this.body as import('node:stream').Readable | null,
      headersTimeout: this.route.headerTimeout,
      bodyTimeout: this.route.readTimeout,
      sendTimeout: this.route.sendTimeout,
      clientTimeout: this.route.clientSendTimeout,
    } as UpstreamRequestOptions, this);
  }

  /** Closes the books on the current attempt exactly once. */
  private endAttempt(ok: boolean): void {
    if (!this.attemptOpen) return;
    this.attemptOpen = false;
    const now = Date.now();
    const up = this.route.upstream;
    const peers = up.peers;
    const i = this.server;
    // Passive health's transitions, said in the log: out after max_fails, back after a success.
    const wasOut = peers.maxFails[i] > 0 && peers.fails[i] >= peers.maxFails[i];
    up.balancer.onEnd(i, now - this.attemptStartedAt, ok, now);
    if (!wasOut && !ok && peers.failedOut(i, now)) {
      this.route.log('warn', `server ${peers.ids[i]} failed out for ${Math.round(peers.failTimeoutMs[i] / 1000)}s after ${peers.fails[i]} failure${peers.fails[i] === 1 ? '' : 's'} (max_fails)`, { event: 'passive', server: peers.ids[i], out: true });
    } else if (wasOut && ok && peers.fails[i] === 0) {
      this.route.log('info', `server ${peers.ids[i]} is back: a request succeeded after its fail_timeout`, { event: 'passive', server: peers.ids[i], out: false });
    }
    up.observe?.attempt(i, this.attemptStatus, (now - this.attemptStartedAt) / 1000, this.attemptBytes, this.tried.size > 1);
  }

  private canRetry(kind: Failure | 'status', connectError: boolean): boolean {
    const r = this.route;
    if (this.clientGone || this.responded || this.finished) return false;
    if (kind === 'error' && !(r.next & NEXT_ERROR)) return false;
    if (kind === 'timeout' && !(r.next & NEXT_TIMEOUT)) return false;
    if (kind === 'invalid_header' && !(r.next & NEXT_INVALID_HEADER)) return false;
    // A request body can be sent again only if it was never read.
    if (this.hasBody && this.ctx.req.readableDidRead) return false;
    if (!IDEMPOTENT.has(this.method) && !(r.next & NEXT_NON_IDEMPOTENT) && !connectError) return false;
    if (r.nextTries > 0 && this.tried.size >= r.nextTries) return false;
    const now = Date.now();
    if (r.nextTimeout > 0 && now - this.startedAt >= r.nextTimeout) return false;
    return r.upstream.budget.tryRetry(now);
  }

  onRequestStart(controller: UpstreamController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(controller: UpstreamController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (this.finished) return;
    this.attemptStatus = statusCode;
    if (this.route.nextStatuses.has(statusCode)) {
      this.lastStatus = statusCode;
      this.failedStatus = true;
      if (this.canRetry('status', false)) {
        // Read and drop this response, then try the next server; the body (none of it sent yet) waits for that one.
        this.discarding = true;
        if (this.body !== null) this.body.pause();
        return;
      }
    }
    const out = clientResponseHeaders(headers, this.route.hideHeaders, this.route.serverTokens);
    if (this.pin !== null) out.push('set-cookie', this.route.upstream.stickyCookie(this.pin));
    if (!addResponseHeaders(out, this.route.addHeaders, statusCode, this.ctx)) {
      // The server answered well; it is this request's add_header value that cannot be sent.
      this.endAttempt(true);
      if (!controller.aborted) controller.abort(new Error('add_header value refused'));
      this.unfit('add_header');
      return;
    }
    this.responded = true;
    if (this.route.compression !== null) this.startZip(out, statusCode);
    // HTTP/2 has no reason phrase (Node warns when given one).
    this.res.writeHead(statusCode, statusMessage && this.res.req.httpVersionMajor === 1 && REASON.test(statusMessage) ? statusMessage : undefined, out);
  }

  /** A value made from the request that a header cannot carry (runtime/core/field-value.ts): 400, and a line saying which; no server is blamed. */
  private unfit(what: string): void {
    this.route.log('info', unfitLine(what, this.ctx.remoteAddr), { event: 'unfit-header', header: what });
    this.fail(400);
  }

  /** An interim response: 103 Early Hints go on to the client (before the final response only); other 1xx end here. */
  onResponseInformation(_controller: UpstreamController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.responded || this.finished) return;
    // 102 Processing (a server still at work, RFC 2518) goes on as such; never stored (the cache's sink passes it to its client only).
    // (HTTP/2's response has no writeProcessing: there it is dropped, as HTTP/2 has no use for it.)
    if (statusCode === 102) { if (typeof this.res.writeProcessing === 'function') this.res.writeProcessing(); return; }
    if (statusCode !== 103 || headers.link === undefined) return;
    this.res.writeEarlyHints({ link: headers.link });
  }

  onResponseData(controller: UpstreamController, chunk: Buffer): void {
    this.attemptBytes += chunk.length;
    if (this.discarding || this.finished) return;
    if (this.zip !== null) {
      if (!this.zip.write(chunk)) controller.pause(); // resumed on the zip's 'drain'
      return;
    }
    if (this.relaysToClient) this.ctx.bytesSent += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', drained);
    }
  }

  /** @internal: called by the shared listener above. */
  onDrain(): void {
    this.controller?.resume();
  }

  /** Compresses the body when the route and the response call for it (edits `out`, the response headers). */
  private startZip(out: string[], status: number): void {
    const zip = this.route.compression!.wrap(this.ctx, status, out, true);
    if (zip === null) return;
    (zip as Owned)[kExchange] = this;
    zip.on('drain', drained);
    zip.on('data', zipData);
    zip.on('end', zipEnded);
    zip.on('error', zipFailed);
    // pipe() carries the client's backpressure to the zip; the response is ended in onZipEnd.
    // Only ever a client's response: a cached location compresses in the cache (its fetches' route has no compression).
    zip.pipe(this.res as ServerResponse, { end: false });
    this.zip = zip;
  }

  /** @internal: bytes of body sent to the client. */
  countSent(n: number): void {
    this.ctx.bytesSent += n;
  }

  /** @internal: the compressed body is all out. */
  onZipEnd(): void {
    this.finish();
    if (!this.res.writableEnded) this.res.end();
  }

  /** @internal: zlib failed (it does not on valid input): cut the response as for an upstream error. */
  onZipError(): void {
    if (this.finished) return;
    if (this.controller && !this.controller.aborted) this.controller.abort(new Error('compression failed'));
    this.endAttempt(true);
    this.fail(502);
  }

  onResponseEnd(): void {
    if (this.discarding) {
      this.endAttempt(false);
      // Part of the body went to that server after all: it cannot be sent whole to another.
      if (this.hasBody && this.ctx.req.readableDidRead) { this.fail(this.lastStatus); return; }
      this.attempt();
      return;
    }
    this.endAttempt(!this.failedStatus);
    if (this.zip !== null) { this.zip.end(); return; } // onZipEnd finishes
    this.finish();
    if (!this.res.writableEnded) this.res.end();
  }

  onResponseError(_controller: UpstreamController, err: Error & { code?: string }): void {
    if (this.finished) {
      // Already answered (413, 408, 504): the attempt just ends.
      this.endAttempt(true);
      return;
    }
    if (this.clientGone) {
      this.endAttempt(true); // the client left; not the server's fault
      this.finish();
      return;
    }
    if (REFUSED.has(err.code ?? '')) {
      this.endAttempt(true);
      this.fail(400);
      return;
    }
    if (err.code === 'LBCONF_BODY_LENGTH') {
      // The request body was shorter or longer than its Content-Length: the client's doing (it left mid-body), not the server's.
      this.endAttempt(true);
      this.fail(400, true);
      return;
    }
    if (err.code === 'LBCONF_SEND_TIMEOUT') {
      // send_timeout: the client read none of the response for that long. Its doing, not the server's (nginx: "client timed out").
      this.endAttempt(true);
      this.route.log('info', `client timed out: ${this.ctx.remoteAddr} read nothing of the response for send_timeout; connection closed`, { event: 'client-timeout' });
      this.finish();
      // The response is cut short: the connection closed (HTTP/1), the stream reset with an error (HTTP/2).
      cutShort(this.res);
      return;
    }
    if (err.code === 'LBCONF_INTERNAL') {
      // lbconf's own code threw while handling the response: a bug, answered 500, never the server's failure.
      this.endAttempt(true);
      const cause = (err as Error & { cause?: Error }).cause;
      this.route.log('error', `internal error while relaying a response (answered 500): ${cause?.stack ?? err.message}`, { event: 'fault' });
      this.fail(500);
      return;
    }
    const failure = classify(err);
    this.logFailure(err);
    this.endAttempt(false);
    this.lastStatus = failure.status;
    if (!this.responded && !this.finished && this.canRetry(failure.kind, failure.connect)) {
      this.attempt();
      return;
    }
    this.fail(failure.status);
  }

  /** A line in the error log saying why this try failed (rate-limited per server: http/failure-log.ts). */
  private logFailure(err: Error & { code?: string }): void {
    const up = this.route.upstream;
    const text = failureLine(this.ctx, up.name, up.addresses[this.server] ?? '', failureReason(err.code ?? '', err.message), this.tried.size, Date.now());
    if (text !== null) this.route.log(err.code?.endsWith('_TIMEOUT') ? 'warn' : 'error', text, { event: 'upstream-failure', upstream: up.name, server: up.addresses[this.server], code: err.code ?? '', try: this.tried.size, request_id: this.ctx.requestId });
  }

  /** @internal: called by the shared listener above. */
  onTimeout(): void {
    this.timer = null;
    if (this.finished) return;
    // The whole exchange is out of time: answer 504 (or cut a response under way), then stop the attempt.
    // The server's failure only when lbconf was waiting for it: not while the client's body was still coming,
    // nor while the response waited for the client to read it.
    const client = (this.hasBody && !this.ctx.req.complete) || (this.controller !== null && this.controller.paused);
    this.endAttempt(client);
    this.route.log('info', `proxy_request_timeout: the exchange with the upstream took too long${client ? ' (waiting for the client)' : ''}; answered 504 or cut`, { event: 'request-timeout', client });
    this.fail(504);
    if (this.controller && !this.controller.aborted) this.controller.abort(new TimeoutError('request timeout'));
  }

  /** The chunked body went over client_max_body_size: 413 if nothing was sent, and the upstream request is aborted. */
  bodyTooLarge(): void {
    if (this.finished) return;
    this.ctx.req.unpipe();
    this.endAttempt(true);
    this.fail(413, true);
    if (this.controller && !this.controller.aborted) this.controller.abort(new BodyTooLargeError('request body too large'));
  }

  /** The client paused longer than client_body_timeout while sending the body. */
  /** @internal: called by the shared listener above. */
  onBodyTimeout(): void {
    // Answered already: the connection is closed (HTTP/2: req.socket.destroy is the stream's, which is reset).
    if (this.finished) { this.ctx.req.socket?.destroy(); return; }
    // Body bytes wait unread: lbconf stopped reading (the server takes none: proxy_send_timeout's case), not the client.
    // Timed again from now, since no read may come to restart the timer: the client may have sent all it will.
    if (this.ctx.req.readableLength > 0) { this.ctx.req.setTimeout(this.route.bodyTimeout); return; }
    this.endAttempt(true);
    this.fail(408, true);
    if (this.controller && !this.controller.aborted) this.controller.abort(new TimeoutError('client body timeout'));
  }

  /** @internal: called by the shared listener above. */
  onBodyEnd(): void {
    this.disarmBodyTimer();
  }

  private disarmBodyTimer(): void {
    if (!this.bodyTimer) return;
    this.bodyTimer = false;
    this.ctx.req.setTimeout(0);
    this.ctx.req.off('timeout', bodyTimedOut);
  }

  /** @internal: called by the shared listener above. */
  onClientClose(): void {
    // Not res.writableFinished: when the client resets an HTTP/2 stream, Node ends its writable side.
    if (this.finished) return;
    this.clientGone = true;
    if (this.controller && !this.controller.aborted) this.controller.abort(new Error('client closed the connection'));
    this.endAttempt(true);
    this.finish();
  }

  /** Answers with lbconf's own error; `close` closes the connection after it (the request body was not all read). */
  private fail(status: number, close = false): void {
    if (this.finished) return;
    this.finish();
    if (!this.clientGone) sendError(this.res, status, this.route.pages, undefined, close);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.bodyTimer && this.ctx.req.complete) this.disarmBodyTimer();
    this.res.off('close', clientClosed);
    this.res.off('drain', drained);
    if (this.zip !== null) this.zip.destroy();
    // No server reads the rest of the body now: drop it (a paused one would hold Node's connection), as Node's server does.
    if (this.body !== null) this.body.resume();
    this.route.upstream.returnTried(this.tried);
  }
}

export function proxy(ctx: RequestContext, res: ServerResponse, route: ProxyRoute): void {
  new Exchange(ctx, res, route).start();
}
