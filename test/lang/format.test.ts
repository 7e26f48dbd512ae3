import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { IToken } from 'chevrotain';
import fc from 'fast-check';
import type { Directive } from '../../lang/ast.ts';
import { hasErrors } from '../../lang/diagnostic.ts';
import { formatConfig } from '../../lang/format.ts';
import { lex } from '../../lang/lexer.ts';
import { parseConfig } from '../../lang/parse.ts';

/** The formatted text of a valid config (fails the test if it is not valid). */
function fmt(source: string): string {
  const result = formatConfig(source, 'test.lbconf');
  assert.notEqual(result.output, null, `unexpected syntax error: ${JSON.stringify(result.diagnostics)}`);
  return result.output as string;
}

/** Expected output, one argument per line. */
function lines(...xs: string[]): string {
  return xs.join('\n') + '\n';
}

/** The AST without spans: what formatting must not change. */
function shape(directives: Directive[]): unknown {
  return directives.map((d) => ({ name: d.name, args: d.args.map((a) => a.raw), block: d.block && shape(d.block) }));
}

function meaning(source: string): { directives: unknown; comments: string[] } {
  const { config } = parseConfig(source, 'test.lbconf');
  // A CR before a line break belongs to the line ending, which the formatter rewrites as LF.
  return { directives: shape(config.directives), comments: config.comments.map((c) => c.text.replace(/\r$/, '')) };
}

describe('formatConfig: layout', () => {
  it('formats an empty or blank file to the empty string', () => {
    assert.equal(fmt(''), '');
    assert.equal(fmt('  \n\n\t\r\n'), '');
  });

  it('indents each block level by 4 spaces, `{` after one space, `}` alone at the parent indent', () => {
    assert.equal(
      fmt('http{\nserver   {\n\t\tlisten 80;\n   location /{\nreturn 200;\n}\n        }\n}'),
      lines('http {', '    server {', '        listen 80;', '        location / {', '            return 200;', '        }', '    }', '}'),
    );
  });

  it('prints an empty block as `{` and `}` on two lines', () => {
    assert.equal(fmt('events {}\nhttp {   \n\n  }'), lines('events {', '}', 'http {', '}'));
  });

  it('separates name and arguments by one space, with `;` right after the last argument', () => {
    assert.equal(fmt('proxy_set_header\tHost   $host   ;'), lines('proxy_set_header Host $host;'));
    assert.equal(fmt('gzip on;'), lines('gzip on;'));
    assert.equal(fmt('least_conn ;'), lines('least_conn;'));
  });

  it('prints arguments exactly as written, quotes and escapes included', () => {
    const src = `return 200 "a \\"b\\"\\n\\t" 'it\\'s' "\\.png$" x"y" '' "";`;
    assert.equal(fmt(src), lines(src));
    // A line break inside a string is part of the argument, so it stays.
    assert.equal(fmt('http {\n  return 200 "line one\n  line two"  ;\n}'), lines('http {', '    return 200 "line one\n  line two";', '}'));
  });

  it('separates arguments that were written touching by one space', () => {
    assert.equal(fmt(`return 200"a"'b'c;`), lines(`return 200"a"'b'c;`)); // one word: quotes inside a word are plain characters
    assert.equal(fmt(`return "a"'b'c;`), lines(`return "a" 'b' c;`));
  });

  it('splits several directives on one line', () => {
    assert.equal(fmt('location / { return 200; }'), lines('location / {', '    return 200;', '}'));
    assert.equal(fmt('a 1; b 2;c 3;'), lines('a 1;', 'b 2;', 'c 3;'));
    assert.equal(fmt('upstream app { server a; server b; } server { listen 80; }'),
      lines('upstream app {', '    server a;', '    server b;', '}', 'server {', '    listen 80;', '}'));
  });

  it('joins a directive whose arguments span several lines', () => {
    assert.equal(fmt('server\n  10.0.0.1:80\n\n  weight=2\n  backup\n;'), lines('server 10.0.0.1:80 weight=2 backup;'));
    assert.equal(fmt('location\n  ~*\n  "\\.css$"\n{\n}'), lines('location ~* "\\.css$" {', '}'));
  });

  it('drops the redundant `;` after a block and still reports the warning', () => {
    const result = formatConfig('http { } ;\n\n\nevents { };', 'test.lbconf');
    assert.equal(result.output, lines('http {', '}', '', 'events {', '}'));
    assert.deepEqual(result.diagnostics.map((d) => [d.severity, d.code]), [['warning', 'extra-semicolon'], ['warning', 'extra-semicolon']]);
  });
});

describe('formatConfig: comments', () => {
  it('keeps an own-line comment on its own line at the indent of the statement after it', () => {
    assert.equal(
      fmt('        # top\nhttp {\n# about listen\n      listen 80;\n  }'),
      lines('# top', 'http {', '    # about listen', '    listen 80;', '}'),
    );
  });

  it('indents a comment that ends a block like the block body', () => {
    assert.equal(fmt('http {\n  listen 80;\n# done\n}'), lines('http {', '    listen 80;', '    # done', '}'));
    assert.equal(fmt('http {\n# nothing yet\n}'), lines('http {', '    # nothing yet', '}'));
    assert.equal(fmt('a;\n   # end of file'), lines('a;', '# end of file'));
  });

  it('keeps a comment after code at the end of that line, after one space', () => {
    assert.equal(fmt('listen 80;# http'), lines('listen 80; # http'));
    assert.equal(fmt('http {      # main\nlisten 80;   # http\n}   # end http'),
      lines('http { # main', '    listen 80; # http', '} # end http'));
    // After splitting, the comment stays with the code it followed.
    assert.equal(fmt('a; b; # about b'), lines('a;', 'b; # about b'));
    assert.equal(fmt('location / { return 200; } # about location'), lines('location / {', '    return 200;', '} # about location'));
  });

  it('keeps comment text byte for byte, even `#` and quotes inside it', () => {
    assert.equal(fmt('a; #  spaced  "quoted" { } ; # again\n'), lines('a; #  spaced  "quoted" { } ; # again'));
    assert.equal(fmt('#\n#!x\n'), lines('#', '#!x'));
  });

  it('moves comments inside a directive onto their own lines before it, in order', () => {
    assert.equal(
      fmt('http {\n  # leading\n  proxy_set_header # one\n    Host # two\n    $host # three\n  ; # after\n}'),
      lines('http {', '    # leading', '    # one', '    # two', '    # three', '    proxy_set_header Host $host; # after', '}'),
    );
    assert.equal(fmt('location ~ "\\.php$" # php only\n{\n  return 403;\n}'),
      lines('# php only', 'location ~ "\\.php$" {', '    return 403;', '}'));
  });

  it('keeps a file of comments only', () => {
    assert.equal(fmt('# one\n\n\n   # two'), lines('# one', '', '# two'));
  });
});

describe('formatConfig: blank lines and line endings', () => {
  it('collapses runs of blank lines to one and keeps single ones', () => {
    assert.equal(fmt('a;\n\n\n\nb;\nc;\n\n# d\ne;'), lines('a;', '', 'b;', 'c;', '', '# d', 'e;'));
  });

  it('counts lines of spaces as blank', () => {
    assert.equal(fmt('a;\n   \t \nb;'), lines('a;', '', 'b;'));
  });

  it('prints no blank line at the start, after `{`, before `}`, or at the end', () => {
    assert.equal(fmt('\n\n\nhttp {\n\n\n  listen 80;\n\n\n}\n\n\n'), lines('http {', '    listen 80;', '}'));
    assert.equal(fmt('http { # main\n\n  listen 80;\n}'), lines('http { # main', '    listen 80;', '}'));
    assert.equal(fmt('http {\n\n  # only\n\n}'), lines('http {', '    # only', '}'));
  });

  it('keeps one blank line before a directive whose comments were moved above it, not between them', () => {
    assert.equal(fmt('a;\n\nb # x\n\n c;'), lines('a;', '', '# x', 'b c;'));
  });

  it('does not take a line that held only a dropped `;` for a blank line', () => {
    assert.equal(fmt('http {\n}\n;\nevents {\n}'), lines('http {', '}', 'events {', '}'));
  });

  it('drops a byte-order mark', () => {
    assert.equal(fmt('\uFEFFa;\n\uFEFF\nb;'), lines('a;', '', 'b;'));
  });

  it('ends with exactly one newline and writes LF line endings', () => {
    assert.equal(fmt('a;'), 'a;\n');
    assert.equal(fmt('a;\n\n\n'), 'a;\n');
    assert.equal(fmt('# c\r\nhttp {\r\n\r\n\r\n  listen 80; # x\r\n}\r\n'), lines('# c', 'http {', '    listen 80; # x', '}'));
  });
});

describe('formatConfig: syntax errors', () => {
  const broken = {
    'unclosed block': 'http {\n  listen 80;\n',
    'missing semicolon': 'http {\n  listen 80\n}\n',
    'stray close': 'listen 80;\n}\n',
    'unterminated string': 'return 200 "oops;\n',
    'stray semicolon': 'a;;\n',
    'block without a name': '{ a; }\n',
    'quoted directive name': '"a" b;\n',
  };
  for (const [what, source] of Object.entries(broken)) {
    it(`returns null and the parser's diagnostics for ${what}`, () => {
      const result = formatConfig(source, 'bad.lbconf');
      assert.equal(result.output, null);
      assert.ok(hasErrors(result.diagnostics));
      assert.deepEqual(result.diagnostics, parseConfig(source, 'bad.lbconf').diagnostics);
      assert.equal(result.diagnostics[0].span.file, 'bad.lbconf');
    });
  }

  it('rejects characters no token matches', () => {
    assert.equal(formatConfig('a\u00a0b;', 'bad.lbconf').output, null);
  });
});

describe('formatConfig: spec/formatting.md', () => {
  it('formats the spec example as the spec shows', () => {
    const spec = readFileSync(join(import.meta.dirname, '../../spec/formatting.md'), 'utf8');
    const blocks = [...spec.matchAll(/^```\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    assert.equal(blocks.length, 2);
    const [before, after] = blocks;
    assert.equal(fmt(before), after);
    assert.equal(fmt(after), after);
  });
});

// ---- property: random valid configs, laid out badly ------------------------------

interface Gen { name: string; args: string[]; block: Gen[] | null; extraSemi: boolean }

const letters = 'abcdefghijklmnopqrstuvwxyz';
const nameArb = fc.string({ unit: fc.constantFrom(...letters, '_'), minLength: 1, maxLength: 6 });
// A word may not start with a quote or `#`, but may hold them later.
const wordArb = fc.tuple(
  fc.constantFrom(...'ax09/$~*^=._:-'),
  fc.string({ unit: fc.constantFrom(...'bz1/.$=:#"\'\\-'), maxLength: 5 }),
).map(([first, rest]) => first + rest);
/** A quoted string whose body is made of whole units, so every backslash escapes something. */
function quotedArb(q: string): fc.Arbitrary<string> {
  const other = q === '"' ? "'" : '"';
  return fc.array(fc.constantFrom('a', ' ', '\\' + q, '\\\\', '\\n', '\\.', other, ';', '{', '}', '#', '\t', '\n', '\r\n', '$x'), { maxLength: 6 })
    .map((units) => q + units.join('') + q);
}
const argArb = fc.oneof({ weight: 3, arbitrary: wordArb }, quotedArb('"'), quotedArb("'"));

function directiveArb(depth: number): fc.Arbitrary<Gen> {
  return fc.record({
    name: nameArb,
    args: fc.array(argArb, { maxLength: 4 }),
    block: depth > 0 ? fc.option(fc.array(directiveArb(depth - 1), { maxLength: 3 }), { freq: 2 }) : fc.constant(null),
    extraSemi: fc.boolean(), // a `;` after the block: allowed, with a warning
  });
}
const configArb = fc.array(directiveArb(3), { maxLength: 4 });

const spaceArb = fc.constantFrom('', '', ' ', '   ', '\t', '\n', '\n\n', '\n \n\n', '\r\n', '\r\n\r\n', ' \n\t');
const commentArb = fc.string({ unit: fc.constantFrom(...'ab #;{}"\'\\ '), maxLength: 8 }).map((text) => '#' + text);
/** What goes before a token (or at the end of the file): white space, then maybe a comment and more white space. */
const gapArb = fc.record({ before: spaceArb, comment: fc.option(commentArb, { freq: 3 }), after: spaceArb });
type Gap = { before: string; comment: string | null; after: string };
// A fixed number of gaps, used in turn: drawing them as one plain array keeps shrinking finite.
const gapsArb = fc.array(gapArb, { minLength: 48, maxLength: 48 });

/** Renders a config with the given white space and comments between its tokens. */
function render(directives: Gen[], gaps: Gap[]): string {
  const tokens: { text: string; word: boolean }[] = [];
  const walk = (ds: Gen[]): void => {
    for (const d of ds) {
      tokens.push({ text: d.name, word: true });
      for (const a of d.args) tokens.push({ text: a, word: true });
      if (d.block) {
        tokens.push({ text: '{', word: false });
        walk(d.block);
        tokens.push({ text: '}', word: false });
        if (d.extraSemi) tokens.push({ text: ';', word: false });
      } else {
        tokens.push({ text: ';', word: false });
      }
    }
  };
  walk(directives);
  let out = '';
  let prevWord = false;
  for (let i = 0; i <= tokens.length; i++) {
    const next = tokens[i];
    const { before, comment, after } = gaps[i % gaps.length];
    let gap = before;
    if (comment !== null) {
      // A `#` right after a bare word would continue the word, so a space goes first there.
      gap = (prevWord && before === '' ? ' ' : before) + comment + (next ? '\n' + after : '');
    }
    if (next && prevWord && next.word && gap === '') gap = ' ';
    // `$` then `{` is the start of `${name}` inside a word, as in nginx: keep a `{` off a word ending in `$`.
    if (next && next.text === '{' && gap === '' && out.endsWith('$')) gap = ' ';
    out += gap;
    if (next) out += next.text;
    prevWord = next?.word ?? false;
  }
  return out;
}

/** Checks the layout rules on formatted text, from its tokens (so that strings and comments holding `{` or line breaks do not confuse it). */
function checkLayout(out: string): void {
  if (out === '') return;
  assert.ok(out.endsWith('\n') && !out.endsWith('\n\n') && !out.startsWith('\n'), 'one newline at the end, none at the start');
  const { tokens, comments } = lex(out);
  const items = [...tokens, ...comments].sort((a, b) => a.startOffset - b.startOffset);
  let depth = 0;
  let prev: IToken | null = null;
  for (const item of items) {
    const gap = out.slice(prev ? prev.startOffset + prev.image.length : 0, item.startOffset);
    const type = item.tokenType.name;
    const prevType = prev?.tokenType.name;
    const startsLine = prev === null || gap.includes('\n');
    assert.ok(!/\n[^\S\n]*\n[^\S\n]*\n/.test(gap), 'blank lines collapsed');
    assert.ok(gap.replace(/^ /, '') === '' || /^\n\n? *$/.test(gap), `gap ${JSON.stringify(gap)}: one space or line breaks and an indent`);
    if (gap.startsWith('\n\n')) assert.ok(prevType !== 'LCurly' && type !== 'RCurly', 'no blank line after `{` or before `}`');
    if (type === 'RCurly') depth--;
    if (startsLine) {
      assert.equal(gap.length - gap.lastIndexOf('\n') - 1, 4 * depth, `indent of ${JSON.stringify(item.image)}`);
    }
    const inDirective = prevType !== undefined && prevType !== 'Comment' && prevType !== 'Semicolon' && prevType !== 'LCurly' && prevType !== 'RCurly';
    if (type === 'Comment') assert.ok(!inDirective, 'no comment inside a directive');
    else if (inDirective) assert.equal(gap, type === 'Semicolon' ? '' : ' ', 'a directive on one line, `;` right after it, `{` after one space');
    else assert.ok(startsLine, `${JSON.stringify(item.image)} starts a line`);
    if (type === 'LCurly') depth++;
    prev = item;
  }
  assert.equal(depth, 0);
}

describe('formatConfig: property', () => {
  it('is idempotent and keeps the AST and the comments of random configs', () => {
    fc.assert(
      fc.property(configArb, gapsArb, (directives, gaps) => {
        const source = render(directives, gaps);
        const input = parseConfig(source, 'p.lbconf');
        assert.ok(!hasErrors(input.diagnostics), `generator made an invalid config: ${JSON.stringify(source)}`);

        const once = fmt(source);
        assert.equal(fmt(once), once, 'not idempotent');
        assert.deepEqual(meaning(once), meaning(source));

        checkLayout(once);
      }),
      { numRuns: 200 },
    );
  });
});
