import type { Socket } from 'node:net';
import { HAND_OFF, parseRequestHead, type Http1Request } from './request-head.ts';
import { Http1Response, type ResponseOwner } from './response-writer.ts';
import type { Http1Listener } from './listener.ts';

// One client connection on lbconf's own HTTP/1.1 listener. It serves the plain
// requests itself, one at a time (pipelined ones wait in the buffer), and hands
// the connection to Node's HTTP server for good at the first request it does
// not serve: a body, an upgrade, a head split over reads, anything unusual.
// The bytes not yet answered go with it (socket.unshift), so Node's server sees
// the connection as if it had been its own from that request on.

const kConnection = Symbol('lbconf.connection');
type Owned = Socket & { [kConnection]?: ServerConnection };

function onData(this: Owned, chunk: Buffer): void { this[kConnection]!.onData(chunk); }
function onEnd(this: Owned): void { this[kConnection]!.onEnd(); }
function onClose(this: Owned): void { this[kConnection]!.onClose(); }
function onDrain(this: Owned): void { this[kConnection]!.onDrain(); }
function onError(this: Owned): void { this.destroy(); }

const parsed = { end: 0 };

export class ServerConnection implements ResponseOwner {
  readonly socket: Socket;
  private readonly listener: Http1Listener;
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

  constructor(socket: Socket, listener: Http1Listener) {
    this.socket = socket;
    this.listener = listener;
    this.idleSince = Date.now();
    (socket as Owned)[kConnection] = this;
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('drain', onDrain);
    socket.on('error', onError);
  }

  get keepAliveValue(): string {
    return this.listener.keepAliveValue;
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
  onData(chunk: Buffer): void {
    if (this.closing) return;
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
    while (this.current === null && this.buffer !== null && !this.handedOff) {
      const buffer = this.buffer;
      const req = parseRequestHead(buffer, 0, this.listener.limits, this.socket, parsed);
      if (req === HAND_OFF) { this.handOff(); return; }
      this.buffer = parsed.end < buffer.length ? buffer.subarray(parsed.end) : null;
      if (!this.start(req)) {
        // Untouched by the handler: Node's server reads this request again from its first byte.
        this.buffer = buffer;
        this.handOff();
        return;
      }
    }
  }

  private start(req: Http1Request): boolean {
    const l = this.listener;
    this.requests++;
    const res = new Http1Response(req, this, !req.close && !l.closing && (l.maxRequests === 0 || this.requests < l.maxRequests));
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
    // A listener shutting down (or dropped by a reload) closes a connection once its response is out, as nginx does.
    if (!keepAlive || this.listener.closing) { this.close(); return; }
    // As Node's server does: while the client does not read its responses, its next requests wait (and past a head's worth, are not read).
    if (this.socket.writableNeedDrain) { this.waitingDrain = true; return; }
    this.next();
  }

  /** Goes on with the requests waiting in the buffer. */
  private next(): void {
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buffer !== null) this.serveNext();
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
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onClose);
    socket.off('drain', onDrain);
    socket.off('error', onError);
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
    this.current?.closed();
    this.current = null;
    this.buffer = null;
  }
}
