import { Lexer, type IToken } from 'chevrotain';
import { allTokens } from './tokens.ts';

export const lexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });

export interface LexResult {
  tokens: IToken[];
  comments: IToken[];
  /** Characters no token matches; the token set covers all input, so this stays empty in practice. */
  errors: { offset: number; line: number; column: number; length: number; message: string }[];
}

export function lex(source: string): LexResult {
  const result = lexer.tokenize(source);
  return {
    tokens: result.tokens,
    comments: (result.groups['comments'] as IToken[] | undefined) ?? [],
    errors: result.errors.map((e) => ({ offset: e.offset, line: e.line ?? 1, column: e.column ?? 1, length: e.length, message: e.message })),
  };
}
