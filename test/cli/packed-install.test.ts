import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The package as a user gets it: `npm pack` (which runs prepack: the build),
// `npm install` of the tarball into an empty prefix, then the installed
// `lbconf` for check, compile, route, run and status. The prefix is outside
// this repository, so the installed CLI finds only the packages the tarball's
// `dependencies` brought: one that the CLI imports but does not declare fails
// here. The only network is the npm registry (for those dependencies; with
// --prefer-offline, npm's cache first).
//
// The repository is packed from a copy of its working tree, with this
// checkout's node_modules linked in for the build: the build does not replace
// the dist/ of the checkout under tests that may be running beside this one.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The repository's pinned Node (node_modules/.bin/node): first on PATH for npm, the build and lbconf's shebang. */
const nodeDir = dirname(process.execPath);

/** The environment of every child: this Node first on PATH, nothing of the test runner's or of an enclosing npm script's. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${nodeDir}${delimiter}${process.env.PATH ?? ''}`, NO_COLOR: '1', npm_config_update_notifier: 'false' };
  for (const k of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_/.test(k) || k === 'npm_config_prefix' || k === 'npm_config_local_prefix' || k === 'npm_config_global_prefix') delete env[k];
  }
  for (const k of ['NODE_OPTIONS', 'NODE_PATH', 'NODE_TEST_CONTEXT', 'INIT_CWD', 'LBCONF_ADMIN', 'LBCONF_ADMIN_TOKEN', 'LBCONF_DEBUG']) delete env[k];
  return env;
}

interface Result { status: number | null; stdout: string; stderr: string }

/** Runs a command to its end, or kills it after `ms`. */
async function run(cmd: string, args: string[], cwd: string, ms: number): Promise<Result> {
  const child = spawn(cmd, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [status] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { status, stdout, stderr };
}

function show(what: string, r: Result): string {
  return `${what}: exit ${r.status}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res, rej) => { s.once('error', rej); s.listen(0, '127.0.0.1', () => res()); });
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

/** One GET; the status and body, or null when nothing answers. */
function fetchOnce(port: number, path: string): Promise<{ status: number; body: string } | null> {
  return new Promise((res) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, headers: { host: 'shop.example' } }, (r) => {
      let body = '';
      r.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => res({ status: r.statusCode ?? 0, body })).on('error', () => res(null));
    });
    req.setTimeout(2000, () => req.destroy());
    req.on('error', () => res(null));
  });
}

describe('the packed package, installed into an empty prefix', { timeout: 300_000 }, () => {
  let tmp: string;
  let bin: string;
  let conf: string;
  let port: number;
  let adminPort: number;
  let server: ChildProcess | null = null;
  const started = Date.now();

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'lbconf-packed-'));
    // The working tree, without what git ignores at the top (node_modules, dist, outputs) and .git.
    const src = join(tmp, 'src');
    mkdirSync(src);
    const skip = new Set(['.git', 'node_modules', 'dist', 'test-output', 'scratch']);
    for (const name of readdirSync(root)) {
      if (!skip.has(name)) cpSync(join(root, name), join(src, name), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'), 'dir');

    const packDir = join(tmp, 'pack');
    mkdirSync(packDir);
    const pack = await run('npm', ['pack', '--pack-destination', packDir, '--no-audit', '--no-fund'], src, 120_000);
    assert.equal(pack.status, 0, show('npm pack', pack));
    const tarballs = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    assert.equal(tarballs.length, 1, show(`npm pack made ${tarballs.join(', ') || 'no tarball'}`, pack));
    const tarball = join(packDir, tarballs[0]);

    const prefix = join(tmp, 'prefix');
    mkdirSync(prefix);
    const install = await run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', tarball], tmp, 180_000);
    assert.equal(install.status, 0, show('npm install', install));
    bin = join(prefix, 'node_modules/.bin/lbconf');

    port = await freePort();
    adminPort = await freePort();
    conf = join(tmp, 'site.lbconf');
    writeFileSync(conf, `admin 127.0.0.1:${adminPort};
upstream app {
    server 127.0.0.1:9;
}
server {
    listen 127.0.0.1:${port};
    server_name shop.example;
    location / {
        return 200 "installed ok";
    }
    location /api/ {
        proxy_pass http://app;
    }
}
`);
  });

  after(async () => {
    if (server !== null && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL');
      await once(server, 'exit');
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    process.stderr.write(`# packed install: ${((Date.now() - started) / 1000).toFixed(1)} s in all\n`);
  });

  test('the tarball holds the build, the spec and the examples, and declares what the CLI imports', () => {
    const pkg = JSON.parse(readFileSync(join(tmp, 'prefix/node_modules/lbconf/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const installed = join(tmp, 'prefix/node_modules/lbconf');
    const top = readdirSync(installed).sort();
    assert.deepEqual(top.filter((f) => !/^(README|LICENSE|CHANGELOG)/i.test(f)), ['dist', 'examples', 'package.json', 'spec']);
    assert.ok(readdirSync(join(installed, 'dist')).includes('lbconf.js'));
    // Every bare import of the bundle is a declared dependency (or Node's own).
    const imported = new Set<string>();
    for (const f of readdirSync(join(installed, 'dist')).filter((n) => n.endsWith('.js'))) {
      for (const m of readFileSync(join(installed, 'dist', f), 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\blazy\w*\(\s*)"(@?[a-z0-9][\w.-]*(?:\/[\w.@-]+)*)"/g)) {
        imported.add(m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0]);
      }
    }
    // The bundle's static imports, and the packages runtime/core/lazy.ts loads on first use (the JSON logger, the file watcher).
    for (const name of ['ajv', 'chevrotain', 'pino', 'chokidar']) assert.ok(imported.has(name), `found the import of ${name} in dist/ (${[...imported].join(', ')})`);
    for (const name of imported) assert.ok(name in pkg.dependencies, `the CLI imports ${name}, which is not in dependencies`);
    assert.ok(!('undici' in pkg.dependencies) && !('esbuild' in pkg.dependencies), 'no build or test package in dependencies');
  });

  test('check, compile (readable and --minify) and route', async () => {
    const check = await run(bin, ['check', conf], tmp, 30_000);
    assert.equal(check.status, 0, show('lbconf check', check));

    const compile = await run(bin, ['compile', conf], tmp, 30_000);
    assert.equal(compile.status, 0, show('lbconf compile', compile));
    assert.match(compile.stdout, /function route\(listener, host, path\)/);
    const min = await run(bin, ['compile', '--minify', conf], tmp, 30_000);
    assert.equal(min.status, 0, show('lbconf compile --minify', min));
    assert.ok(min.stdout.length < compile.stdout.length, 'the minified code is shorter');
    for (const source of [compile.stdout, min.stdout]) {
      const plan = new Function(source)() as { route(l: number, host: string, path: string): number; routes: { upstream: string | null }[] };
      assert.equal(plan.routes[plan.route(0, 'shop.example', '/api/x')].upstream, 'app');
    }

    const route = await run(bin, ['route', conf, `http://shop.example:${port}/api/users`], tmp, 30_000);
    assert.equal(route.status, 0, show('lbconf route', route));
    assert.match(route.stdout, /^chosen +location \/api\/ /m);
    assert.match(route.stdout, /^upstream +app\b/m);
  });

  test('run serves a request, status reads its admin API, and it stops on SIGTERM', async () => {
    const child = spawn(bin, ['run', '--no-watch', conf], { cwd: tmp, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { log += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { log += c; });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    let answer: { status: number; body: string } | null = null;
    const deadline = Date.now() + 30_000;
    while (answer === null && child.exitCode === null && Date.now() < deadline) {
      answer = await fetchOnce(port, '/');
      if (answer === null) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(answer, { status: 200, body: 'installed ok' }, `lbconf run did not answer:\n${log}`);

    const status = await run(bin, ['status', '--admin', `127.0.0.1:${adminPort}`, '--format', 'json'], tmp, 30_000);
    assert.equal(status.status, 0, show('lbconf status', status));
    assert.equal((JSON.parse(status.stdout) as { pid: number }).pid, child.pid);

    process.kill(child.pid!, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const [code] = await Promise.race([exited, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`lbconf run did not stop on SIGTERM:\n${log}`)), 20_000); })]).finally(() => clearTimeout(timer));
    assert.equal(code, 0, log);
  });
});
