import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { Backend, echoName } from '../../helpers/backends.ts';
import { freePort, within } from '../../helpers/proxy.ts';

/** Resolves true when a connection to `port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Polls `probe` every 20 ms until it resolves true; rejects after `ms`. */
async function until(probe: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// `lbconf run FILE` as a user runs it: a child process serving real sockets,
// reloading on SIGHUP, stopping gracefully on SIGTERM.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const node = join(root, 'node_modules/.bin/node');

class Run {
  readonly child: ChildProcess;
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly waiters: { re: RegExp; from: number; resolve: () => void }[] = [];

  constructor(file: string) {
    this.child = spawn(node, ['cli/main.ts', 'run', '--no-watch', file], { cwd: root, env: { ...process.env, NO_COLOR: '1', LBCONF_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.resume();
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (c: string) => {
      this.stderr += c;
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i];
        if (w.re.test(this.stderr.slice(w.from))) { this.waiters.splice(i, 1); w.resolve(); }
      }
    });
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
  }

  /** Resolves when stderr, from now on, matches `re`. */
  next(re: RegExp, ms = 10_000): Promise<void> {
    const from = this.stderr.length;
    return within(new Promise<void>((resolve) => this.waiters.push({ re, from, resolve })), ms, `${re} on stderr:\n${this.stderr}`);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

describe('lbconf run', { timeout: 60_000 }, () => {
  let dir: string;
  let backend: Backend;
  let agent: Agent;
  const runs: Run[] = [];
  let release: (() => void) | null = null;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbconf-run-'));
    backend = await new Backend('b', (req, res, b) => {
      if (req.url === '/slow') {
        void new Promise<void>((r) => { release = r; }).then(() => echoName(req, res, b));
        return;
      }
      echoName(req, res, b);
    }).listen();
    agent = new Agent({ keepAliveTimeout: 1000 });
  });
  after(async () => {
    release?.();
    for (const r of runs) r.kill();
    await agent.close();
    await backend.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(file: string): Run {
    const r = new Run(file);
    runs.push(r);
    return r;
  }

  async function get(port: number, path: string): Promise<{ status: number; body: string }> {
    const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent });
    return { status: res.statusCode, body: await res.body.text() };
  }

  test('serves, reloads on SIGHUP, keeps serving through a broken reload, stops on SIGTERM after in-flight requests', async () => {
    const port = await freePort();
    const file = join(dir, 'site.lbconf');
    const site = (text: string) => `upstream app { server ${backend.address}; }
server {
    listen 127.0.0.1:${port};
    location / { return 200 "${text}"; }
    location /slow { proxy_pass http://app; }
}
`;
    writeFileSync(file, site('v1'));
    const run = start(file);
    await run.next(/listening on/);
    assert.deepEqual(await get(port, '/'), { status: 200, body: 'v1' });

    writeFileSync(file, site('v2'));
    let reloaded = run.next(/reload \(SIGHUP\) ok: generation 2/);
    run.child.kill('SIGHUP');
    await reloaded;
    assert.deepEqual(await get(port, '/'), { status: 200, body: 'v2' });

    // A broken file: the diagnostics go to the log with file:line:col; v2 keeps serving.
    writeFileSync(file, site('v3').replace('location /slow', 'locaton /slow'));
    const failed = run.next(/reload failed: .*still serving generation 2/);
    run.child.kill('SIGHUP');
    await failed;
    assert.match(run.stderr, /site\.lbconf:5:5: error unknown-directive/);
    assert.deepEqual(await get(port, '/'), { status: 200, body: 'v2' });

    // Fixed again: reloads.
    writeFileSync(file, site('v4'));
    reloaded = run.next(/reload \(SIGHUP\) ok: generation 3/);
    run.child.kill('SIGHUP');
    await reloaded;
    assert.deepEqual(await get(port, '/'), { status: 200, body: 'v4' });

    // SIGTERM with a request in flight: it finishes, then the process exits 0.
    const arrived = once(backend.server, 'request');
    const slow = get(port, '/slow');
    await within(arrived, 5000, 'the slow request at the backend');
    const stopping = run.next(/SIGTERM: stopping/);
    run.child.kill('SIGTERM');
    await stopping;
    // Soon no new connections (the listener closes right after that log line).
    await until(() => refused(port), 5000, 'the listener to close');
    release!();
    const r = await within(slow, 5000, 'the slow response');
    assert.equal(r.status, 200);
    assert.equal(await within(run.exited, 5000, 'exit'), 0);
    assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/);
  });

  test('a config with errors exits 1 with file:line:col on stderr', async () => {
    const file = join(dir, 'bad.lbconf');
    writeFileSync(file, 'server {\n    listen 127.0.0.1:8080;\n    location / { proxy_pass http://nowhere; }\n}\n');
    const run = start(file);
    assert.equal(await within(run.exited, 10_000, 'exit'), 1);
    assert.match(run.stderr, /bad\.lbconf:3:\d+: error/);
    assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/);
  });

  test('a port in use gives a clear message, not a stack trace', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const file = join(dir, 'busy.lbconf');
      writeFileSync(file, `server { listen 127.0.0.1:${port}; location / { return 200 "x"; } }\n`);
      const run = start(file);
      assert.equal(await within(run.exited, 10_000, 'exit'), 1);
      assert.match(run.stderr, new RegExp(`cannot start: .*127\\.0\\.0\\.1:${port}.*another process listens there`));
      assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
