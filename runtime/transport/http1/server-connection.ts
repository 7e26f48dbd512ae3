import type { Socket } from 'node:net';
import { HAND_OFF, parseRequestHead, type BodySource, type HeadLimits, type Http1Request } from './request-head.ts';
import { Http1Response, type ResponseOwner } from './response-writer.ts';

// One client connection on lbconf's own HTTP/1.1 listener. It serves the plain
// requests itself, one at a time (pipelined ones wait in the buffer), and hands
// the connection to Node's HTTP server for good at the first request it does
// not serve: a chunked body, an upgrade, a head split over reads, anything
// unusual. A Content-Length body is pushed into its request's stream as it
// arrives, with backpressure; one the response did not wait for is read and
// dropped, so that the next request starts where it should.
// The bytes not yet answered go with it (socket.unshift), so Node's server sees
// the connection as if it had been its own from that request on.

/** What a connection needs of its listener (listener.ts, Http1Listener). */
export interface ConnectionOwner {
  readonly keepAliveValue: string;
  readonly limits: HeadLimits;
  readonly closing: boolean;
  /** 0: no limit. */
  readonly maxRequests: number;
  readonly connections: Set<ServerConnection>;
  /** Node's HTTP server, which takes the connections handed off (by its 'connection' event). */
  readonly fallback: { emit(event: 'connection', socket: Socket): boolean };
  /** Serves a request: false when it is not served here (the connection is handed off). */
  handler(req: Http1Request, res: Http1Response): boolean;
}

const kConnection = Symbol('lbconf.connection');
type Owned = Socket & { [kConnection]?: ServerConnection };

function onData(this: Owned, chunk: Buffer): void { this[kConnection]!.onData(chunk); }
function onEnd(this: Owned): void { this[kConnection]!.onEnd(); }
function onClose(this: Owned): void { this[kConnection]!.onClose(); }
function onDrain(this: Owned): void { this[kConnection]!.onDrain(); }
function onError(this: Owned): void { this.destroy(); }
function onTimeout(this: Owned): void { this[kConnection]!.onTimeout(); }

/** The socket's events the connection listens to, with module functions (no closure per connection); removed at hand-off. */
const SOCKET_EVENTS: ReadonlyArray<readonly [string, (this: Owned, chunk: Buffer) => void]> = [
  ['data', onData], ['end', onEnd], ['close', onClose], ['drain', onDrain], ['error', onError], ['timeout', onTimeout],
];

const parsed = { end: 0 };
const EMPTY = Buffer.alloc(0);

export class ServerConnection implements ResponseOwner, BodySource {
  readonly socket: Socket;
  private readonly listener: ConnectionOwner;
  /** Bytes received and not yet served. */
  private buffer: Buffer | null = null;
  /** The response being written, or null between requests. */
  current: Http1Response | null = null;
  /** Requests served on this connection. */
  requests = 0;
  /** When the connection last had nothing to do (opened, or its last response written); 0 while serving. */
  idleSince: number;
  private handedOff = false;
  /** The last response is written and the connection is closing: what the client sends now is not read as requests. */
  private closing = false;
  /** The client is not reading what was written: the next request waits for 'drain'. */
  private waitingDrain = false;
  /** The request whose body is arriving (null when it is being dropped, or none is). */
  private body: Http1Request | null = null;
  /** Bytes of that body still to come. */
  private bodyLeft = 0;
  /** Reading stopped because the body's reader is full. */
  private bodyPaused = false;

  constructor(socket: Socket, listener: ConnectionOwner) {
    this.socket = socket;
    this.listener = listener;
    this.idleSince = Date.now();
    (socket as Owned)[kConnection] = this;
    for (const [event, listener] of SOCKET_EVENTS) socket.on(event, listener);
  }

  get keepAliveValue(): string {
    return this.listener.keepAliveValue;
  }

  afterFlush(done: () => void): boolean {
    if (this.socket.writableLength === 0 || this.socket.destroyed) return false;
    // An empty write's callback runs once everything before it is flushed.
    this.socket.write(EMPTY, done);
    return true;
  }

  write(data: Buffer | string): boolean {
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** @internal */
  onData(data: Buffer): void {
    if (this.closing) return;
    let chunk: Buffer | null = data;
    if (this.bodyLeft > 0 && (chunk = this.feedBody(data)) === null) return;
    this.buffer = this.buffer === null ? chunk : Buffer.concat([this.buffer, chunk]);
    if (this.current !== null || this.waitingDrain) {
      // Pipelined requests wait for the response in flight; past a head's worth, stop reading.
      if (this.buffer.length > this.listener.limits.maxHeaderSize) this.socket.pause();
      return;
    }
    this.serveNext();
  }

  /** Serves the buffered requests in order while each is answered at once; hands off at the first one not served here. */
  private serveNext(): void {
    while (this.current === null && this.bodyLeft === 0 && this.buffer !== null && !this.handedOff) {
      const buffer = this.buffer;
      const req = parseRequestHead(buffer, 0, this.listener.limits, this.socket, parsed);
      if (req === HAND_OFF) { this.handOff(); return; }
      this.buffer = parsed.end < buffer.length ? buffer.subarray(parsed.end) : null;
      if (req.bodyLength > 0) { this.body = req; this.bodyLeft = req.bodyLength; req.source = this; }
      if (!this.start(req)) {
        // Untouched by the handler: Node's server reads this request again from its first byte.
        this.body = null;
        this.bodyLeft = 0;
        this.buffer = buffer;
        this.handOff();
        return;
      }
      if (this.bodyLeft > 0 && this.buffer !== null) this.buffer = this.feedBody(this.buffer);
    }
  }

  /** Passes the body's bytes at the front of `data` on (or drops them); returns what follows the body, or null. */
  private feedBody(data: Buffer): Buffer | null {
    const n = Math.min(this.bodyLeft, data.length);
    this.bodyLeft -= n;
    const req = this.body;
    // Dropped when nobody reads it any more (its response is written): the requests after it then go on.
    if (req !== null) {
      const more = req.push(n === data.length ? data : data.subarray(0, n));
      if (this.bodyLeft === 0) {
        this.body = null;
        req.source = null;
        req.complete = true;
        req.push(null);
      } else if (!more) {
        this.bodyPaused = true;
        this.socket.pause();
      }
    }
    // client_body_timeout ends with the body, whoever reads it.
    if (this.bodyLeft === 0) this.socket.setTimeout(0);
    return n === data.length ? null : data.subarray(n);
  }

  /** @internal: the body's reader wants more. */
  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    if (!this.waitingDrain) this.socket.resume();
  }

  /** @internal: the socket's idle timer (client_body_timeout, set through the request) ran out. */
  onTimeout(): void {
    const req = this.body;
    if (req !== null && req.listenerCount('timeout') > 0) req.emit('timeout');
    else this.socket.destroy();
  }

  private start(req: Http1Request): boolean {
    const l = this.listener;
    this.requests++;
    const res = new Http1Response(req, this, !req.closeAfter && !l.closing && (l.maxRequests === 0 || this.requests < l.maxRequests));
    this.current = res;
    this.idleSince = 0;
    if (l.handler(req, res)) return true;
    this.current = null;
    this.requests--;
    return false;
  }

  /** @internal: the response is written. */
  responseDone(res: Http1Response, keepAlive: boolean): void {
    if (this.current !== res) return;
    this.current = null;
    if (this.socket.destroyed) return;
    this.idleSince = Date.now();
    if (this.bodyLeft > 0 && this.body !== null) {
      // Answered before its body was all read (413, an early upstream answer): the rest is read and dropped, as Node's server does.
      const req = this.body;
      this.body = null;
      req.source = null;
      if (this.bodyPaused) { this.bodyPaused = false; this.socket.resume(); }
    }
    // A listener shutting down (or dropped by a reload) closes a connection once its response is out, as nginx does.
    if (!keepAlive || this.listener.closing) { this.close(); return; }
    // As Node's server does: while the client does not read its responses, its next requests wait (and past a head's worth, are not read).
    if (this.socket.writableNeedDrain) { this.waitingDrain = true; return; }
    this.next();
  }

  /** Goes on with the requests waiting in the buffer (once a dropped body is all read). */
  private next(): void {
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buffer !== null && this.bodyLeft === 0) this.serveNext();
  }

  /** @internal */
  onDrain(): void {
    if (this.current !== null) this.current.emit('drain');
    else if (this.waitingDrain) { this.waitingDrain = false; this.next(); }
  }

  /**
   * Closes the connection for good: the bytes written go first, then the socket
   * (Node's server does the same, destroySoon). Not ended alone, which would
   * leave it half-open for as long as the client keeps its side open; and
   * nothing the client sends from now on is served.
   */
  close(): void {
    if (this.closing) return;
    this.retire();
    if (!this.socket.destroyed) this.socket.destroySoon();
  }

  /** Serves nothing more on this connection: what the client sends is dropped. */
  retire(): void {
    this.closing = true;
    this.waitingDrain = false;
    this.buffer = null;
  }

  /** Gives the connection, and the bytes not yet served, to Node's HTTP server. */
  private handOff(): void {
    const socket = this.socket;
    this.handedOff = true;
    this.listener.connections.delete(this);
    for (const [event, listener] of SOCKET_EVENTS) socket.off(event, listener);
    (socket as Owned)[kConnection] = undefined;
    if (this.buffer !== null) socket.unshift(this.buffer);
    this.buffer = null;
    if (socket.isPaused()) socket.resume();
    this.listener.fallback.emit('connection', socket);
  }

  /** @internal: the client sent FIN. As Node's HTTP server does (and nginx), a request in flight is abandoned: the client has gone. */
  onEnd(): void {
    if (this.current !== null) { this.socket.destroy(); return; }
    // Requests not yet served are abandoned too (Node's server ends the socket on a FIN); responses written still go out.
    this.close();
  }

  /** @internal */
  onClose(): void {
    this.listener.connections.delete(this);
    // The response's 'close' first: whoever reads the body then knows the client left, before the body fails.
    this.current?.closed();
    this.current = null;
    this.buffer = null;
    const req = this.body;
    if (req !== null) {
      // The client left in the middle of its body: as an IncomingMessage, aborted (an error only for those listening for one).
      this.body = null;
      req.aborted = true;
      req.destroy(req.listenerCount('error') > 0 ? Object.assign(new Error('aborted'), { code: 'ECONNRESET' }) : undefined);
    }
  }
}
