import { checkFile } from '../compiler/check.ts';
import { compilePlan } from '../compiler/plan.ts';
import { hasErrors } from '../lang/diagnostic.ts';
import { ProxyRuntime } from '../runtime/server.ts';
import { renderText, summary, type Sources } from './render.ts';
import { parse, UsageError } from './usage.ts';

export const runHelp = `Usage: lbconf run [options] FILE

Checks FILE, then serves it: listens where the config says and proxies.
SIGHUP reloads the file (a config with errors is reported and the running
one keeps serving). SIGTERM or SIGINT stops gracefully: no new connections,
requests in flight finish (up to --grace), then exit 0. A second signal, or
SIGQUIT, exits at once.

Options:
  --grace DURATION   how long requests in flight may take at shutdown, in
                     seconds (default 10)
  -h, --help         show this help`;

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

const log: Log = (level, message, fields) => {
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}${fields ? ' ' + JSON.stringify(fields) : ''}\n`);
};

function printDiagnostics(result: ReturnType<typeof checkFile>, color: boolean): void {
  const sources: Sources = new Map(result.files.map((f) => [f.file, f.source]));
  for (const d of result.diagnostics) process.stderr.write(renderText(d, sources, { color }) + '\n\n');
  if (result.diagnostics.length) process.stderr.write(summary(result.diagnostics) + '\n');
}

export async function runRun(argv: string[], out: (s: string) => void, color: boolean): Promise<number> {
  const { values, positionals } = parse(argv, { grace: { type: 'string' } });
  if (values.help) { out(runHelp); return 0; }
  if (positionals.length !== 1) throw new UsageError('lbconf run needs exactly one FILE');
  const grace = values.grace === undefined ? 10 : Number(values.grace);
  if (!Number.isFinite(grace) || grace < 0) throw new UsageError('--grace takes a number of seconds');
  const file = positionals[0];
  const first = checkFile(file);
  printDiagnostics(first, color && process.stderr.isTTY === true);
  if (hasErrors(first.diagnostics)) return 1;

  const runtime = new ProxyRuntime({ log });
  try {
    await runtime.load(compilePlan(first).plan);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `${e.message}: another process listens there` : e.code === 'EACCES' ? `${e.message}: ports below 1024 need privileges` : e.message;
    log('error', `cannot start: ${why}`);
    await runtime.close(0);
    return 1;
  }
  for (const [key, a] of runtime.addresses()) log('info', `listening on ${key}`, { address: a.address, port: a.port });

  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      const result = checkFile(file);
      if (hasErrors(result.diagnostics)) {
        log('error', `reload failed: ${summary(result.diagnostics)}; still serving generation ${runtime.generation}`);
        printDiagnostics(result, false);
        return;
      }
      await runtime.load(compilePlan(result).plan);
      log('info', `reloaded ${file}: generation ${runtime.generation}`);
    }).catch((err) => log('error', `reload failed: ${(err as Error).message}`));
  };

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) { log('warn', `${signal} again: exiting now`); process.exit(1); }
      stopping = true;
      log('info', `${signal}: stopping; requests in flight have ${grace}s`);
      void runtime.close(grace * 1000).then(() => resolve(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGQUIT', () => { log('warn', 'SIGQUIT: exiting now'); process.exit(1); });
    process.on('SIGHUP', reload);
  });
}
