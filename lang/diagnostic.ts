import type { Span } from './ast.ts';

export type Severity = 'error' | 'warning';

/** One problem found in a config, pointing at the text at fault. */
export interface Diagnostic {
  severity: Severity;
  /** A stable kebab-case code, listed in spec/diagnostics.md. */
  code: string;
  message: string;
  span: Span;
  /** Optional advice: what to write instead. */
  hint?: string;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Source order: file, then line, then column. */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  if (a.span.file !== b.span.file) return a.span.file < b.span.file ? -1 : 1;
  return a.span.start.offset - b.span.start.offset;
}
