// The generic AST: nginx-style directives, knowing nothing of what they mean.
// Every node carries a span so that any later stage can point at the source.

export interface Position {
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units. */
  column: number;
  /** 0-based offset into the file's text. */
  offset: number;
}

export interface Span {
  file: string;
  start: Position;
  /** Exclusive: the position just after the last character. */
  end: Position;
}

export interface Arg {
  /** `word` is a bare token; `string` was written in quotes. */
  kind: 'word' | 'string';
  /** The text as written, quotes included. */
  raw: string;
  /** The text with quotes removed and escapes applied. */
  value: string;
  span: Span;
}

export interface Directive {
  name: string;
  nameSpan: Span;
  args: Arg[];
  /** The directives inside `{ ... }`, or null when the directive ends with `;`. */
  block: Directive[] | null;
  /** From the first character of the name to the closing `;` or `}`. */
  span: Span;
}

export interface Comment {
  /** The text after `#`. */
  text: string;
  span: Span;
}

export interface ConfigFile {
  file: string;
  source: string;
  directives: Directive[];
  comments: Comment[];
}
