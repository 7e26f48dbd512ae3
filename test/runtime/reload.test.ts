import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { Reloader } from '../../runtime/control/reload.ts';
import { ProxyRuntime } from '../../runtime/control/runtime.ts';
import { startBackends, stopAll, type Backend } from '../helpers/backends.ts';
import { freePort } from '../helpers/proxy.ts';

// Hot reload against real sockets: a client keeps requesting while the config
// file is rewritten; no request fails, and each response comes from the config
// that was active when its request started.

let dir: string;
let blue: Backend[];
let green: Backend[];
let port: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lbconf-reload-'));
  blue = await startBackends(2);
  green = await startBackends(2);
  for (const b of green) (b as { name: string }).name = `green-${b.name}`;
  port = await freePort();
});

after(async () => {
  await stopAll([...blue, ...green]);
  rmSync(dir, { recursive: true, force: true });
});

const config = (backends: Backend[], extra = '') => `upstream app {\n${backends.map((b) => `    server ${b.address};`).join('\n')}\n}\nserver {\n    listen 127.0.0.1:${port};\n    location / {\n        proxy_pass http://app;\n    }\n${extra}}\n`;

function quietLog() {
  const lines: string[] = [];
  return { lines, log: (_level: string, message: string) => { lines.push(message); } };
}

test('100 reloads under load through two valid configs and a broken one: no failed request, each response from the config active at its start', async () => {
  const file = join(dir, 'load.lbconf');
  const configs = [config(blue), config(green), 'server {\n    listen 80\n']; // the third is broken
  writeFileSync(file, configs[0]);
  const runtime = new ProxyRuntime({ exposeGeneration: true });
  const { log } = quietLog();
  const reloader = new Reloader(file, runtime, { log, report: () => {}, watch: false });
  await reloader.start();
  // generation → the backend names its config routes to
  const owners = new Map<number, Set<string>>([[runtime.generation, new Set(blue.map((b) => b.name))]]);
  const agent = new Agent({ connections: 8 });
  let stop = false;
  let requests = 0;
  const failures: string[] = [];
  const client = async () => {
    while (!stop) {
      try {
        const res = await request(`http://127.0.0.1:${port}/x`, { dispatcher: agent });
        const body = (await res.body.json()) as { backend: string };
        requests++;
        const generation = Number(res.headers['x-lbconf-generation']);
        if (res.statusCode !== 200) failures.push(`status ${res.statusCode}`);
        const expected = owners.get(generation);
        if (!expected) failures.push(`unknown generation ${generation}`);
        else if (!expected.has(body.backend)) failures.push(`generation ${generation} answered by ${body.backend}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const clients = Array.from({ length: 4 }, client);
  let ok = 0;
  let failed = 0;
  for (let i = 1; i <= 100; i++) {
    const which = i % 3;
    writeFileSync(file, configs[which]);
    // Record the owner before any response of the new generation can arrive.
    owners.set(runtime.generation + 1, new Set((which === 1 ? green : blue).map((b) => b.name)));
    const result = await reloader.reload('test');
    if (result.ok) ok++;
    else failed++;
    await new Promise((r) => setTimeout(r, 5));
  }
  stop = true;
  await Promise.all(clients);
  await agent.close();
  await reloader.close();
  await runtime.close(1000);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${requests} requests went wrong`);
  assert.ok(requests > 200, `only ${requests} requests ran`);
  assert.equal(failed, 33, 'every broken config is refused');
  assert.equal(ok, 67);
  assert.equal(reloader.status.failures, 33);
});

test('a broken config keeps the old one serving, and the failure is visible', async () => {
  const file = join(dir, 'broken.lbconf');
  writeFileSync(file, config(blue));
  const runtime = new ProxyRuntime();
  const { lines, log } = quietLog();
  const reports: number[] = [];
  const reloader = new Reloader(file, runtime, { log, report: (r) => reports.push(r.diagnostics.length), watch: false });
  await reloader.start();
  const generation = runtime.generation;
  writeFileSync(file, config(blue).replace('proxy_pass http://app;', 'proxy_pas http://app;'));
  const result = await reloader.reload('test');
  assert.equal(result.ok, false);
  assert.equal(result.diagnostics[0].code, 'unknown-directive');
  assert.equal(runtime.generation, generation);
  assert.equal(reloader.status.ok, false);
  assert.equal(reloader.status.failures, 1);
  assert.deepEqual(reports, [1]);
  assert.match(lines.at(-1)!, /reload failed: 1 error\(s\); still serving generation/);
  const res = await request(`http://127.0.0.1:${port}/`);
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  await reloader.close();
  await runtime.close(1000);
});

test('the watcher reloads on save, on rename-style saves and on an included file; a half-written file is a failed reload, not a crash', async () => {
  const sub = mkdtempSync(join(dir, 'watch-'));
  const file = join(sub, 'main.lbconf');
  writeFileSync(join(sub, 'up.lbconf'), `upstream app {\n    server ${blue[0].address};\n}\n`);
  const main = (extra: string) => `include up.lbconf;\nserver {\n    listen 127.0.0.1:${port};\n    location / {\n        proxy_pass http://app;\n    }\n${extra}}\n`;
  writeFileSync(file, main(''));
  const runtime = new ProxyRuntime();
  const { lines, log } = quietLog();
  const reloader = new Reloader(file, runtime, { log, report: () => {}, debounceMs: 20 });
  await reloader.start();
  const waitFor = async (re: RegExp) => {
    const deadline = Date.now() + 5000;
    while (!lines.some((l) => re.test(l))) {
      if (Date.now() > deadline) throw new Error(`no log line ${re} in:\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    lines.length = 0;
  };
  await new Promise((r) => setTimeout(r, 150)); // let the watcher settle
  writeFileSync(file, main('    location = /a {\n        return 200 "a";\n    }\n'));
  await waitFor(/reload \(file changed\) ok: generation 2.*locations \+1/);
  // An editor's save: write a temp file, rename it over the original.
  writeFileSync(join(sub, '.main.lbconf.swp'), main('    location = /b {\n        return 200 "b";\n    }\n'));
  renameSync(join(sub, '.main.lbconf.swp'), file);
  await waitFor(/ok: generation 3/);
  writeFileSync(join(sub, 'up.lbconf'), `upstream app {\n    server ${blue[0].address};\n    server ${blue[1].address};\n}\n`);
  await waitFor(/ok: generation 4.*servers added/);
  writeFileSync(file, main('').slice(0, 40)); // caught half-written
  await waitFor(/reload failed/);
  writeFileSync(file, main(''));
  await waitFor(/ok: generation 5/);
  const res = await request(`http://127.0.0.1:${port}/`);
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  await reloader.close();
  await runtime.close(1000);
});
