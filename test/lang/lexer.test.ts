import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lex } from '../../lang/lexer.ts';

/** Tokens as `Type:image@line:column`. */
function tokens(source: string): string[] {
  return lex(source).tokens.map((t) => `${t.tokenType.name}:${t.image}@${t.startLine}:${t.startColumn}`);
}

describe('lexer: words', () => {
  it('ends a word at white space, `;`, `{` and `}`', () => {
    assert.deepEqual(tokens('a b\tc\nd;e{f}g'), [
      'Word:a@1:1', 'Word:b@1:3', 'Word:c@1:5', 'Word:d@2:1', 'Semicolon:;@2:2', 'Word:e@2:3', 'LCurly:{@2:4', 'Word:f@2:5', 'RCurly:}@2:6', 'Word:g@2:7',
    ]);
  });

  it('keeps `#`, quotes, `=`, `$` and backslashes inside a word', () => {
    assert.deepEqual(tokens('a#b c"d\'e k=v $x \\.png$'), ['Word:a#b@1:1', 'Word:c"d\'e@1:5', 'Word:k=v@1:11', 'Word:$x@1:15', 'Word:\\.png$@1:18']);
  });

  it('reads non-ASCII letters as part of a word and counts columns in UTF-16 code units', () => {
    assert.deepEqual(tokens('héllo wörld'), ['Word:héllo@1:1', 'Word:wörld@1:7']);
    assert.deepEqual(tokens('😀 x'), ['Word:😀@1:1', 'Word:x@1:4']);
  });

  it('keeps ${name} whole inside a word, as nginx does, and nothing else with braces', () => {
    assert.deepEqual(tokens('${host}_x a${b}c'), ['Word:${host}_x@1:1', 'Word:a${b}c@1:11']);
    assert.deepEqual(tokens('$x{ ${ y }'), ['Word:$x@1:1', 'LCurly:{@1:3', 'Word:$@1:5', 'LCurly:{@1:6', 'Word:y@1:8', 'RCurly:}@1:10']);
  });

  it('needs no white space around punctuation', () => {
    assert.deepEqual(tokens('server{listen 80;}'), ['Word:server@1:1', 'LCurly:{@1:7', 'Word:listen@1:8', 'Word:80@1:15', 'Semicolon:;@1:17', 'RCurly:}@1:18']);
  });
});

describe('lexer: comments', () => {
  it('starts a comment with `#` only where a token could start', () => {
    const r = lex('a #one\nb;#two\nc#three {#four\n}');
    assert.deepEqual(r.comments.map((c) => `${c.image}@${c.startLine}:${c.startColumn}`), ['#one@1:3', '#two@2:3', '#four@3:10']);
    assert.deepEqual(r.tokens.map((t) => t.image), ['a', 'b', ';', 'c#three', '{', '}']);
  });

  it('runs a comment to the end of its line, quotes and all', () => {
    const r = lex('# a "quote and a { brace\nx;');
    assert.deepEqual(r.comments.map((c) => c.image), ['# a "quote and a { brace']);
    assert.deepEqual(r.tokens.map((t) => t.image), ['x', ';']);
  });

  it('reads a `#` inside a string as text', () => {
    assert.deepEqual(tokens('"a # b"'), ['DoubleQuoted:"a # b"@1:1']);
    assert.equal(lex('"a # b"').comments.length, 0);
  });
});

describe('lexer: strings', () => {
  it('reads double- and single-quoted strings as one token each', () => {
    assert.deepEqual(tokens(`"a b" 'c d' "" ''`), ['DoubleQuoted:"a b"@1:1', "SingleQuoted:'c d'@1:7", 'DoubleQuoted:""@1:13', "SingleQuoted:''@1:16"]);
  });

  it('keeps punctuation inside strings', () => {
    assert.deepEqual(tokens('"a;b{c}d"'), ['DoubleQuoted:"a;b{c}d"@1:1']);
  });

  it('does not end a string at an escaped quote', () => {
    assert.deepEqual(tokens(String.raw`"a\"b" 'c\'d' "e\\" f`), [String.raw`DoubleQuoted:"a\"b"@1:1`, String.raw`SingleQuoted:'c\'d'@1:8`, String.raw`DoubleQuoted:"e\\"@1:15`, 'Word:f@1:21']);
  });

  it('ends a string at its closing quote: text right after it is a new token', () => {
    assert.deepEqual(tokens(`"a"b 'c''d'`), ['DoubleQuoted:"a"@1:1', 'Word:b@1:4', "SingleQuoted:'c'@1:6", "SingleQuoted:'d'@1:9"]);
  });

  it('lets a string span lines and tracks the lines after it', () => {
    const r = lex('x "one\ntwo\nthree" y');
    const [, s, y] = r.tokens;
    assert.equal(s.image, '"one\ntwo\nthree"');
    assert.deepEqual([s.startLine, s.startColumn, s.endLine, s.endColumn], [1, 3, 3, 6]);
    assert.deepEqual([y.image, y.startLine, y.startColumn], ['y', 3, 8]);
  });

  it('matches an unclosed quote to the end of its line only', () => {
    assert.deepEqual(tokens('a "b c;\nd;'), ['Word:a@1:1', 'Unterminated:"b c;@1:3', 'Word:d@2:1', 'Semicolon:;@2:2']);
    assert.deepEqual(tokens("a 'b\r\nd;"), ['Word:a@1:1', "Unterminated:'b@1:3", 'Word:d@2:1', 'Semicolon:;@2:2']);
  });
});

describe('lexer: white space and positions', () => {
  it('treats \\r\\n as one line break', () => {
    assert.deepEqual(tokens('a;\r\nb;\r\n\r\nc;'), ['Word:a@1:1', 'Semicolon:;@1:2', 'Word:b@2:1', 'Semicolon:;@2:2', 'Word:c@4:1', 'Semicolon:;@4:2']);
  });

  it('counts a tab as one column', () => {
    assert.deepEqual(tokens('\t\ta;'), ['Word:a@1:3', 'Semicolon:;@1:4']);
  });

  it('skips a byte-order mark at the start', () => {
    const r = lex('\uFEFFserver;');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.tokens.map((t) => t.image), ['server', ';']);
  });

  it('reports other Unicode white space, such as a no-break space, as an error', () => {
    const r = lex('listen\u00a0\u00a080;');
    assert.deepEqual(r.tokens.map((t) => t.image), ['listen', '80', ';']);
    assert.deepEqual(r.errors.map((e) => [e.line, e.column, e.offset, e.length]), [[1, 7, 6, 2]]);
  });

  it('lexes the empty text to nothing', () => {
    assert.deepEqual(lex(''), { tokens: [], comments: [], errors: [] });
  });
});
