import type { IncomingMessage, ServerResponse } from 'node:http';
import type Pino from 'pino';
import type { AccessLogIR } from '../../compiler/ir.ts';
import { lazy } from '../core/lazy.ts';

const pino = lazy<typeof Pino>('pino');

// The access log: one line per request, in nginx's combined format or as JSON,
// to a file or stdout. Lines go into sonic-boom's buffer (pino's destination)
// and are written by the event loop in the background: the request path only
// builds a string and appends it. A timer flushes the buffer every second, and
// close() flushes what is left.

type Destination = ReturnType<typeof Pino.destination>;

/** What a line needs beyond the request and response. */
export interface AccessEntry {
  req: IncomingMessage;
  res: ServerResponse;
  /** The client address (after real_ip). */
  remoteAddr: string;
  status: number;
  bytes: number;
  /** Seconds from the request's arrival to the end of its response. */
  seconds: number;
  serverName: string;
  location: string;
  upstream: string;
  /** `host:port` of the last upstream server tried, or ''. */
  upstreamAddr: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** nginx's $time_local: `10/Oct/2000:13:55:36 -0700`. */
export function timeLocal(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad((a / 60) | 0)}${pad(a % 60)}`;
}

// $time_local changes once a second: format it once a second, not per request.
let clockSecond = -1;
let clockText = '';
function now(): string {
  const ms = Date.now();
  const s = Math.floor(ms / 1000);
  if (s !== clockSecond) { clockSecond = s; clockText = timeLocal(new Date(ms)); }
  return clockText;
}

/** nginx escapes `"`, `\`, control characters and bytes above 0x7e in logged variables as \xHH. */
export function escapeValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/["\\\x00-\x1f\x7f-\uffff]/.test(v)) return v;
  return v.replace(/["\\\x00-\x1f\x7f-\uffff]/g, (c) => {
    const code = c.charCodeAt(0);
    if (code <= 0xff) return `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`;
    return Buffer.from(c).toString('hex').toUpperCase().replace(/(..)/g, '\\x$1');
  });
}

const dash = (v: string | undefined) => (v === undefined || v === '' ? '-' : escapeValue(v));

/** `$remote_user`: the user name of a Basic Authorization header, or ''. */
export function remoteUser(req: IncomingMessage): string {
  const h = req.headers.authorization;
  if (h === undefined || h.length < 7 || h.slice(0, 6).toLowerCase() !== 'basic ') return '';
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? '' : decoded.slice(0, colon);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** nginx's `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`. */
export function combinedLine(e: AccessEntry): string {
  const req = e.req;
  const request = `${req.method} ${req.url} HTTP/${req.httpVersion}`;
  return `${e.remoteAddr} - ${dash(remoteUser(req))} [${now()}] "${escapeValue(request)}" ${e.status} ${e.bytes} "${dash(header(req, 'referer'))}" "${dash(header(req, 'user-agent'))}"\n`;
}

/** One JSON object per line, with the combined format's fields and what a proxy adds. */
export function jsonLine(e: AccessEntry): string {
  const req = e.req;
  return JSON.stringify({
    time: new Date().toISOString(),
    remote_addr: e.remoteAddr,
    remote_user: remoteUser(req) || null,
    method: req.method,
    uri: req.url,
    protocol: `HTTP/${req.httpVersion}`,
    host: header(req, 'host') ?? header(req, ':authority') ?? null,
    status: e.status,
    body_bytes_sent: e.bytes,
    request_time: Math.round(e.seconds * 1e6) / 1e6,
    referer: header(req, 'referer') ?? null,
    user_agent: header(req, 'user-agent') ?? null,
    server_name: e.serverName,
    location: e.location || null,
    upstream: e.upstream || null,
    upstream_addr: e.upstreamAddr || null,
  }) + '\n';
}

/** One open log: where lines go, and the format they are written in. */
export class AccessLog {
  readonly format: 'combined' | 'json';
  private readonly sink: Sink;

  constructor(format: 'combined' | 'json', sink: Sink) {
    this.format = format;
    this.sink = sink;
  }

  get target(): string {
    return this.sink.target;
  }

  /** A request that will write a line here has started. */
  hold(): void {
    this.sink.pending++;
  }

  /** …and has written it. */
  release(): void {
    this.sink.release();
  }

  write(e: AccessEntry): void {
    this.sink.write(this.format === 'json' ? jsonLine(e) : combinedLine(e));
  }
}

/** A destination shared by every route that logs to it. */
class Sink {
  readonly target: string;
  private readonly dest: Destination;
  private closed = false;
  /** Lines dropped because the disk could not keep up (sonic-boom's maxLength). */
  dropped = 0;
  /** Requests in flight that will write a line here (a log a reload dropped closes when they are done). */
  pending = 0;
  /** Called when `pending` comes back to 0 after the log was retired. */
  onIdle: (() => void) | null = null;

  release(): void {
    if (--this.pending <= 0 && this.onIdle !== null) this.onIdle();
  }

  constructor(target: string, onError: (err: Error) => void) {
    this.target = target;
    this.dest = pino().destination({
      dest: target === 'stdout' ? 1 : target,
      sync: false,
      mkdir: true,
      // Batches small writes; the timer below flushes a quiet log within a second.
      minLength: 4096,
      // Past 64 MiB waiting for the disk, lines are dropped rather than memory used without bound.
      maxLength: 64 * 1024 * 1024,
    });
    this.dest.on('error', onError);
    this.dest.on('drop', () => { this.dropped++; });
  }

  write(line: string): void {
    if (!this.closed) this.dest.write(line);
  }

  flush(): void {
    if (!this.closed) this.dest.flush();
  }

  /** Log rotation: a file moved away is opened again under its name. */
  reopen(): void {
    if (!this.closed && this.target !== 'stdout') this.dest.reopen();
  }

  /** Writes what is buffered, then closes. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const dest = this.dest;
    return new Promise((resolve) => {
      // sonic-boom is not ready until its file is open: wait for that before ending it.
      const end = () => {
        dest.once('close', () => resolve());
        dest.once('error', () => resolve());
        if (this.target === 'stdout') { dest.flush(() => resolve()); return; }
        dest.end();
      };
      if ((dest as unknown as { fd: number }).fd >= 0) end();
      else dest.once('ready', end);
    });
  }
}

/**
 * Every access log the running config names, by target, kept across reloads
 * (one file is opened once, whatever the number of routes or reloads that name it).
 */
export class AccessLogs {
  private readonly sinks = new Map<string, Sink>();
  private readonly timer: NodeJS.Timeout;
  private readonly onError: (err: Error) => void;

  constructor(onError: (err: Error) => void = () => {}) {
    this.onError = onError;
    this.timer = setInterval(() => { for (const s of this.sinks.values()) s.flush(); }, 1000);
    this.timer.unref();
  }

  /** The log for one route's `access_log`, or null when it is off. */
  open(ir: AccessLogIR | null): AccessLog | null {
    if (ir === null) return null;
    let sink = this.sinks.get(ir.target);
    if (!sink) {
      sink = new Sink(ir.target, (err) => this.onError(new Error(`access_log ${ir.target}: ${err.message}`)));
      this.sinks.set(ir.target, sink);
    }
    return new AccessLog(ir.format, sink);
  }

  /**
   * Closes the logs whose target is not in `keep` (after a reload no route names them) once
   * the requests that started before the reload have written their lines to them.
   */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [target, sink] of this.sinks) {
      if (keep.has(target)) continue;
      this.sinks.delete(target);
      if (sink.pending <= 0) { closing.push(sink.close()); continue; }
      closing.push(new Promise((resolve) => { sink.onIdle = () => { sink.onIdle = null; void sink.close().then(resolve); }; }));
    }
    await Promise.all(closing);
  }

  reopen(): void {
    for (const s of this.sinks.values()) s.reopen();
  }

  /** At shutdown: every log is flushed and closed, whatever is still in flight. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const all = [...this.sinks.values()];
    this.sinks.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}
