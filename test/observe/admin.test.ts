import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startBackends, stopAll } from '../helpers/backends.ts';
import { lbconf, startRun, stopRun } from '../helpers/cli.ts';
import { freePort, upstream } from '../helpers/proxy.ts';
import { redactConfig, resolveToken } from '../../runtime/control/admin.ts';
import { checkText } from '../../compiler/check.ts';
import { api, startObserved } from './helpers.ts';

// The admin API against a real proxy and real backends, and the CLI against a real `lbconf run`.

const dir = mkdtempSync(join(tmpdir(), 'lbconf-admin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('drain, disable, enable and weight change where traffic goes, show as runtime state, and survive a reload', { timeout: 30_000 }, async () => {
  const backends = await startBackends(3);
  const config = (port: number, extra = '') => `${upstream('app', backends.map((b) => b.address))} server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } ${extra} }`;
  const o = await startObserved((port) => config(port));
  const [a, b, c] = backends.map((x) => x.address);
  try {
    const path = (server: string, action: string) => `/servers/app/${encodeURIComponent(server)}/${action}`;
    const disabled = await api(o.admin.url, 'POST', path(b, 'disable'));
    assert.equal(disabled.status, 200, disabled.text);
    assert.equal(disabled.json.state, 'disabled');
    assert.deepEqual(disabled.json.runtime, { mode: 'disable', weight: null });
    assert.deepEqual(await o.proxy.count(6), { b0: 3, b2: 3 });

    const drained = await api(o.admin.url, 'POST', path(c, 'drain'));
    assert.equal(drained.json.state, 'draining');
    assert.deepEqual(await o.proxy.count(4), { b0: 4 });

    await api(o.admin.url, 'POST', path(b, 'enable'));
    await api(o.admin.url, 'POST', path(c, 'enable'));
    const weighted = await api(o.admin.url, 'PUT', path(a, 'weight'), '{"weight": 3}');
    assert.equal(weighted.status, 200, weighted.text);
    assert.equal(weighted.json.weight, 3);
    assert.deepEqual(await o.proxy.count(10), { b0: 6, b1: 2, b2: 2 });

    // The status shows what the admin API changed as runtime state.
    let status = await api(o.admin.url, 'GET', '/status');
    const servers = status.json.upstreams[0].servers;
    assert.deepEqual(servers.map((s: { state: string }) => s.state), ['up', 'up', 'up']);
    assert.deepEqual(servers[0].runtime, { mode: null, weight: 3 });
    assert.equal(servers[0].configWeight, 1);
    assert.match(status.json.runtimeNote, /lost when lbconf restarts/);

    // A reload that leaves the upstream alone keeps it all; one that changes the upstream keeps it by server identity.
    await api(o.admin.url, 'POST', path(b, 'drain'));
    await o.proxy.load(config(o.proxy.port, 'location = /x { return 204; }'));
    status = await api(o.admin.url, 'GET', '/status');
    assert.equal(status.json.upstreams[0].servers[1].state, 'draining');
    await o.proxy.load(`${upstream('app', backends.map((x) => x.address), 'least_conn;')} server { listen 127.0.0.1:${o.proxy.port}; location / { proxy_pass http://app; } }`);
    status = await api(o.admin.url, 'GET', '/status');
    assert.equal(status.json.upstreams[0].method, 'least_conn');
    assert.equal(status.json.upstreams[0].servers[1].state, 'draining');
    assert.equal(status.json.upstreams[0].servers[0].weight, 3);
    const counts = await o.proxy.count(6);
    assert.equal(counts.b1, undefined, `a drained server takes no new requests: ${JSON.stringify(counts)}`);

    // Mistakes say what is wrong and what exists.
    const unknown = await api(o.admin.url, 'POST', '/servers/app/10.9.9.9:80/drain');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json.servers, [a, b, c]);
    const badWeight = await api(o.admin.url, 'PUT', path(a, 'weight'), '{"weight": 0}');
    assert.equal(badWeight.status, 400);
    assert.match(badWeight.json.error, /whole number from 1 to 1000/);
    assert.equal((await api(o.admin.url, 'GET', path(a, 'drain'))).status, 405);
    assert.equal((await api(o.admin.url, 'POST', '/reload')).status, 501);
    // A page elsewhere cannot drive the API through a browser (cross-origin POST, DNS rebinding).
    assert.equal((await api(o.admin.url, 'POST', path(a, 'disable'), undefined, { origin: 'http://evil.example' })).status, 403);
    assert.equal((await api(o.admin.url, 'GET', '/status', undefined, { host: 'evil.example' })).status, 403);
  } finally {
    await o.close();
    await stopAll(backends);
  }
});

test('a token, when set, is required: header, or ?token= for reading', { timeout: 30_000 }, async () => {
  const o = await startObserved((port) => `server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } }`, { token: 'a-long-enough-secret-token' });
  try {
    const none = await api(o.admin.url, 'GET', '/status');
    assert.equal(none.status, 401);
    assert.match(none.json.error, /Authorization: Bearer TOKEN/);
    assert.equal((await api(o.admin.url, 'GET', '/status', undefined, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await api(o.admin.url, 'GET', '/status', undefined, { authorization: 'Bearer a-long-enough-secret-token' })).status, 200);
    assert.equal((await api(o.admin.url, 'GET', '/metrics?token=a-long-enough-secret-token')).status, 200);
    // A change needs the header: a token in a URL is for reading only.
    assert.equal((await api(o.admin.url, 'POST', '/reload?token=a-long-enough-secret-token')).status, 401);
  } finally {
    await o.close();
  }
});

test('admin token sources, and the config check: anything but loopback needs a token', () => {
  assert.equal(resolveToken({ kind: 'env', name: 'T' }, { T: ' from-env \n' }), 'from-env');
  assert.throws(() => resolveToken({ kind: 'env', name: 'MISSING' }, {}), /MISSING is not set/);
  const f = join(dir, 'token');
  writeFileSync(f, 'from-file\n');
  assert.equal(resolveToken({ kind: 'file', path: f }), 'from-file');
  assert.throws(() => resolveToken({ kind: 'file', path: join(dir, 'nope') }), /cannot read .*nope: ENOENT/);

  const check = (text: string) => checkText(`${text}\nserver { listen 80; location / { return 200; } }`, 'a.lbconf').diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}`);
  assert.deepEqual(check('admin 9901;'), []);
  assert.deepEqual(check('admin [::1]:9901;'), []);
  assert.deepEqual(check('admin 0.0.0.0:9901;'), ['1:7 admin-needs-token']);
  assert.deepEqual(check('admin *:9901 token=env:LBCONF_ADMIN_TOKEN;'), []);
  assert.deepEqual(check('admin 10.0.0.1:9901 token=short;'), ['1:21 bad-argument']);
  const ir = checkText('admin 9901;\nserver { listen 80; location / { return 200; } }', 'a.lbconf').ir;
  assert.deepEqual(ir.admin, { address: '127.0.0.1', port: 9901, token: null });
});

test('the config dump hides secrets', () => {
  const c = checkText(`
    admin 10.0.0.1:9901 token=a-long-enough-secret-token;
    upstream app { server 10.0.0.1:80; sticky cookie srv secret=hunter2hunter2hunter2; }
    server { listen 80; location / { proxy_set_header Authorization "Basic dXNlcjpwYXNz"; proxy_set_header X-Real-IP $remote_addr; proxy_pass http://app; } }`, 'a.lbconf');
  assert.deepEqual(c.diagnostics.filter((d) => d.severity === 'error'), []);
  const text = JSON.stringify(redactConfig(c.ir));
  assert.doesNotMatch(text, /hunter2|a-long-enough-secret-token|dXNlcjpwYXNz/);
  assert.match(text, /"X-Real-IP","value":\[\{"var":"remote_addr"\}\]/);
  assert.match(text, /\[redacted\]/);
});

test('lbconf status and lbconf drain against a real lbconf run; a clear error when nothing listens', { timeout: 60_000 }, async () => {
  const backends = await startBackends(2);
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(dir, 'run.lbconf');
  writeFileSync(file, `admin 127.0.0.1:${adminPort};\n${upstream('app', backends.map((b) => b.address))}\nserver { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }\n`);
  const admin = `127.0.0.1:${adminPort}`;
  let run: ChildProcess | undefined;
  try {
    run = await startRun(file, 'admin API and status page on');
    const status = await lbconf('status', '--admin', admin);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /generation 1/);
    assert.match(status.stdout, /upstream app \(round_robin\)/);
    assert.match(status.stdout, new RegExp(`${backends[0].address.replace(/\./g, '\\.')}\\s+up`));

    const drained = await lbconf('drain', 'app', backends[1].address, '--admin', admin);
    assert.equal(drained.status, 0, drained.stderr);
    assert.match(drained.stdout, /draining, weight 1 \(runtime state: kept across reloads, lost when lbconf restarts\)/);
    const json = JSON.parse((await lbconf('status', '--admin', admin, '--format', 'json')).stdout);
    assert.equal(json.upstreams[0].servers[1].state, 'draining');

    const weight = await lbconf('weight', 'app', backends[0].address, '4', '--admin', admin);
    assert.equal(weight.status, 0, weight.stderr);
    assert.match((await lbconf('status', '--admin', admin)).stdout, /draining\s+1[\s\S]*runtime: drain, disable and weight/);

    const wrong = await lbconf('drain', 'app', '10.1.1.1:80', '--admin', admin);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /upstream `app` has no server `10\.1\.1\.1:80` \(it has: /);
    const usage = await lbconf('weight', 'app', backends[0].address, 'heavy', '--admin', admin);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /the weight must be a whole number/);
  } finally {
    await stopRun(run);
    await stopAll(backends);
  }
  const gone = await lbconf('status', '--admin', admin);
  assert.equal(gone.status, 2);
  assert.match(gone.stderr, new RegExp(`cannot reach the admin API at http://${admin.replace(/\./g, '\\.')} \\(ECONNREFUSED\\)\\. Is lbconf running with \`admin`));
  assert.doesNotMatch(gone.stderr, /\n\s+at /);
});


