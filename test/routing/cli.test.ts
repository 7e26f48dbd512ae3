import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCompile } from '../../cli/compile.ts';
import { runRoute } from '../../cli/route.ts';
import { runTest } from '../../cli/test.ts';
import { UsageError } from '../../cli/usage.ts';
import { UnreadableFileError } from '../../lang/include.ts';

// `lbconf compile`, `lbconf route` and `lbconf test`, run in-process as
// cli/main.ts runs them (a UsageError or an unreadable file is exit 2).

const dir = mkdtempSync(join(tmpdir(), 'lbconf-route-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(fn: (argv: string[], out: (s: string) => void, color: boolean) => number | Promise<number>, ...argv: string[]) {
  const lines: string[] = [];
  let status: number;
  try {
    status = fn(argv, (s) => lines.push(s), false) as number;
  } catch (err) {
    if (err instanceof UsageError || err instanceof UnreadableFileError) { lines.push(err.message); status = 2; }
    else throw err;
  }
  return { status, out: lines.join('\n') };
}

const config = join(dir, 'shop.lbconf');
writeFileSync(config, [
  'upstream web {',
  '    server 10.0.0.1:3000;',
  '}',
  'upstream images {',
  '    least_conn;',
  '    server 10.0.0.2:8080;',
  '    server 10.0.0.3:8080 weight=2;',
  '}',
  'server {',
  '    listen 80;',
  '    server_name shop.example *.shop.example;',
  '    proxy_set_header X-Real-IP $remote_addr;',
  '    proxy_set_header X-Host ${host}x;',
  '    location / {',
  '        proxy_pass http://web;',
  '    }',
  '    location ~* \\.(png|jpg)$ {',
  '        proxy_pass http://images;',
  '        proxy_read_timeout 5m;',
  '    }',
  '    location /admin {',
  '        allow 10.0.0.0/8;',
  '        deny all;',
  '        proxy_pass http://web;',
  '    }',
  '    location = /old {',
  '        return 301 https://shop.example/new;',
  '    }',
  '    location /unused {',
  '        proxy_pass http://web;',
  '    }',
  '}',
  'server {',
  '    listen 80;',
  '    server_name other.example;',
  '    return 404;',
  '}',
  '',
].join('\n'));

test('route explains the server block, the locations tried, the upstream and the headers', () => {
  const r = run(runRoute, config, 'GET', 'http://cdn.shop.example/images/%61.PNG');
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /^GET http:\/\/cdn\.shop\.example\/images\/%61\.PNG/);
  assert.match(r.out, /server +.*shop\.lbconf:9 +server_name shop\.example \*\.shop\.example/);
  assert.match(r.out, /why: wildcard server_name \*\.shop\.example/);
  assert.match(r.out, /path +\/images\/a\.PNG +\(normalized from \/images\/%61\.PNG\)/);
  assert.match(r.out, /\+ \/ +.*shop\.lbconf:14 +prefix matches \(1 character\), the longest/);
  assert.match(r.out, /\+ ~\* \\\.\(png\|jpg\)\$ +.*shop\.lbconf:17 +regex matches: chosen over `location \/`/);
  assert.match(r.out, /chosen +location ~\* \\\.\(png\|jpg\)\$ +\(.*shop\.lbconf:17\)/);
  assert.match(r.out, /upstream +images, least_conn: 10\.0\.0\.2:8080, 10\.0\.0\.3:8080 weight=2/);
  assert.match(r.out, /headers +X-Real-IP: \$remote_addr\n +X-Host: \$\{host\}x/);
  assert.match(r.out, /read 5m/);
});

test('route shows access rules, returns, refusals, and a listener by --listen', () => {
  const admin = run(runRoute, config, 'http://shop.example//admin/x');
  assert.match(admin.out, /access +allow 10\.0\.0\.0\/8; deny all/);
  assert.match(admin.out, /path +\/admin\/x +\(normalized from \/\/admin\/x\)/);
  const old = run(runRoute, config, '/old', '-H', 'Host: shop.example');
  assert.match(old.out, /answer +return 301 https:\/\/shop\.example\/new/);
  const bad = run(runRoute, config, 'http://shop.example/%2e%2e/etc');
  assert.equal(bad.status, 0);
  assert.match(bad.out, /answer +400 Bad Request: the path climbs above the root/);
  const other = run(runRoute, config, '--listen', '*:80', 'http://other.example/x');
  assert.match(other.out, /the server block's own return/);
});

test('route --format json carries the whole decision', () => {
  const r = run(runRoute, config, '--format', 'json', 'POST', 'http://shop.example/a.jpg');
  assert.equal(r.status, 0);
  const j = JSON.parse(r.out);
  assert.equal(j.method, 'POST');
  assert.equal(j.server.names[0], 'shop.example');
  assert.equal(j.server.stage, 'exact');
  assert.equal(j.location.text, 'location ~* \\.(png|jpg)$');
  assert.equal(j.location.source.line, 17);
  assert.equal(j.upstream.name, 'images');
  assert.equal(j.upstream.config.method.kind, 'least_conn');
  assert.deepEqual(j.headers, [{ name: 'X-Real-IP', value: '$remote_addr' }, { name: 'X-Host', value: '${host}x' }]);
  assert.ok(j.steps.length >= 3);
  assert.equal(JSON.parse(run(runRoute, config, '--format', 'json', 'http://shop.example/%zz').out).status, 400);
});

test('route: usage errors are exit 2, config errors exit 1', () => {
  assert.equal(run(runRoute, config).status, 2);
  assert.equal(run(runRoute, config, 'ftp://x/').status, 2);
  assert.equal(run(runRoute, config, 'http://shop.example:8080/').status, 2);
  assert.equal(run(runRoute, config, '--format', 'yaml', 'http://x/').status, 2);
  assert.equal(run(runRoute, join(dir, 'missing.lbconf'), 'http://x/').status, 2);
  const broken = join(dir, 'broken.lbconf');
  writeFileSync(broken, 'server { listen 80; location / { proxy_pas http://x; } }\n');
  const r = run(runRoute, broken, 'http://x/');
  assert.equal(r.status, 1);
  assert.match(r.out, /unknown directive `proxy_pas`/);
  assert.match(run(runRoute, '--help').out, /Usage: lbconf route/);
});

test('test: passes, failures with file:line and what was reached, coverage', () => {
  const tests = join(dir, 'shop.routes');
  writeFileSync(tests, [
    '# shop routes',
    '',
    'GET http://shop.example/ -> location / upstream web',
    'GET http://shop.example/a.png -> location "~* \\.(png|jpg)$" upstream images',
    'http://shop.example/old -> return 301',
    'http://shop.example/a.gif -> upstream images',
    'http://other.example/ -> server other.example status 404',
    'http://shop.example/%2e%2e/ -> status 400',
  ].join('\n'));
  const r = run(runTest, config, tests, '--coverage');
  assert.equal(r.status, 1);
  assert.match(r.out, new RegExp(`${tests.replace(/[.\\/]/g, '\\$&')}:6: expected upstream images, got upstream web`));
  assert.match(r.out, /coverage: 3 of 5 locations and 2 of 2 server blocks reached/);
  assert.match(r.out, /shop\.lbconf:21: location \/admin not reached/);
  assert.match(r.out, /shop\.lbconf:29: location \/unused not reached/);
  assert.match(r.out, /6 tests: 5 passed, 1 failed/);

  const good = join(dir, 'good.routes');
  writeFileSync(good, 'GET http://shop.example/admin -> location /admin\nhttp://shop.example/x.jpg -> location ~* \\.(png|jpg)$\n');
  assert.deepEqual(run(runTest, config, good), { status: 0, out: '2 tests: 2 passed, 0 failed' });
});

test('test: malformed lines are reported with file:line and fail the run', () => {
  const bad = join(dir, 'bad.routes');
  writeFileSync(bad, 'GET http://shop.example/\nGET http://shop.example/ -> upstream\nGET http://shop.example/ -> colour blue\nGET http://shop.example/ -> return abc\n');
  const r = run(runTest, config, bad);
  assert.equal(r.status, 1);
  assert.match(r.out, /bad\.routes:1: expected `REQUEST -> EXPECTATION`/);
  assert.match(r.out, /bad\.routes:2: `upstream` needs a value/);
  assert.match(r.out, /bad\.routes:3: expected server, location, upstream, return or status, not `colour`/);
  assert.match(r.out, /bad\.routes:4: `return` takes a status code/);
  assert.equal(run(runTest, config).status, 2);
  assert.equal(run(runTest, config, join(dir, 'nope.routes')).status, 2);
});

test('compile prints readable code with source lines, or minified code', () => {
  const r = run(runCompile, config);
  assert.equal(r.status, 0);
  assert.match(r.out, /^\/\/ lbconf routing plan for /);
  assert.match(r.out, /function route\(listener, host, path\)/);
  assert.match(r.out, /\/\/ location ~\* \\\.\(png\|jpg\)\$ \(.*shop\.lbconf:17\)/);
  assert.match(r.out, /server_name \*\.shop\.example \(.*shop\.lbconf:11\)/);
  const plan = new Function(r.out)();
  assert.equal(plan.routes[plan.route(0, 'shop.example', '/a.png')].upstream, 'images');
  const min = run(runCompile, '--minify', config);
  assert.equal(min.status, 0);
  assert.ok(min.out.length < r.out.length * 0.8);
  assert.doesNotMatch(min.out, /\/\/ location/);
  const planMin = new Function(min.out)();
  assert.equal(planMin.routes[planMin.route(0, 'shop.example', '/a.png')].upstream, 'images');
  assert.equal(run(runCompile).status, 2);
  assert.equal(run(runCompile, config, config).status, 2);
});
