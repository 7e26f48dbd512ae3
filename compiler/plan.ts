import { hasErrors } from '../lang/diagnostic.ts';
import type { CheckResult } from './check.ts';
import { compact } from './codegen/code.ts';
import { generate, type GenerateOptions } from './codegen/generate.ts';
import { buildModel } from './codegen/model.ts';
import { loadPlan, PlanError, type Plan } from './load-plan.ts';
import type { ConfigIR } from './ir.ts';
import type { SourceRef } from './lower.ts';

export type { Listener, Route, ServerInfo, SourceLine } from './codegen/model.ts';
export { loadPlan, PlanError, type ListenerRouteFn, type Plan, type RouteFn } from './load-plan.ts';

// The Plan: the compiled artifact of a config. Its source is one self-contained
// JavaScript function body (code and frozen tables, no imports); loading it is
// `new Function(source)()`, in this thread or in a worker that was sent the
// source. Nothing here touches the file system.

export interface CompileOptions extends GenerateOptions {
  /** Leave out comments, indentation and needless spaces (codegen/code.ts compact()); names are kept. */
  minify?: boolean;
}

/** Generates the source of the routing plan for a validated IR (no checks: see compilePlan), and checks that it parses. */
export function planSource(ir: ConfigIR, locs: Map<string, SourceRef> = new Map(), options: CompileOptions = {}): string {
  const source = generateSource(ir, locs, options);
  // A syntax check by the parser that loads it (loadPlan): the Function is made, never called.
  try {
    new Function(source);
  } catch (err) {
    throw new PlanError(`the generated routing code does not parse: ${(err as Error).message}`, source, err);
  }
  return source;
}

function generateSource(ir: ConfigIR, locs: Map<string, SourceRef>, options: CompileOptions): string {
  const raw = generate(buildModel(ir, locs), options);
  if (options.minify !== true) return raw;
  try {
    return compact(raw);
  } catch (err) {
    throw new PlanError(`the generated routing code could not be minified: ${(err as Error).message}`, raw, err);
  }
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
  // loadPlan parses the source as it loads it: no separate syntax check.
  const source = generateSource(check.ir, check.locs, { file: check.files[0]?.file, ...options });
  return { plan: loadPlan(source), source };
}
