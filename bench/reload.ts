// bench/reload: how long a reload takes, from the file write to the new Plan
// serving (check + compile + swap, without the watcher's debounce), for configs
// of 10 and 1,000 locations; and the p99 latency of requests during a burst of
// reloads against steady state.
//
//   node bench/reload.ts [--rounds 20]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { Reloader } from '../runtime/control/reload.ts';
import { ProxyRuntime } from '../runtime/control/runtime.ts';
import { freePort } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' } } });
const rounds = Number(values.rounds);

const backend = createServer((_req, res) => res.end('ok')).listen(0, '127.0.0.1');
await new Promise((r) => backend.once('listening', r));
const backendPort = (backend.address() as AddressInfo).port;
const port = await freePort();

function config(locations: number, version: number): string {
  const lines = [`upstream app {\n    server 127.0.0.1:${backendPort};\n}\nserver {\n    listen 127.0.0.1:${port};`];
  lines.push(`    location = /version {\n        return 200 "v${version}";\n    }`);
  for (let i = 0; i < locations - 2; i++) {
    if (i % 3 === 0) lines.push(`    location = /exact/${i} {\n        return 200 "e${i}";\n    }`);
    else if (i % 3 === 1) lines.push(`    location /prefix/${i}/ {\n        proxy_pass http://app;\n    }`);
    else lines.push(`    location ~ ^/re${i}/[a-z]+$ {\n        proxy_pass http://app;\n    }`);
  }
  lines.push('    location / {\n        proxy_pass http://app;\n    }\n}\n');
  return lines.join('\n');
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const dir = mkdtempSync(join(tmpdir(), 'lbconf-bench-reload-'));
let agent = new Agent({ connections: 16 });
const rows: string[] = [];

async function version(): Promise<string> {
  const res = await request(`http://127.0.0.1:${port}/version`, { dispatcher: agent });
  return res.body.text();
}

for (const locations of [10, 1000]) {
  // A fresh client per config: the previous runtime closed its keep-alive connections.
  await agent.close();
  agent = new Agent({ connections: 16 });
  const file = join(dir, `c${locations}.lbconf`);
  writeFileSync(file, config(locations, 0));
  const runtime = new ProxyRuntime();
  const reloader = new Reloader(file, runtime, { log: () => {}, report: () => {}, watch: false });
  await reloader.start();
  const totals: number[] = [];
  const compile: number[] = [];
  const swap: number[] = [];
  for (let v = 1; v <= rounds; v++) {
    const t0 = performance.now();
    writeFileSync(file, config(locations, v));
    const result = await reloader.reload('bench');
    if (!result.ok) throw new Error('the bench config should be valid');
    while ((await version()) !== `v${v}`) { /* serving the new Plan */ }
    totals.push(performance.now() - t0);
    compile.push(result.compileMs);
    swap.push(result.swapMs);
  }
  rows.push(`| ${locations} | ${pct(totals, 0.5).toFixed(1)} ms | ${pct(totals, 0.95).toFixed(1)} ms | ${pct(compile, 0.5).toFixed(1)} ms | ${pct(swap, 0.5).toFixed(2)} ms |`);

  if (locations === 1000) {
    // Latency under load: steady, then with a reload every 100 ms.
    const measure = async (ms: number, during?: () => Promise<void>) => {
      const latencies: number[] = [];
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const t = performance.now();
          const res = await request(`http://127.0.0.1:${port}/prefix/1/x`, { dispatcher: agent });
          await res.body.dump();
          latencies.push(performance.now() - t);
        }
      };
      const workers = Array.from({ length: 16 }, worker);
      const end = Date.now() + ms;
      if (during) while (Date.now() < end) await during();
      else await new Promise((r) => setTimeout(r, ms));
      stop = true;
      await Promise.all(workers);
      return latencies;
    };
    const steady = await measure(3000);
    let v = 1000;
    const burst = await measure(3000, async () => {
      writeFileSync(file, config(locations, ++v));
      await reloader.reload('bench');
      await new Promise((r) => setTimeout(r, 100));
    });
    rows.push('', `p99 latency at 1,000 locations, 16 concurrent clients: steady ${pct(steady, 0.99).toFixed(2)} ms (${steady.length} requests); with a reload every 100 ms ${pct(burst, 0.99).toFixed(2)} ms (${burst.length} requests, ${v - 1000} reloads): ${(pct(burst, 0.99) / pct(steady, 0.99)).toFixed(2)}× steady`);
  }
  await runtime.close(500);
}
await agent.close();
backend.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write([
  `Reload, file write to the new Plan serving (${rounds} rounds; Node ${process.version})`,
  '',
  '| locations | p50 write → serving | p95 | check + compile | swap |',
  '| ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
].join('\n'));
process.exit(0);
