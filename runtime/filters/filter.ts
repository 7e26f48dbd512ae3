import type { RequestContext } from '../core/context.ts';

// The one interface of request features (real IP, add_header, body size,
// limits, access, auth): each is built per route when a Plan loads, never per
// request, and http/pipeline.ts runs a route's filters in their one order
// before its handler, for requests and upgrades alike. Response features
// (compression) are core/response-filter.ts; the cache wraps its handler.

/** What a filter refuses a request with: the pipeline answers it (an error page; on an upgrade, the same on its socket). */
export interface Refusal {
  readonly status: number;
  readonly headers?: Record<string, string>;
  /** Close the connection after the answer (the request body was not read). */
  readonly close?: boolean;
  /** A line for the log, when the refusal needs one (the client's values could not be carried). */
  readonly reason?: string;
}

/** What a request ends with (its response, or an upgrade's socket): a filter that holds something until then (a limit_conn slot) waits for its 'close'. */
export interface Ending {
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/** Where a filter may add response headers (add_header … always): the response, which an upgrade does not have yet. */
export interface HeaderTarget {
  setHeader(name: string, value: string): unknown;
}

export interface RequestFilter {
  /**
   * null: on to the next filter. A refusal: answered, and nothing after it runs.
   * A promise of either only where the filter waits: a limit_req delay, an
   * asynchronous store, a password hashed off the event loop.
   */
  request(ctx: RequestContext, res: HeaderTarget | null, ending: Ending): Refusal | null | Promise<Refusal | null>;
}

/**
 * The client has gone: its response or socket destroyed, its connection
 * closed, or (HTTP/2, whose response has no `destroyed`) its stream reset.
 */
export function clientGone(ctx: RequestContext, ending: Ending | null = null): boolean {
  if (ending !== null && ending.destroyed === true) return true;
  const req = ctx.req as unknown as { socket?: { destroyed?: boolean } | null; stream?: { destroyed?: boolean } };
  return req.socket?.destroyed === true || req.stream?.destroyed === true;
}
