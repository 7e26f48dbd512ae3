import { readFileSync, writeFileSync } from 'node:fs';
import { checkText } from '../compiler/check.ts';
import { formatConfig } from '../lang/format.ts';
import { UnreadableFileError } from '../lang/include.ts';
import { renderReport } from './render.ts';
import { parse, UsageError } from './usage.ts';

export const fmtHelp = `Usage: lbconf fmt [options] FILE...

Prints each file in the canonical layout (4-space indents, one directive per
line, comments kept; see spec/formatting.md). A file with syntax errors is
left alone and its errors are printed.

Options:
  -w, --write   rewrite the files in place instead of printing them
  --check       print nothing but the names of files that are not formatted;
                exit 1 if there are any
  -h, --help    show this help

Exit status: 0 done (or, with --check, everything formatted), 1 a file is not
formatted (--check) or has syntax errors, 2 usage error or unreadable file.`;

export function runFmt(argv: string[], out: (s: string) => void, color: boolean): number {
  const { values, positionals } = parse(argv, { write: { type: 'boolean', short: 'w' }, check: { type: 'boolean' } });
  if (values.help) { out(fmtHelp); return 0; }
  if (positionals.length === 0) throw new UsageError('lbconf fmt needs at least one FILE');
  if (values.write && values.check) throw new UsageError('--write and --check cannot be used together');
  let status = 0;
  for (const file of positionals) {
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UnreadableFileError(file, err);
    }
    let { output, diagnostics } = formatConfig(source, file);
    // The formatter joins a directive's arguments onto one line. When the
    // compiler sees a forgotten `;` before a directive on the next line, joining
    // would hide the mistake, so such a file is left alone too.
    const missing = checkText(source, file).diagnostics.filter((d) => d.code === 'missing-semicolon');
    if (output !== null && missing.length > 0) { output = null; diagnostics = missing; }
    if (output === null) {
      process.stderr.write(`${renderReport(diagnostics, [{ file, source }], { color })}\n${file}: not formatted\n`);
      status = 1;
      continue;
    }
    if (values.check) {
      if (output !== source) { out(file); status = 1; }
    } else if (values.write) {
      if (output !== source) writeFileSync(file, output);
    } else {
      process.stdout.write(output);
    }
  }
  return status;
}
