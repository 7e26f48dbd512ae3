#!/usr/bin/env node
import { UnreadableFileError } from '../lang/unreadable.ts';
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
  status           show a running lbconf's upstreams, servers and listeners (admin API)
  drain|disable|enable UPSTREAM SERVER   take a server out of rotation, or back (runtime state)
  weight UPSTREAM SERVER N  set a server's weight at runtime
  purge ZONE KEY   remove an entry from a cache zone (or ZONE --url URL)

Run 'lbconf COMMAND --help' for a command's options.`;

type Command = (argv: string[], out: (s: string) => void, color: boolean) => number | Promise<number>;
type Module = Record<string, unknown>;

// Each command's module is imported when it runs: `lbconf run` then never
// loads the parser, the schema validator or the code generator into the serving
// thread (the compile worker has them), and `lbconf fmt` does not load the runtime.
const COMMANDS: Record<string, { load: () => Promise<Module>; run: string; arg?: string }> = {
  check: { load: () => import('./check.ts'), run: 'runCheck' },
  fmt: { load: () => import('./fmt.ts'), run: 'runFmt' },
  compile: { load: () => import('./compile.ts'), run: 'runCompile' },
  route: { load: () => import('./route.ts'), run: 'runRoute' },
  test: { load: () => import('./test.ts'), run: 'runTest' },
  run: { load: () => import('./run.ts'), run: 'runRun' },
  reload: { load: () => import('./run.ts'), run: 'runReload' },
  status: { load: () => import('./admin.ts'), run: 'runStatus' },
  drain: { load: () => import('./admin.ts'), run: 'serverAction', arg: 'drain' },
  disable: { load: () => import('./admin.ts'), run: 'serverAction', arg: 'disable' },
  enable: { load: () => import('./admin.ts'), run: 'serverAction', arg: 'enable' },
  weight: { load: () => import('./admin.ts'), run: 'serverAction', arg: 'weight' },
  purge: { load: () => import('./admin.ts'), run: 'runPurge' },
};

/** The command's function from its module (serverAction makes one per action). */
async function commandOf(name: string): Promise<Command> {
  const c = COMMANDS[name];
  const m = await c.load();
  const f = m[c.run] as ((a: string) => Command) | Command;
  return c.arg !== undefined ? (f as (a: string) => Command)(c.arg) : f as Command;
}

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
    return await (await commandOf(name))(rest, out, color);
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
