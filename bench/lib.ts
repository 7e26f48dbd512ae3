// What the benches that run peers as processes share: checking for the tools,
// starting, waiting for and stopping child processes, nginx configs, reading
// wrk's output, and a free port.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Exits with status 2, saying how to install them, when any of `tools` is not on the PATH. */
export function requireTools(bench: string, tools: string[], install: string): void {
  for (const tool of tools) {
    try { execFileSync('which', [tool], { stdio: 'ignore' }); } catch {
      process.stderr.write(`${bench} needs ${tool}: ${install}\n`);
      process.exit(2);
    }
  }
}

/** Every child started, for stopAll. */
const children: ChildProcess[] = [];

/** Starts a child (pinned to `core` with taskset when given); reports it on stderr if it dies on its own. */
export function start(cmd: string, args: string[], core: number | null = null): ChildProcess {
  const child = core === null ? spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn('taskset', ['-c', String(core), cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  child.on('exit', (code) => { if (code && code !== 0 && !child.killed) process.stderr.write(`${cmd} exited ${code}: ${err}\n`); });
  children.push(child);
  return child;
}

/** SIGTERM, then SIGKILL if it has not exited 5 s later. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

export async function stopAll(): Promise<void> {
  for (const c of children) await stop(c);
}

/** Resolves once something accepts connections on 127.0.0.1:`port`; throws after 15 s. */
export async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port} after 15 s`);
}

/** Writes `dir/NAME.conf`: an nginx config with `workers` worker processes, no access log, and `body` inside `http {}`. */
export function nginxConf(dir: string, name: string, workers: number, body: string): string {
  const path = join(dir, `${name}.conf`);
  writeFileSync(path, `worker_processes ${workers};\npid ${join(dir, name + '.pid')};\nerror_log ${join(dir, name + '.err')} crit;\nevents { worker_connections 4096; }\nhttp {\n access_log off;\n keepalive_requests 100000;\n${body}\n}\n`);
  return path;
}

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  /** Requests completed. */
  total: number;
  non2xx: number;
  /** Non-2xx/3xx responses and socket errors. */
  errors: number;
}

/** Reads `wrk --latency`'s report (latencies in ms). */
export function parseWrk(out: string): WrkResult {
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    p50: toMs(/^\s+50%\s+(\S+)/m.exec(out)![1]),
    p99: toMs(/^\s+99%\s+(\S+)/m.exec(out)![1]),
    total: Number(/(\d+) requests in/.exec(out)![1]),
    non2xx,
    errors: non2xx + (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

function toMs(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text)!;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

/** A port on 127.0.0.1 that nothing listened on a moment ago. */
export async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => probe.once('listening', r));
  const port = (probe.address() as AddressInfo).port;
  probe.close();
  return port;
}

/**
 * The command that runs `lbconf run CONF` as an installed lbconf runs: the bundle
 * (`dist/lbconf.js`, built from the current sources now) with the Node flags of
 * its shebang, on this Node rather than the PATH's.
 */
export function lbconfRun(conf: string, checkout = fileURLToPath(new URL('..', import.meta.url))): [string, string[]] {
  execFileSync(process.execPath, [join(checkout, 'scripts/build.ts')], { stdio: 'ignore', cwd: checkout });
  const launcher = join(checkout, 'dist/lbconf.js');
  const flags = readFileSync(launcher, 'utf8').split('\n')[0].split(/\s+/).filter((a) => a.startsWith('--'));
  return [process.execPath, [...flags, launcher, 'run', '--no-watch', conf]];
}
