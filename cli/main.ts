#!/usr/bin/env node
import { UnreadableFileError } from '../lang/include.ts';
import { checkHelp, runCheck } from './check.ts';
import { compileHelp, runCompile } from './compile.ts';
import { fmtHelp, runFmt } from './fmt.ts';
import { routeHelp, runRoute } from './route.ts';
import { reloadHelp, runHelp, runReload, runRun } from './run.ts';
import { runTest, testHelp } from './test.ts';
import { UsageError } from './usage.ts';

// The `lbconf` command: it only wires the subcommands to lang/, compiler/ and runtime/.

const VERSION = '0.1.0';

const HELP = `lbconf ${VERSION}: a load balancer and reverse proxy configured by .lbconf files

Usage: lbconf COMMAND [options]

Commands:
  check FILE...    check config files; print every problem with its location
  fmt FILE...      print files in the canonical layout (--write, --check)
  compile FILE     print the generated routing code (--minify)
  route FILE [METHOD] URL   explain which server block, location and upstream a request reaches
  test CONFIG TESTS...      run route tests; --coverage lists what no test reached
  run FILE         serve a config: listen, route, balance and proxy; reload on save
  reload --pid-file FILE    make a running lbconf reload, and report the outcome

Run 'lbconf COMMAND --help' for a command's options.`;

type Command = (argv: string[], out: (s: string) => void, color: boolean) => number | Promise<number>;

const COMMANDS: Record<string, { run: Command; help: string }> = {
  check: { run: runCheck, help: checkHelp },
  fmt: { run: runFmt, help: fmtHelp },
  compile: { run: runCompile, help: compileHelp },
  route: { run: runRoute, help: routeHelp },
  test: { run: runTest, help: testHelp },
  run: { run: runRun, help: runHelp },
  reload: { run: runReload, help: reloadHelp },
};

export async function main(argv: string[]): Promise<number> {
  // `lbconf check … | head`: a reader that goes away is not an error worth a
  // stack trace. Output stops; the command still ends with its own status.
  let readerGone = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    readerGone = true;
  });
  const out = (s: string) => { if (!readerGone) process.stdout.write(s + '\n'); };
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') { out(HELP); return name === undefined ? 2 : 0; }
  if (name === '--version' || name === '-v') { out(VERSION); return 0; }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command '${name}'`);
    return await command.run(rest, out, color);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`lbconf: ${err.message.replace(/^lbconf /, '')}\n${command ? `Run 'lbconf ${name} --help' for usage.` : HELP}\n`);
      return 2;
    }
    if (err instanceof UnreadableFileError) {
      process.stderr.write(`lbconf: ${err.message}\n`);
      return 2;
    }
    // A bug of ours: say so plainly; the stack only on request.
    process.stderr.write(`lbconf: internal error: ${(err as Error)?.message ?? String(err)}\nThis is a bug in lbconf; rerun with LBCONF_DEBUG=1 for details and report it.\n`);
    if (process.env.LBCONF_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    return 70;
  }
}

process.exitCode = await main(process.argv.slice(2));
