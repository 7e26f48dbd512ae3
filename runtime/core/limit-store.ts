import { createHash } from 'node:crypto';

// Where counts by key are kept (limit_req, limit_conn, auth_basic_limit): one
// store per zone. The in-process stores are filters/limits.ts's; under
// `workers N`, worker/shared-limits.ts's; a store shared between machines
// (Redis) implements the same interface and may answer with promises.

export interface LimitStore {
  /**
   * Counts one request of `key` against a bucket draining at `rate` per second.
   * Returns ≥ 0 when it is admitted (the excess it leaves, in requests: it should
   * wait excess/rate seconds unless nodelay), or −1 − (ms until a request would
   * be admitted) when it is refused (the bucket is left as it was).
   */
  take(key: string, rate: number, burst: number, now: number): number | Promise<number>;
  /** Takes one of `max` slots of `key`; false when all are taken (or the store is full). */
  acquire(key: string, max: number): boolean | Promise<boolean>;
  /** Gives back a slot taken by acquire. */
  release(key: string): void;
  /** Keys held, for tests and metrics. */
  readonly size: number;
}

const MAX_KEY = 64;

/** A key of bounded size: long keys (headers, cookies) are hashed. */
export function boundedKey(key: string): string {
  return key.length <= MAX_KEY ? key : createHash('sha1').update(key).digest('base64');
}

/** A refused take() (−1 − ms until a request would be admitted) as whole seconds for Retry-After, at least 1. */
export function retryAfterSeconds(got: number): number {
  return Math.max(1, Math.ceil((-1 - got) / 1000));
}
