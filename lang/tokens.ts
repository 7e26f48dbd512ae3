import { createToken, Lexer, type TokenType } from 'chevrotain';

// The vocabulary of the generic syntax. A word runs until white space, `;`, `{` or
// `}` (but `${name}` stays whole); `#` starts a comment only where a token could start.

// A byte-order mark (which some editors write at the start of a file) is white space too.
export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v\uFEFF]+/, group: Lexer.SKIPPED, line_breaks: true });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: 'comments' });
export const LCurly = createToken({ name: 'LCurly', pattern: '{', label: '`{`' });
export const RCurly = createToken({ name: 'RCurly', pattern: '}', label: '`}`' });
export const Semicolon = createToken({ name: 'Semicolon', pattern: ';', label: '`;`' });

/** Any token that can be an argument (or, for error recovery, a directive name). */
export const Value = createToken({ name: 'Value', pattern: Lexer.NA, label: 'a word or string' });

export const DoubleQuoted = createToken({
  name: 'DoubleQuoted', pattern: /"(?:[^"\\]|\\[\s\S])*"/, categories: [Value], line_breaks: true, label: 'a string',
});
export const SingleQuoted = createToken({
  name: 'SingleQuoted', pattern: /'(?:[^'\\]|\\[\s\S])*'/, categories: [Value], line_breaks: true, label: 'a string',
});
// A quote that never closes: matched to the end of its line so that the rest of
// the file still lexes and later mistakes are still reported.
export const Unterminated = createToken({
  name: 'Unterminated', pattern: /["'][^\r\n]*/, categories: [Value], label: 'a string',
});
// As in nginx, `${name}` is part of a word: its braces neither open nor close a block.
export const Word = createToken({
  name: 'Word', pattern: /(?:\$\{[^\s;{}"']*\}|[^\s;{}"'#])(?:\$\{[^\s;{}]*\}|[^\s;{}])*/, categories: [Value], label: 'a word',
});

export const allTokens: TokenType[] = [
  WhiteSpace, Comment, LCurly, RCurly, Semicolon, DoubleQuoted, SingleQuoted, Unterminated, Word, Value,
];
