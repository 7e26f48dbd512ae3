import type { Span } from '../../lang/ast.ts';
import type { Diagnostic, Severity } from '../../lang/diagnostic.ts';
import type { ConfigIR, LocationIR } from '../ir.ts';
import type { SourceRef } from '../lower.ts';

// What every semantic check is given, and a helper to report at a pointer.

export interface CheckInput {
  ir: ConfigIR;
  locs: Map<string, SourceRef>;
  /** Where to point when a value has no recorded source. */
  fallback: Span;
  /** Pointers of the servers, locations and upstreams that lost a directive to an error (see Lowered). */
  tainted?: ReadonlySet<string>;
  /** The arguments of the directives that were in error (see Lowered). */
  unread?: readonly string[];
}

export type Check = (input: CheckInput) => Diagnostic[];

export class Reporter {
  readonly out: Diagnostic[] = [];
  private readonly input: CheckInput;

  constructor(input: CheckInput) {
    this.input = input;
  }

  span(pointer: string): Span {
    for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
      const ref = this.input.locs.get(p);
      if (ref) return ref.span;
      if (p === '') return this.input.fallback;
    }
  }

  /** Whether an error inside this server, location or upstream left out something written there. */
  tainted(pointer: string): boolean {
    return this.input.tainted?.has(pointer) ?? false;
  }

  report(severity: Severity, code: string, pointer: string, message: string, hint?: string): void {
    this.out.push({ severity, code, message, span: this.span(pointer), ...(hint ? { hint } : {}) });
  }
}

/** Every location in the config with its pointer, depth first, in file order. */
export function* walkLocations(ir: ConfigIR): Generator<{ location: LocationIR; pointer: string; parent: LocationIR | null; siblings: LocationIR[] }> {
  function* walk(list: LocationIR[], pointer: string, parent: LocationIR | null): Generator<{ location: LocationIR; pointer: string; parent: LocationIR | null; siblings: LocationIR[] }> {
    for (let i = 0; i < list.length; i++) {
      const p = `${pointer}/locations/${i}`;
      yield { location: list[i], pointer: p, parent, siblings: list };
      yield* walk(list[i].locations, p, list[i]);
    }
  }
  for (let s = 0; s < ir.servers.length; s++) yield* walk(ir.servers[s].locations, `/servers/${s}`, null);
}

export function describeLocation(l: LocationIR): string {
  const modifier = { exact: '= ', prefix: '', 'prefix-no-regex': '^~ ', regex: '~ ', 'regex-nocase': '~* ' }[l.match];
  return `location ${modifier}${l.path}`;
}
