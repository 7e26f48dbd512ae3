import type { ServerResponse } from 'node:http';

// lbconf's own error responses: short, plain, and never naming an upstream,
// an address or a stack.

const REASONS: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  413: 'Content Too Large', 414: 'URI Too Long', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

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

/** Sends a complete error response, unless headers already went out (then the connection is cut). */
export function sendError(res: ServerResponse, status: number, extraHeaders?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.destroyed || res.writableEnded) return;
  const b = body(status);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': b.length, ...extraHeaders });
  res.end(res.req.method === 'HEAD' ? undefined : b);
}
