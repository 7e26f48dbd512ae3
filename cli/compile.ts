import { checkFile } from '../compiler/check.ts';
import { planSource } from '../compiler/plan.ts';
import { renderReport } from './render.ts';
import { parse, UsageError } from './usage.ts';

export const compileHelp = `Usage: lbconf compile [options] FILE

Prints the routing code generated for a config: one JavaScript function body
that, run with new Function(source)(), returns route() and the frozen tables it
indexes into (routes, listeners, servers, upstreams). Each branch carries a
comment naming the config line it came from. See spec/routing.md.

Options:
  --minify    leave out comments, indentation and needless spaces (names are kept)
  -h, --help  show this help

Exit status: 0 printed, 1 the config has errors, 2 usage error or unreadable file.`;

export function runCompile(argv: string[], out: (s: string) => void, color: boolean): number {
  const { values, positionals } = parse(argv, { minify: { type: 'boolean' } });
  if (values.help) { out(compileHelp); return 0; }
  if (positionals.length !== 1) throw new UsageError('lbconf compile needs exactly one FILE');
  const [file] = positionals;
  const check = checkFile(file);
  const errors = check.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    out(`${renderReport(errors, check.files, { color })}; nothing compiled`);
    return 1;
  }
  const source = planSource(check.ir, check.locs, { file, minify: values.minify === true });
  out(source.replace(/\n$/, ''));
  return 0;
}
