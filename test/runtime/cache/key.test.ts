import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_CACHE_KEY } from '../../../compiler/directives/cache.ts';
import type { Template } from '../../../compiler/variables.ts';
import type { RequestContext } from '../../../runtime/core/context.ts';
import { compileKey, escapeKeyValue, KEY_SEPARATOR } from '../../../runtime/filters/cache/key.ts';

// proxy_cache_key: every variable's value delimited, so that two different
// tuples of values never give one key, whatever the template's literal text.

/** A request whose `$http_vN` variables are `values[N]`. */
function request(values: readonly string[]): RequestContext {
  return { header: (name: string) => values[Number(name.slice(1))] ?? '' } as unknown as RequestContext;
}

/** Reads the values back from a key made by `template` (whose variables are `$http_vN`): what makes the key injective. */
function decode(template: Template, key: string): Map<number, string> | null {
  const values = new Map<number, string>();
  let at = 0;
  for (let i = 0; i < template.length; i++) {
    const p = template[i];
    if (typeof p === 'string') {
      if (!key.startsWith(p, at)) return null;
      at += p.length;
      continue;
    }
    let value = '';
    const last = i === template.length - 1;
    for (;;) {
      if (at >= key.length) { if (!last) return null; break; }
      const ch = key[at++];
      if (ch === '\\') { value += key[at++]; continue; }
      if (ch === KEY_SEPARATOR && !last) break;
      if (ch === KEY_SEPARATOR) return null;
      value += ch;
    }
    const n = Number(p.var.slice(6));
    if (values.has(n) && values.get(n) !== value) return null;
    values.set(n, value);
  }
  return at === key.length ? values : null;
}

const text = fc.string({ unit: fc.constantFrom('a', 's', ' ', '\\', ':', '/', 'é', '|'), maxLength: 6 });
const templateArb = fc.array(fc.oneof(text.filter((s) => s !== ''), fc.nat(3).map((n) => ({ var: `http_v${n}` }))), { maxLength: 6 })
  // A template's literal text is one part between variables, as the compiler makes it.
  .map((parts) => parts.reduce<Template>((out, p) => {
    const prev = out.at(-1);
    if (typeof p === 'string' && typeof prev === 'string') out[out.length - 1] = prev + p;
    else out.push(p);
    return out;
  }, []));

describe('the cache key', () => {
  it('reads back to the values it was made from, for any template and values', () => {
    fc.assert(fc.property(templateArb, fc.array(text, { minLength: 4, maxLength: 4 }), (template, values) => {
      const key = compileKey(template)(request(values));
      const decoded = decode(template, key);
      assert.ok(decoded !== null, `undecodable ${JSON.stringify(key)}`);
      for (const [n, v] of decoded) assert.equal(v, values[n]);
    }), { numRuns: 2000 });
  });

  it('two different tuples of values never give one key', () => {
    fc.assert(fc.property(templateArb, fc.array(text, { minLength: 4, maxLength: 4 }), fc.array(text, { minLength: 4, maxLength: 4 }), (template, a, b) => {
      const key = compileKey(template);
      const used = new Set(template.flatMap((p) => (typeof p === 'string' ? [] : [Number(p.var.slice(6))])));
      const same = [...used].every((n) => a[n] === b[n]);
      assert.equal(key(request(a)) === key(request(b)), same);
    }), { numRuns: 2000 });
  });

  it('the cases of the review: scheme and host, and values with the separator in them', () => {
    const key = compileKey([{ var: 'http_v0' }, { var: 'http_v1' }, { var: 'http_v2' }]);
    assert.notEqual(key(request(['http', 'sexample.test', '/x'])), key(request(['https', 'example.test', '/x'])));
    assert.equal(key(request(['https', 'example.test:8443', '/a?b=1'])), 'https example.test:8443 /a?b=1');
    assert.notEqual(key(request(['a b', 'c', ''])), key(request(['a', 'b c', ''])));
    assert.equal(key(request(['a b', 'c\\', 'd e'])), 'a\\ b c\\\\ d\\ e');
    // A literal separator in the template stays a literal.
    const colon = compileKey([{ var: 'http_v0' }, ':', { var: 'http_v1' }]);
    assert.notEqual(colon(request(['x:y', 'z'])), colon(request(['x', 'y:z'])));
    assert.equal(escapeKeyValue('plain/value'), 'plain/value');
  });

  it('the default is $scheme$authority$request_uri: the host with its port, as lbconf forwards it', () => {
    assert.deepEqual(DEFAULT_CACHE_KEY, [{ var: 'scheme' }, { var: 'authority' }, { var: 'request_uri' }]);
    const ctx = { scheme: 'https', rawHost: 'Example.test:8443', requestUri: '/a b?c' } as unknown as RequestContext;
    assert.equal(compileKey(DEFAULT_CACHE_KEY)(ctx), 'https Example.test:8443 /a\\ b?c');
  });
});
