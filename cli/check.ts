import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkFile } from '../compiler/check.ts';
import { hasErrors, type Diagnostic } from '../lang/diagnostic.ts';
import { UnreadableFileError } from '../lang/include.ts';
import { renderGithub, renderText, summary, toJson, type Sources } from './render.ts';
import { oneOf, parse, UsageError } from './usage.ts';

export const checkHelp = `Usage: lbconf check [options] FILE...

Checks .lbconf files (a folder: the .lbconf files in it) and everything they include, and prints every problem
found as file:line:col with the source line. Reads only the config files:
no DNS lookups, no ports, no certificate files.

Options:
  --format text|json|github  how to print diagnostics (default text);
                             github prints GitHub Actions annotations
  --deny-warnings            exit 1 on warnings too
  -h, --help                 show this help

Exit status: 0 no errors, 1 errors found, 2 usage error or unreadable file.`;

export function runCheck(argv: string[], out: (s: string) => void, color: boolean): number {
  const { values, positionals } = parse(argv, { format: { type: 'string' }, 'deny-warnings': { type: 'boolean' } });
  if (values.help) { out(checkHelp); return 0; }
  const format = oneOf(values.format as string | undefined, ['text', 'json', 'github'] as const, '--format', 'text');
  if (positionals.length === 0) throw new UsageError('lbconf check needs at least one FILE');
  const all: Diagnostic[] = [];
  const sources: Sources = new Map();
  let unreadable = false;
  const checked: string[] = [];
  // A folder stands for the .lbconf files directly in it (each checked with what it includes).
  const files = positionals.flatMap((p) => {
    let isDir = false;
    try { isDir = statSync(p).isDirectory(); } catch { /* not there: checkFile says so */ }
    if (!isDir) return [p];
    const inside = readdirSync(p).filter((n) => n.endsWith('.lbconf')).sort().map((n) => join(p, n));
    if (inside.length === 0) { process.stderr.write(`lbconf: ${p} is a folder with no .lbconf file in it\n`); unreadable = true; }
    return inside;
  });
  for (const file of files) {
    try {
      const result = checkFile(file);
      for (const f of result.files) sources.set(f.file, f.source);
      all.push(...result.diagnostics);
      checked.push(file);
    } catch (err) {
      // One unreadable file must not hide the diagnostics of the others.
      if (!(err instanceof UnreadableFileError)) throw err;
      process.stderr.write(`lbconf: ${err.message}\n`);
      unreadable = true;
    }
  }
  if (format === 'json') {
    out(JSON.stringify({ files: positionals, diagnostics: all.map(toJson), errors: all.filter((d) => d.severity === 'error').length, warnings: all.filter((d) => d.severity === 'warning').length }, null, 2));
  } else if (format === 'github') {
    for (const d of all) out(renderGithub(d));
  } else {
    for (const d of all) out(renderText(d, sources, { color }) + '\n');
    if (checked.length > 0) out(all.length === 0 ? `${checked.join(', ')}: ok` : summary(all));
  }
  if (unreadable) return 2;
  return hasErrors(all) || (values['deny-warnings'] && all.length > 0) ? 1 : 0;
}
