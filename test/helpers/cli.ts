import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { within } from './proxy.ts';

// The `lbconf` command as a user runs it: cli/main.ts in a process of its own.

export const LBCONF_MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

export interface CliResult { status: number | null; stdout: string; stderr: string }

/** Runs `lbconf ARGS…` to its end, without colour, and without the admin address or token of the environment the tests run in. */
export function lbconf(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LBCONF_MAIN, ...args], { env: { ...process.env, NO_COLOR: '1', LBCONF_ADMIN: '', LBCONF_ADMIN_TOKEN: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `lbconf run --no-watch FILE`, once its log says `ready`; killed (and its log thrown) when that takes over 20 s. Stop it with stopRun. */
export async function startRun(file: string, ready: string): Promise<ChildProcess> {
  const run = spawn(process.execPath, [LBCONF_MAIN, 'run', '--no-watch', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const started = new Promise<void>((resolve) => run.stderr!.on('data', (d) => { log += d; if (log.includes(ready)) resolve(); }));
  try {
    await within(started, 20_000, `lbconf run to log "${ready}"`);
  } catch (err) {
    await stopRun(run);
    throw new Error(`${(err as Error).message}; its log:\n${log}`);
  }
  return run;
}

/** SIGTERM, and its exit (nothing when it was never started or has exited). */
export async function stopRun(run: ChildProcess | undefined): Promise<void> {
  if (run === undefined || run.exitCode !== null || run.signalCode !== null) return;
  const closed = once(run, 'close');
  run.kill('SIGTERM');
  await closed;
}
