import type { CstNode, IToken } from 'chevrotain';
import type { Arg, Comment, Directive, Position, Span } from './ast.ts';
import type { Diagnostic } from './diagnostic.ts';
import { DoubleQuoted, SingleQuoted, Unterminated, Word } from './tokens.ts';

// Turns the permissive CST into the AST, and words every syntax mistake.

export function startOf(token: IToken): Position {
  return { line: token.startLine ?? 1, column: token.startColumn ?? 1, offset: token.startOffset };
}

export function endOf(token: IToken): Position {
  return { line: token.endLine ?? 1, column: (token.endColumn ?? 0) + 1, offset: (token.endOffset ?? token.startOffset) + 1 };
}

/** Chevrotain marks tokens that recovery invented with a non-finite or negative offset. */
export function isInserted(token: IToken): boolean {
  return token.isInsertedInRecovery === true || !Number.isFinite(token.startOffset) || token.startOffset < 0;
}

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', "'": "'", '\\': '\\' };

/** Quoted strings take `\n \t \r \" \' \\`; any other backslash is kept, so regexes like "\.png$" read as written. */
export function unquote(raw: string): string {
  const body = raw.slice(1, -1);
  if (!body.includes('\\')) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '\\' && i + 1 < body.length) {
      const next = body[i + 1];
      const simple = SIMPLE_ESCAPES[next];
      if (simple !== undefined) { out += simple; i++; continue; }
    }
    out += ch;
  }
  return out;
}

function children(node: CstNode, label: string): (CstNode | IToken)[] {
  return (node.children[label] as (CstNode | IToken)[] | undefined) ?? [];
}
function tokens(node: CstNode, label: string): IToken[] {
  return children(node, label) as IToken[];
}
function nodes(node: CstNode, label: string): CstNode[] {
  return children(node, label) as CstNode[];
}

export class CstToAst {
  readonly diagnostics: Diagnostic[] = [];
  private readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  span(first: IToken, last: IToken): Span {
    return { file: this.file, start: startOf(first), end: endOf(last) };
  }

  private error(code: string, message: string, span: Span, hint?: string): void {
    this.diagnostics.push({ severity: 'error', code, message, span, ...(hint ? { hint } : {}) });
  }

  config(cst: CstNode): Directive[] {
    for (const close of tokens(cst, 'strayClose')) {
      this.error('unexpected-close', 'unexpected `}`: no block is open here', this.span(close, close), 'remove it, or check the braces above');
    }
    return this.statements(nodes(cst, 'statement'));
  }

  comments(tokens: IToken[]): Comment[] {
    return tokens.map((t) => ({ text: t.image.slice(1), span: this.span(t, t) }));
  }

  private statements(list: CstNode[]): Directive[] {
    const out: Directive[] = [];
    for (const statement of list) {
      const directive = nodes(statement, 'directive')[0];
      if (directive) { out.push(...this.directive(directive)); continue; }
      const block = nodes(statement, 'strayBlock')[0];
      if (block) {
        const open = tokens(block, 'LCurly')[0];
        this.error('unexpected-block', 'a block `{ ... }` must follow a directive name', this.span(open, open), 'write the directive it belongs to, as in `location / { ... }`');
        this.block(block); // still report what is inside
        continue;
      }
      const semi = tokens(statement, 'straySemicolon')[0];
      this.error('empty-directive', 'unexpected `;`: there is no directive before it', this.span(semi, semi), 'remove the extra `;`');
    }
    return out;
  }

  private arg(token: IToken): Arg {
    const span = this.span(token, token);
    if (token.tokenType === Unterminated) {
      this.error('unterminated-string', `string ${token.image.slice(0, 20)}${token.image.length > 20 ? '…' : ''} is never closed`, span, `add the closing ${token.image[0]}`);
      return { kind: 'string', raw: token.image, value: token.image.slice(1), span };
    }
    if (token.tokenType === DoubleQuoted || token.tokenType === SingleQuoted) {
      return { kind: 'string', raw: token.image, value: unquote(token.image), span };
    }
    return { kind: 'word', raw: token.image, value: token.image, span };
  }

  private directive(node: CstNode): Directive[] {
    return this.build(tokens(node, 'name')[0], tokens(node, 'args'), nodes(node, 'block')[0], tokens(node, 'Semicolon')[0]);
  }

  private build(nameToken: IToken, argTokens: IToken[], blockNode: CstNode | undefined, semi: IToken | undefined): Directive[] {
    // An unclosed string runs to the end of its line and takes any `;` with it: the
    // directive ends there, and what follows on the next lines is read as new directives.
    if (nameToken.tokenType === Unterminated) {
      this.arg(nameToken); // reports it
      if (argTokens.length > 0) return this.build(argTokens[0], argTokens.slice(1), blockNode, semi);
      if (blockNode) this.block(blockNode); // still report what is inside
      return [];
    }
    const cut = argTokens.findIndex((t) => t.tokenType === Unterminated) + 1;
    if (cut > 0 && cut < argTokens.length) {
      const head = this.make(nameToken, argTokens.slice(0, cut), undefined, undefined);
      return [head, ...this.build(argTokens[cut], argTokens.slice(cut + 1), blockNode, semi)];
    }
    return [this.make(nameToken, argTokens, blockNode, semi)];
  }

  private make(nameToken: IToken, argTokens: IToken[], blockNode: CstNode | undefined, semi: IToken | undefined): Directive {
    const nameSpan = this.span(nameToken, nameToken);
    let name = nameToken.image;
    if (nameToken.tokenType !== Word) {
      this.error('bad-directive-name', `a directive name must be a bare word, not ${nameToken.image.slice(0, 20)}`, nameSpan, 'remove the quotes');
      // Read on as if the quotes were not there, so the rest is still checked without a second error.
      name = unquote(nameToken.image);
    }
    const args = argTokens.map((t) => this.arg(t));
    let block: Directive[] | null = null;
    let last = argTokens.length ? argTokens[argTokens.length - 1] : nameToken;
    let end: Position | null = null;
    if (blockNode) {
      block = this.block(blockNode);
      const close = tokens(blockNode, 'RCurly')[0];
      if (close && !isInserted(close)) last = close;
      // A block never closed ends with the last thing in it, not with the `}` recovery made up.
      else end = block.length ? block[block.length - 1].span.end : endOf(tokens(blockNode, 'LCurly')[0]);
      if (semi) {
        this.diagnostics.push({ severity: 'warning', code: 'extra-semicolon', message: 'unnecessary `;` after a block', span: this.span(semi, semi), hint: 'remove it' });
      }
    } else if (semi) {
      last = semi;
    } else if (last.tokenType !== Unterminated) {
      const at = endOf(last);
      this.error('missing-semicolon', `missing \`;\` after \`${[nameToken.image, ...argTokens.map((t) => t.image)].join(' ').slice(0, 60)}\``,
        { file: this.file, start: at, end: at }, 'end the directive with `;`, or open a block with `{`');
    }
    return { name, nameSpan, args, block, span: { file: this.file, start: startOf(nameToken), end: end ?? endOf(last) } };
  }

  private block(node: CstNode): Directive[] {
    const open = tokens(node, 'LCurly')[0];
    const close = tokens(node, 'RCurly')[0];
    if (!close || isInserted(close)) {
      this.error('unclosed-block', 'this `{` is never closed', this.span(open, open), 'add the matching `}`');
    }
    return this.statements(nodes(node, 'statement'));
  }
}
