import { findListener, type Listener, type Route, type ServerInfo } from './codegen/model.ts';
import type { UpstreamIR } from './ir.ts';

// Loading a Plan from its source: all a serving thread needs of the compiler.
// Its own module so that `lbconf run` and the workers do not load the code
// generator (compiler/plan.ts makes the source).

/** route(listener, host, path) → an index into `routes`, or -1 for a listener index that does not exist. */
export type RouteFn = (listener: number, host: string, path: string) => number;
/** One listener's router: (host, path) → an index into `routes`. */
export type ListenerRouteFn = (host: string, path: string) => number;

export interface Plan {
  /**
   * The hot path. `listener` is an index into `listeners` (see listenerIndex);
   * `host` is the raw Host header value ('' when absent); `path` is the
   * normalized path from runtime/core/normalize-path.ts. Allocates nothing unless
   * the Host needs lower-casing or carries a port other than the listener's.
   */
  readonly route: RouteFn;
  /** `routers[i](host, path)` is `route(i, host, path)`, for a caller that holds one listener. */
  readonly routers: readonly ListenerRouteFn[];
  readonly routes: readonly Route[];
  readonly listeners: readonly Listener[];
  readonly servers: readonly ServerInfo[];
  readonly upstreams: readonly UpstreamIR[];
  /** The listener for a connection on `address:port`: that exact address first, then `*:port`; -1 if none. */
  listenerIndex(address: string, port: number): number;
}

export class PlanError extends Error {
  /** The generated source that failed to load. */
  readonly source: string;
  constructor(message: string, source: string, cause?: unknown) {
    super(`${message}\n--- generated source ---\n${source}`, { cause });
    this.name = 'PlanError';
    this.source = source;
  }
}

/** Loads a Plan from its source, in memory. */
export function loadPlan(source: string): Plan {
  let parts: Omit<Plan, 'listenerIndex'>;
  try {
    parts = new Function(source)() as Omit<Plan, 'listenerIndex'>;
  } catch (err) {
    throw new PlanError(`the generated routing code failed to load: ${(err as Error).message}`, source, err);
  }
  const listeners = parts.listeners;
  return Object.freeze({ ...parts, listenerIndex: (address: string, port: number) => findListener(listeners, address, port) });
}
