import type { PurgeTarget } from '../filters/cache/zones.ts';
import type { MetricsLayout } from '../observe/metrics.ts';

// The messages between the supervisor (main thread) and a worker thread.
// Plain data and SharedArrayBuffers only (structured clone shares the memory).

export interface WorkerData {
  /** 0-based, stable across restarts of the same slot. */
  index: number;
  exposeGeneration: boolean;
  /** Add `x-lbconf-worker: INDEX` to responses. */
  exposeWorker: boolean;
  /** Honour test-only messages (`crash`). */
  testHooks: boolean;
  /** This slot's request counters (runtime/observe/metrics.ts): the main thread sums every slot's on a scrape. Kept across restarts. */
  metrics: SharedArrayBuffer;
}

export type SharedBuffers = ReadonlyArray<readonly [string, SharedArrayBuffer]>;

/**
 * How long the main thread waits for each worker's answer to a purge: a worker
 * that is late is reported (`answered` below `workers`), so the admin call or the
 * client's purge request never hangs on it.
 */
export const PURGE_TIMEOUT_MS = 2000;

/**
 * An unsafe method invalidated these URIs (RFC 9111 §4.4) in a worker's zone:
 * sent by that worker, then by the main thread to each other worker. Never
 * answered: no client waits for it.
 */
export interface Invalidate { type: 'invalidate'; zone: string; uris: readonly string[] }

/** Main → worker. */
export type ToWorker =
  /** Phase 1: build everything for the Plan, open new listeners; do not serve it yet. */
  | { type: 'prepare'; seq: number; id: number; source: string; peers: SharedBuffers; zones: SharedBuffers; layout: ReturnType<MetricsLayout['toJSON']> }
  /** Phase 2: swap the prepared Plan in. */
  | { type: 'commit'; seq: number }
  | { type: 'abort'; seq: number }
  /** Graceful stop: close listeners, let requests finish within graceMs, close pools, exit. */
  | { type: 'stop'; graceMs: number }
  /** Remove from this worker's zone; answered with `purged`. */
  | { type: 'purge'; seq: number; zone: string; what: PurgeTarget }
  /** The answer to this worker's `purge-all`: what the other workers removed. */
  | { type: 'purged-all'; id: number; purged: number; workers: number; answered: number }
  | Invalidate
  /** Heartbeat: answered with `pong` by a worker whose event loop runs. */
  | { type: 'ping'; seq: number }
  /** Test hook: throw from the event loop, as a bug would. */
  | { type: 'crash' }
  /** Test hook: block the thread for `ms`, as a long synchronous task would. */
  | { type: 'stall'; ms: number };

/** Worker → main. */
export type FromWorker =
  | { type: 'prepared'; seq: number; ok: true }
  | { type: 'prepared'; seq: number; ok: false; error: string; code?: string }
  | { type: 'committed'; seq: number; addresses: [string, { address: string; port: number }][] }
  /** Entries removed from this worker's zone; -1 when it has no such zone. */
  | { type: 'purged'; seq: number; purged: number }
  | { type: 'pong'; seq: number }
  /** The purge method removed `key` here: remove it from the other workers' zones too. */
  | { type: 'purge-all'; id: number; zone: string; key: string }
  | Invalidate
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> };
