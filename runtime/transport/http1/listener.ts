import type { Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { HeadLimits, Http1Request } from './request-head.ts';
import type { Http1Response } from './response-writer.ts';
import { ServerConnection } from './server-connection.ts';

// lbconf's own HTTP/1.1 listener for plain (non-TLS) ports. Node's HTTP server
// costs a proxied request more than all of lbconf's own work: an IncomingMessage
// and a ServerResponse (two streams), header objects built and validated twice,
// and a head and body written as two buffers. This listener reads the common
// request — no body, HTTP/1.1, an unremarkable head — and answers it through
// Http1Response; every other request, and the rest of its connection, goes to
// `fallback`, a Node HTTP server that never listens itself but is handed the
// socket (the 'connection' event Node documents for injecting connections).
// Node's parser and lbconf's checks there refuse whatever is hostile, exactly
// as on a listener that is Node's alone.

/** Serves a request, or answers false without having touched `res` to hand the connection to the fallback server. */
export type Http1Handler = (req: Http1Request, res: Http1Response) => boolean;

/** How often idle connections are checked against keepalive_timeout and client_header_timeout. */
const SWEEP_MS = 1000;

function sweep(listener: Http1Listener): void {
  listener.sweep(Date.now());
}

export interface Http1ListenerOptions {
  fallback: HttpServer;
  handler: Http1Handler;
  limits: HeadLimits;
  /** Called for every accepted connection, including those later handed to the fallback. */
  onConnection: (socket: Socket) => void;
}

export class Http1Listener {
  readonly server: Server;
  readonly fallback: HttpServer;
  readonly handler: Http1Handler;
  readonly connections = new Set<ServerConnection>();
  /** Updated by reloads (the header size stays what the listener opened with, as for Node's servers). */
  limits: HeadLimits;
  /** keepalive_timeout in ms (0: close after each response). */
  keepAliveTimeout = 75_000;
  /** `Keep-Alive: timeout=N[, max=M]`, as Node's server says it. */
  keepAliveValue = 'Keep-Alive: timeout=75\r\n';
  /** keepalive_requests (0: no limit). */
  maxRequests = 0;
  /** client_header_timeout: a connection that sent nothing for this long gets 408. */
  headersTimeout = 60_000;
  /** Shutting down: responses say `Connection: close`. */
  closing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(options: Http1ListenerOptions) {
    this.fallback = options.fallback;
    this.handler = options.handler;
    this.limits = options.limits;
    // allowHalfOpen as Node's HTTP server: a client's FIN does not cut the response in flight.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      options.onConnection(socket);
      this.connections.add(new ServerConnection(socket, this));
    });
    // The fallback tracks its connections (header timeouts, closing idle ones) once it is 'listening'; it never listens itself.
    this.fallback.emit('listening');
    this.timer = setInterval(sweep, SWEEP_MS, this).unref();
  }

  /** Applies keepalive_timeout, keepalive_requests and client_header_timeout to the connections served here (runtime/http/front.ts sets the fallback's). */
  configure(keepAliveTimeout: number, maxRequests: number, headersTimeout: number): void {
    this.keepAliveTimeout = keepAliveTimeout;
    this.keepAliveValue = `Keep-Alive: timeout=${Math.floor(keepAliveTimeout / 1000)}${maxRequests > 0 ? `, max=${maxRequests}` : ''}\r\n`;
    this.maxRequests = maxRequests;
    this.headersTimeout = headersTimeout;
  }

  /** @internal: closes keep-alive connections idle past keepalive_timeout; a new connection silent past client_header_timeout gets 408 (from the fallback's clientError handler, as Node would). */
  sweep(now: number): void {
    for (const c of this.connections) {
      if (c.idleSince === 0 || c.current !== null) continue;
      if (c.requests === 0) {
        if (now - c.idleSince < this.headersTimeout) continue;
        const err = Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
        this.connections.delete(c);
        // The fallback's clientError handler answers and closes; whatever the client sends now is not a request.
        c.retire();
        this.fallback.emit('clientError', err, c.socket);
      } else if (now - c.idleSince >= this.keepAliveTimeout) {
        this.connections.delete(c);
        c.socket.destroy();
      }
    }
  }

  listen(options: { port: number; host?: string; reusePort?: boolean }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(options, () => { this.server.off('error', reject); resolve(); });
    });
  }

  address(): AddressInfo | string | null {
    return this.server.address();
  }

  /** Closes connections with no request in flight, on this listener and on the fallback. */
  closeIdleConnections(): void {
    for (const c of this.connections) {
      if (c.current === null) c.close();
    }
    this.fallback.closeIdleConnections();
  }

  /**
   * Stops accepting and closes the idle connections (as Node's server.close() does); the others close
   * once their response is written. `done` runs when every connection (served here or handed off) has
   * closed; until then the sweep goes on, so a client that never reads cannot hold one past keepalive_timeout.
   */
  close(done?: () => void): void {
    this.closing = true;
    this.server.close(() => { clearInterval(this.timer); done?.(); });
    this.closeIdleConnections();
    // Stops the fallback's connection checks (it is not listening: Node reports that, and it does not matter).
    this.fallback.close(() => {});
  }
}
