import type { Arg, Directive, Span } from '../lang/ast.ts';
import type { Severity } from '../lang/diagnostic.ts';
import type { ConfigIR, LocationIR, ProxySettingsIR, ServerIR, UpstreamIR } from './ir.ts';
import type { Parsed } from './values.ts';

// The directive table's vocabulary. Each family of directives (compiler/directives/*.ts)
// exports DirectiveSpec objects; the same table drives lowering, error messages and
// the reference in spec/directives.md.

export type Context = 'main' | 'server' | 'location' | 'upstream';

/** How one argument is read. `parse` sees the unquoted value. */
export interface ArgType<T = unknown> {
  /** Shown in the syntax line and in error messages: `duration`, `port`, `name`… */
  name: string;
  parse(value: string, arg: Arg): Parsed<T>;
}

export interface PositionalSpec {
  name: string;
  type: ArgType;
  optional?: boolean;
  /** Takes every remaining argument (at least one unless optional). */
  variadic?: boolean;
}

export interface ArgsSpec {
  positional: PositionalSpec[];
  /** Bare words such as `backup` or `consistent`, with what each means. */
  flags?: Record<string, string>;
  /** `key=value` arguments, with the type of the value and what it means. */
  options?: Record<string, { type: ArgType; doc: string }>;
}

/** The arguments of one directive, read and typed. */
export class Args {
  readonly directive: Directive;
  readonly values = new Map<string, unknown>();
  readonly spans = new Map<string, Span>();
  readonly flags = new Set<string>();

  constructor(directive: Directive) {
    this.directive = directive;
  }

  get<T>(name: string): T | undefined {
    return this.values.get(name) as T | undefined;
  }

  has(name: string): boolean {
    return this.values.has(name) || this.flags.has(name);
  }

  /** The span of an argument, falling back to the directive's. */
  span(name: string): Span {
    return this.spans.get(name) ?? this.directive.span;
  }
}

/** What a directive's lowering may read and change. */
export interface Frame {
  context: Context;
  server: ServerIR | null;
  location: LocationIR | null;
  upstream: UpstreamIR | null;
  /** JSON pointer of the server or location that owns `settings`, or '' at the top level. */
  pointer: string;
  /** The settings written at this level; compiler/inherit.ts resolves them down the tree. */
  settings: Partial<ProxySettingsIR>;
}

export interface LowerContext {
  readonly ir: ConfigIR;
  diag(severity: Severity, code: string, message: string, span: Span, hint?: string): void;
  /** Records where the value at a JSON pointer came from, so schema errors can point at it. */
  at(pointer: string, span: Span, label: string): void;
  /** Records where an inherited setting was written (pointer relative to a settings object). */
  setting<K extends keyof ProxySettingsIR>(frame: Frame, key: K, value: ProxySettingsIR[K], span: Span, label: string): void;
}

export interface DirectiveSpec {
  name: string;
  contexts: readonly Context[];
  /** Set when the directive opens a block: the context inside it. */
  block?: Context;
  args: ArgsSpec;
  repeatable: boolean;
  /** The default, in words, for the reference. */
  default?: string;
  summary: string;
  /** A short example, as a user would write it. */
  example: string;
  /** Lowers one occurrence. A block directive returns the frame its block is read in. */
  lower(cx: LowerContext, args: Args, frame: Frame): Frame | void;
}

/** The syntax line of the reference: `server ADDRESS [weight=number] [backup]`. */
export function syntaxOf(spec: DirectiveSpec): string {
  const parts = [spec.name];
  for (const p of spec.args.positional) {
    const word = p.name.toUpperCase() + (p.variadic ? ' ...' : '');
    parts.push(p.optional ? `[${word}]` : word);
  }
  for (const [key, option] of Object.entries(spec.args.options ?? {})) parts.push(`[${key}=${option.type.name}]`);
  for (const flag of Object.keys(spec.args.flags ?? {})) parts.push(`[${flag}]`);
  return parts.join(' ') + (spec.block ? ' { ... }' : ';');
}
