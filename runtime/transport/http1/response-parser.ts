// A strict, incremental HTTP/1.1 response parser (RFC 9112) for lbconf's own
// upstream client. It reads what a proxy must: the status line, headers,
// framing by Content-Length, chunked coding or connection close, trailers, and
// interim 1xx responses. It refuses what a proxy must not pass on: obsolete line
// folding, bare CR or LF, control characters in values, a malformed or
// conflicting Content-Length, Content-Length together with Transfer-Encoding
// (a smuggling vector), and heads over the size limit.
//
// Bodies are handed to the sink as views of the socket's own buffers: no copy.
// The sink can pause in the middle of a buffer; `execute` then returns how far
// it got and the caller keeps the rest for `resume`.
//
// A response it refuses throws a ParseError whose code is llhttp's name for the
// same fault (HPE_INVALID_HEADER_TOKEN, HPE_HEADER_OVERFLOW, ...), as Node's own
// parser would report it; runtime/http/proxy.ts answers every HPE_ code with 502.

import { BAD_FIELD_VALUE, CONTENT_LENGTH, TOKEN } from './syntax.ts';

/** The header values of one response, by lower-case name; a repeated header is an array. */
export type ResponseHeaders = Record<string, string | string[]>;

export interface ResponseSink {
  /** An interim response (1xx other than 101). */
  onInterim(status: number, headers: ResponseHeaders): void;
  /** The final response's head. */
  onHead(status: number, reason: string, headers: ResponseHeaders): void;
  onData(chunk: Buffer): void;
  onEnd(trailers: ResponseHeaders | null): void;
}

export class ParseError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

const HEAD = 0;
const BODY_LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_DATA_END = 4;
const TRAILERS = 5;
const BODY_EOF = 6;
const DONE = 7;
const UPGRADED = 8;

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;
const CHUNK_LINE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?$/;

/** The longest chunk-size line or trailer section accepted. */
const MAX_LINE = 4096;

export class ResponseParser {
  /** The largest response head accepted (status line and headers). */
  readonly maxHeadSize: number;
  private readonly sink: ResponseSink;
  private state = DONE;
  /** A head or chunk line split across reads, kept until its end arrives. */
  private partial: Buffer | null = null;
  /** Bytes of body (or of the current chunk) still to come. */
  private left = 0;
  private headRequest = false;
  private upgradeRequest = false;
  private trailerBytes = 0;
  private trailers: ResponseHeaders | null = null;
  /** Responses completed: execute() stops at the end of one. */
  private messages = 0;
  /** Set by the sink (through the connection) to stop delivering data mid-buffer. */
  paused = false;
  /** The response allows the connection to carry another request. */
  keepAlive = false;
  /** The status of the final response, 0 until its head is read. */
  status = 0;

  constructor(sink: ResponseSink, maxHeadSize: number) {
    this.sink = sink;
    this.maxHeadSize = maxHeadSize;
  }

  /** Ready for the response to a new request. */
  reset(headRequest: boolean, upgradeRequest: boolean): void {
    this.state = HEAD;
    this.partial = null;
    this.left = 0;
    this.headRequest = headRequest;
    this.upgradeRequest = upgradeRequest;
    this.trailers = null;
    this.trailerBytes = 0;
    this.paused = false;
    this.keepAlive = false;
    this.status = 0;
  }

  get done(): boolean { return this.state === DONE; }
  get upgraded(): boolean { return this.state === UPGRADED; }
  /** The body runs until the connection closes. */
  get readsToClose(): boolean { return this.state === BODY_EOF; }

  /**
   * Consumes `buf` from `offset`; returns the offset reached: `buf.length`
   * unless the sink paused, the response ended (the rest is not this
   * response's), or the connection was upgraded (the rest belongs to the new
   * protocol). Throws ParseError on a malformed response.
   */
  execute(buf: Buffer, offset: number): number {
    let at = offset;
    const messages = this.messages;
    while (at < buf.length && !this.paused) {
      switch (this.state) {
        case HEAD: at = this.readHead(buf, at); break;
        case BODY_LENGTH: {
          const n = Math.min(this.left, buf.length - at);
          this.left -= n;
          const chunk = buf.subarray(at, at + n);
          at += n;
          if (this.left === 0) this.state = DONE;
          this.sink.onData(chunk);
          if (this.state === DONE) this.end(null);
          break;
        }
        case CHUNK_SIZE: at = this.readChunkSize(buf, at); break;
        case CHUNK_DATA: {
          const n = Math.min(this.left, buf.length - at);
          this.left -= n;
          const chunk = buf.subarray(at, at + n);
          at += n;
          if (this.left === 0) { this.state = CHUNK_DATA_END; this.left = 2; }
          this.sink.onData(chunk);
          break;
        }
        case CHUNK_DATA_END: {
          // The CRLF after a chunk's data, possibly split across reads.
          const expected = this.left === 2 ? 13 : 10;
          if (buf[at] !== expected) throw new ParseError('HPE_INVALID_CHUNK_SIZE', 'chunk data not followed by CRLF');
          at++;
          if (--this.left === 0) this.state = CHUNK_SIZE;
          break;
        }
        case TRAILERS: at = this.readTrailers(buf, at); break;
        case BODY_EOF: {
          const chunk = at === 0 ? buf : buf.subarray(at);
          at = buf.length;
          this.sink.onData(chunk);
          break;
        }
        default:
          // DONE or UPGRADED: what follows is not part of this response.
          return at;
      }
      if (this.messages !== messages || this.state === DONE || this.state === UPGRADED) return at;
    }
    return at;
  }

  /** Completes the response. The sink may start the next one at once (reset), so callers return right after. */
  private end(trailers: ResponseHeaders | null): void {
    this.messages++;
    this.sink.onEnd(trailers);
  }

  /** The connection closed: true when that ends the response cleanly (a body read to close). */
  finishAtClose(): boolean {
    if (this.state !== BODY_EOF) return false;
    this.state = DONE;
    this.end(null);
    return true;
  }

  /** Finds the end of a line block (`\r\n\r\n`), keeping partial data; returns the block or null with everything consumed. */
  private block(buf: Buffer, at: number, limit: number, what: string): { text: string; next: number } | null {
    let data = buf;
    let start = at;
    let carried = 0;
    if (this.partial !== null) {
      carried = this.partial.length;
      data = Buffer.concat([this.partial, buf.subarray(at)]);
      start = 0;
      this.partial = null;
    }
    // Resume the search a little before the new bytes, in case the terminator straddles them.
    const end = data.indexOf('\r\n\r\n', Math.max(start, carried - 3), 'latin1');
    if (end < 0) {
      if (data.length - start > limit) throw new ParseError('HPE_HEADER_OVERFLOW', `${what} larger than ${limit} bytes`);
      this.partial = start === 0 && data !== buf ? data : Buffer.from(data.subarray(start));
      return null;
    }
    if (end - start > limit) throw new ParseError('HPE_HEADER_OVERFLOW', `${what} larger than ${limit} bytes`);
    const text = data.toString('latin1', start, end);
    // Offset in `buf` just past the terminator.
    const next = data === buf ? end + 4 : at + (end + 4 - carried);
    return { text, next };
  }

  private readHead(buf: Buffer, at: number): number {
    // Tolerate, as common parsers do, empty lines before a status line.
    if (this.partial === null) while (at + 1 < buf.length && buf[at] === 13 && buf[at + 1] === 10) at += 2;
    const found = this.block(buf, at, this.maxHeadSize, 'response head');
    if (found === null) return buf.length;
    const { text, next } = found;
    const eol = text.indexOf('\r\n');
    const statusLine = eol < 0 ? text : text.slice(0, eol);
    const m = STATUS_LINE.exec(statusLine);
    if (m === null) throw new ParseError('HPE_INVALID_CONSTANT', 'malformed status line');
    const minor = m[1] === '1' ? 1 : 0;
    const status = Number(m[2]);
    const headers = parseFields(text, eol < 0 ? text.length : eol + 2);
    if (status < 200 && status !== 101) {
      // Interim: another head follows.
      this.sink.onInterim(status, headers);
      return next;
    }
    this.status = status;
    const connection = headers.connection;
    const close = connection !== undefined && hasToken(connection, 'close');
    this.keepAlive = minor === 1 ? !close : connection !== undefined && hasToken(connection, 'keep-alive');
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (status === 101) {
      if (!this.upgradeRequest) throw new ParseError('HPE_INVALID_CONSTANT', '101 Switching Protocols to a request that asked for no upgrade');
      this.state = UPGRADED;
      this.keepAlive = false;
      this.sink.onHead(status, m[3] ?? '', headers);
      return next;
    }
    if (this.headRequest || status === 204 || status === 304) {
      this.state = DONE;
    } else if (te !== undefined) {
      if (cl !== undefined) throw new ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both Content-Length and Transfer-Encoding');
      const codings = (Array.isArray(te) ? te.join(',') : te).toLowerCase();
      if (/(?:^|,)\s*chunked\s*$/.test(codings)) this.state = CHUNK_SIZE;
      else { this.state = BODY_EOF; this.keepAlive = false; }
    } else if (cl !== undefined) {
      this.left = contentLength(cl);
      this.state = this.left === 0 ? DONE : BODY_LENGTH;
    } else {
      this.state = BODY_EOF;
      this.keepAlive = false;
    }
    if (this.upgradeRequest) this.keepAlive = false;
    this.sink.onHead(status, m[3] ?? '', headers);
    if (this.state === DONE) this.end(null);
    return next;
  }

  private readChunkSize(buf: Buffer, at: number): number {
    let data = buf;
    let start = at;
    if (this.partial !== null) { data = Buffer.concat([this.partial, buf.subarray(at)]); start = 0; }
    const eol = data.indexOf(10, start);
    if (eol < 0) {
      if (data.length - start > MAX_LINE) throw new ParseError('HPE_INVALID_CHUNK_SIZE', 'chunk size line too long');
      this.partial = Buffer.from(data.subarray(start));
      return buf.length;
    }
    const carried = this.partial?.length ?? 0;
    this.partial = null;
    if (eol === start || data[eol - 1] !== 13) throw new ParseError('HPE_INVALID_CHUNK_SIZE', 'chunk size line not ended by CRLF');
    const m = CHUNK_LINE.exec(data.toString('latin1', start, eol - 1));
    if (m === null) throw new ParseError('HPE_INVALID_CHUNK_SIZE', 'malformed chunk size');
    const size = parseInt(m[1], 16);
    const next = data === buf ? eol + 1 : at + (eol + 1 - carried);
    if (size === 0) { this.state = TRAILERS; this.trailerBytes = 0; }
    else { this.state = CHUNK_DATA; this.left = size; }
    return next;
  }

  private readTrailers(buf: Buffer, at: number): number {
    // The common case: no trailers, just the final CRLF.
    if (this.partial === null && this.trailerBytes === 0 && at + 1 < buf.length && buf[at] === 13 && buf[at + 1] === 10) {
      this.state = DONE;
      this.end(null);
      return at + 2;
    }
    // Trailer fields end with an empty line; with the CRLF already read, that is `\r\n` at the start or `\r\n\r\n`.
    let data = buf;
    let start = at;
    if (this.partial !== null) { data = Buffer.concat([this.partial, buf.subarray(at)]); start = 0; }
    const carried = this.partial?.length ?? 0;
    this.partial = null;
    if (data.length - start >= 2 && data[start] === 13 && data[start + 1] === 10) {
      this.state = DONE;
      this.end(this.trailers);
      return data === buf ? start + 2 : at + (2 - carried);
    }
    const end = data.indexOf('\r\n\r\n', start, 'latin1');
    if (end < 0) {
      if (data.length - start > MAX_LINE) throw new ParseError('HPE_HEADER_OVERFLOW', 'trailers too large');
      this.partial = Buffer.from(data.subarray(start));
      this.trailerBytes = this.partial.length;
      return buf.length;
    }
    if (end - start > MAX_LINE) throw new ParseError('HPE_HEADER_OVERFLOW', 'trailers too large');
    this.trailers = parseFields(data.toString('latin1', start, end) , 0);
    this.state = DONE;
    this.end(this.trailers);
    return data === buf ? end + 4 : at + (end + 4 - carried);
  }
}

/** Header fields from `text` at `from`: `name: value` lines separated by CRLF. */
function parseFields(text: string, from: number): ResponseHeaders {
  // No prototype: a field named `__proto__` is just a field.
  const headers: ResponseHeaders = Object.create(null) as ResponseHeaders;
  let at = from;
  while (at < text.length) {
    let eol = text.indexOf('\r\n', at);
    if (eol < 0) eol = text.length;
    const colon = text.indexOf(':', at);
    if (colon < 0 || colon > eol) throw new ParseError('HPE_INVALID_HEADER_TOKEN', 'header line without a colon (or obsolete line folding)');
    const name = text.slice(at, colon);
    if (!TOKEN.test(name)) throw new ParseError('HPE_INVALID_HEADER_TOKEN', 'invalid header name');
    const value = trimOws(text.slice(colon + 1, eol));
    if (BAD_FIELD_VALUE.test(value)) throw new ParseError('HPE_INVALID_HEADER_TOKEN', `invalid character in header ${name}`);
    const key = name.toLowerCase();
    const existing = headers[key];
    if (existing === undefined) headers[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else headers[key] = [existing, value];
    at = eol + 2;
  }
  return headers;
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

function hasToken(value: string | string[], token: string): boolean {
  for (const line of Array.isArray(value) ? value : [value]) {
    for (const t of line.split(',')) if (t.trim().toLowerCase() === token) return true;
  }
  return false;
}

/** RFC 9110 §8.6: digits only; a list of identical values is one value; anything else is an error. */
function contentLength(value: string | string[]): number {
  let result = -1;
  for (const line of Array.isArray(value) ? value : [value]) {
    for (const part of line.split(',')) {
      const v = part.trim();
      if (!CONTENT_LENGTH.test(v)) throw new ParseError('HPE_INVALID_CONTENT_LENGTH', 'malformed Content-Length');
      const n = Number(v);
      if (result >= 0 && n !== result) throw new ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'conflicting Content-Length values');
      result = n;
    }
  }
  return result;
}
