import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Http1Request } from './request-head.ts';
import { BAD_FIELD_VALUE, TOKEN } from './syntax.ts';

// The response to a request lbconf's listener serves itself: the members of
// Node's ServerResponse the runtime uses (runtime/core/sink.ts, runtime/core/errors.ts,
// runtime/observe/), writing HTTP/1.1 straight to the socket. What Node would
// add, this adds the same way: Date, Connection and Keep-Alive, and
// Content-Length when the whole body comes with end() or else chunked framing.
// A small response leaves in one write: head and body in one buffer.

/** What the response needs of its connection (runtime/transport/http1/server-connection.ts). */
export interface ResponseOwner {
  write(data: Buffer | string): boolean;
  /** Calls `done` once what was written so far has gone to the kernel; false (and no call) when nothing waits, so the caller goes on at once. */
  afterFlush(done: () => void): boolean;
  cork(): void;
  uncork(): void;
  /** `Keep-Alive: timeout=N` for this listener's keepalive_timeout. */
  readonly keepAliveValue: string;
  /** The response is written: serve the next request, or close when `keepAlive` is false. */
  responseDone(res: Http1Response, keepAlive: boolean): void;
  destroy(): void;
}

/** Node's tests of a Transfer-Encoding and a Connection value given to writeHead. */
const CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;
const CLOSE = /(?:^|\W)close(?:$|\W)/i;

let dateSecond = 0;
let dateValue = '';

/** The Date header, formatted once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** Bodies up to this size are copied behind their head (one small write); larger ones go beside it in a writev. */
const COPY_LIMIT = 16 * 1024;
/** A chunk after the head is copied behind its size line only up to this. */
const SMALL_CHUNK = 512;

function invalidHeader(name: string): TypeError {
  const err = new TypeError(`Invalid character in header content ["${name}"]`) as TypeError & { code: string };
  err.code = 'ERR_INVALID_CHAR';
  return err;
}

function emitClose(res: Http1Response): void {
  res.emit('close');
}

function finished(res: Http1Response): void {
  if (res.closeSent) return;
  res.closeSent = true;
  res.emit('close');
  res.owner.responseDone(res, res.keepAlive);
}

export class Http1Response extends EventEmitter {
  readonly req: Http1Request;
  /** @internal */
  readonly owner: ResponseOwner;
  statusCode = 200;
  headersSent = false;
  destroyed = false;
  writableEnded = false;
  writableFinished = false;
  /** The connection stays open after this response. */
  keepAlive: boolean;
  /** @internal: 'close' was emitted (once, as Node does). */
  closeSent = false;
  /** The length of a body given whole to end(), under the name Node's ServerResponse gives it (runtime/observe/ counts it). */
  _contentLength: number | null = null;
  /** Headers set before writeHead (setHeader), as name/value pairs. */
  private early: string[] | null = null;
  /** The head as writeHead composed it, without the framing fields and the blank line. */
  private head = '';
  private hasBody = true;
  private framed = false;
  private chunked = false;
  private headWritten = false;

  constructor(req: Http1Request, owner: ResponseOwner, keepAlive: boolean) {
    super();
    this.req = req;
    this.owner = owner;
    this.keepAlive = keepAlive;
  }

  setHeader(name: string, value: string | number): this {
    const early = (this.early ??= []);
    const key = name.toLowerCase();
    for (let i = 0; i < early.length; i += 2) {
      if (early[i].toLowerCase() === key) { early[i + 1] = String(value); return this; }
    }
    early.push(name, String(value));
    return this;
  }

  writeHead(status: number, reason?: string | string[] | Record<string, string | number>, headers?: string[] | Record<string, string | number>): this {
    // writeHead(status, headers) or writeHead(status, reason, headers), the reason possibly undefined (Node's forms).
    if (typeof reason !== 'string') {
      if (headers === undefined) headers = reason as string[] | Record<string, string | number> | undefined;
      reason = undefined;
    }
    const list: string[] = [];
    if (Array.isArray(headers)) list.push(...headers);
    else if (headers !== undefined) for (const name in headers) list.push(name, String(headers[name]));
    // As Node does: a header given to writeHead replaces one set before with setHeader.
    if (this.early !== null) {
      for (let i = 0; i < this.early.length; i += 2) {
        const key = this.early[i].toLowerCase();
        let given = false;
        for (let j = 0; j < list.length; j += 2) if (list[j].toLowerCase() === key) { given = true; break; }
        if (!given) list.push(this.early[i], this.early[i + 1]);
      }
    }
    this.statusCode = status;
    const method = this.req.method;
    this.hasBody = method !== 'HEAD' && status !== 204 && status !== 304 && status >= 200;
    let head = `HTTP/1.1 ${status} ${reason ?? STATUS_CODES[status] ?? 'unknown'}\r\n`;
    let date = false;
    // Given by the caller: then not added here (as Node does).
    let connection = false;
    let keepAliveGiven = false;
    let teChunked = false;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i];
      const value = list[i + 1];
      if (!TOKEN.test(name)) throw invalidHeader(name);
      if (BAD_FIELD_VALUE.test(value)) throw invalidHeader(name);
      head += `${name}: ${value}\r\n`;
      if (name.length === 14 && name.toLowerCase() === 'content-length') this.framed = true;
      else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        // A chunked body is framed here, as Node does; any other coding leaves the body's end to the close (RFC 9112 §6.3).
        this.framed = true;
        if (CHUNKED.test(value)) teChunked = true;
        else this.keepAlive = false;
      } else if (name.length === 10 && name.toLowerCase() === 'connection') { connection = true; if (CLOSE.test(value)) this.keepAlive = false; }
      else if (name.length === 10 && name.toLowerCase() === 'keep-alive') keepAliveGiven = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
    }
    // As Node: a 204 or 304 said to be chunked gets no chunks, and the connection closes (a proxy in front could wait for one).
    if (teChunked) {
      if (status === 204 || status === 304) this.keepAlive = false;
      else this.chunked = this.hasBody;
    }
    if (!date) head += `Date: ${httpDate()}\r\n`;
    if (!connection) head += this.keepAlive ? `Connection: keep-alive\r\n${keepAliveGiven ? '' : this.owner.keepAliveValue}` : 'Connection: close\r\n';
    this.head = head;
    this.headersSent = true;
    return this;
  }

  /** 102 Processing, sent at once (as Node's writeProcessing). */
  writeProcessing(): void {
    this.owner.write('HTTP/1.1 102 Processing\r\n\r\n');
  }

  /** 103 Early Hints, sent at once. */
  writeEarlyHints(hints: Record<string, string | string[]>): void {
    let head = 'HTTP/1.1 103 Early Hints\r\n';
    for (const name in hints) {
      const v = hints[name];
      const value = Array.isArray(v) ? v.join(', ') : v;
      if (!TOKEN.test(name) || BAD_FIELD_VALUE.test(value)) throw invalidHeader(name);
      head += `${name}: ${value}\r\n`;
    }
    this.owner.write(`${head}\r\n`);
  }

  write(chunk: Buffer): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const head = this.headWritten ? '' : this.finalHead(-1);
    if (!this.hasBody || chunk.length === 0) return head === '' || this.owner.write(head);
    if (!this.chunked) return this.send(head, chunk, '');
    // After the head, a chunk is copied behind its size line only when tiny: a stream of 16 KiB chunks
    // (a compressor's) would otherwise be held twice while the client reads.
    return this.send(`${head}${chunk.length.toString(16)}\r\n`, chunk, '\r\n', head === '' ? SMALL_CHUNK : COPY_LIMIT);
  }

  end(chunk?: Buffer): this {
    if (this.writableEnded || this.destroyed) return this;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const body = this.hasBody && chunk !== undefined && chunk.length > 0 ? chunk : null;
    if (!this.headWritten && !this.chunked) {
      this._contentLength = body === null ? 0 : body.length;
      const head = this.finalHead(this._contentLength);
      if (body === null) this.owner.write(head);
      else this.send(head, body, '');
    } else if (body !== null) {
      this.write(body);
    } else if (!this.headWritten) {
      this.owner.write(this.finalHead(-1));
    }
    if (this.chunked) this.owner.write('0\r\n\r\n');
    this.writableEnded = true;
    // Finished (and 'close', which limit_conn, the logs and the next request wait for) once the bytes have left,
    // as Node's ServerResponse: a slow reader of a large body still holds its request until then.
    if (!this.owner.afterFlush(() => { this.writableFinished = true; finished(this); })) {
      this.writableFinished = true;
      process.nextTick(finished, this);
    }
    return this;
  }

  /** The head with its framing: Content-Length when the body's length is known (`length` ≥ 0), else chunked. */
  private finalHead(length: number): string {
    this.headWritten = true;
    let head = this.head;
    if (!this.framed && this.hasBody) {
      if (length >= 0) head += `Content-Length: ${length}\r\n`;
      else { head += 'Transfer-Encoding: chunked\r\n'; this.chunked = true; }
    }
    return `${head}\r\n`;
  }

  /** `prefix`, `body` and `suffix` in one write: copied into one buffer when small, else corked into one writev. */
  private send(prefix: string, body: Buffer, suffix: string, copyLimit = COPY_LIMIT): boolean {
    // Nothing to join it to: the body goes as it is (a cached body's chunks are shared, never copied per client).
    if (prefix === '' && suffix === '') return this.owner.write(body);
    if (body.length <= copyLimit) {
      const out = Buffer.allocUnsafe(prefix.length + body.length + suffix.length);
      // Heads are latin1 (writeHead refuses anything above U+00FF): one byte per character.
      out.write(prefix, 0, 'latin1');
      body.copy(out, prefix.length);
      if (suffix !== '') out.write(suffix, prefix.length + body.length, 'latin1');
      return this.owner.write(out);
    }
    this.owner.cork();
    if (prefix !== '') this.owner.write(prefix);
    let more = this.owner.write(body);
    if (suffix !== '') more = this.owner.write(suffix);
    this.owner.uncork();
    return more;
  }

  /** Cuts the connection (the response cannot be completed). */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.owner.destroy();
    return this;
  }

  /** @internal: the connection closed before the response was done. */
  closed(): void {
    this.destroyed = true;
    if (this.writableFinished || this.closeSent) return;
    this.closeSent = true;
    process.nextTick(emitClose, this);
  }
}
