import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkText } from '../../compiler/check.ts';
import { escapeValue, timeLocal } from '../../runtime/observe/access-log.ts';
import { ErrorLog } from '../../runtime/observe/error-log.ts';
import { Backend, startBackends, stopAll } from '../helpers/backends.ts';
import { echoUpgrades, upgrade } from '../helpers/upgrade.ts';
import { freePort, startProxy, until, upstream, within } from '../helpers/proxy.ts';

// The access log (nginx's combined format, JSON) and the error log (levels,
// reload and health events), written to real files by a real proxy.

const main = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lbconf-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('access_log: nginx\'s combined format exactly, and JSON, per server block and location; flushed on close', { timeout: 30_000 }, async () => {
  const [b] = await startBackends(1);
  const combined = join(dir, 'sub', 'access.log');
  const json = join(dir, 'access.json');
  const p = await startProxy((port) => `
    ${upstream('app', [b.address])}
    access_log ${combined};
    server { listen 127.0.0.1:${port};
      location / { proxy_pass http://app; }
      location /api/ { access_log ${json} format=json; proxy_pass http://app; }
      location = /quiet { access_log off; return 204; }
    }`);
  let sizes: number[] = [];
  try {
    const auth = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
    const r1 = await p.get('/a?b=1', { headers: { referer: 'http://ref.example/', 'user-agent': 'ua "quoted"', authorization: auth } });
    const r2 = await p.get('/missing-ua', { headers: { 'user-agent': '' } });
    const r3 = await p.get('/api/v1', { headers: { 'user-agent': 'json-client' } });
    await p.get('/quiet');
    sizes = [r1, r2, r3].map((r) => Buffer.byteLength(r.body));
  } finally {
    await p.close();
    await stopAll([b]);
  }
  // close() flushed the buffered lines (the directory was made, too).
  const lines = readFileSync(combined, 'utf8').split('\n');
  assert.equal(lines.length, 3, lines.join('\n'));
  const time = String.raw`\[\d{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]`;
  assert.match(lines[0], new RegExp(String.raw`^127\.0\.0\.1 - alice ${time} "GET /a\?b=1 HTTP/1\.1" 200 ${sizes[0]} "http://ref\.example/" "ua \\x22quoted\\x22"$`));
  assert.match(lines[1], new RegExp(String.raw`^127\.0\.0\.1 - - ${time} "GET /missing-ua HTTP/1\.1" 200 ${sizes[1]} "-" "-"$`));
  assert.equal(lines[2], '');
  const entries = readFileSync(json, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(entries.length, 1);
  const e = entries[0];
  assert.equal(e.method, 'GET');
  assert.equal(e.uri, '/api/v1');
  assert.equal(e.status, 200);
  assert.equal(e.body_bytes_sent, sizes[2]);
  assert.equal(e.user_agent, 'json-client');
  assert.equal(e.location, '/api/');
  assert.equal(e.upstream, 'app');
  assert.equal(e.upstream_addr, b.address);
  assert.equal(e.remote_addr, '127.0.0.1');
  assert.ok(e.request_time >= 0 && e.request_time < 5);
  assert.ok(!Number.isNaN(Date.parse(e.time)));
});

test('access_log: a request in flight across a reload that moves the log still writes its line to the old one', { timeout: 30_000 }, async () => {
  const held: (() => void)[] = [];
  const b = await new Backend('b', (req, res, self) => { if (req.url === '/slow') held.push(() => res.end('slow')); else res.end(self.name); }).listen();
  const first = join(dir, 'moved-a.log');
  const second = join(dir, 'moved-c.log');
  const site = (log: string) => (port: number) => `server { listen 127.0.0.1:${port}; access_log ${log}; location / { proxy_pass http://${b.address}; } }`;
  const p = await startProxy(site(first));
  try {
    await p.get('/fast');
    const slow = p.get('/slow');
    await until(() => held.length === 1, 3000, 'the slow request at the backend');
    await p.load(site(second)(p.port));
    for (const f of held.splice(0)) f();
    assert.equal((await slow).status, 200);
    await p.get('/after');
  } finally {
    await p.close();
    await b.kill();
  }
  const lines = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => l.split('"')[1]);
  assert.deepEqual(lines(first), ['GET /fast HTTP/1.1', 'GET /slow HTTP/1.1']);
  assert.deepEqual(lines(second), ['GET /after HTTP/1.1']);
});

test('combined format pieces: $time_local and nginx\'s escaping', () => {
  const t = timeLocal(new Date(2000, 9, 10, 13, 55, 36));
  assert.match(t, /^10\/Oct\/2000:13:55:36 [+-]\d{4}$/);
  assert.equal(escapeValue('plain /path?x=1'), 'plain /path?x=1');
  assert.equal(escapeValue('a"b\\c\n'), 'a\\x22b\\x5Cc\\x0A');
  // Node reads header bytes as latin1: UTF-8 `é` arrives as two characters, logged as its two bytes, as nginx does.
  assert.equal(escapeValue('\u00c3\u00a9'), '\\xC3\\xA9');
  assert.equal(escapeValue('\u20ac'), '\\xE2\\x82\\xAC');
});

test('access_log and error_log directives lower into the IR, and say what is wrong', () => {
  const c = checkText('error_log /var/log/lbconf/error.log notice;\naccess_log /var/log/a.log json;\nserver { listen 80; access_log stdout; location / { access_log off; return 200; } }', '/etc/lbconf/a.lbconf');
  assert.deepEqual(c.diagnostics, []);
  assert.deepEqual(c.ir.errorLog, { target: '/var/log/lbconf/error.log', level: 'info' });
  assert.deepEqual(c.ir.servers[0].settings.accessLog, { target: 'stdout', format: 'combined' });
  assert.equal(c.ir.servers[0].locations[0].settings.accessLog, null);
  const bad = checkText('error_log stderr verbose;\nserver { listen 80; access_log x.log format=xml; }', 'a.lbconf').diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code} ${d.message}`);
  assert.ok(bad.some((d) => /^1:18 bad-argument expected one of `debug`/.test(d)), bad.join('\n'));
  assert.ok(bad.some((d) => /^2:38 bad-argument `format`: expected one of `combined`, `json`, not `xml`/.test(d)), bad.join('\n'));
});

test('error_log: JSON lines at the level asked for and above', async () => {
  const file = join(dir, 'error.log');
  const log = new ErrorLog(() => assert.fail('no text lines once error_log is set'));
  log.apply({ target: file, level: 'warn' });
  log.log('debug', 'not this');
  log.log('info', 'nor this');
  log.log('warn', 'server app/10.0.0.1:80 is unhealthy: ECONNREFUSED', { event: 'health' });
  log.log('error', 'reload failed');
  await log.close();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[40, 'server app/10.0.0.1:80 is unhealthy: ECONNREFUSED'], [50, 'reload failed']]);
  assert.equal(lines[0].event, 'health');
  assert.equal(lines[0].pid, process.pid);

  // Without error_log: text lines, info and above.
  const text: string[] = [];
  const plain = new ErrorLog((l) => text.push(l));
  plain.log('debug', 'hidden');
  plain.log('info', 'shown');
  assert.equal(text.length, 1);
  assert.match(text[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z info shown\n$/);
});

test('lbconf run writes reload and health events to its error_log', { timeout: 60_000 }, async () => {
  const backend = await new Backend('b').listen();
  const port = await freePort();
  const file = join(dir, 'events.lbconf');
  const errors = join(dir, 'events.log');
  const pidFile = join(dir, 'events.pid');
  const conf = (extra: string) => `error_log ${errors} info;\nupstream app { server ${backend.address}; health_check interval=100ms fails=1 passes=1 timeout=500ms; }\nserver { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } ${extra} }\n`;
  writeFileSync(file, conf(''));
  const run = spawn(process.execPath, [main, 'run', '--no-watch', '--pid-file', pidFile, file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  run.stderr.on('data', (d) => { stderr += d; });
  const read = () => (existsSync(errors) ? readFileSync(errors, 'utf8') : '');
  try {
    await within(until(() => existsSync(`${pidFile}.status`), 20_000, 'lbconf run to start'), 21_000, `lbconf run; stderr:\n${stderr}`);
    writeFileSync(file, conf('location = /x { return 204; }'));
    run.kill('SIGHUP');
    await until(() => /reload \(SIGHUP\) ok/.test(read()), 10_000, `the reload in ${errors}:\n${read()}`);
    writeFileSync(file, conf('location = /x { retrun 204; }'));
    run.kill('SIGHUP');
    await until(() => /reload failed/.test(read()), 10_000, 'the refused reload');
    await backend.kill();
    await until(() => /is unhealthy/.test(read()), 10_000, `the health event in ${errors}:\n${read()}`);
  } finally {
    run.kill('SIGTERM');
    await new Promise((r) => run.once('close', r));
    if (backend.server.listening) await backend.kill();
  }
  const lines = read().trim().split('\n').map((l) => JSON.parse(l));
  const health = lines.find((l) => /is unhealthy/.test(l.msg));
  assert.equal(health.event, 'health');
  assert.equal(health.healthy, false);
  assert.equal(health.level, 40);
  assert.ok(lines.some((l) => /^reload \(SIGHUP\) ok: generation 2/.test(l.msg) && l.level === 30));
  assert.ok(lines.some((l) => /^reload failed: 1 error\(s\)/.test(l.msg) && l.level === 50));
});

test('access_log: a WebSocket upgrade is a line when its session ends (101), and a refused one a line with its status', { timeout: 30_000 }, async () => {
  const [b] = await startBackends(1);
  echoUpgrades(b);
  const log = join(dir, 'upgrades.log');
  const p = await startProxy((port) => `
    ${upstream('app', [b.address])}
    access_log ${log};
    server { listen 127.0.0.1:${port};
      location / { proxy_pass http://app; }
      location /closed/ { deny all; proxy_pass http://app; }
    }`);
  try {
    const ok = await upgrade(p.port, '/chat');
    assert.equal(ok.status, 101);
    ok.socket!.destroy();
    const refused = await upgrade(p.port, '/closed/x');
    assert.equal(refused.status, 403);
    // The sessions end when lbconf sees their sockets close; close() then flushes the lines.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await p.close();
    await stopAll([b]);
  }
  const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.ok(lines.some((l) => /"GET \/chat HTTP\/1\.1" 101 /.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /"GET \/closed\/x HTTP\/1\.1" 403 /.test(l)), lines.join('\n'));
});
