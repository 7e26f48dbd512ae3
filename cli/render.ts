import type { Diagnostic } from '../lang/diagnostic.ts';

// Diagnostics for people (tsc/rustc style, with the source line and a caret),
// for tools (JSON) and for GitHub Actions (workflow annotations).

export type Sources = Map<string, string>;

export interface Style {
  color: boolean;
}

const paint = (on: boolean, code: string, text: string) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);

export function renderText(d: Diagnostic, sources: Sources, style: Style): string {
  const { file, start, end } = d.span;
  const severity = paint(style.color, d.severity === 'error' ? '1;31' : '1;33', d.severity);
  const lines = [`${file}:${start.line}:${start.column}: ${severity} ${d.code}: ${d.message}`];
  const source = sources.get(file);
  const text = source?.split('\n')[start.line - 1];
  if (text !== undefined) {
    const gutter = String(start.line);
    const pad = ' '.repeat(gutter.length);
    const line = text.replace(/\r$/, '');
    const from = Math.min(start.column - 1, line.length);
    const to = end.line === start.line ? Math.max(end.column - 1, from + 1) : Math.max(line.length, from + 1);
    // Keep tabs under tabs so the caret lines up in any terminal.
    const lead = line.slice(0, from).replace(/[^\t]/g, ' ');
    lines.push(`${gutter} | ${line}`);
    lines.push(`${pad} | ${lead}${paint(style.color, d.severity === 'error' ? '1;31' : '1;33', '^'.repeat(to - from))}`);
    if (d.hint) lines.push(`${pad} = hint: ${d.hint}`);
  } else if (d.hint) {
    lines.push(`  = hint: ${d.hint}`);
  }
  return lines.join('\n');
}

/** Every diagnostic as renderText prints it, a blank line after each, then the count: what the CLI shows. */
export function renderReport(diagnostics: readonly Diagnostic[], files: readonly { file: string; source: string }[], style: Style): string {
  const sources: Sources = new Map(files.map((f) => [f.file, f.source]));
  return diagnostics.map((d) => renderText(d, sources, style) + '\n\n').join('') + summary(diagnostics);
}

export function toJson(d: Diagnostic): object {
  return {
    file: d.span.file,
    severity: d.severity,
    code: d.code,
    message: d.message,
    ...(d.hint ? { hint: d.hint } : {}),
    start: { line: d.span.start.line, column: d.span.start.column },
    end: { line: d.span.end.line, column: d.span.end.column },
  };
}

/** GitHub Actions workflow commands: `::error file=…,line=…::message`. */
export function renderGithub(d: Diagnostic): string {
  const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const escapeProp = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const { file, start, end } = d.span;
  const props = [`file=${escapeProp(file)}`, `line=${start.line}`, `col=${start.column}`, `endLine=${end.line}`, `endColumn=${end.column}`, `title=${escapeProp(`lbconf ${d.code}`)}`];
  return `::${d.severity === 'error' ? 'error' : 'warning'} ${props.join(',')}::${escapeData(d.message + (d.hint ? ` (${d.hint})` : ''))}`;
}

export function summary(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
}
