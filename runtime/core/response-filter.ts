import type { Transform } from 'node:stream';
import type { RequestContext } from './context.ts';

// A feature that wraps responses on their way to a client (compression): it
// may edit the head and give a transform the body goes through. Built per route
// when a Plan loads; per response it is one call. Whoever writes a response
// (the proxy, the cache) calls it, without knowing which feature it is.

export interface ResponseFilter {
  /**
   * A response of `status` to `ctx`: edits `headers` (a flat [name, value, …]
   * list) and returns the transform its body goes through, or null. `conditional`:
   * the client's If-None-Match may be answered by the transformed response's validators.
   */
  wrap(ctx: RequestContext, status: number, headers: string[], conditional: boolean): Transform | null;
  /** A 304 for `ctx`: the validators and Vary its full response would carry, added to `headers`. */
  notModified(ctx: RequestContext, headers: string[]): void;
}
