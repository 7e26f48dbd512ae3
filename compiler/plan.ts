import { transformSync } from 'esbuild';
import { hasErrors } from '../lang/diagnostic.ts';
import type { CheckResult } from './check.ts';
import { generate, type GenerateOptions } from './codegen/generate.ts';
import { buildModel, findListener, type Listener, type Route, type ServerInfo } from './codegen/model.ts';
import type { ConfigIR, UpstreamIR } from './ir.ts';
import type { SourceRef } from './lower.ts';

export type { Listener, Route, ServerInfo, SourceLine } from './codegen/model.ts';

// The Plan: the compiled artifact of a config. Its source is one self-contained
// JavaScript function body (code and frozen tables, no imports); loading it is
// `new Function(source)()`, in this thread or in a worker that was sent the
// source. Nothing here touches the file system.

/** route(listener, host, path) → an index into `routes`, or -1 for a listener index that does not exist. */
export type RouteFn = (listener: number, host: string, path: string) => number;
/** One listener's router: (host, path) → an index into `routes`. */
export type ListenerRouteFn = (host: string, path: string) => number;

export interface Plan {
  /**
   * The hot path. `listener` is an index into `listeners` (see listenerIndex);
   * `host` is the raw Host header value ('' when absent); `path` is the
   * normalized path from runtime/normalize-path.ts. Allocates nothing unless
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

export interface CompileOptions extends GenerateOptions {
  /** Minify the source with esbuild (names, whitespace, comments). */
  minify?: boolean;
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

/** Generates the source of the routing plan for a validated IR (no checks: see compilePlan). */
export function planSource(ir: ConfigIR, locs: Map<string, SourceRef> = new Map(), options: CompileOptions = {}): string {
  const model = buildModel(ir, locs);
  const raw = generate(model, options);
  let result;
  try {
    result = transformSync(raw, { loader: 'js', minify: options.minify === true, sourcefile: options.file ?? 'lbconf-plan.js', logLevel: 'silent' });
  } catch (err) {
    throw new PlanError(`esbuild rejected the generated routing code: ${(err as Error).message}`, raw, err);
  }
  // esbuild drops comments; unminified, the readable source with its comments is what runs.
  return options.minify ? result.code : raw;
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

export interface Compiled {
  plan: Plan;
  source: string;
}

/**
 * A checked config → its Plan and the Plan's source. Throws when the check
 * found errors (a Plan is only ever made from a valid config) and PlanError,
 * with the generated source, when the code does not load.
 */
export function compilePlan(check: Pick<CheckResult, 'ir' | 'locs' | 'diagnostics' | 'files'>, options: CompileOptions = {}): Compiled {
  if (hasErrors(check.diagnostics)) throw new Error('the config has errors; fix them before compiling (lbconf check)');
  const source = planSource(check.ir, check.locs, { file: check.files[0]?.file, ...options });
  return { plan: loadPlan(source), source };
}
