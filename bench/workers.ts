// bench/workers: how lbconf's throughput scales from 1 worker to 2 (`workers N`),
// beside nginx with 1 and 2 worker processes in the same run. Small (10 B)
// responses from three backends (one nginx worker on three ports), round robin,
// wrk -t1 on loopback.
//
// On a 2-core machine nothing can have a core of its own: wrk, the backends and
// the proxy share both cores, unpinned, for every row alike. The ratio of each
// proxy's 2-worker row to its 1-worker row is the figure to read; the absolute
// numbers are lower than bench/proxy's pinned ones.
//
//   node bench/workers.ts [--duration 5] [--connections 64]
//
// Needs nginx and wrk: apt-get install nginx-light wrk
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lbconfRun, nginxConf, parseWrk, requireTools, start, stop, stopAll, waitForPort, type WrkResult } from './lib.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, connections: { type: 'string', default: '64' } } });
const duration = Number(values.duration);
const connections = Number(values.connections);

requireTools('bench/workers', ['nginx', 'wrk'], 'apt-get install nginx-light wrk');

const dir = mkdtempSync(join(tmpdir(), 'lbconf-bench-workers-'));
const BACKENDS = [19201, 19202, 19203];
const PROXY = 19200;
function wrk(seconds: number): WrkResult {
  return parseWrk(execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${PROXY}/small`], { encoding: 'utf8' }));
}

const upstreams = BACKENDS.map((p) => `127.0.0.1:${p}`);
const nginxProxy = (workers: number) => () => start('nginx', ['-c', nginxConf(dir, `nginx${workers}`, workers, ` upstream b { ${upstreams.map((u) => `server ${u};`).join(' ')} keepalive 64; }\n server { listen 127.0.0.1:${PROXY} reuseport; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } }`), '-g', 'daemon off;']);
const lbconf = (workers: number) => () => {
  const conf = join(dir, `lbconf${workers}.lbconf`);
  writeFileSync(conf, `workers ${workers};\nupstream b {\n${upstreams.map((u) => `    server ${u};`).join('\n')}\n    keepalive 64;\n}\nserver {\n    listen 127.0.0.1:${PROXY};\n    location / {\n        proxy_pass http://b;\n    }\n}\n`);
  const [node, args] = lbconfRun(conf);
  return start(node, args);
};

const peers = [
  { name: 'nginx', workers: 1, start: nginxProxy(1) },
  { name: 'nginx', workers: 2, start: nginxProxy(2) },
  { name: 'lbconf', workers: 1, start: lbconf(1) },
  { name: 'lbconf', workers: 2, start: lbconf(2) },
];

const rows: { name: string; workers: number; r: WrkResult }[] = [];
start('nginx', ['-c', nginxConf(dir, 'backends', 1, BACKENDS.map((p) => ` server { listen 127.0.0.1:${p}; location /small { return 200 "hello 1234"; } }`).join('\n')), '-g', 'daemon off;']);
try {
  for (const port of BACKENDS) await waitForPort(port);
  for (const peer of peers) {
    process.stderr.write(`${peer.name}, ${peer.workers} worker(s)…\n`);
    const child = peer.start();
    await waitForPort(PROXY);
    wrk(2); // warm-up: JIT, connection pools, every worker
    rows.push({ name: peer.name, workers: peer.workers, r: wrk(duration) });
    await stop(child);
  }
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}

const f = (x: number) => x.toFixed(x < 10 ? 2 : 0);
process.stdout.write([
  `wrk -t1 -c${connections} -d${duration}s, 10 B responses, 3 backends (nginx); nothing pinned, everything on the same 2 cores; Node ${process.version}`,
  '',
  '| proxy | workers | req/s | vs 1 worker | p50 ms | p99 ms | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((row) => {
    const one = rows.find((o) => o.name === row.name && o.workers === 1)!;
    return `| ${row.name} | ${row.workers} | ${f(row.r.rps)} | ${(row.r.rps / one.r.rps).toFixed(2)}× | ${f(row.r.p50)} | ${f(row.r.p99)} | ${row.r.errors} |`;
  }),
  '',
].join('\n'));
