import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, type Http2SecureServer, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { ProxySettingsIR } from '../../compiler/ir.ts';
import { resetByLbconf, sendError, type ErrorPages } from '../core/errors.ts';

// HTTP/2 guards of a TLS listener (Node's HTTP/2 server with allowHTTP1), in
// three places:
//
// - http2_max_concurrent_streams goes to clients as SETTINGS_MAX_CONCURRENT_STREAMS
//   (Node's `settings.maxConcurrentStreams`; nghttp2 refuses streams over it), so
//   one connection has at most that many requests upstream at a time.
// - A request is started only after the rest of the read that carried its
//   HEADERS has been processed (one setImmediate): a RST_STREAM in the same read
//   (CVE-2023-44487, "rapid reset") has then closed the stream, and nothing is
//   sent upstream for it. Node runs the 'request' handler before nghttp2 reads
//   the next frame, and lbconf's client writes to a pooled connection at once.
// - Each session counts the streams it completes and those that end otherwise
//   (reset by the client, or aborted; not those lbconf reset itself). When the
//   second exceed the first by more than twice http2_max_concurrent_streams (at
//   least RESET_FLOOR), the session is closed with GOAWAY ENHANCE_YOUR_CALM.
//   (nginx caps the new streams of one read at twice its
//   http2_max_concurrent_streams; nghttp2, under Node, closes a session after
//   1000 RST_STREAMs, refilled at 33/s, and stays behind this.)
//   The counts run on the streams' 'close' events: when Node processes a whole
//   read in one go (up to 64 KiB, some 1,300 HEADERS + RST_STREAM pairs), the
//   session is closed at the end of that read, and the deferral above still
//   keeps every one of those streams from the upstream.

/** The least number of uncompleted streams a session may have above its completed ones, whatever the concurrency. */
export const RESET_FLOOR = 128;

/** The HTTP/2 SETTINGS lbconf sends, from a listener's settings (those of its default server). */
export function http2Settings(s: ProxySettingsIR): { maxConcurrentStreams: number } {
  return { maxConcurrentStreams: s.http2MaxConcurrentStreams };
}

/** How many more streams than it completed a session may see end otherwise before it is closed. */
export function resetAllowance(maxConcurrentStreams: number): number {
  return Math.max(2 * maxConcurrentStreams, RESET_FLOOR);
}

interface Guard {
  allowance: number;
  log: ((message: string) => void) | undefined;
}

/** A session's counts; `guard` is its server's (the allowance a reload changes applies at once). */
interface Counts {
  /** A closed stream no longer knows its session. */
  session: ServerHttp2Session;
  completed: number;
  uncompleted: number;
  guard: Guard;
  closed: boolean;
}

const guards = new WeakMap<object, Guard>();
const kCounts = Symbol('lbconf.http2.counts');
type Counted = { [kCounts]?: Counts };

/**
 * Applies a listener's HTTP/2 settings to its server (Node's HTTP/2 server, or
 * any server: others are left alone): SETTINGS for sessions from now on, and the
 * reset allowance for all. The first call installs the guard. `log` hears of
 * sessions closed for resetting too much.
 */
export function applyHttp2(server: object, s: ProxySettingsIR, log?: (message: string) => void): void {
  if (!('updateSettings' in server)) return;
  const h2 = server as Http2SecureServer;
  h2.updateSettings(http2Settings(s));
  let guard = guards.get(server);
  if (guard === undefined) {
    guard = { allowance: 0, log };
    guards.set(server, guard);
    const g = guard;
    h2.on('session', (session: ServerHttp2Session) => {
      (session as Counted)[kCounts] = { session, completed: 0, uncompleted: 0, guard: g, closed: false };
    });
    h2.on('stream', onStream);
  }
  guard.allowance = resetAllowance(s.http2MaxConcurrentStreams);
  if (log !== undefined) guard.log = log;
}

function onStream(stream: ServerHttp2Stream): void {
  const counts = (stream.session as Counted | undefined)?.[kCounts];
  if (counts === undefined) return;
  (stream as Counted)[kCounts] = counts;
  stream.once('close', onStreamClose);
}

function onStreamClose(this: ServerHttp2Stream): void {
  const counts = (this as Counted)[kCounts]!;
  // Completed: both sides ended, no RST_STREAM. Anything else (a RST_STREAM from the client, with any code,
  // NO_ERROR included, or a stream aborted by the client leaving) counts against the session; but not a response
  // lbconf itself cut short (an upstream that failed mid-body, send_timeout: runtime/core/errors.ts cutShort).
  if (this.rstCode === constants.NGHTTP2_NO_ERROR && !this.aborted) { counts.completed++; return; }
  if (resetByLbconf(this)) return;
  if (++counts.uncompleted - counts.completed <= counts.guard.allowance || counts.closed) return;
  counts.closed = true;
  const session = counts.session;
  if (session.destroyed) return;
  const peer = session.socket?.remoteAddress;
  counts.guard.log?.(`HTTP/2 connection from ${peer ?? 'a client'} closed: ${counts.uncompleted} streams reset against ${counts.completed} completed (rapid reset)`);
  // GOAWAY with ENHANCE_YOUR_CALM, then the connection closes; the frames still in this read find the session gone.
  // The error goes to the server's 'sessionError' (and to no request: Node's compatibility layer drops stream errors).
  session.destroy(new Error('HTTP/2 rapid reset'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * `handler`, with HTTP/2 requests started on the next turn of the event loop,
 * after every frame already read: a stream the client reset meanwhile (or whose
 * session was closed) is dropped unanswered, before anything was sent upstream.
 * HTTP/1 requests go to `handler` at once.
 */
export function deferHttp2(handler: Handler): Handler {
  return (req, res) => {
    // By its stream, not its version: an HTTP/1 request line may say HTTP/2.0 (refused with 505 by admission).
    if (!isHttp2(req)) { handler(req, res); return; }
    setImmediate(startIfOpen, handler, req, res);
  };
}

/** A request that came on an HTTP/2 stream (an HTTP/1 request line saying HTTP/2.0 has none). */
function isHttp2(req: IncomingMessage): boolean {
  return (req as unknown as { stream?: unknown }).stream !== undefined;
}

function startIfOpen(handler: Handler, req: IncomingMessage, res: ServerResponse): void {
  const stream = (req as unknown as { stream: ServerHttp2Stream }).stream;
  if (stream.destroyed || stream.closed) return;
  handler(req, res);
}

/**
 * An HTTP/2 CONNECT: Node's HTTP/2 server gives the 'connect' listener the
 * stream's response where HTTP/1 gives a socket. Answered 405 as an HTTP/2
 * response (the HTTP/1.1 text written to that socket would be the body of a
 * 200). True when `req` was HTTP/2 and is answered.
 */
export function refuseHttp2Connect(req: IncomingMessage, res: unknown, pages: ErrorPages): boolean {
  if (!isHttp2(req)) return false;
  sendError(res as ServerResponse, 405, pages);
  return true;
}
