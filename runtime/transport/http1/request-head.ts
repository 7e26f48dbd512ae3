import { METHODS, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { CONTENT_LENGTH, TOKEN } from './syntax.ts';

// The request heads lbconf's own HTTP/1.1 listener (runtime/transport/http1/server-connection.ts)
// serves itself: the plain, common case — an HTTP/1.1 request with no body or a
// body of a given Content-Length, its head whole in the buffer, every byte of
// it unremarkable. Anything else is not
// judged here at all: parseRequestHead answers HAND_OFF, and the connection goes
// to Node's HTTP server, whose parser (llhttp) and lbconf's checks behind it
// (runtime/http/front.ts) refuse or serve it as they always did. So this parser
// never has to get an edge case right; it only has to recognise the middle.

/** The head is not (all) here, or is not the plain case: let Node's HTTP server have the connection. */
export const HAND_OFF = null;

/** The methods Node's parser knows (it refuses others with 400), but CONNECT, which is a tunnel. */
const KNOWN_METHODS = new Set(METHODS.filter((m) => m !== 'CONNECT'));
/** Bytes a plain head has: visible ASCII, space, tab, CR, LF. Anything else (obs-text, NUL, controls) goes to Node's parser. */
const UNREMARKABLE = /^[\t\r\n\x20-\x7e]*$/;
/** An origin-form target: `/` then visible ASCII. */
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;

// Node's IncomingMessage.headers rules for a repeated field: these keep the first value…
const FIRST_WINS = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization', 'if-modified-since',
  'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires',
]);
// …and these mean a chunked body, a protocol change or a wait for a go-ahead: Node's server handles those.
const NOT_PLAIN = new Set(['transfer-encoding', 'upgrade', 'expect', 'http2-settings']);

/** What a request's body needs of its connection (runtime/transport/http1/server-connection.ts). */
export interface BodySource {
  /** The body's reader wants more: read from the socket again. */
  resumeBody(): void;
}

/**
 * One request as lbconf's listener serves it: the members of Node's
 * IncomingMessage that the runtime reads, with the values Node would give
 * them. Its body (Content-Length bytes, pushed by the connection) is read as
 * an IncomingMessage's is: a Readable stream.
 */
export class Http1Request extends Readable {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  /** The whole body has arrived (at once when there is none). */
  complete: boolean;
  aborted = false;
  readonly socket: Socket;
  /** The client sent `Connection: close`. */
  readonly closeAfter: boolean;
  /** The body's length from Content-Length (0: none). */
  readonly bodyLength: number;
  /** @internal: the connection the body comes from, set while it arrives. */
  source: BodySource | null = null;

  constructor(method: string, url: string, headers: IncomingHttpHeaders, rawHeaders: string[], socket: Socket, closeAfter: boolean, bodyLength: number) {
    super();
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    this.socket = socket;
    this.closeAfter = closeAfter;
    this.bodyLength = bodyLength;
    this.complete = bodyLength === 0;
  }

  override _read(): void {
    if (this.bodyLength === 0) this.push(null);
    else this.source?.resumeBody();
  }

  /** client_body_timeout, as on an IncomingMessage: the socket's idle timer ('timeout' is emitted on this request). */
  setTimeout(ms: number): this {
    this.socket.setTimeout(ms);
    return this;
  }
}

// The runtime reads these as an IncomingMessage's (runtime/http/front.ts): they must keep its types.
type ReadAsIncoming = Pick<IncomingMessage, 'method' | 'url' | 'headers' | 'rawHeaders' | 'httpVersion' | 'httpVersionMajor' | 'httpVersionMinor' | 'complete' | 'readableDidRead' | 'aborted' | 'socket'>;
export const typesAgree: (r: Http1Request) => ReadAsIncoming = (r) => r;

/** The limits a head is held to; over any of them, Node's server answers (431, 414). */
export interface HeadLimits {
  maxHeaderSize: number;
  maxUri: number;
  maxHeaders: number;
}

/**
 * Parses the head at `buf[start..]`. Returns the request and sets `parsed.end`
 * to the offset just past it, or HAND_OFF when the head is incomplete, over a
 * limit, or anything but the plain case.
 */
export function parseRequestHead(buf: Buffer, start: number, limits: HeadLimits, socket: Socket, parsed: { end: number }): Http1Request | null {
  const stop = buf.indexOf('\r\n\r\n', start, 'latin1');
  if (stop < 0 || stop + 4 - start > limits.maxHeaderSize) return HAND_OFF;
  const head = buf.toString('latin1', start, stop);
  if (!UNREMARKABLE.test(head)) return HAND_OFF;
  const lines = head.split('\r\n');
  const requestLine = lines[0];
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || requestLine.length !== sp2 + 9 || !requestLine.endsWith(' HTTP/1.1')) return HAND_OFF;
  const method = requestLine.slice(0, sp1);
  const url = requestLine.slice(sp1 + 1, sp2);
  if (!KNOWN_METHODS.has(method) || url.length > limits.maxUri || !ORIGIN_FORM.test(url)) return HAND_OFF;
  if (lines.length - 1 > limits.maxHeaders) return HAND_OFF;
  const raw: string[] = [];
  const headers: IncomingHttpHeaders = {};
  let hosts = 0;
  let close = false;
  let bodyLength = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    // No colon, a bare CR or LF inside a line, or obs-fold (a line starting with white space).
    if (colon <= 0 || line.includes('\n') || line.includes('\r')) return HAND_OFF;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return HAND_OFF;
    const value = line.slice(colon + 1).trim();
    const key = name.toLowerCase();
    if (NOT_PLAIN.has(key)) return HAND_OFF;
    if (key === 'host') hosts++;
    // A length Node's parser would read otherwise, or a repeated one (which it refuses): not plain.
    else if (key === 'content-length') {
      if (!CONTENT_LENGTH.test(value) || headers['content-length'] !== undefined) return HAND_OFF;
      bodyLength = Number(value);
    }
    else if (key === 'connection') {
      const v = value.toLowerCase();
      if (v.includes('upgrade')) return HAND_OFF;
      if (v.includes('close')) close = true;
    }
    raw.push(name, value);
    addHeader(headers, key, value);
  }
  // RFC 9112 §3.2: exactly one Host (Node's server and lbconf's checks answer 400 otherwise).
  if (hosts !== 1) return HAND_OFF;
  parsed.end = stop + 4;
  return new Http1Request(method, url, headers, raw, socket, close, bodyLength);
}

/**
 * Adds a field as Node's IncomingMessage does: set-cookie collects, cookie joins with `; `, some keep the
 * first, the rest join with `, ` — onto a string only, as Node does (`constructor` is inherited, not a value).
 */
function addHeader(headers: IncomingHttpHeaders, key: string, value: string): void {
  const existing = headers[key];
  if (key === 'set-cookie') {
    if (existing === undefined) headers[key] = [value];
    else (existing as string[]).push(value);
  } else if (FIRST_WINS.has(key)) {
    if (existing === undefined) headers[key] = value;
  } else {
    headers[key] = typeof existing === 'string' ? `${existing}${key === 'cookie' ? '; ' : ', '}${value}` : value;
  }
}
