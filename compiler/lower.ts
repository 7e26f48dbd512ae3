import type { Arg, Directive, Span } from '../lang/ast.ts';
import type { Diagnostic, Severity } from '../lang/diagnostic.ts';
import { Args, syntaxOf, type Context, type DirectiveSpec, type Frame, type LowerContext } from './directive.ts';
import { resolveTls } from './directives/tls.ts';
import { resolveInheritance, type Partials } from './inherit.ts';
import type { ConfigIR, LocationIR, ProxySettingsIR, ServerIR } from './ir.ts';
import { template } from './arg-types.ts';
import { didYouMean } from './suggest.ts';
import { directiveNames, NOT_IN_LBCONF, specFor, specsNamed } from './table.ts';

// AST → IR, driven by the directive table. Every value written to the IR is
// recorded with the span it came from (a JSON pointer → span map), so that
// later checks and the JSON Schema can point at the source.

export interface SourceRef {
  span: Span;
  /** How to name the value in a message: "`weight`", "the port". */
  label: string;
}

export interface Lowered {
  ir: ConfigIR;
  locs: Map<string, SourceRef>;
  diagnostics: Diagnostic[];
  /**
   * JSON pointers of the servers, locations and upstreams where an error was reported
   * while reading their own directive or one directly inside their block. Something
   * the user wrote there is missing from the IR, so checks that look for what is
   * missing (no handler, no servers, an empty name) stay quiet about them.
   */
  tainted: Set<string>;
  /** The arguments, as written, of every directive that was in error: what they name may be missing from the IR. */
  unread: string[];
}

const CONTEXT_NAMES: Record<Context, string> = { main: 'the top level', server: '`server`', location: '`location`', upstream: '`upstream`' };

class Lowering implements LowerContext {
  readonly ir: ConfigIR = { servers: [], upstreams: [] };
  readonly locs = new Map<string, SourceRef>();
  readonly diagnostics: Diagnostic[] = [];
  readonly partials: Partials = new WeakMap();
  readonly tainted = new Set<string>();
  readonly unread: string[] = [];
  private errors = 0;

  /** `\$` in text with variables: lbconf's own escape for a literal `$`; nginx has none, and its users mean a variable. */
  private noteEscape(type: unknown, arg: Arg): void {
    if (type !== template || !arg.value.includes('\\$')) return;
    this.diag('warning', 'dollar-escape', '`\\$` is lbconf\'s escape for a literal `$`: nginx has none (there `$` always starts a variable), so this line reads differently to an nginx user', arg.span, 'keep it if a literal `$` is meant; nginx writes it with a variable that holds `$` (`geo $dollar { default "$"; }`)');
  }

  diag(severity: Severity, code: string, message: string, span: Span, hint?: string): void {
    if (severity === 'error') this.errors++;
    this.diagnostics.push({ severity, code, message, span, ...(hint ? { hint } : {}) });
  }

  at(pointer: string, span: Span, label: string): void {
    this.locs.set(pointer, { span, label });
  }

  setting<K extends keyof ProxySettingsIR>(frame: Frame, key: K, value: ProxySettingsIR[K], span: Span, label: string): void {
    frame.settings[key] = value;
    this.at(`${frame.pointer}/settings/${key}`, span, label);
  }

  block(directives: Directive[], frame: Frame): void {
    const seen = new Map<DirectiveSpec, Directive>();
    for (const directive of directives) {
      for (const d of this.splitMissingSemicolons(directive)) this.directive(d, frame, seen);
    }
  }

  /**
   * `listen 80` followed on the next line by `server_name a;` parses as one
   * directive with too many arguments. When an argument that starts a new line
   * is itself a directive name, the `;` before it was forgotten: say so at the
   * end of the line that lacks it, and read the rest as its own directive.
   */
  private splitMissingSemicolons(d: Directive): Directive[] {
    for (let i = 0; i < d.args.length; i++) {
      const arg = d.args[i];
      const before = i === 0 ? d.nameSpan : d.args[i - 1].span;
      if (arg.kind !== 'word' || arg.span.start.line <= before.end.line || !specsNamed(arg.value)) continue;
      const at = before.end;
      const head = [d.name, ...d.args.slice(0, i).map((a) => a.raw)].join(' ');
      this.diag('error', 'missing-semicolon', `missing \`;\` after \`${head.slice(0, 60)}\``, { file: before.file, start: at, end: at }, 'end the directive with `;`');
      const first: Directive = { name: d.name, nameSpan: d.nameSpan, args: d.args.slice(0, i), block: null, span: { ...d.span, end: at } };
      const rest: Directive = { name: arg.value, nameSpan: arg.span, args: d.args.slice(i + 1), block: d.block, span: { ...d.span, start: arg.span.start } };
      return [first, ...this.splitMissingSemicolons(rest)];
    }
    return [d];
  }

  private directive(d: Directive, frame: Frame, seen: Map<DirectiveSpec, Directive>): void {
    const before = this.errors;
    const inner = this.lowerDirective(d, frame, seen);
    if (this.errors > before) {
      this.unread.push(...d.args.map((a) => a.value));
      this.tainted.add(frame.pointer);
      if (inner && inner !== frame) this.tainted.add(inner.pointer);
    }
    if (inner && d.block) {
      const owner = inner.location ?? inner.server;
      if (inner !== frame && owner && inner.context !== 'upstream') this.partials.set(owner as ServerIR | LocationIR, inner.settings);
      this.block(d.block, inner);
    }
  }

  /** Lowers one directive; returns the frame its block is to be read in, if any. */
  private lowerDirective(d: Directive, frame: Frame, seen: Map<DirectiveSpec, Directive>): Frame | void {
    const specs = specsNamed(d.name);
    if (!specs) {
      const note = NOT_IN_LBCONF[d.name];
      if (note) this.diag('error', 'unsupported-directive', `\`${d.name}\` is an nginx directive that lbconf does not have`, d.nameSpan, note);
      else this.diag('error', 'unknown-directive', `unknown directive \`${d.name}\``, d.nameSpan, didYouMean(d.name, directiveNames()) ?? 'see spec/directives.md for the directives lbconf knows');
      if (d.name === 'http') return frame; // still check what is inside, as if it were at this level
      return;
    }
    const spec = specFor(d.name, frame.context);
    if (!spec) {
      const where = [...new Set(specs.flatMap((s) => s.contexts))].map((c) => CONTEXT_NAMES[c]).join(', ');
      this.diag('error', 'wrong-context', `\`${d.name}\` is not allowed in ${CONTEXT_NAMES[frame.context]}`, d.nameSpan, `it belongs in ${where}`);
      return;
    }
    if (!spec.repeatable) {
      const earlier = seen.get(spec);
      if (earlier) {
        this.diag('error', 'duplicate-directive', `\`${d.name}\` is already set in this block (line ${earlier.span.start.line})`, d.nameSpan, 'remove one of them');
        return;
      }
      seen.set(spec, d);
    }
    if (spec.block && !d.block) {
      this.diag('error', 'missing-block', `\`${d.name}\` needs a block \`{ ... }\``, d.span, `write \`${syntaxOf(spec)}\``);
      return;
    }
    if (!spec.block && d.block) {
      this.diag('error', 'unexpected-block', `\`${d.name}\` does not take a block`, d.span, `write \`${syntaxOf(spec)}\``);
      return;
    }
    const args = new Args(d);
    // A directive whose required arguments were all read is lowered even when an
    // option or a flag was wrong (that one is left out), so that mistakes in its
    // other values are still found. A block directive is always lowered, so that
    // mistakes inside its block are still found.
    const usable = this.readArgs(spec, d, args);
    if (!usable && !spec.block) return;
    return spec.lower(this, args, frame);
  }

  /** Reads arguments into `args` by the spec; reports every mismatch; returns whether the positional ones were all read (a bad option is left out). */
  private readArgs(spec: DirectiveSpec, d: Directive, args: Args): boolean {
    const positional: Arg[] = [];
    const options = spec.args.options ?? {};
    const flags = spec.args.flags ?? {};
    for (const arg of d.args) {
      const eq = arg.kind === 'word' ? arg.value.indexOf('=') : -1;
      const key = eq > 0 ? arg.value.slice(0, eq) : '';
      if (key && key in options) {
        if (args.values.has(key)) {
          this.diag('error', 'duplicate-argument', `\`${key}=\` is given twice`, arg.span, 'keep one');
          continue;
        }
        const parsed = options[key].type.parse(arg.value.slice(eq + 1), arg);
        if (parsed.ok) { args.values.set(key, parsed.value); args.spans.set(key, arg.span); }
        else this.diag('error', 'bad-argument', `\`${key}\`: ${parsed.message}`, arg.span);
        continue;
      }
      if (arg.kind === 'word' && arg.value in flags) { args.flags.add(arg.value); args.spans.set(arg.value, arg.span); continue; }
      if (key && /^[a-z_]+$/.test(key) && Object.keys(options).length > 0) {
        this.diag('error', 'unknown-parameter', `\`${d.name}\` has no parameter \`${key}=\``, arg.span, didYouMean(key, Object.keys(options)) ?? `it takes ${Object.keys(options).map((o) => `\`${o}=\``).join(', ')}`);
        continue;
      }
      positional.push(arg);
    }
    return this.readPositional(spec, d, positional, args);
  }

  /** Reads the positional arguments; returns whether each one read was good (extra ones are reported and left out). */
  private readPositional(spec: DirectiveSpec, d: Directive, given: Arg[], args: Args): boolean {
    const slots = spec.args.positional;
    const attempted = new Set<string>();
    let valid = true;
    let next = 0;
    for (let s = 0; s < slots.length; s++) {
      const slot = slots[s];
      const requiredAfter = slots.slice(s + 1).filter((p) => !p.optional).length;
      if (slot.variadic) {
        const taken = given.slice(next, given.length - requiredAfter);
        if (taken.length === 0 && !slot.optional) break;
        const values: unknown[] = [];
        attempted.add(slot.name);
        for (const arg of taken) {
          const parsed = slot.type.parse(arg.value, arg);
          if (parsed.ok) values.push(parsed.value);
          else { this.diag('error', 'bad-argument', parsed.message, arg.span); valid = false; }
        }
        args.values.set(slot.name, values);
        if (taken.length) args.spans.set(slot.name, { ...taken[0].span, end: taken[taken.length - 1].span.end });
        next += taken.length;
        continue;
      }
      const arg = given[next];
      if (!arg) break;
      if (slot.optional) {
        // An optional argument is taken only when enough remain for the required ones and it fits its type.
        if (given.length - next <= requiredAfter) continue;
        const parsed = slot.type.parse(arg.value, arg);
        if (!parsed.ok) {
          // Unless the slots after it cannot hold all that remain: then it was meant for this one.
          const room = slots.slice(s + 1).some((p) => p.variadic) ? Infinity : slots.length - s - 1;
          if (given.length - next <= room) continue;
          this.diag('error', 'bad-argument', parsed.message, arg.span);
          valid = false;
          next++;
          continue;
        }
        args.values.set(slot.name, parsed.value);
        args.spans.set(slot.name, arg.span);
        this.noteEscape(slot.type, arg);
        next++;
        continue;
      }
      const parsed = slot.type.parse(arg.value, arg);
      attempted.add(slot.name);
      if (parsed.ok) { args.values.set(slot.name, parsed.value); args.spans.set(slot.name, arg.span); this.noteEscape(slot.type, arg); }
      else { this.diag('error', 'bad-argument', parsed.message, arg.span); valid = false; }
      next++;
    }
    const missing = slots.filter((p) => !p.optional && !attempted.has(p.name));
    if (missing.length > 0) {
      const at = (d.args.length ? d.args[d.args.length - 1].span : d.nameSpan).end;
      this.diag('error', 'missing-argument', `\`${d.name}\` needs ${missing.map((p) => p.name.toUpperCase()).join(' and ')}`, { file: d.span.file, start: at, end: at }, `write \`${syntaxOf(spec)}\``);
      return false;
    }
    if (next < given.length) {
      const extra = given[next];
      const flagHint = didYouMean(extra.value, Object.keys(spec.args.flags ?? {}));
      this.diag('error', 'too-many-arguments', `\`${d.name}\` does not take \`${extra.raw.slice(0, 40)}\` here`, { ...extra.span, end: given[given.length - 1].span.end }, flagHint ?? `write \`${syntaxOf(spec)}\``);
    }
    return valid;
  }
}

export function lower(directives: Directive[]): Lowered {
  const l = new Lowering();
  const top: Frame = { context: 'main', server: null, location: null, upstream: null, pointer: '', settings: {} };
  l.block(directives, top);
  resolveInheritance(l.ir, top.settings, l.partials, (from, to) => {
    const ref = l.locs.get(from);
    if (ref) l.locs.set(to, ref);
  });
  resolveTls(l.ir, (pointer, span, label) => l.at(pointer, span, label), (span, message, hint) => l.diag('error', 'unpaired-certificate', message, span, hint));
  return { ir: l.ir, locs: l.locs, diagnostics: l.diagnostics, tainted: l.tainted, unread: l.unread };
}
