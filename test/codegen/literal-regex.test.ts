import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { literalRegex } from '../../compiler/codegen/literal-regex.ts';
import { emptySettings } from '../../compiler/inherit.ts';
import type { ConfigIR, LocationIR } from '../../compiler/ir.ts';
import { loadPlan, planSource } from '../../compiler/plan.ts';

// Regex locations that are only literal text are compiled to character
// comparisons (compiler/codegen/literal-regex.ts). Which patterns qualify, and,
// on random patterns and paths, that the generated comparisons answer exactly
// as the regex engine does.

test('which patterns are literal text, and what they match', () => {
  const cases: Array<[string, boolean, ReturnType<typeof literalRegex>]> = [
    ['\\.png$', true, { anchor: 'suffix', texts: ['.png'], nocase: true }],
    ['\\.(jpg|jpeg|gif)$', false, { anchor: 'suffix', texts: ['.jpg', '.jpeg', '.gif'], nocase: false }],
    ['\\.(?:js|css)$', true, { anchor: 'suffix', texts: ['.js', '.css'], nocase: true }],
    ['\\.(png|jpe?g)$', true, { anchor: 'suffix', texts: ['.png', '.jpg', '.jpeg'], nocase: true }],
    ['\\.ph(p|tml)?$', false, { anchor: 'suffix', texts: ['.php', '.phtml', '.ph'], nocase: false }],
    ['^/a/?$', false, { anchor: 'exact', texts: ['/a', '/a/'], nocase: false }],
    ['^/a/?', false, { anchor: 'prefix', texts: ['/a', '/a/'], nocase: false }],
    ['^/b??c', false, { anchor: 'prefix', texts: ['/c', '/bc'], nocase: false }],
    ['^/api/', false, { anchor: 'prefix', texts: ['/api/'], nocase: false }],
    ['^/(a|b)/(c|d)$', false, { anchor: 'exact', texts: ['/a/c', '/a/d', '/b/c', '/b/d'], nocase: false }],
    ['^/health$', true, { anchor: 'exact', texts: ['/health'], nocase: true }],
    ['a\\$', false, null], // no anchor: a search, left to the engine
    ['\\$$', false, { anchor: 'suffix', texts: ['$'], nocase: false }],
    ['\\\\$', false, { anchor: 'suffix', texts: ['\\'], nocase: false }],
    ['/caf\u00e9$', false, { anchor: 'suffix', texts: ['/caf\u00e9'], nocase: false }],
    ['/caf\u00e9$', true, null], // non-ASCII under `~*`: case folding left to the engine
  ];
  for (const [pattern, nocase, want] of cases) assert.deepEqual(literalRegex(pattern, nocase), want, pattern);
  // Anything with more than literal text is left to the regex engine.
  for (const pattern of ['\\.ph(p|tml)+$', '\\.php\\d$', '[.]png$', '.png$', '\\.(png)+$', 'a|b$', '(?<=a)b$', '(?<n>a)$', '(a)\\1$', '(?=a)a$', '^$', '$', '^', '(|a)$', 'x{2}$', '\\bx$', '^/a$|^/b$', '(a(b))$', '\\w$']) {
    assert.equal(literalRegex(pattern, false), null, pattern);
    assert.equal(literalRegex(pattern, true), null, pattern);
  }
});

// Random patterns shaped like literal ones (anchors, literal characters,
// escapes, groups of alternatives), now and then with something that makes
// them more than literal.
const CHARS = ['a', 'A', 'b', '/', '-', '\\.', '\\/', '\\$', 'é', 'É'];
const OTHER = ['.', '?', '??', '*', '[ab]', '\\d', '(a|)', '|'];
const charsArb = fc.array(fc.constantFrom(...CHARS), { maxLength: 3 }).map((cs) => cs.join(''));
const partArb = fc.oneof(
  { weight: 4, arbitrary: charsArb },
  { weight: 2, arbitrary: fc.record({ open: fc.constantFrom('(', '(?:'), alts: fc.array(charsArb, { minLength: 1, maxLength: 3 }) }).map(({ open, alts }) => `${open}${alts.join('|')})`) },
  { weight: 1, arbitrary: fc.constantFrom(...OTHER) },
);
const patternArb = fc.record({ start: fc.boolean(), parts: fc.array(partArb, { minLength: 1, maxLength: 3 }), end: fc.boolean() })
  .map(({ start, parts, end }) => `${start ? '^' : ''}${parts.join('')}${end ? '$' : ''}`)
  .filter((p) => {
    try { new RegExp(p); return true; } catch { return false; }
  });
const pathArb = fc.array(fc.constantFrom('a', 'A', 'b', 'B', '/', '.', '-', '$', 'é', 'É', 'ı'), { maxLength: 8 }).map((cs) => '/' + cs.join(''));
const location = (match: LocationIR['match'], path: string): LocationIR => ({ match, path, proxyPass: null, return: { status: 204, text: null }, settings: emptySettings(), locations: [] });

test('generated comparisons agree with the regex engine on random patterns and paths', () => {
  let literal = 0;
  fc.assert(
    fc.property(fc.array(fc.record({ pattern: patternArb, nocase: fc.boolean() }), { minLength: 1, maxLength: 5 }), fc.array(pathArb, { minLength: 1, maxLength: 30 }), fc.constantFrom(1, 6), (regexes, paths, unrollChars) => {
      literal += regexes.filter((r) => literalRegex(r.pattern, r.nocase)).length;
      const locations = [location('prefix', '/'), ...regexes.map((r) => location(r.nocase ? 'regex-nocase' : 'regex', r.pattern))];
      const ir: ConfigIR = { servers: [{ listen: [{ address: '*', port: 80, defaultServer: false, ssl: false }], serverNames: [''], tls: null, return: null, settings: emptySettings(), locations }], upstreams: [] };
      const source = planSource(ir, new Map(), { unrollChars });
      const plan = loadPlan(source);
      for (const path of paths) {
        // The first regex in file order that matches; else `location /`.
        const first = regexes.findIndex((r) => new RegExp(r.pattern, r.nocase ? 'i' : '').test(path));
        const want = first < 0 ? '/servers/0/locations/0' : `/servers/0/locations/${first + 1}`;
        assert.equal(plan.routes[plan.route(0, '', path)].location, want, `${JSON.stringify(regexes)} ${JSON.stringify(path)}\n${source}`);
      }
    }),
    { numRuns: 500, seed: Number(process.env.FC_SEED ?? 3) },
  );
  // The property is about the literal path: enough patterns must have taken it.
  assert.ok(literal > 200, `only ${literal} literal patterns generated`);
});
