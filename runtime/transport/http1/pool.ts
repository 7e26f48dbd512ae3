import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { UpstreamConnection, UpstreamRequest, type ConnectionOwner } from './connection.ts';
import { watch, unwatch } from './sweeper.ts';
import { UpstreamError, type UpstreamHandler, type UpstreamRequestOptions } from './types.ts';

// Keep-alive connections to one upstream server, one request per connection at
// a time. Idle connections are a stack (the most recently used goes first, so
// a quiet period lets the others time out); when `connections` caps them,
// requests wait in a FIFO queue.

export interface Http1PoolOptions {
  connectTimeout: number;
  /** How long an idle connection is kept (keepalive_timeout). */
  keepAliveTimeout: number;
  /** The most connections at once; 0 for no limit. */
  connections: number;
  /** For https upstreams. */
  tls?: ConnectionOptions;
  /** The largest response head accepted. */
  maxHeadSize?: number;
  /** How long a response may wait for a client that reads none of it (default 60 s, nginx's send_timeout). */
  sendTimeout?: number;
}

/** Node's default (--max-http-header-size): response heads over this are refused with 502. */
const MAX_HEAD_SIZE = 16 * 1024;

export class Http1Pool implements ConnectionOwner {
  readonly origin: string;
  private readonly host: string;
  private readonly port: number;
  private readonly secure: boolean;
  private readonly options: Http1PoolOptions;
  /** Every open connection, busy or idle (the sweeper walks it for deadlines). */
  readonly all = new Set<UpstreamConnection>();
  private readonly idleList: UpstreamConnection[] = [];
  private readonly queue: UpstreamRequest[] = [];
  private closing: (() => void) | null = null;
  private closed = false;

  constructor(origin: string, options: Http1PoolOptions) {
    const url = new URL(origin);
    this.origin = origin;
    this.secure = url.protocol === 'https:';
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port ? Number(url.port) : this.secure ? 443 : 80;
    this.options = options;
    watch(this);
  }

  /** Counts for tests and the status page: connections, and requests on them or waiting. */
  get stats(): { connected: number; free: number; running: number; pending: number; queued: number } {
    const free = this.idleList.length;
    const running = this.all.size - free;
    return { connected: this.all.size, free, running, pending: this.queue.length, queued: this.queue.length + running };
  }

  /** Starts a request; the handler hears of everything, errors included (never a throw). */
  dispatch(opts: UpstreamRequestOptions, handler: UpstreamHandler): boolean {
    const req = new UpstreamRequest(opts, handler);
    if (this.closed) {
      req.error(new UpstreamError('LBCONF_POOL_CLOSED', 'the pool is closed'));
      return false;
    }
    const head = req.head();
    if (typeof head !== 'string') { req.error(head); return true; }
    req.headText = head;
    // The handler gets its controller before the request may wait in the queue, so it can abort it there.
    handler.onRequestStart?.(req, null);
    if (!req.done) this.assign(req);
    return true;
  }

  /** An idle connection, a new one within the cap, or the queue. */
  private assign(req: UpstreamRequest): void {
    const conn = this.idleList.pop() ?? (this.options.connections === 0 || this.all.size < this.options.connections ? this.open() : undefined);
    if (conn !== undefined) { conn.send(req); return; }
    req.queuedAt = Date.now();
    req.queue = this;
    this.queue.push(req);
  }

  dequeue(req: UpstreamRequest): void {
    const i = this.queue.indexOf(req);
    if (i >= 0) this.queue.splice(i, 1);
    req.queue = null;
  }

  private open(): UpstreamConnection {
    const o = this.options;
    let socket: Socket;
    if (this.secure) {
      const servername = o.tls?.servername ?? (isIP(this.host) ? undefined : this.host);
      socket = tlsConnect({ ...o.tls, host: this.host, port: this.port, ALPNProtocols: ['http/1.1'], ...(servername ? { servername } : {}) });
    } else {
      socket = netConnect({ host: this.host, port: this.port });
    }
    const conn = new UpstreamConnection(socket, this, o.connectTimeout, o.maxHeadSize ?? MAX_HEAD_SIZE, this.secure, o.sendTimeout);
    this.all.add(conn);
    return conn;
  }

  release(conn: UpstreamConnection): void {
    // Queued requests were accepted before any close: they still go.
    const next = this.queue.shift();
    if (next !== undefined) { conn.send(next); return; }
    if (this.closed) { conn.close(); return; }
    conn.idle(Date.now());
    this.idleList.push(conn);
  }

  remove(conn: UpstreamConnection): void {
    if (!this.all.delete(conn)) return;
    const i = this.idleList.indexOf(conn);
    if (i >= 0) this.idleList.splice(i, 1);
    // A slot freed: the first queued request gets a new connection (one for one: no recursion over the queue).
    const next = this.queue.shift();
    if (next !== undefined) this.open().send(next);
    if (this.closing !== null && this.all.size === 0) this.finishClose();
  }

  /** Sends `req` again (the reused connection died before the server read it): within the cap, like any request. */
  redispatch(req: UpstreamRequest): void {
    if (this.closed) { req.error(new UpstreamError('LBCONF_POOL_CLOSED', 'the pool is closed')); return; }
    this.assign(req);
  }

  /** Called by the sweeper: timeouts of busy connections, and idle ones past keepalive_timeout. */
  sweep(now: number): void {
    // Waiting for a connection is part of connecting: it has the connect timeout.
    while (this.queue.length > 0 && now - this.queue[0].queuedAt >= this.options.connectTimeout && this.options.connectTimeout > 0) {
      const req = this.queue.shift()!;
      req.queue = null;
      req.error(new UpstreamError('LBCONF_CONNECT_TIMEOUT', 'no connection to the server became free in time'));
    }
    for (const conn of this.all) {
      if (conn.busy || conn.connecting) {
        if (conn.deadline > 0 && now >= conn.deadline) conn.timeout();
        continue;
      }
      const keep = conn.serverKeepAlive > 0 ? Math.min(this.options.keepAliveTimeout, conn.serverKeepAlive - 1000) : this.options.keepAliveTimeout;
      if (now - conn.idleSince >= keep) conn.close();
    }
  }

  /** Stops taking requests; resolves when those in flight (and queued) are done. */
  close(): Promise<void> {
    if (this.closed && this.closing === null) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.closing;
      this.closing = () => { previous?.(); resolve(); };
      this.closed = true;
      for (const conn of [...this.idleList]) conn.close();
      if (this.all.size === 0 && this.queue.length === 0) this.finishClose();
    });
  }

  /** Closes everything now; requests in flight fail. */
  destroy(): Promise<void> {
    this.closed = true;
    for (const req of this.queue.splice(0)) req.error(new UpstreamError('LBCONF_POOL_DESTROYED', 'the pool was destroyed'));
    for (const conn of [...this.all]) conn.fail(new UpstreamError('LBCONF_POOL_DESTROYED', 'the pool was destroyed'), false);
    this.finishClose();
    return Promise.resolve();
  }

  private finishClose(): void {
    unwatch(this);
    const done = this.closing;
    this.closing = null;
    done?.();
  }
}
