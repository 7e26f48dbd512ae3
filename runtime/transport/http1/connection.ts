import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ParseError, ResponseParser, type ResponseHeaders, type ResponseSink } from './response-parser.ts';
import { UpstreamError, type UpstreamController, type UpstreamHandler, type UpstreamRequestOptions } from './types.ts';
import { BAD_FIELD_VALUE } from './syntax.ts';

// One keep-alive connection to an upstream server, carrying one request at a
// time. Socket listeners are bound once per connection, never per request; the
// request's state is an UpstreamRequest, which is also the handler's controller
// (so a late call on a finished request cannot touch the next one).

/** What the connection needs from its pool. */
export interface ConnectionOwner {
  /** The connection finished a request and may carry another. */
  release(conn: UpstreamConnection): void;
  /** The connection is closed for good. */
  remove(conn: UpstreamConnection): void;
  /** Send `req` again on a fresh connection (the reused one died before the server read it). */
  redispatch(req: UpstreamRequest): void;
}

const BAD_PATH = /[^\x21-\x7e\x80-\xff]/;
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class UpstreamRequest implements UpstreamController {
  readonly opts: UpstreamRequestOptions;
  readonly handler: UpstreamHandler;
  conn: UpstreamConnection | null = null;
  /** The request head, built (and checked) once. */
  headText = '';
  /** Waiting in its pool's queue for a connection: since when (ms), else 0. */
  queuedAt = 0;
  /** The pool whose queue holds it. */
  queue: { dequeue(req: UpstreamRequest): void } | null = null;
  aborted = false;
  paused = false;
  done = false;
  /** Sent once more already after a reused connection died under it. */
  redispatched = false;
  /** The body goes with chunked coding (it has no Content-Length): set by head(). */
  chunked = false;
  /** The body's length by its Content-Length, or -1 (none, or not digits): set by head(). */
  length = -1;

  constructor(opts: UpstreamRequestOptions, handler: UpstreamHandler) {
    this.opts = opts;
    this.handler = handler;
  }

  pause(): void {
    if (this.done || this.paused) return;
    this.paused = true;
    this.conn?.pause();
  }

  resume(): void {
    if (this.done || !this.paused) return;
    this.paused = false;
    this.conn?.resume();
  }

  abort(reason: Error): void {
    if (this.done || this.aborted) return;
    this.aborted = true;
    const conn = this.conn;
    if (conn !== null) { conn.fail(reason, false); return; }
    this.queue?.dequeue(this);
    this.error(reason);
  }

  /** Ends the request with an error, once. */
  error(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handler.onResponseError?.(this, err);
  }

  /** The head to write, or an error when a value cannot be sent. */
  head(): string | UpstreamError {
    const o = this.opts;
    if (BAD_PATH.test(o.path)) return new UpstreamError('LBCONF_BAD_REQUEST_VALUE', 'invalid request path');
    let head = `${o.method} ${o.path} HTTP/1.1\r\n`;
    const h = o.headers;
    let length = false;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i];
      const value = h[i + 1];
      if (BAD_FIELD_VALUE.test(value)) return new UpstreamError('LBCONF_BAD_REQUEST_VALUE', `invalid value for header ${name}`);
      if (name.length === 14 && name.toLowerCase() === 'content-length') { length = true; this.length = /^\d+$/.test(value) ? Number(value) : -1; }
      head += `${name}: ${value}\r\n`;
    }
    if (o.upgrade !== undefined) head += `connection: upgrade\r\nupgrade: ${o.upgrade}\r\n`;
    else if (o.body && !length) { head += 'transfer-encoding: chunked\r\n'; this.chunked = true; }
    return `${head}\r\n`;
  }
}

function ignore(): void {}

function lengthMismatch(how: string): UpstreamError {
  return new UpstreamError('LBCONF_BODY_LENGTH', `request body ${how} than its Content-Length`);
}

/** How long a response may wait for a client that reads none of it (nginx's send_timeout default). */
export const SEND_TIMEOUT_MS = 60_000;

const CONNECTING = 0;
const IDLE = 1;
const WAITING_HEAD = 2;
const READING_BODY = 3;
const CLOSED = 4;

const ENDED_REUSABLE = 1;
const ENDED_CLOSE = 2;

export class UpstreamConnection implements ResponseSink {
  readonly socket: Socket;
  private readonly owner: ConnectionOwner;
  private readonly parser: ResponseParser;
  private request: UpstreamRequest | null = null;
  private phase = CONNECTING;
  /** Requests this connection has completed: a reused one may be stale. */
  served = 0;
  /** Milliseconds: when the current wait (connect, head, body read, idle) times out; 0 for never. */
  deadline = 0;
  /** When the connection last went idle (for keepalive_timeout). */
  idleSince = 0;
  /** The server's own Keep-Alive timeout hint, in ms, or 0. */
  serverKeepAlive = 0;
  /** The head of a 101, kept for the hand-over that follows it. */
  private upgradeHeaders: ResponseHeaders | null = null;
  /** Unread bytes kept while the handler is paused mid-buffer. */
  private rest: Buffer | null = null;
  private body: Readable | null = null;
  private bodyChunked = false;
  /** Bytes of a Content-Length body still to send (-1: not counted). */
  private bodyLeft = -1;
  private bodyDone = true;
  /** The server stopped taking the request body: the deadline is proxy_send_timeout's. */
  private sendBlocked = false;
  /** Set when the parser completed a response during feed(): what to do with the connection after. */
  private ended = 0;
  /** Bytes of response received for the current request. */
  private received = 0;
  private readonly connectTimeout: number;

  /** How long a response may wait, paused, for a client that reads none of it. */
  private readonly sendTimeout: number;

  constructor(socket: Socket, owner: ConnectionOwner, connectTimeout: number, maxHeadSize: number, secure: boolean, sendTimeout = SEND_TIMEOUT_MS) {
    this.sendTimeout = sendTimeout;
    this.socket = socket;
    this.owner = owner;
    this.connectTimeout = connectTimeout;
    this.parser = new ResponseParser(this, maxHeadSize);
    this.deadline = connectTimeout > 0 ? Date.now() + connectTimeout : 0;
    this.onSocketData = this.onSocketData.bind(this);
    this.onClose = this.onClose.bind(this);
    this.onError = this.onError.bind(this);
    this.onConnect = this.onConnect.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onBodyData = this.onBodyData.bind(this);
    this.onBodyEnd = this.onBodyEnd.bind(this);
    this.onBodyError = this.onBodyError.bind(this);
    socket.setNoDelay(true);
    socket.on('data', this.onSocketData);
    socket.on('end', this.onClose);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('drain', this.onDrain);
    socket.once(secure ? 'secureConnect' : 'connect', this.onConnect);
  }

  get connecting(): boolean { return this.phase === CONNECTING; }
  get busy(): boolean { return this.request !== null; }

  /** Writes `req` on this connection. A connecting socket buffers it until connected. */
  send(req: UpstreamRequest): void {
    this.request = req;
    req.conn = this;
    req.queuedAt = 0;
    req.queue = null;
    this.received = 0;
    this.rest = null;
    const o = req.opts;
    this.parser.reset(o.method === 'HEAD', o.upgrade !== undefined);
    // A connection comes back from a paused response already resumed (feed), but be sure.
    if (this.socket.isPaused()) this.socket.resume();
    const body = o.body ?? null;
    this.bodyDone = body === null || o.upgrade !== undefined;
    if (this.phase !== CONNECTING) {
      this.phase = WAITING_HEAD;
      this.armHeadDeadline();
    }
    this.socket.write(req.headText, 'latin1');
    if (this.bodyDone) return;
    this.body = body;
    this.bodyChunked = req.chunked;
    this.bodyLeft = req.chunked ? -1 : req.length;
    // The body is read only once connected: a refused connection leaves it unread, so the request can go elsewhere.
    if (this.phase !== CONNECTING) this.startBody();
  }

  private startBody(): void {
    const body = this.body;
    if (body === null) return;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    if (body.readableEnded) this.onBodyEnd();
    else body.resume();
  }

  /**
   * proxy_header_timeout runs from the end of the request, not its start: an
   * upload that takes longer than the timeout is not a slow server. Until the
   * body is sent there is no head deadline (the client's body timeout and
   * proxy_request_timeout bound an upload).
   */
  private armHeadDeadline(): void {
    const t = this.request?.opts.headersTimeout ?? 0;
    this.deadline = t && this.bodyDone ? Date.now() + t : 0;
  }

  pause(): void {
    this.parser.paused = true;
    this.socket.pause();
    // The client is not reading: the response may wait for it, but not forever (nginx's send_timeout).
    // Meanwhile proxy_read_timeout does not run: the server is not the one keeping the response.
    const t = this.request?.opts.clientTimeout ?? this.sendTimeout;
    this.deadline = t > 0 ? Date.now() + t : 0;
  }

  resume(): void {
    this.parser.paused = false;
    const bt = this.request?.opts.bodyTimeout ?? 0;
    this.deadline = bt ? Date.now() + bt : 0;
    const rest = this.rest;
    this.rest = null;
    if (rest !== null) this.feed(rest);
    if (!this.parser.paused && this.phase !== CLOSED) this.socket.resume();
  }

  /** Marks the connection idle in its pool's list. */
  idle(now: number): void {
    this.phase = IDLE;
    this.idleSince = now;
    this.deadline = 0;
  }

  /** The sweeper found this connection past its deadline. */
  timeout(): void {
    if (this.sendBlocked) {
      this.fail(new UpstreamError('LBCONF_UPSTREAM_SEND_TIMEOUT', 'upstream took none of the request body for proxy_send_timeout'), false);
      return;
    }
    if (this.request !== null && this.request.paused) {
      this.fail(new UpstreamError('LBCONF_SEND_TIMEOUT', 'the client read nothing of the response for too long'), false);
      return;
    }
    const code = this.phase === CONNECTING ? 'LBCONF_CONNECT_TIMEOUT' : this.phase === WAITING_HEAD ? 'LBCONF_HEAD_TIMEOUT' : 'LBCONF_BODY_TIMEOUT';
    const what = this.phase === CONNECTING ? 'connect' : this.phase === WAITING_HEAD ? 'response head' : 'response body';
    this.fail(new UpstreamError(code, `upstream ${what} timeout`), false);
  }


  /** Closes the connection; the request on it, if any, fails with `err`. `retry`: it may be sent again elsewhere. */
  fail(err: Error, retry: boolean): void {
    const req = this.request;
    // A resend reads the body again: bytes that arrive meanwhile must wait for it, not flow to nobody.
    if (retry) this.body?.pause();
    this.close();
    if (req === null || req.done) return;
    this.request = null;
    req.conn = null;
    if (retry) { this.owner.redispatch(req); return; }
    req.error(err);
  }

  /** Destroys the socket and leaves the pool. */
  close(): void {
    if (this.phase === CLOSED) return;
    this.phase = CLOSED;
    this.deadline = 0;
    // Stops a parse under way from handing more of this buffer to anyone.
    this.parser.paused = true;
    this.detachBody();
    this.socket.destroy();
    this.owner.remove(this);
  }

  private onConnect(): void {
    if (this.phase !== CONNECTING) return;
    const req = this.request;
    if (req === null) { this.idle(Date.now()); return; }
    this.phase = WAITING_HEAD;
    this.armHeadDeadline();
    this.startBody();
  }

  private onSocketData(chunk: Buffer): void {
    if (this.request === null) {
      // Bytes nobody asked for: the connection is out of step with the server.
      this.close();
      return;
    }
    this.received += chunk.length;
    this.feed(chunk);
  }

  private feed(chunk: Buffer): void {
    const req = this.request;
    if (req === null) return;
    let at: number;
    try {
      at = this.parser.execute(chunk, 0);
    } catch (err) {
      // The parser's errors are the server's; anything else was thrown by the handler it called: lbconf's own, never the server's.
      this.fail(err instanceof ParseError ? new UpstreamError(err.code, `invalid response from upstream: ${err.message}`)
        : new UpstreamError('LBCONF_INTERNAL', `handling the response failed: ${(err as Error)?.message}`, err), false);
      return;
    }
    const ended = this.ended;
    if (ended !== 0) {
      this.ended = 0;
      // More bytes after a complete response mean the server is out of step.
      if (ended === ENDED_REUSABLE && at === chunk.length && this.phase !== CLOSED) {
        this.served++;
        // The handler may have paused on the last chunk: the next request must be read.
        this.parser.paused = false;
        this.socket.resume();
        this.owner.release(this);
      } else {
        this.close();
      }
      return;
    }
    if (this.phase === CLOSED) return;
    if (this.parser.upgraded) {
      this.upgrade(req, at < chunk.length ? chunk.subarray(at) : null);
      return;
    }
    if (at < chunk.length && this.parser.paused) this.rest = chunk.subarray(at);
  }

  onInterim(status: number, headers: ResponseHeaders): void {
    const req = this.request;
    if (req === null) return;
    req.handler.onResponseInformation?.(req, status, headers);
  }

  onHead(status: number, reason: string, headers: ResponseHeaders): void {
    const req = this.request;
    if (req === null) return;
    const ka = headers['keep-alive'];
    if (typeof ka === 'string') {
      const m = /timeout\s*=\s*(\d+)/i.exec(ka);
      this.serverKeepAlive = m ? Number(m[1]) * 1000 : 0;
    }
    if (this.parser.upgraded) { this.upgradeHeaders = headers; return; } // onRequestUpgrade follows
    this.phase = READING_BODY;
    const bt = req.opts.bodyTimeout;
    this.deadline = bt ? Date.now() + bt : 0;
    req.handler.onResponseStart?.(req, status, headers, reason);
  }

  onData(chunk: Buffer): void {
    const req = this.request;
    if (req === null) return;
    const bt = req.opts.bodyTimeout;
    if (bt && !req.paused) this.deadline = Date.now() + bt;
    req.handler.onResponseData?.(req, chunk);
  }

  onEnd(trailers: ResponseHeaders | null): void {
    const req = this.request;
    if (req === null) return;
    // Released (or closed) by feed() once the parser has returned, so that a
    // request dispatched from the handler cannot land on this connection mid-parse.
    this.ended = this.parser.keepAlive && this.bodyDone && !req.aborted ? ENDED_REUSABLE : ENDED_CLOSE;
    this.request = null;
    req.conn = null;
    req.done = true;
    req.handler.onResponseEnd?.(req, trailers);
  }

  /** Hands the socket over after a 101, with the bytes that came after the head put back in front. */
  private upgrade(req: UpstreamRequest, rest: Buffer | null): void {
    const socket = this.socket;
    this.request = null;
    req.conn = null;
    req.done = true;
    this.phase = CLOSED;
    this.deadline = 0;
    socket.off('data', this.onSocketData).off('end', this.onClose).off('close', this.onClose).off('error', this.onError).off('drain', this.onDrain);
    // Paused until the new owner reads: unshift on a flowing socket would emit at once.
    socket.pause();
    if (rest !== null) socket.unshift(rest);
    this.owner.remove(this);
    if (req.handler.onRequestUpgrade) req.handler.onRequestUpgrade(req, this.parser.status, this.upgradeHeaders!, socket);
    else socket.destroy();
  }

  private onClose(): void {
    if (this.phase === CLOSED) return;
    const req = this.request;
    if (req !== null && this.parser.readsToClose) {
      // A body delimited by the close: this is its clean end.
      this.phase = CLOSED;
      this.owner.remove(this);
      this.parser.finishAtClose();
      return;
    }
    this.onError(new UpstreamError('LBCONF_UPSTREAM_CLOSED', 'other side closed'));
  }

  private onError(err: Error): void {
    if (this.phase === CLOSED) return;
    const req = this.request;
    // A kept-alive connection that died before any byte of the answer: the server
    // most likely closed it as we wrote (the keep-alive race), and never read the
    // request. An idempotent request whose body was not read goes again, once.
    const retry = req !== null && this.served > 0 && this.received === 0 && !req.redispatched && RETRYABLE.has(req.opts.method) &&
      (req.opts.body == null || !(req.opts.body as Readable & { readableDidRead?: boolean }).readableDidRead) && req.opts.upgrade === undefined;
    if (retry) req.redispatched = true;
    this.fail(err, retry);
  }

  private onDrain(): void {
    if (this.sendBlocked) {
      this.sendBlocked = false;
      // Back to the deadline the phase has (none while the body is still going out).
      if (this.phase === WAITING_HEAD) this.armHeadDeadline();
    }
    if (this.body !== null && this.body.isPaused()) this.body.resume();
  }

  private onBodyData(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const socket = this.socket;
    let ok: boolean;
    if (this.bodyChunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      // Never more than the Content-Length said: the server would read the rest as the next request.
      if (this.bodyLeft >= 0 && (this.bodyLeft -= chunk.length) < 0) { this.fail(lengthMismatch('longer'), false); return; }
      ok = socket.write(chunk);
    }
    if (!ok) {
      this.body!.pause();
      // proxy_send_timeout: the server must take more of the body within this long (nginx: between two writes).
      const t = this.request?.opts.sendTimeout ?? 0;
      if (t > 0 && this.phase === WAITING_HEAD) { this.sendBlocked = true; this.deadline = Date.now() + t; }
    }
  }

  private onBodyEnd(): void {
    if (this.bodyDone) return;
    // Nor less: the server would take the start of the next request as the rest of this body.
    if (this.bodyLeft > 0) { this.fail(lengthMismatch('shorter'), false); return; }
    if (this.bodyChunked) this.socket.write('0\r\n\r\n', 'latin1');
    this.bodyDone = true;
    this.detachBody();
    if (this.phase === WAITING_HEAD) this.armHeadDeadline();
  }

  private onBodyError(err: Error): void {
    this.fail(err, false);
  }

  private detachBody(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.off('error', this.onBodyError);
    // The body may still fail after we stop reading it (a client_max_body_size overrun, a client reset): not an uncaught error.
    if (body.listenerCount('error') === 0) body.on('error', ignore);
  }
}
