import { CstParser, type CstNode, type IRecognitionException, type IToken } from 'chevrotain';
import { allTokens, LCurly, RCurly, Semicolon, Value } from './tokens.ts';

// A deliberately permissive grammar: it accepts every token sequence that has
// balanced braces, so that the CST→AST step (which knows the context) can word
// each mistake precisely and keep going. Only a missing `}` is left to
// Chevrotain's recovery, which inserts the token.
//
//   config    := (statement | `}`)*
//   block     := `{` statement* `}`
//   statement := directive | block | `;`
//   directive := Value Value* block? `;`?
class ConfigParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: true, maxLookahead: 1 });
    this.performSelfAnalysis();
  }

  config = this.RULE('config', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.statement) },
        { ALT: () => this.CONSUME(RCurly, { LABEL: 'strayClose' }) },
      ]);
    });
  });

  statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.directive) },
      { ALT: () => this.SUBRULE(this.block, { LABEL: 'strayBlock' }) },
      { ALT: () => this.CONSUME(Semicolon, { LABEL: 'straySemicolon' }) },
    ]);
  });

  directive = this.RULE('directive', () => {
    this.CONSUME(Value, { LABEL: 'name' });
    this.MANY(() => this.CONSUME2(Value, { LABEL: 'args' }));
    this.OPTION(() => this.SUBRULE(this.block));
    this.OPTION2(() => this.CONSUME(Semicolon));
  });

  block = this.RULE('block', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(RCurly);
  });
}

// One instance, reused: Chevrotain parsers are built once and fed new input.
const parser = new ConfigParser();

export interface ParseResult {
  cst: CstNode;
  errors: IRecognitionException[];
}

export function parseTokens(tokens: IToken[]): ParseResult {
  parser.input = tokens;
  const cst = parser.config();
  return { cst, errors: parser.errors };
}
