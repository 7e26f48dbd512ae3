import { transformSync } from 'esbuild';
import { hasErrors } from '../lang/diagnostic.ts';
import type { CheckResult } from './check.ts';
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
  /** Minify the source with esbuild (names, whitespace, comments). */
  minify?: boolean;
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
