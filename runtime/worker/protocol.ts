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

/** Main → worker. */
export type ToWorker =
  /** Phase 1: build everything for the Plan, open new listeners; do not serve it yet. */
  | { type: 'prepare'; seq: number; id: number; source: string; peers: SharedBuffers; zones: SharedBuffers; layout: ReturnType<MetricsLayout['toJSON']> }
  /** Phase 2: swap the prepared Plan in. */
  | { type: 'commit'; seq: number }
  | { type: 'abort'; seq: number }
  /** Graceful stop: close listeners, let requests finish within graceMs, close pools, exit. */
  | { type: 'stop'; graceMs: number }
  /** Test hook: throw from the event loop, as a bug would. */
  | { type: 'crash' };

/** Worker → main. */
export type FromWorker =
  | { type: 'prepared'; seq: number; ok: true }
  | { type: 'prepared'; seq: number; ok: false; error: string; code?: string }
  | { type: 'committed'; seq: number; addresses: [string, { address: string; port: number }][] }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> };
