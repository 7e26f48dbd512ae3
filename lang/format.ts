import type { IToken } from 'chevrotain';
import { hasErrors, type Diagnostic } from './diagnostic.ts';
import { lex } from './lexer.ts';
import { parseConfig } from './parse.ts';
import { Comment as CommentToken, LCurly, RCurly, Semicolon } from './tokens.ts';

// `lbconf fmt`: prints the canonical layout of a config (spec/formatting.md).
//
// It works from the token stream rather than the AST, because only the tokens
// still know where comments and blank lines were. The parser runs first so that
// broken text is never reformatted: once it reports no error, the stream is
// known to be well formed (`name value* (";" | "{" … "}" ";"?)`), which lets the
// printer below be a flat one-pass state machine.

export interface FormatResult {
  /** The formatted text, or null when the source has a syntax error. */
  output: string | null;
  /** Everything the parser reported (on success, warnings only). */
  diagnostics: Diagnostic[];
}

const INDENT = '    ';

/**
 * Whether the text between two items holds a blank line: two line breaks with only
 * white space between them (`\r\n`, `\r` and `\n` each count as one break, and a
 * byte-order mark is white space, as in the lexer). The gap may also hold a dropped
 * `;`, whose line is not blank.
 */
function hasBlankLine(gap: string): boolean {
  return /\n[ \t\f\v\uFEFF]*\n/.test(gap.replace(/\r\n?/g, '\n'));
}

function hasLineBreak(gap: string): boolean {
  return /[\r\n]/.test(gap);
}

/** Output is LF-only, so a CR left by a CRLF line ending is not part of the comment. */
function commentText(token: IToken): string {
  return token.image.endsWith('\r') ? token.image.slice(0, -1) : token.image;
}

export function formatConfig(source: string, file: string): FormatResult {
  const { diagnostics } = parseConfig(source, file);
  if (hasErrors(diagnostics)) return { output: null, diagnostics };

  const { tokens, comments } = lex(source);
  const items = [...tokens, ...comments].sort((a, b) => a.startOffset - b.startOffset);

  const lines: string[] = [];
  let depth = 0;
  let atBlockStart = true; // at the top of the file or just after `{`: no blank line may be printed
  let lastEnd = 0; // offset just after the last source item that was kept
  let header: string[] | null = null; // name and args of the directive being read
  let hoisted: string[] = []; // comments found inside that directive's header
  let blankBefore = false; // whether that directive (with its hoisted comments) follows a blank line

  const indent = (): string => INDENT.repeat(depth);

  // Decides the blank line before a new own-line item (a comment or a directive).
  const startItem = (token: IToken): boolean => {
    const blank = !atBlockStart && hasBlankLine(source.slice(lastEnd, token.startOffset));
    atBlockStart = false;
    return blank;
  };

  const flushHeader = (words: string[], suffix: string): void => {
    if (blankBefore) lines.push('');
    for (const text of hoisted) lines.push(indent() + text);
    lines.push(indent() + words.join(' ') + suffix);
    header = null;
    hoisted = [];
  };

  for (const token of items) {
    const type = token.tokenType;
    if (type === CommentToken) {
      const text = commentText(token);
      if (header) {
        // Inside `name args … ;` or before its `{`: no place on the joined line can
        // hold it, so it moves above the directive, keeping its order.
        hoisted.push(text);
      } else if (lines.length > 0 && !hasLineBreak(source.slice(lastEnd, token.startOffset))) {
        // Followed `;`, `{` or `}` on the same line: those always end a printed line.
        lines[lines.length - 1] += ' ' + text;
      } else {
        if (startItem(token)) lines.push('');
        lines.push(indent() + text);
      }
    } else if (type === Semicolon) {
      // With no directive open, this is the redundant `;` after a `}` (only a
      // warning): the canonical layout drops it, which the AST never records.
      if (!header) continue;
      flushHeader(header, ';');
    } else if (type === LCurly) {
      if (!header) throw new Error(`formatConfig: unexpected \`{\` at offset ${token.startOffset}`);
      flushHeader(header, ' {');
      depth++;
      atBlockStart = true;
    } else if (type === RCurly) {
      // Pending blank lines are only printed before a following item, so none lands before `}`.
      depth--;
      lines.push(indent() + '}');
      atBlockStart = false;
    } else if (header) {
      header.push(token.image); // arguments exactly as written, quotes and escapes included
    } else {
      blankBefore = startItem(token);
      header = [token.image];
    }
    lastEnd = token.startOffset + token.image.length;
  }
  if (header || depth !== 0) throw new Error('formatConfig: the token stream ended inside a directive');

  return { output: lines.length ? lines.join('\n') + '\n' : '', diagnostics };
}
