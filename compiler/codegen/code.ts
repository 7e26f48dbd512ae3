// A tiny code builder for generated JavaScript, in the spirit of ajv's codegen
// (lib/compile/codegen/code.ts): generated source is assembled only from `Code`
// values. Text written by us enters through the `_` tagged template; every
// value that comes from a config (a path, a host name, a header value, a regex)
// enters either as an escaped literal or as a reference to a named constant.
// There is no function that turns an arbitrary string into Code.
//
//   _`if (${name("p")} === ${3}) return ${"/a\"b"};`  →  if (p === 3) return "/a\"b";
//
// A string interpolated into `_` becomes a string literal, never code.

const TOKEN = Symbol('lbconf.code');

export class Code {
  readonly #text: string;

  /** Not for use outside this module: the token makes a Code only constructible here. */
  constructor(token: symbol, text: string) {
    if (token !== TOKEN) throw new TypeError('Code is built with _`...`, lit(), name() or join(), not constructed');
    this.#text = text;
  }

  toString(): string {
    return this.#text;
  }

  get isEmpty(): boolean {
    return this.#text === '';
  }
}

const make = (text: string) => new Code(TOKEN, text);

export const nil: Code = make('');

/** A value interpolated into `_` as a literal. Arrays and objects go through lit(). */
export type CodeArg = Code | string | number | boolean | null;

/**
 * Code from a template written in our source. Interpolated Code is spliced as
 * is; anything else becomes a literal.
 */
export function _(strings: TemplateStringsArray, ...args: CodeArg[]): Code {
  // A real template's strings array is frozen and has `raw`; a forged array is refused.
  if (!Object.isFrozen(strings) || !Array.isArray(strings.raw)) throw new TypeError('_ is a template tag');
  let text = strings[0];
  for (let i = 0; i < args.length; i++) text += codeOf(args[i]) + strings[i + 1];
  return make(text);
}

function codeOf(arg: CodeArg): string {
  return arg instanceof Code ? arg.toString() : literalText(arg);
}

/**
 * A value as a JavaScript literal: strings, finite numbers, booleans, null, and
 * arrays and plain objects of those (checked at run time; anything else throws).
 */
export function lit(value: unknown): Code {
  return make(literalText(value));
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const RESERVED = new Set(('break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
  'instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await arguments eval undefined NaN Infinity').split(' '));

/** An identifier we chose (`R0`, `route`): checked to be one, never a config value. */
export function name(id: string): Code {
  if (!IDENTIFIER.test(id) || RESERVED.has(id)) throw new TypeError(`not a safe identifier: ${JSON.stringify(id)}`);
  return make(id);
}

export function join(parts: readonly Code[], separator: Code = _`, `): Code {
  return make(parts.map(String).join(separator.toString()));
}

/** `new RegExp("pattern", "flags")`: the pattern as a string literal, never pasted as regex syntax. */
export function regex(pattern: string, flags: string): Code {
  if (!/^[dgimsuvy]*$/.test(flags)) throw new TypeError(`bad regex flags: ${JSON.stringify(flags)}`);
  return _`new RegExp(${pattern}, ${flags})`;
}

/** A line comment. Line terminators in the text are escaped, so a comment can never end early. */
export function comment(text: string): Code {
  return make('// ' + text.replace(/[\r\n\u2028\u2029]/g, (c) => ({ '\r': '\\r', '\n': '\\n', '\u2028': '\\u2028', '\u2029': '\\u2029' })[c]!));
}

/** JSON.stringify, plus the characters that end lines in JavaScript and `<` (for `</script>` or `<!--` wherever the code is embedded). */
export function stringLiteral(s: string): string {
  return JSON.stringify(s).replace(/[\u2028\u2029<>]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function literalText(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string': return stringLiteral(value);
    case 'boolean': return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
      // Parenthesized when negative, so `x -${n}` can never become `x --1`.
      return value < 0 || Object.is(value, -0) ? `(${value === 0 ? '-0' : String(value)})` : String(value);
    case 'object':
      if (Array.isArray(value)) return `[${value.map((v) => literalText(v)).join(', ')}]`;
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) throw new TypeError('only plain objects become literals');
      return `{${Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        // `{"__proto__": x}` would set the prototype; a computed key defines an own property.
        .map(([k, v]) => `${k === '__proto__' ? `[${stringLiteral(k)}]` : IDENTIFIER.test(k) && !RESERVED.has(k) ? k : stringLiteral(k)}: ${literalText(v)}`)
        .join(', ')}}`;
    default:
      throw new TypeError(`cannot be a literal: ${typeof value}`);
  }
}

/**
 * Module-level constants, hoisted above the code that uses them and evaluated
 * once at load: regexes, Maps, interned data. Equal values share one name.
 */
export class Constants {
  readonly #byKey = new Map<string, Code>();
  readonly #lines: Code[] = [];
  readonly #counters = new Map<string, number>();

  /** The name of a constant holding `value`; `key` identifies equal values (default: the code text). */
  add(prefix: string, value: Code, note?: string, key: string = value.toString()): Code {
    const full = `${prefix}\u0000${key}`;
    const known = this.#byKey.get(full);
    if (known) return known;
    const n = this.#counters.get(prefix) ?? 0;
    this.#counters.set(prefix, n + 1);
    const id = name(`${prefix}${n}`);
    this.#byKey.set(full, id);
    this.#lines.push(note === undefined ? _`const ${id} = ${value};` : _`const ${id} = ${value}; ${comment(note)}`);
    return id;
  }

  get lines(): readonly Code[] {
    return this.#lines;
  }
}

/** Lines of code with indentation, for readable output. */
export class Writer {
  readonly #lines: string[] = [];
  #depth = 0;

  line(code: Code, note?: string): this {
    const text = note === undefined ? code.toString() : code.isEmpty ? comment(note).toString() : `${code} ${comment(note)}`;
    this.#lines.push('  '.repeat(this.#depth) + text);
    return this;
  }

  note(text: string): this {
    return this.line(comment(text));
  }

  blank(): this {
    this.#lines.push('');
    return this;
  }

  /** `open` ends with `{`; the body is indented; `close` (default `}`) ends it. */
  block(open: Code, body: () => void, close: Code = _`}`, note?: string): this {
    this.line(open, note);
    this.#depth++;
    body();
    this.#depth--;
    return this.line(close);
  }

  indent(body: () => void): this {
    this.#depth++;
    body();
    this.#depth--;
    return this;
  }

  append(other: Writer): this {
    for (const l of other.#lines) this.#lines.push(l === '' ? '' : '  '.repeat(this.#depth) + l);
    return this;
  }

  toCode(): Code {
    return make(this.#lines.join('\n'));
  }

  toString(): string {
    return this.#lines.join('\n');
  }
}

/**
 * The generated source without its comments, indentation, blank lines and the
 * spaces that separate nothing: `lbconf compile --minify`. Names stay as they are.
 * It relies on what this module makes: every literal is a double-quoted string from
 * stringLiteral() (no line terminator inside), every comment a `//` line comment
 * from comment(), and no generated code has a `/` of its own (no division, no regex
 * literal) or a template literal. A source that breaks those rules throws rather
 * than being cut in the wrong place. Line breaks are kept (no reliance on `;`).
 */
export function compact(source: string): string {
  const out: string[] = [];
  let line = '';
  let i = 0;
  const special = /["/\n'`]/g;
  for (;;) {
    special.lastIndex = i;
    const m = special.exec(source);
    const at = m === null ? source.length : m.index;
    line += squeeze(source.slice(i, at));
    if (m === null) break;
    const c = m[0];
    if (c === '"') {
      let j = at + 1;
      while (j < source.length && source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
      if (j >= source.length) throw new Error('compact: an unterminated string literal in the generated code');
      line += source.slice(at, j + 1);
      i = j + 1;
    } else if (c === '/') {
      if (source[at + 1] !== '/') throw new Error(`compact: a "/" that starts no comment in the generated code, at ${at}`);
      const eol = source.indexOf('\n', at);
      i = eol < 0 ? source.length : eol;
    } else if (c === '\n') {
      if (line !== '') out.push(line);
      line = '';
      i = at + 1;
    } else {
      throw new Error(`compact: a ${c} literal in the generated code, at ${at}`);
    }
  }
  if (line !== '') out.push(line);
  return out.join('\n') + '\n';
}

const WORD = /[A-Za-z0-9_$]/;

/**
 * Code between string literals, comments and line ends, without the spaces it can
 * do without. A space stays between two word characters (`return x`, `case 1`),
 * where removing it would make another token (`a - -b`, `a + +b`, `i-- > 0`,
 * `a < !b`), and between a digit and a dot. Next to a string or a line end (the
 * edges of `code`) it goes.
 */
function squeeze(code: string): string {
  return code.replace(/[ \t]+/g, (space, at: number) => {
    const a = code[at - 1];
    const b = code[at + space.length];
    if (a === undefined || b === undefined) return '';
    if (WORD.test(a) && WORD.test(b)) return ' ';
    if ((a === '+' || a === '-') && (b === '+' || b === '-' || b === '>')) return ' ';
    if (a === '<' && b === '!') return ' ';
    if (/[0-9]/.test(a) && b === '.') return ' ';
    return '';
  });
}
