import { readFileSync } from 'node:fs';
import type { ErrorPageIR } from '../compiler/ir.ts';
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

/**
 * Sends a complete error response, unless headers already went out (then the
 * connection is cut). `close` asks for the connection to close after it (the
 * request body was not read).
 */
export function sendError(res: ResponseSink, status: number, pages: ErrorPages = DEFAULT_PAGES, extraHeaders?: Record<string, string>, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.destroyed || res.writableEnded) return;
  const p = pages.page(status);
  const headers: Record<string, string | number> = { 'content-type': p.type, 'content-length': p.body.length, ...extraHeaders };
  if (pages.serverTokens) headers.server = 'lbconf';
  // HTTP/2 has no Connection header (and refuses one): there the stream ends with the response.
  if (close && res.req.httpVersionMajor === 1) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : p.body);
}
