import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hasErrors } from '../lang/diagnostic.ts';
import type { CompileOutcome } from '../runtime/control/compiler-process.ts';
import { LeastBusy } from '../runtime/upstream/balancers/index.ts';
import { Operations } from '../runtime/control/operations.ts';
import { Reloader } from '../runtime/control/reload.ts';
import { Launcher } from '../runtime/worker/launcher.ts';
import { renderReport } from './render.ts';
import { parse, UsageError } from './usage.ts';

export const runHelp = `Usage: lbconf run [options] FILE

Checks FILE, then serves it: listens where the config says and proxies.
Saving FILE, or any file it includes, reloads it: a config with errors is
reported (file:line:col, as lbconf check prints it) and the running one keeps
serving. SIGHUP reloads too. SIGTERM or SIGINT stops gracefully: no new
connections, requests in flight finish (up to worker_shutdown_timeout, or
--grace), then exit 0. A second signal, or SIGQUIT, exits at once. With
'workers N;' in the config, N worker threads serve and this thread watches,
compiles, runs the health checks and restarts a worker that dies.

Options:
  --no-watch         do not watch the files; reload only on SIGHUP
  --pid-file FILE    write the process id to FILE (and the reload status to
                     FILE.status), for 'lbconf reload --pid-file FILE'
  --grace SECONDS    how long requests in flight may take at shutdown
                     (default: the config's worker_shutdown_timeout, 10 s)
  -h, --help         show this help`;

export const reloadHelp = `Usage: lbconf reload --pid-file FILE

Asks a running 'lbconf run --pid-file FILE' to reload its config, waits for
the outcome and reports it. Exit status: 0 reloaded, 1 the new config was
refused (the old one keeps serving; its diagnostics are printed), 2 no such
process or no answer within 10 seconds.`;

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

const log: Log = (level, message, fields) => {
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}${fields ? ' ' + JSON.stringify(fields) : ''}\n`);
};

function printDiagnostics(result: Pick<CompileOutcome, 'diagnostics' | 'files'>, color: boolean): void {
  if (result.diagnostics.length) process.stderr.write(renderReport(result.diagnostics, result.files, { color }) + '\n');
}

export async function runRun(argv: string[], out: (s: string) => void, color: boolean): Promise<number> {
  const { values, positionals } = parse(argv, { grace: { type: 'string' }, 'no-watch': { type: 'boolean' }, 'pid-file': { type: 'string' } });
  if (values.help) { out(runHelp); return 0; }
  if (positionals.length !== 1) throw new UsageError('run needs exactly one FILE');
  const grace = values.grace === undefined ? null : Number(values.grace);
  if (grace !== null && (!Number.isFinite(grace) || grace < 0)) throw new UsageError('--grace takes a number of seconds');
  const file = positionals[0];
  const pidFile = values['pid-file'] ? resolve(values['pid-file'] as string) : null;
  const stderrColor = color && process.stderr.isTTY === true;

  // The error log, the reload history and the admin API follow the config (runtime/control/operations.ts).
  const ops = new Operations();
  const log = ops.errorLog.log;
  const runtime = new Launcher({ log });
  const reloader = new Reloader(file, runtime, { log, report: (r) => printDiagnostics(r, false), watch: !values['no-watch'], onReload: ops.onReload });
  let first: CompileOutcome;
  try {
    first = await reloader.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `${e.message}: another process listens there` : e.code === 'EACCES' ? `${e.message}: ports below 1024 need privileges` : e.message;
    log('error', `cannot start: ${why}`);
    await reloader.close();
    await runtime.close(0);
    return 1;
  }
  if (first.error !== undefined) {
    log('error', first.error);
    await reloader.close();
    await runtime.close(0);
    return 2;
  }
  printDiagnostics(first, stderrColor);
  if (hasErrors(first.diagnostics)) {
    await reloader.close();
    await runtime.close(0);
    return 1;
  }
  // The config's error_log from here on, and its admin API.
  try {
    await ops.start(runtime, reloader);
  } catch (err) {
    log('error', (err as Error).message);
    await Promise.all([reloader.close(), runtime.close(0)]);
    await ops.close();
    return 1;
  }
  for (const [key, a] of runtime.addresses()) log('info', `listening on ${key}`, { address: a.address, port: a.port });
  if (reloader.listening === 0) {
    if (values['no-watch']) {
      // Nothing would keep lbconf running, and no edit is watched for.
      log('error', `${file} has no server block that listens: nothing to serve (add \`server { listen 8080; … }\`)`);
      await Promise.all([reloader.close(), runtime.close(0)]);
      await ops.close();
      return 1;
    }
    log('warn', `${file} has no server block that listens: nothing is served until an edit adds one`);
  }
  if (runtime.workers > 1) log('info', `serving with ${runtime.workers} worker threads`);

  const writeStatus = () => {
    if (!pidFile) return;
    writeFileSync(`${pidFile}.status`, JSON.stringify({ pid: process.pid, config: resolve(file), ...reloader.status, lastDiagnostics: reloader.status.lastDiagnostics.length }) + '\n');
  };
  if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);
  writeStatus();

  return await new Promise<number>((done) => {
    let stopping = '';
    let stoppedAt = 0;
    const stop = (signal: string) => {
      // One Ctrl-C can arrive twice, as two signals: the terminal's SIGINT, and the SIGTERM of a wrapper such as
      // `npm start` passing it on. The other signal within 2 s is the same request to stop; the same signal again means "now".
      if (stopping !== '') {
        if (signal !== stopping && Date.now() - stoppedAt < 2000) return;
        log('warn', `${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = signal;
      stoppedAt = Date.now();
      const graceMs = grace !== null ? grace * 1000 : runtime.shutdownTimeout;
      log('info', `${signal}: stopping; requests in flight have ${graceMs / 1000}s`);
      // Listeners stop accepting at once; the watcher and compile process close alongside.
      void Promise.all([runtime.close(graceMs).then(() => ops.close()), reloader.close()]).then(() => {
        if (pidFile) { rmSync(pidFile, { force: true }); rmSync(`${pidFile}.status`, { force: true }); }
        done(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGQUIT', () => { log('warn', 'SIGQUIT: exiting now'); process.exit(1); });
    process.on('SIGHUP', () => { void reloader.reload('SIGHUP').then(writeStatus); });
    // A reload on save updates the status file too, once it has finished (`lbconf reload` reads
    // the file as soon as lastAttemptAt moves: it must not see an attempt still under way).
    const finished = () => reloader.status.reloads + reloader.status.failures;
    const timer = setInterval(() => { if (finished() !== lastSeen) { lastSeen = finished(); writeStatus(); } }, 200);
    timer.unref();
    let lastSeen = finished();
    // least_busy's scores, so an operator can see why traffic moved (the admin API will show them live).
    const scores = setInterval(() => {
      for (const [name, u] of runtime.runtime.upstreams) {
        if (!(u.balancer instanceof LeastBusy)) continue;
        const values = u.balancer.scores(Date.now());
        log('info', `least_busy scores of ${name}: ${u.ir.servers.map((srv, i) => `${srv.address}=${values[i].toFixed(1)} (in flight ${u.peers.inflight[i]})`).join(', ')}`);
      }
    }, 30_000);
    scores.unref();
  });
}

interface StatusFile { pid: number; config: string; lastAttemptAt: number; ok: boolean; generation: number; hash: string }

function readStatus(path: string): StatusFile | null {
  try {
    return JSON.parse(readFileSync(`${path}.status`, 'utf8')) as StatusFile;
  } catch {
    return null;
  }
}

export async function runReload(argv: string[], out: (s: string) => void, color: boolean): Promise<number> {
  const { values, positionals } = parse(argv, { 'pid-file': { type: 'string' } });
  if (values.help) { out(reloadHelp); return 0; }
  if (positionals.length > 0 || !values['pid-file']) throw new UsageError('reload needs --pid-file FILE (the one given to lbconf run)');
  const pidFile = resolve(values['pid-file'] as string);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    process.stderr.write(`lbconf: cannot read ${pidFile}: is lbconf run --pid-file ${pidFile} running?\n`);
    return 2;
  }
  const before = readStatus(pidFile);
  try {
    process.kill(pid, 'SIGHUP');
  } catch {
    process.stderr.write(`lbconf: no process ${pid} (from ${pidFile}): lbconf run is not running\n`);
    return 2;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const now = readStatus(pidFile);
    if (!now || now.lastAttemptAt === before?.lastAttemptAt) continue;
    if (now.ok) {
      out(`reloaded: generation ${now.generation}, config ${now.hash}`);
      return 0;
    }
    process.stderr.write(`lbconf: reload refused; generation ${now.generation} keeps serving. The new config's problems:\n\n`);
    const { checkFile } = await import('../compiler/check.ts');
    try {
      printDiagnostics(checkFile(now.config), color && process.stderr.isTTY === true);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
    }
    return 1;
  }
  process.stderr.write(`lbconf: process ${pid} did not report a reload within 10 s\n`);
  return 2;
}
