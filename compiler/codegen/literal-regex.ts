// Location regexes that are only literal text, such as `\.png$`,
// `\.(jpg|jpeg|gif)$`, `^/api/` or `^/health$`: what they match can be said
// without a regex engine, so the generated code compares characters instead
// (and dispatches suffixes on the path's last character). Anything this
// parser does not fully understand is left to the regex engine.
//
// The grammar accepted (JavaScript regex syntax, no `u` flag):
//   ^ part* | part* $ | ^ part* $
//   part  = char [?] | ( [?:] alt (`|` alt)* ) [?]
//   alt   = (char [?])*
//   char  = a literal character | `\` + ASCII punctuation
// (`?` may also be the lazy `??`: the same paths match), so no other
// quantifier, no classes, no `.`, no lookaround, no backreference. `jpe?g` is
// the two texts `jpg` and `jpeg`; a pattern expands to at most 64 texts.
// With `~*` (the `i` flag) only ASCII is accepted, because without `u` an
// ASCII character matches exactly itself and, for a letter, its other case (ES2024 §22.2.2.7.3 Canonicalize: no character ≥ 128 folds to
// one below 128).

export type Anchor = 'suffix' | 'prefix' | 'exact';

export interface LiteralRegex {
  /** `suffix` (`…$`), `prefix` (`^…`) or `exact` (`^…$`). */
  anchor: Anchor;
  /** The texts of which the path must end with, start with or equal one; never empty strings. */
  texts: string[];
  /** `~*`: ASCII letters match either case. */
  nocase: boolean;
}

/** Texts one pattern may expand to; a group of alternatives multiplies them. */
const MAX_TEXTS = 64;

const SPECIAL = new Set('\\^$.|?*+()[]{}');
const PUNCTUATION = /^[!-/:-@[-`{-~]$/;

/** The literal form of a regex location's pattern, or null when it is more than literal text. */
export function literalRegex(pattern: string, nocase: boolean): LiteralRegex | null {
  let i = 0;
  const start = pattern.startsWith('^');
  if (start) i++;
  let end = pattern.length;
  // A `$` that is not escaped: an even number of backslashes before it.
  if (pattern.endsWith('$') && (pattern.length - 1 - pattern.slice(0, -1).replace(/\\*$/, '').length) % 2 === 0) end--;
  if (end < i) return null;
  const anchored = end < pattern.length;

  /** One literal character at `i` (advancing), or null. */
  const char = (): string | null => {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined || !PUNCTUATION.test(next)) return null;
      i += 2;
      return next;
    }
    if (SPECIAL.has(c)) return null;
    if (nocase && c.charCodeAt(0) > 127) return null;
    i++;
    return c;
  };

  /** A `?` (or lazy `??`: the same set of matches) after what was just read. */
  const optional = (): boolean => {
    if (pattern[i] !== '?' || i >= end) return false;
    i += pattern[i + 1] === '?' && i + 1 < end ? 2 : 1;
    return true;
  };
  /** Every text of `heads` followed by every one of `tails`; null beyond MAX_TEXTS. */
  const product = (heads: string[], tails: string[]): string[] | null =>
    heads.length * tails.length > MAX_TEXTS ? null : heads.flatMap((h) => tails.map((t) => h + t));

  let texts: string[] | null = [''];
  while (i < end && texts) {
    if (pattern[i] === '(') {
      i += pattern.startsWith('(?:', i) ? 3 : pattern[i + 1] === '?' ? Infinity : 1;
      if (i > end) return null; // lookaround, named group
      const alts: string[] = [];
      let alt: string[] | null = [''];
      while (i < end && pattern[i] !== ')' && alt) {
        if (pattern[i] === '|') { alts.push(...alt); alt = ['']; i++; continue; }
        const c = char();
        if (c === null) return null;
        alt = product(alt, optional() ? ['', c] : [c]);
      }
      if (!alt || pattern[i] !== ')') return null;
      alts.push(...alt);
      i++;
      if (optional()) alts.push('');
      texts = product(texts, alts);
      continue;
    }
    const c = char();
    if (c === null) return null;
    texts = product(texts, optional() ? ['', c] : [c]);
  }
  if (!texts) return null;
  if (i !== end) return null;
  // An empty text matches every path, and an unanchored text is a search: rare, and the regex engine does both well.
  if (texts.some((t) => t === '') || (!start && !anchored)) return null;
  const anchor: Anchor = start && anchored ? 'exact' : start ? 'prefix' : 'suffix';
  return { anchor, texts: [...new Set(texts)], nocase };
}

/** The character codes a path character may have to match `c`: both cases of an ASCII letter under `~*`. */
export function codesOf(c: string, nocase: boolean): number[] {
  const code = c.charCodeAt(0);
  const lower = code | 32;
  if (nocase && lower >= 97 && lower <= 122) return [lower, lower - 32];
  return [code];
}
