import type { Template } from '../../../compiler/variables.ts';
import type { RequestContext } from '../../core/context.ts';
import { compileTemplate, joinParts, type Evaluate } from '../../core/template.ts';

// The cache key (`proxy_cache_key`), made so that two different requests can
// never share a key by accident: every variable's value is escaped and closed
// by a space, except the one that ends the key. `$scheme$authority$request_uri`
// for `https://example.com:8443/a?b=1` is `https example.com:8443 /a?b=1`.
//
// Why this is unambiguous, for any template: the literal text between the
// variables is fixed by the template, and an escaped value never holds an
// unescaped space, so reading a key from its start, each value ends at the
// first unescaped space after it begins (or at the end of the key), and the
// tuple of values is read back whole. Two different tuples of values give two
// different keys. (Plain concatenation did not: `http` + `sexample.test`
// and `https` + `example.test` were one key.)

/** The character that closes a variable's value in a key. */
export const KEY_SEPARATOR = ' ';

/** A variable's value as it is written in a key: `\` and the separator escaped with `\`. */
export function escapeKeyValue(value: string): string {
  if (value.indexOf('\\') < 0 && value.indexOf(KEY_SEPARATOR) < 0) return value;
  return value.replace(/[\\ ]/g, '\\$&');
}

/** The key of a request, as `proxy_cache_key` says, with its variables' values delimited (above). */
export function compileKey(template: Template): Evaluate {
  const parts: Array<string | Evaluate> = [];
  template.forEach((p, i) => {
    if (typeof p === 'string') { parts.push(p); return; }
    const value = compileTemplate([p]);
    parts.push(i === template.length - 1 ? (c: RequestContext) => escapeKeyValue(value(c)) : (c: RequestContext) => `${escapeKeyValue(value(c))}${KEY_SEPARATOR}`);
  });
  return joinParts(parts);
}
