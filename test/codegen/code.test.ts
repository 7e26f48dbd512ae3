import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { _, Code, comment, compact, Constants, join, lit, name, regex, stringLiteral, Writer } from '../../compiler/codegen/code.ts';

// The code builder: values enter generated code only as literals or names.

const HOSTILE = [
  '"; globalThis.pwned = 1; "',
  "'; globalThis.pwned = 1; '",
  '`${globalThis.pwned = 1}`',
  '${globalThis.pwned = 1}',
  '*/ globalThis.pwned = 1; /*',
  '\n globalThis.pwned = 1; //',
  '\r globalThis.pwned = 1; //',
  '\u2028 globalThis.pwned = 1; //',
  '\u2029 globalThis.pwned = 1; //',
  '</script><script>globalThis.pwned = 1</script>',
  '\\"; globalThis.pwned = 1; //',
  '\ud800 lone surrogate',
  '\u0000 nul',
  '__proto__',
];

const evaluate = (code: Code | string): unknown => new Function(`"use strict"; return (${code});`)();

test('strings interpolated into _ become literals that evaluate to themselves', () => {
  for (const s of HOSTILE) {
    const code = _`${s}`;
    assert.equal(evaluate(code), s);
    assert.equal((globalThis as Record<string, unknown>).pwned, undefined);
  }
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => evaluate(_`${s}`) === s), { numRuns: 500 });
});

test('literals: numbers, booleans, null, arrays and plain objects round-trip; everything else is refused', () => {
  const value = { a: [1, -2, 0.5, true, false, null, 'x"y'], 'b-c': { __proto__: 'kept as a key' } as unknown, __proto__: null } as unknown;
  const copy = JSON.parse(JSON.stringify({ a: [1, -2, 0.5, true, false, null, 'x"y'], 'b-c': {} }));
  const back = evaluate(lit(value)) as Record<string, unknown>;
  assert.deepEqual(back.a, copy.a);
  const own = evaluate(lit(JSON.parse('{"__proto__": {"polluted": 1}}'))) as Record<string, unknown>;
  assert.ok(Object.hasOwn(own, '__proto__'), '__proto__ is an own key, not the prototype');
  assert.equal(Object.getPrototypeOf(own), Object.prototype);
  assert.equal(String(_`x -${-1}`), 'x -(-1)');
  assert.equal(evaluate(_`5 -${-1}`), 6);
  for (const bad of [Number.NaN, Infinity, undefined, () => 1, Symbol('s'), 10n, new Date(0), /re/]) {
    assert.throws(() => lit(bad as unknown));
  }
  assert.throws(() => _`${Number.NaN}`);
});

test('stringLiteral escapes the line terminators and angle brackets JSON leaves alone', () => {
  const s = stringLiteral('a\u2028b\u2029c</script>');
  assert.doesNotMatch(s, /[\u2028\u2029<>]/);
  assert.equal(JSON.parse(s), 'a\u2028b\u2029c</script>');
});

test('name() accepts identifiers only; Code cannot be made from a raw string', () => {
  assert.equal(String(name('R0')), 'R0');
  for (const bad of ['', '1a', 'a-b', 'a b', 'return', 'x;y', 'a\u2028', 'constructor()']) assert.throws(() => name(bad), bad);
  assert.throws(() => new Code(Symbol('lbconf.code'), 'globalThis.pwned = 1'));
  const forged = Object.assign(['globalThis.pwned = 1'], { raw: ['globalThis.pwned = 1'] });
  assert.throws(() => _(forged as unknown as TemplateStringsArray));
});

test('comment() cannot be ended early by a line terminator', () => {
  for (const s of HOSTILE) {
    const code = `${comment(s)}\nreturn 1;`;
    assert.equal(new Function(code)(), 1);
    assert.equal(code.split(/\r\n|[\n\r\u2028\u2029]/).length, 2);
  }
});

test('regex() passes the pattern as a string literal and checks the flags', () => {
  for (const s of ['a/b', '/*/', '\\/', '[/]', ...HOSTILE.slice(0, 4)]) {
    const re = evaluate(regex(s.replace(/[\\$^.*+?()[\]{}|]/g, '\\$&'), 'i')) as RegExp;
    assert.ok(re.test(s), s);
  }
  assert.throws(() => regex('a', 'i); globalThis.pwned = (1'));
});

test('Constants dedupes equal values and hoists them; Writer indents', () => {
  const c = new Constants();
  const a = c.add('R', regex('a', ''), 'first');
  const b = c.add('R', regex('a', ''));
  const d = c.add('R', regex('b', ''));
  assert.equal(String(a), String(b));
  assert.notEqual(String(a), String(d));
  assert.equal(c.lines.length, 2);
  const w = new Writer();
  w.block(_`if (x) {`, () => { w.line(_`return ${'y'};`, 'a note\nwith a newline'); });
  assert.equal(String(w), 'if (x) {\n  return "y"; // a note\\nwith a newline\n}');
  assert.equal(String(join([_`a`, _`b`], _` + `)), 'a + b');
});

test('compact drops comments, indentation and needless spaces, never inside a string, and keeps the code\'s meaning', () => {
  const w = new Writer();
  w.note('a header comment');
  w.block(_`function f(a, b) {`, () => {
    for (const h of HOSTILE) w.line(_`if (a === ${h}) return ${h} + " // " + b;`, `a note with "quotes" and ${h}`);
    w.line(_`let i = 3;`);
    w.line(_`let n = a - -b + +i - (-1);`, 'signs that must not merge');
    w.line(_`while (i-- > 0) n = n < !a ? n : n + 1;`);
    w.line(_`return typeof n === "number" ? n : ${-0};`);
  });
  w.blank();
  w.line(_`return f;`);
  const source = String(w);
  const out = compact(source);
  assert.ok(out.length < source.length);
  assert.doesNotMatch(out, /a note|a header comment|^ /m);
  assert.match(out, /^let n=a- -b\+ \+i-\(-1\);$/m);
  assert.match(out, /^while\(i-- >0\)n=n< !a\?n:n\+1;$/m);
  const f = new Function(source)();
  const g = new Function(out)();
  for (const h of HOSTILE) assert.equal(g(h, 'x'), f(h, 'x'));
  for (const b of [0, 1, 5]) assert.equal(g('other', b), f('other', b));
  assert.equal((globalThis as Record<string, unknown>).pwned, undefined);
  // What the generator never writes is refused, not cut in the wrong place.
  assert.throws(() => compact('x = a / b;'), /"\/" that starts no comment/);
  assert.throws(() => compact("x = 'a';"), /' literal/);
  assert.throws(() => compact('x = `a`;'), /` literal/);
  assert.throws(() => compact('x = "a;'), /unterminated/);
});
