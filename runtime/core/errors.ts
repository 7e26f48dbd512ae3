import { readFileSync } from 'node:fs';
import type { ServerHttp2Stream } from 'node:http2';
import type { ErrorPageIR } from '../../compiler/ir.ts';
import type { ResponseSink } from './sink.ts';

// lbconf's own error responses: short, plain, and never naming an upstream,
// an address or a stack. `error_page` replaces the body per status; the pages
// of a route are read once, when its Plan loads.

const REASONS: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  413: 'Content Too Large', 414: 'URI Too Long', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

const PLAIN = 'text/plain; charset=utf-8';
const BODIES = new Map<number, Buffer>();

export function reason(status: number): string {
  return REASONS[status] ?? 'Error';
}

function body(status: number): Buffer {
  let b = BODIES.get(status);
  if (!b) {
    b = Buffer.from(`${status} ${reason(status)}\n`);
    BODIES.set(status, b);
  }
  return b;
}

export class ErrorPageError extends Error {}

/** The error bodies of one route (or listener): `error_page` pages by status, and whether to say `Server: lbconf`. */
export class ErrorPages {
  private readonly pages = new Map<number, { body: Buffer; type: string }>();
  readonly serverTokens: boolean;

  /** Reads the `file=` pages; throws ErrorPageError when one cannot be read. `cache` shares buffers between routes. */
  constructor(ir: readonly ErrorPageIR[], serverTokens: boolean, cache: Map<string, Buffer> = new Map()) {
    this.serverTokens = serverTokens;
    for (const page of ir) {
      let b: Buffer;
      if (page.file !== null) {
        let cached = cache.get(page.file);
        if (!cached) {
          try {
            cached = readFileSync(page.file);
          } catch (err) {
            throw new ErrorPageError(`cannot read error_page file ${page.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          }
          cache.set(page.file, cached);
        }
        b = cached;
      } else {
        b = Buffer.from(page.body ?? '');
      }
      for (const code of page.codes) this.pages.set(code, { body: b, type: page.type });
    }
  }

  /** The body and Content-Type for a status. */
  page(status: number): { body: Buffer; type: string } {
    return this.pages.get(status) ?? { body: body(status), type: PLAIN };
  }

  /** A complete HTTP/1.1 response for a raw socket (errors before a request is parsed). */
  raw(status: number): string {
    const p = this.page(status);
    return `HTTP/1.1 ${status} ${reason(status)}\r\ncontent-type: ${p.type}\r\ncontent-length: ${p.body.length}\r\n${this.serverTokens ? 'server: lbconf\r\n' : ''}connection: close\r\n\r\n${p.body.toString('latin1')}`;
  }
}

export const DEFAULT_PAGES = new ErrorPages([], false);

/** HTTP/2 streams lbconf reset itself (cutShort): runtime/http/http2.ts does not count them as the client's resets. */
const ownResets = new WeakSet<object>();

/** The HTTP/2 stream was reset by lbconf (a response cut short), not by the client. */
export function resetByLbconf(stream: object): boolean {
  return ownResets.has(stream);
}

class CutShortError extends Error {
  readonly code = 'LBCONF_CUT_SHORT';
}

/**
 * Cuts a response under way short, so that the client knows it is incomplete.
 * HTTP/1: the connection is closed (no last chunk, fewer bytes than the
 * Content-Length said). HTTP/2: the stream is reset with INTERNAL_ERROR; a
 * destroy with no error would reset it with NO_ERROR, which ends a body of
 * unknown length as if it were whole (RFC 9113 §8.1). A sink (the cache's
 * fetch) passes the cut on to its client.
 */
export function cutShort(res: ResponseSink): void {
  const stream = (res as { stream?: object }).stream;
  if (stream === undefined) { res.destroy(); return; }
  ownResets.add(stream);
  (res as unknown as { destroy(err: Error): void }).destroy(new CutShortError('response cut short'));
}

/**
 * Sends a complete error response, unless headers already went out (then the
 * response is cut short: cutShort). `close` asks for the connection to close
 * after it (the request body was not read); on HTTP/2, the stream is closed
 * once the response is out (RST_STREAM NO_ERROR, RFC 9113 §8.1), so that a
 * client still sending stops.
 */
export function sendError(res: ResponseSink, status: number, pages: ErrorPages = DEFAULT_PAGES, extraHeaders?: Record<string, string>, close = false): void {
  if (res.headersSent) {
    cutShort(res);
    return;
  }
  if (res.destroyed || res.writableEnded) return;
  const p = pages.page(status);
  const headers: Record<string, string | number> = { 'content-type': p.type, 'content-length': p.body.length, ...extraHeaders };
  if (pages.serverTokens) headers.server = 'lbconf';
  const stream = (res as { stream?: ServerHttp2Stream }).stream;
  // HTTP/2 has no Connection header (and refuses one; a sink, the cache's fetch, has the client's request).
  if (close && stream === undefined && res.req.httpVersionMajor === 1) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : p.body);
  // There the stream is closed instead: Node sends RST_STREAM NO_ERROR once the response is out (a no-op on a stream already closed).
  if (close && stream !== undefined) stream.close();
}
