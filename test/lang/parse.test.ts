import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Directive, Span } from '../../lang/ast.ts';
import { unquote } from '../../lang/cst-to-ast.ts';
import { parseConfig } from '../../lang/parse.ts';

/** `line:column-line:column`, as editors show a range. */
function at(span: Span): string {
  return `${span.start.line}:${span.start.column}-${span.end.line}:${span.end.column}`;
}

/** Diagnostics as `severity code @range`. */
function diags(source: string): string[] {
  return parseConfig(source, 'test.lbconf').diagnostics.map((d) => `${d.severity} ${d.code} @${at(d.span)}`);
}

function parse(source: string): Directive[] {
  const { config, diagnostics } = parseConfig(source, 'test.lbconf');
  assert.deepEqual(diagnostics, [], 'unexpected diagnostics');
  return config.directives;
}

/** The directive tree without spans. */
function shape(list: Directive[] | null): unknown {
  return list?.map((d) => (d.block ? [d.name, ...d.args.map((a) => a.value), shape(d.block)] : [d.name, ...d.args.map((a) => a.value)])) ?? null;
}

describe('parser: directives and blocks', () => {
  it('reads simple and block directives, nested', () => {
    const tree = parse('upstream app { server 10.0.0.1:80 weight=2; }\nserver { listen 80; location / { return 204; } }\n');
    assert.deepEqual(shape(tree), [
      ['upstream', 'app', [['server', '10.0.0.1:80', 'weight=2']]],
      ['server', [['listen', '80'], ['location', '/', [['return', '204']]]]],
    ]);
  });

  it('gives a block directive an empty list and a simple one null', () => {
    const [a, b] = parse('a { }\nb;');
    assert.deepEqual(a.block, []);
    assert.equal(b.block, null);
  });

  it('reads directives spread over lines and several on one line', () => {
    assert.deepEqual(shape(parse('server_name\n  a.com\n  b.com\n;\nx 1; y 2; z { w; }')), [['server_name', 'a.com', 'b.com'], ['x', '1'], ['y', '2'], ['z', [['w']]]]);
  });

  it('reads the empty file, and a file of comments, as no directives', () => {
    assert.deepEqual(parse(''), []);
    assert.deepEqual(parse('# one\n\n   # two\n'), []);
  });

  it('distinguishes words from strings and keeps what was written', () => {
    const [d] = parse(`d word "dq" 'sq' "";`);
    assert.deepEqual(d.args.map((a) => [a.kind, a.raw, a.value]), [
      ['word', 'word', 'word'], ['string', '"dq"', 'dq'], ['string', "'sq'", 'sq'], ['string', '""', ''],
    ]);
  });
});

describe('parser: positions', () => {
  it('gives every directive and argument its 1-based start and exclusive end', () => {
    const source = [
      'upstream app {',                   // 1
      '    server 10.0.0.1:8080 backup;', // 2
      '}',                                // 3
      'server {',                         // 4
      '\tlisten 80;',                     // 5
      '    location = /x {',              // 6
      '        return 200 "ok";',         // 7
      '    }',                            // 8
      '}',                                // 9
    ].join('\n');
    const [upstream, server] = parse(source);
    assert.equal(at(upstream.nameSpan), '1:1-1:9');
    assert.equal(at(upstream.args[0].span), '1:10-1:13');
    assert.equal(at(upstream.span), '1:1-3:2');
    const [srv] = upstream.block!;
    assert.equal(at(srv.nameSpan), '2:5-2:11');
    assert.deepEqual(srv.args.map((a) => at(a.span)), ['2:12-2:25', '2:26-2:32']);
    assert.equal(at(srv.span), '2:5-2:33');
    assert.equal(at(server.span), '4:1-9:2');
    const [listen, location] = server.block!;
    assert.equal(at(listen.nameSpan), '5:2-5:8');
    assert.equal(at(listen.args[0].span), '5:9-5:11');
    assert.equal(at(listen.span), '5:2-5:12');
    assert.deepEqual(location.args.map((a) => at(a.span)), ['6:14-6:15', '6:16-6:18']);
    assert.equal(at(location.span), '6:5-8:6');
    const [ret] = location.block!;
    assert.deepEqual(ret.args.map((a) => at(a.span)), ['7:16-7:19', '7:20-7:24']);
    assert.equal(at(ret.span), '7:9-7:25');
  });

  it('keeps 0-based offsets that agree with lines and columns', () => {
    const source = 'a 1;\r\n  b "x\ny" 2;\n';
    const [a, b] = parse(source);
    for (const span of [a.span, a.args[0].span, b.nameSpan, ...b.args.map((x) => x.span), b.span]) {
      assert.equal(source.slice(0, span.start.offset).split('\n').length, span.start.line);
      assert.equal(span.start.offset - (source.lastIndexOf('\n', span.start.offset - 1) + 1) + 1, span.start.column);
    }
    assert.equal(source.slice(b.args[0].span.start.offset, b.args[0].span.end.offset), '"x\ny"');
    assert.equal(source.slice(b.span.start.offset, b.span.end.offset), 'b "x\ny" 2;');
  });

  it('spans a multi-line string from its opening to its closing quote', () => {
    const [d] = parse('return 200 "line one\nline two\n";');
    const s = d.args[1];
    assert.equal(at(s.span), '1:12-3:2');
    assert.equal(s.value, 'line one\nline two\n');
    assert.equal(at(d.span), '1:1-3:3');
  });

  it('records comments with their text and span', () => {
    const { config } = parseConfig('# head\nlisten 80; # tail\n', 't.lbconf');
    assert.deepEqual(config.comments.map((c) => [c.text, at(c.span)]), [[' head', '1:1-1:7'], [' tail', '2:12-2:18']]);
  });

  it('names the file in every span', () => {
    const { config } = parseConfig('a b;', 'conf/x.lbconf');
    assert.equal(config.directives[0].span.file, 'conf/x.lbconf');
    assert.equal(config.directives[0].args[0].span.file, 'conf/x.lbconf');
  });
});

describe('strings and escapes', () => {
  it('applies \\n \\t \\r \\" \\\' \\\\ in both kinds of quotes', () => {
    assert.equal(unquote(String.raw`"a\nb\tc\rd\"e\'f\\g"`), 'a\nb\tc\rd"e\'f\\g');
    assert.equal(unquote(String.raw`'a\nb\tc\rd\"e\'f\\g'`), 'a\nb\tc\rd"e\'f\\g');
  });

  it('keeps any other backslash with the character after it, for regexes', () => {
    assert.equal(unquote(String.raw`"^/img/\d+\.png$"`), String.raw`^/img/\d+\.png$`);
    assert.equal(unquote(String.raw`"\$5 \w \/ \{"`), String.raw`\$5 \w \/ \{`);
  });

  it('reads `\\\\n` as a backslash then n, not as a line break', () => {
    assert.equal(unquote(String.raw`"\\n"`), '\\n');
  });

  it('leaves words alone: no escapes outside quotes', () => {
    const [d] = parse(String.raw`location ~ \.(png|jpg)$\n { }`);
    assert.equal(d.args[1].value, String.raw`\.(png|jpg)$\n`);
  });
});

describe('parser: recovery', () => {
  it('reports a missing `;` at the end of the last argument, before `}` and at the end of the file', () => {
    assert.deepEqual(diags('server { listen 80 }'), ['error missing-semicolon @1:19-1:19']);
    assert.deepEqual(diags('a b'), ['error missing-semicolon @1:4-1:4']);
    assert.deepEqual(diags('a {\n  b\n}'), ['error missing-semicolon @2:4-2:4']);
  });

  it('reports an unclosed block at its `{`', () => {
    assert.deepEqual(diags('server {\n    listen 80;\n'), ['error unclosed-block @1:8-1:9']);
  });

  it('blames the outermost block when a `}` is missing in the middle', () => {
    const source = 'server {\n    location / {\n        return 204;\n    # the } of this location is missing\n}\n';
    const { config, diagnostics } = parseConfig(source, 't');
    assert.deepEqual(diagnostics.map((d) => `${d.code} @${at(d.span)}`), ['unclosed-block @1:8-1:9']);
    // The `}` on the last line closed the location; the server block ends with it, not at an invented position.
    const [server] = config.directives;
    assert.equal(at(server.block![0].span), '2:5-5:2');
    assert.equal(at(server.span), '1:1-5:2');
  });

  it('ends an unclosed block with its last directive, and an empty one with its `{`', () => {
    const { config } = parseConfig('a {\n  b 1;\n  c 2;\n', 't');
    assert.equal(at(config.directives[0].span), '1:1-3:7');
    const empty = parseConfig('a x {  ', 't').config.directives[0];
    assert.equal(at(empty.span), '1:1-1:6');
  });

  it('reports every unclosed block of a nest', () => {
    assert.deepEqual(diags('a {\n b {\n  c {\n'), ['error unclosed-block @1:3-1:4', 'error unclosed-block @2:4-2:5', 'error unclosed-block @3:5-3:6']);
  });

  it('reports a stray `}`, `;` and block, and reads on', () => {
    const source = '}\n;\n{ inner x; }\nserver { ; }\nlast 1;';
    const { config, diagnostics } = parseConfig(source, 't');
    assert.deepEqual(diagnostics.map((d) => `${d.code} @${at(d.span)}`), [
      'unexpected-close @1:1-1:2', 'empty-directive @2:1-2:2', 'unexpected-block @3:1-3:2', 'empty-directive @4:10-4:11',
    ]);
    assert.deepEqual(shape(config.directives), [['server', []], ['last', '1']]);
  });

  it('reports what is inside a stray block', () => {
    assert.deepEqual(diags('{ a }'), ['error unexpected-block @1:1-1:2', 'error missing-semicolon @1:4-1:4']);
  });

  it('warns of a `;` after a block', () => {
    assert.deepEqual(diags('a { };\nb { }\n;'), ['warning extra-semicolon @1:6-1:7', 'warning extra-semicolon @3:1-3:2']);
  });

  it('reports a quoted directive name once and reads it without quotes', () => {
    const { config, diagnostics } = parseConfig('"listen" 80;\n', 't');
    assert.deepEqual(diagnostics.map((d) => `${d.code} @${at(d.span)}`), ['bad-directive-name @1:1-1:9']);
    assert.equal(config.directives[0].name, 'listen');
  });

  it('ends a directive at an unterminated string, and reads the next line afresh', () => {
    const source = 'location / {\n    return 200 "oops;\n    proxy_pass http://app;\n}\n';
    const { config, diagnostics } = parseConfig(source, 't');
    assert.deepEqual(diagnostics.map((d) => `${d.code} @${at(d.span)}`), ['unterminated-string @2:16-2:22']);
    assert.match(diagnostics[0].message, /string "oops; is never closed/);
    assert.deepEqual(shape(config.directives), [['location', '/', [['return', '200', 'oops;'], ['proxy_pass', 'http://app']]]]);
    assert.equal(at(config.directives[0].block![0].span), '2:5-2:22');
  });

  it('drops a directive that is only an unterminated string, and keeps what follows', () => {
    const { config, diagnostics } = parseConfig("'listen 80;\nserver_name a;\n", 't');
    assert.deepEqual(diagnostics.map((d) => d.code), ['unterminated-string']);
    assert.deepEqual(shape(config.directives), [['server_name', 'a']]);
  });

  it('gives N diagnostics for N independent syntax errors', () => {
    const source = [
      'server {',                    // 1
      '    listen 80',               // 2  fine: the `;` may be on the next line
      '    ;',                       // 3
      '    location / {',            // 4
      '        return 200 ok',       // 5  1. missing `;` before `}`
      '    }',                       // 6
      '    {',                       // 7  2. a block with no directive
      '    }',                       // 8
      '    ;;',                      // 9  3, 4. two `;` with no directive
      '    "name" x;',               // 10 5. a quoted name
      '    return 200 "x;',          // 11 6. an unterminated string
      '};',                          // 12 7. a `;` after a block (warning)
      '}',                           // 13 8. a `}` that closes nothing
    ].join('\n');
    assert.deepEqual(diags(source).sort(byPosition), [
      'error missing-semicolon @5:22-5:22',
      'error unexpected-block @7:5-7:6',
      'error empty-directive @9:5-9:6',
      'error empty-directive @9:6-9:7',
      'error bad-directive-name @10:5-10:11',
      'error unterminated-string @11:16-11:19',
      'warning extra-semicolon @12:2-12:3',
      'error unexpected-close @13:1-13:2',
    ]);
  });

  it('reports a no-break space as a syntax error naming it, and reads on', () => {
    const { config, diagnostics } = parseConfig('listen\u00a080;\nb;', 't');
    assert.deepEqual(diagnostics.map((d) => `${d.code} @${at(d.span)} ${d.message}`), ['syntax @1:7-1:8 unexpected character U+00A0']);
    assert.deepEqual(shape(config.directives), [['listen', '80'], ['b']]);
  });
});

/** Sorts `severity code @l:c-l:c` strings by their position, as checkFile does. */
function byPosition(a: string, b: string): number {
  const pos = (s: string) => s.split('@')[1].split('-')[0].split(':').map(Number);
  const [la, ca] = pos(a);
  const [lb, cb] = pos(b);
  return la - lb || ca - cb;
}
