import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { emptySettings } from '../../compiler/inherit.ts';
import type { ConfigIR, LocationIR, LocationMatch, ServerIR } from '../../compiler/ir.ts';
import { loadPlan, planSource, type Plan } from '../../compiler/plan.ts';
import { normalizePath } from '../../runtime/core/normalize-path.ts';

// The same rules, checked against nginx itself where it is installed: random
// configs are written as nginx configs whose every location answers with its
// route number, nginx is started on loopback, and each request's answer must
// be the route lbconf's route() picks (after lbconf's path normalization).
// Skipped when there is no nginx binary.

const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

const PATH_CHARS = ['a', 'b', '/', '.', 'A'];
const pathArb = (max: number) => fc.array(fc.constantFrom(...PATH_CHARS), { maxLength: max }).map((cs) => '/' + cs.join(''));
const REGEXES = ['^/a', 'b$', '/a/', 'a.b', '^/b/?$', 'A', '^/(a|b)b', '[ab]{3}', '\\.a$', '^/$', '\\.(a|b)$', 'a/$', '^/ab$', '(?:A|b)$'];

const locationArb: fc.Memo<LocationIR> = fc.memo((depth: number) => {
  const match = fc.constantFrom<LocationMatch>('exact', 'prefix', 'prefix', 'prefix-no-regex', 'regex', 'regex-nocase');
  const children = depth <= 1 ? fc.constant<LocationIR[]>([]) : fc.array(locationArb(depth - 1), { maxLength: 3 });
  return fc.record({ match, path: pathArb(3), regex: fc.constantFrom(...REGEXES), children }).map(({ match, path, regex, children }): LocationIR => {
    const isRegex = match === 'regex' || match === 'regex-nocase';
    return { match, path: isRegex ? regex : path, proxyPass: null, return: { status: 200, text: null }, settings: emptySettings(), locations: match === 'exact' ? [] : children };
  });
});

/** Makes nested paths valid for nginx: inside a prefix, static paths extend it; inside a regex, only regexes. */
function fix(list: LocationIR[], parent: LocationIR | null): LocationIR[] {
  const out: LocationIR[] = [];
  const seen = new Set<string>();
  for (const l of list) {
    const isRegex = l.match === 'regex' || l.match === 'regex-nocase';
    if (parent && (parent.match === 'regex' || parent.match === 'regex-nocase') && !isRegex) continue;
    if (parent && !isRegex && !l.path.startsWith(parent.path)) l.path = parent.path + l.path.slice(1);
    // nginx refuses duplicates: one static location per path and kind.
    const key = isRegex ? `${l.match} ${l.path}` : `${l.match === 'exact' ? '=' : 'p'} ${l.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    l.locations = fix(l.locations, l);
    out.push(l);
  }
  return out;
}

const NAMES = ['a.x', 'b.x', '*.x', '.y', 'a.*', '~^a', '~x$', 'c.x', '*.b.x'];
const HOSTS = ['a.x', 'A.X', 'b.x', 'c.x', 'z.a.x', 'a.b.x', 'y', 'q.y', 'a.z', 'x', 'q', 'a.x:80', 'a.x.', ''];

const configArb = fc.array(fc.record({
  names: fc.uniqueArray(fc.constantFrom(...NAMES), { maxLength: 2 }),
  locations: fc.array(locationArb(3), { maxLength: 6 }),
  isDefault: fc.boolean(),
  ret: fc.nat(10),
}), { minLength: 1, maxLength: 3 }).map((servers): ConfigIR => {
  let defaultTaken = false;
  const taken = new Set<string>();
  return {
    servers: servers.map(({ names, locations, isDefault, ret }): ServerIR => {
      const mine = names.filter((n) => !taken.has(n));
      for (const n of mine) taken.add(n);
      const def = isDefault && !defaultTaken;
      defaultTaken ||= def;
      return { listen: [{ address: '*', port: 80, defaultServer: def, ssl: false }], serverNames: mine.length ? mine : [''], tls: null, return: ret === 0 ? { status: 200, text: null } : null, settings: emptySettings(), locations: fix(locations, null) };
    }),
    upstreams: [],
  };
});

/** The config as nginx reads it: each location answers with the number of the route lbconf gives it. */
function nginxConfig(plan: Plan, ir: ConfigIR, port: number, dir: string): string {
  const route = new Map(plan.routes.filter((r) => r.location).map((r) => [r.location!, r.index]));
  const mod = { exact: '= ', prefix: '', 'prefix-no-regex': '^~ ', regex: '~ ', 'regex-nocase': '~* ' };
  const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
  const locations = (list: LocationIR[], base: string, indent: string): string => list.map((l, i) => {
    const p = `${base}/locations/${i}`;
    return `${indent}location ${mod[l.match]}${quote(l.path)} {\n${indent}  return 200 "${route.get(p)}";\n${locations(l.locations, p, indent + '  ')}${indent}}\n`;
  }).join('');
  const servers = ir.servers.map((s, i) => {
    const names = s.serverNames.map((n) => quote(n)).join(' ');
    const body = s.return ? `  return 200 "${plan.servers[i].fallback}";\n` : locations(s.locations, `/servers/${i}`, '  ');
    return `server {\n  listen 127.0.0.1:${port}${s.listen[0].defaultServer ? ' default_server' : ''};\n  server_name ${names};\n  root ${dir}/empty;\n${body}}\n`;
  }).join('');
  return `worker_processes 1;\ndaemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir};\n  proxy_temp_path ${dir};\n  fastcgi_temp_path ${dir};\n  uwsgi_temp_path ${dir};\n  scgi_temp_path ${dir};\n  server_names_hash_bucket_size 64;\n${servers}}\n`;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function ask(port: number, host: string, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => { data += d; });
    socket.on('end', () => {
      const status = /^HTTP\/1\.\d (\d+)/.exec(data)?.[1] ?? '?';
      resolve(status === '200' ? data.slice(data.indexOf('\r\n\r\n') + 4) : status);
    });
    socket.on('error', reject);
    socket.write(host === '' ? `GET ${target} HTTP/1.0\r\n\r\n` : `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

async function waitFor(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('nginx did not start');
}

test('route() picks what nginx picks, on random configs and requests', { skip: NGINX ? false : 'nginx is not installed', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-nginx-'));
  let compared = 0;
  let configs = 0;
  try {
    const samples = fc.sample(fc.tuple(configArb, fc.array(fc.tuple(fc.constantFrom(...HOSTS), pathArb(6)), { minLength: 20, maxLength: 30 })), { numRuns: 60, seed: 42 });
    for (const [ir, requests] of samples) {
      const plan = loadPlan(planSource(ir));
      const port = await freePort();
      const conf = join(dir, 'nginx.conf');
      writeFileSync(conf, nginxConfig(plan, ir, port, dir));
      if (spawnSync(NGINX!, ['-t', '-q', '-p', dir, '-c', conf]).status !== 0) continue; // a config nginx refuses
      const child = spawn(NGINX!, ['-p', dir, '-c', conf], { stdio: 'ignore' });
      try {
        await waitFor(port);
        configs++;
        for (const [host, target] of requests) {
          const path = normalizePath(target);
          const ours = path === null ? '400' : String(plan.route(0, host, path));
          const theirs = await ask(port, host, target);
          // With no location, nginx looks for a file under root and answers 404.
          const want = theirs === '404' && path !== null ? String(plan.servers[plan.routes[Number(ours)].server].fallback) : theirs;
          assert.equal(ours, want, `host ${JSON.stringify(host)} target ${target}\n${nginxConfig(plan, ir, port, dir)}`);
          compared++;
        }
      } finally {
        child.kill();
        await new Promise((r) => child.once('exit', r));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(configs >= 30, `only ${configs} configs were accepted by nginx`);
  assert.ok(compared > 500);
});
