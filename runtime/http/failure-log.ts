import type { RequestContext } from '../core/context.ts';

// Why a request failed at an upstream, in the error log: one line per failure
// (nginx's `connect() failed (111: Connection refused) while connecting to
// upstream` is the model), with the client, the request line, the server
// block, the upstream and server, the reason and the try. Rate-limited per
// server: past LINES lines in WINDOW_MS, the rest are counted and the count is
// said with the next line, so that an outage cannot fill the disk.

const WINDOW_MS = 10_000;
const LINES = 10;

interface Window {
  start: number;
  lines: number;
  suppressed: number;
}

const windows = new Map<string, Window>();

/** What an upstream client's error code means, in words. */
export function failureReason(code: string, message: string): string {
  switch (code) {
    case 'ECONNREFUSED': return 'connection refused while connecting to upstream';
    case 'ECONNRESET': return 'connection reset by upstream';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'upstream unreachable';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'upstream host name not resolved';
    case 'LBCONF_CONNECT_TIMEOUT': return 'timed out while connecting to upstream (proxy_connect_timeout, or no free connection within it)';
    case 'LBCONF_HEAD_TIMEOUT': return 'timed out waiting for the response head (proxy_read_timeout, or proxy_header_timeout when set)';
    case 'LBCONF_BODY_TIMEOUT': return 'timed out reading the response body (proxy_read_timeout)';
    case 'LBCONF_UPSTREAM_SEND_TIMEOUT': return 'upstream took none of the request body for proxy_send_timeout';
    case 'LBCONF_UPSTREAM_CLOSED': return 'upstream closed the connection before the response ended';
    case 'LBCONF_POOL_CLOSED': case 'LBCONF_POOL_DESTROYED': return 'the server left the config (reload) before the request was sent';
  }
  if (code.startsWith('HPE_')) return `upstream sent an invalid response (${message})`;
  return code === '' ? message : `${code}: ${message}`;
}

/**
 * The line for one failed try, or null when the server's window is full (the
 * failure is counted, and said with the next line that goes out).
 */
export function failureLine(ctx: RequestContext, upstream: string, server: string, reason: string, attempt: number, now: number): string | null {
  const id = `${upstream}/${server}`;
  let w = windows.get(id);
  if (w === undefined || now - w.start >= WINDOW_MS) {
    const suppressed = w?.suppressed ?? 0;
    w = { start: now, lines: 0, suppressed: 0 };
    windows.set(id, w);
    if (windows.size > 10_000) windows.delete(windows.keys().next().value!);
    w.lines++;
    return line(ctx, id, reason, attempt, suppressed);
  }
  if (w.lines >= LINES) { w.suppressed++; return null; }
  w.lines++;
  return line(ctx, id, reason, attempt, 0);
}

function line(ctx: RequestContext, id: string, reason: string, attempt: number, suppressed: number): string {
  const req = ctx.req;
  return `upstream ${id}: ${reason}; client ${ctx.remoteAddr}, request "${req.method ?? 'GET'} ${ctx.requestUri} HTTP/${req.httpVersionMajor}.${req.httpVersionMinor}", server ${ctx.serverName || '_'}, try ${attempt}, request_id ${ctx.requestId}` +
    (suppressed > 0 ? ` (${suppressed} more failures of this server in the last ${WINDOW_MS / 1000} s not logged)` : '');
}
