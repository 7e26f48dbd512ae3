import type { ConfigFile } from './ast.ts';
import { CstToAst } from './cst-to-ast.ts';
import type { Diagnostic } from './diagnostic.ts';
import { lex } from './lexer.ts';
import { parseTokens } from './parser.ts';

export interface ParsedFile {
  config: ConfigFile;
  diagnostics: Diagnostic[];
}

/** Text → AST. Never throws on bad input: every mistake becomes a diagnostic. */
export function parseConfig(source: string, file: string): ParsedFile {
  const lexed = lex(source);
  const { cst, errors } = parseTokens(lexed.tokens);
  const toAst = new CstToAst(file);
  const directives = toAst.config(cst);
  const diagnostics = toAst.diagnostics;
  for (const e of lexed.errors) {
    const at = { line: e.line, column: e.column, offset: e.offset };
    diagnostics.push({
      severity: 'error', code: 'syntax', message: `unexpected character ${describeChars(source.slice(e.offset, e.offset + e.length))}`,
      span: { file, start: at, end: { ...at, column: at.column + e.length, offset: at.offset + e.length } },
      hint: 'only spaces, tabs and line breaks separate words: retype it as a plain space',
    });
  }
  // The grammar accepts everything but a missing `}`, which CstToAst already
  // reports at its `{`; any other recognition error is reported as Chevrotain saw it.
  for (const e of errors) {
    if (e.name === 'MismatchedTokenException' && e.token.tokenType.name === 'EOF') continue;
    const token = e.token;
    const known = Number.isFinite(token.startOffset) && token.startOffset >= 0;
    const start = known ? { line: token.startLine ?? 1, column: token.startColumn ?? 1, offset: token.startOffset } : { line: 1, column: 1, offset: 0 };
    diagnostics.push({ severity: 'error', code: 'syntax', message: e.message, span: { file, start, end: start } });
  }
  return { config: { file, source, directives, comments: toAst.comments(lexed.comments) }, diagnostics };
}

/** The characters the lexer rejects are white space of other kinds (a no-break space pasted from a web page): name them by code point. */
function describeChars(text: string): string {
  return [...text].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(' ');
}
