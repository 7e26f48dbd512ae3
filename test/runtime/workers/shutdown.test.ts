import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { Backend, echoName } from '../../helpers/backends.ts';
import { freePort, until, within } from '../../helpers/proxy.ts';

// Graceful shutdown of `lbconf run`, as a user's supervisor (systemd, Kubernetes)
// drives it: SIGTERM stops accepting, lets requests in flight finish within
// worker_shutdown_timeout (or --grace), closes the pools and exits 0; a second
// SIGTERM, or SIGQUIT, exits at once. With and without worker threads.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const node = join(root, 'node_modules/.bin/node');

/** Resolves true when a connection to `port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

class Run {
  readonly child: ChildProcess;
  stderr = '';
  readonly exited: Promise<{ code: number | null; at: number }>;

  constructor(file: string, args: string[] = []) {
    this.child = spawn(node, ['cli/main.ts', 'run', '--no-watch', ...args, file], { cwd: root, env: { ...process.env, NO_COLOR: '1', LBCONF_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.resume();
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (c: string) => { this.stderr += c; });
    this.exited = once(this.child, 'exit').then(([code]) => ({ code: code as number | null, at: Date.now() }));
  }

  async started(): Promise<void> {
    await until(() => /listening on/.test(this.stderr) || this.child.exitCode !== null, 15_000, `lbconf run to listen:\n${this.stderr}`);
    assert.match(this.stderr, /listening on/);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

describe('graceful shutdown', { timeout: 120_000 }, () => {
  let dir: string;
  let backend: Backend;
  let agent: Agent;
  const runs: Run[] = [];
  const held: (() => void)[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbconf-shutdown-'));
    backend = await new Backend('b', (req, res, b) => {
      if (req.url === '/slow') { held.push(() => { if (!res.headersSent && !res.destroyed) echoName(req, res, b); }); return; }
      echoName(req, res, b);
    }).listen();
    agent = new Agent({ keepAliveTimeout: 1000 });
  });
  after(async () => {
    for (const f of held.splice(0)) f();
    for (const r of runs) r.kill();
    await agent.close();
    await backend.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(workers: number, top: string, args: string[] = []): Promise<{ run: Run; port: number }> {
    const port = await freePort();
    const file = join(dir, `site-${port}.lbconf`);
    writeFileSync(file, `workers ${workers};
${top}
upstream app { server ${backend.address}; }
server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }
`);
    const run = new Run(file, args);
    runs.push(run);
    await run.started();
    return { run, port };
  }

  /** A request the backend holds until released; resolves with its status, or 'cut' if the connection was closed. */
  async function slow(port: number): Promise<{ reply: Promise<number | 'cut'>; release: () => void }> {
    const before = held.length;
    const reply = request(`http://127.0.0.1:${port}/slow`, { dispatcher: agent }).then(async (r) => { await r.body.text(); return r.statusCode; }, () => 'cut' as const);
    await until(() => held.length > before, 5000, 'the slow request at the backend');
    const release = held[held.length - 1];
    return { reply, release };
  }

  for (const workers of [1, 2]) {
    test(`workers ${workers}: SIGTERM refuses new connections, lets the request in flight finish, exits 0`, async () => {
      const { run, port } = await start(workers, 'worker_shutdown_timeout 20s;');
      const { reply, release } = await slow(port);
      run.child.kill('SIGTERM');
      await until(() => /SIGTERM: stopping; requests in flight have 20s/.test(run.stderr), 5000, 'the stop to begin');
      // Every worker's listener closes: new connections are refused, ten times over (any worker could take one).
      for (let k = 0; k < 10; k++) {
        const deadline = Date.now() + 5000;
        while (!(await refused(port))) {
          if (Date.now() > deadline) assert.fail('the listeners did not close');
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      assert.equal(run.child.exitCode, null, 'still running: a request is in flight');
      release();
      assert.equal(await within(reply, 5000, 'the slow reply'), 200);
      const { code } = await within(run.exited, 10_000, 'exit');
      assert.equal(code, 0);
      assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/);
    });
  }

  test('workers 1: past worker_shutdown_timeout the request is cut and lbconf exits 0 anyway', async () => {
    const { run, port } = await start(1, 'worker_shutdown_timeout 1s;');
    const { reply } = await slow(port);
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    const { code, at } = await within(run.exited, 10_000, 'exit');
    assert.equal(code, 0);
    assert.ok(at - t0 >= 900, `waited the timeout (${at - t0} ms)`);
    assert.ok(at - t0 < 5000, `then exited (${at - t0} ms)`);
    assert.equal(await within(reply, 5000, 'the cut reply'), 'cut');
  });

  test('workers 2: --grace overrides worker_shutdown_timeout; past it lbconf exits 0 anyway', async () => {
    const { run, port } = await start(2, 'worker_shutdown_timeout 60s;', ['--grace', '1']);
    const { reply } = await slow(port);
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    const { code, at } = await within(run.exited, 10_000, 'exit');
    assert.equal(code, 0);
    assert.ok(at - t0 >= 900 && at - t0 < 5000, `waited --grace, not 60 s (${at - t0} ms)`);
    assert.match(run.stderr, /requests in flight have 1s/);
    assert.equal(await within(reply, 5000, 'the cut reply'), 'cut');
  });

  for (const [workers, second] of [[1, 'SIGTERM'], [2, 'SIGTERM'], [2, 'SIGQUIT']] as const) {
    test(`workers ${workers}: ${second === 'SIGTERM' ? 'a second SIGTERM' : 'SIGQUIT'} exits at once, requests in flight or not`, async () => {
      const { run, port } = await start(workers, 'worker_shutdown_timeout 60s;');
      const { reply } = await slow(port);
      if (second === 'SIGTERM') {
        run.child.kill('SIGTERM');
        await until(() => /SIGTERM: stopping/.test(run.stderr), 5000, 'the graceful stop to begin');
      }
      const t0 = Date.now();
      run.child.kill(second);
      const { code, at } = await within(run.exited, 5000, 'exit');
      assert.ok(at - t0 < 2000, `exited at once (${at - t0} ms)`);
      assert.notEqual(code, 0, 'an immediate exit is not a clean stop');
      assert.match(run.stderr, new RegExp(`${second}.*exiting now`));
      assert.equal(await within(reply, 5000, 'the cut reply'), 'cut');
    });
  }
});
