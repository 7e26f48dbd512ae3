// bench/proxy: requests per second, p50/p99 latency and peak RSS of lbconf and
// its peers, measured in one run with wrk on loopback: three backends (one
// nginx process serving three ports), round robin, small (10 B) and large
// (256 KiB) responses. wrk runs on core 0, the proxy under test on core 1.
//
//   node bench/proxy.ts [--duration 10] [--connections 50] [--only lbconf,nginx] [--baseline DIR] [--cached] [--gzip]
//
// --baseline DIR adds another checkout of lbconf (a git worktree of an earlier
// commit, say), measured in the same run: before and after a change.
// --cached: lbconf's location caches (proxy_cache, every response valid for
// 10 minutes), so what is measured is answering from the cache.
// --gzip: lbconf's location compresses (gzip on, any type) and wrk asks for
// gzip: the 256 KiB responses are gzipped, the 10-byte ones are under
// gzip_min_length.
//
// Needs nginx, haproxy and wrk: apt-get install nginx-light haproxy wrk
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lbconfRun, nginxConf, parseWrk, requireTools, start, stop, stopAll, waitForPort, type WrkResult } from './lib.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' }, only: { type: 'string' }, baseline: { type: 'string' }, cached: { type: 'boolean', default: false }, gzip: { type: 'boolean', default: false } } });
const duration = Number(values.duration);
const connections = Number(values.connections);

requireTools('bench/proxy', ['nginx', 'haproxy', 'wrk', 'taskset'], 'apt-get install nginx-light haproxy wrk');

const dir = mkdtempSync(join(tmpdir(), 'lbconf-bench-proxy-'));
const BACKENDS = [19101, 19102, 19103];
const PROXY = 19100;
writeFileSync(join(dir, 'large'), Buffer.alloc(256 * 1024, 'x'));
// nginx's workers may run as another user (www-data when started as root): let them read it.
chmodSync(dir, 0o755);
chmodSync(join(dir, 'large'), 0o644);
// Backends: one nginx worker on three ports, `/small` 10 bytes, `/large` 256 KiB.
mkdirSync(join(dir, 'proxy_temp'));
const backendConf = nginxConf(dir, 'backends', 1, BACKENDS.map((p) => ` server { listen 127.0.0.1:${p}; location /small { return 200 "hello 1234"; } location /large { root ${dir}; try_files /large =404; } }`).join('\n'));

type Peer = { name: string; start: () => ChildProcess | null; port: number };

/** lbconf from its bundle (what users run: npm's bin, not the .ts sources), of this checkout or another. */
function lbconfPeer(name: string, checkout?: string): Peer {
  return {
    name, port: PROXY, start: () => {
      const conf = join(dir, 'bench.lbconf');
      const cache = (values.cached ? '        proxy_cache z;\n        proxy_cache_valid 200 10m;\n' : '') + (values.gzip ? '        gzip on;\n        gzip_types *;\n' : '');
      writeFileSync(conf, `${values.cached ? 'proxy_cache_zone z size=64m;\n' : ''}upstream b {\n${upstreams.map((u) => `    server ${u};`).join('\n')}\n    keepalive 64;\n}\nserver {\n    listen 127.0.0.1:${PROXY};\n    location / {\n${cache}        proxy_pass http://b;\n    }\n}\n`);
      const [node, args] = lbconfRun(conf, checkout);
      return start(node, args, 1);
    },
  };
}

const upstreams = BACKENDS.map((p) => `127.0.0.1:${p}`);
const peers: Peer[] = [
  { name: 'direct to one backend', port: BACKENDS[0], start: () => null },
  {
    name: 'nginx, 1 worker, keepalive', port: PROXY, start: () => start('nginx', ['-c', nginxConf(dir, 'nginx', 1, ` upstream b { ${upstreams.map((u) => `server ${u};`).join(' ')} keepalive 64; }\n server { listen 127.0.0.1:${PROXY}; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_temp_path ${join(dir, 'proxy_temp')}; } }`), '-g', 'daemon off;'], 1),
  },
  {
    name: 'HAProxy, 1 thread', port: PROXY, start: () => {
      const cfg = join(dir, 'haproxy.cfg');
      writeFileSync(cfg, `global\n nbthread 1\n maxconn 4000\ndefaults\n mode http\n timeout connect 5s\n timeout client 30s\n timeout server 30s\n http-reuse always\nfrontend f\n bind 127.0.0.1:${PROXY}\n default_backend b\nbackend b\n balance roundrobin\n${upstreams.map((u, i) => ` server s${i} ${u}\n`).join('')}`);
      return start('haproxy', ['-f', cfg, '-db'], 1);
    },
  },
  {
    name: 'node-http-proxy, keep-alive agent', port: PROXY,
    start: () => start(process.execPath, [fileURLToPath(new URL('peers/node-http-proxy.ts', import.meta.url)), String(PROXY), ...BACKENDS.map(String)], 1),
  },
  ...(values.baseline ? [lbconfPeer(`lbconf, baseline (${values.baseline})`, values.baseline)] : []),
  lbconfPeer('lbconf'),
].filter((p) => !values.only || values.only.split(',').some((o) => p.name.toLowerCase().startsWith(o.toLowerCase())));

interface Result extends WrkResult { rss: number }

const run = promisify(execFile);

/** Runs wrk; meanwhile samples the proxy's resident memory (the most it held under this load). */
async function wrk(port: number, path: string, seconds: number, child: ChildProcess | null = null): Promise<Result> {
  let rss = 0;
  const sample = setInterval(() => { rss = Math.max(rss, memory(child, 'VmRSS')); }, 100);
  const { stdout: out } = await run('taskset', ['-c', '0', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...(values.gzip ? ['-H', 'Accept-Encoding: gzip'] : []), `http://127.0.0.1:${port}${path}`], { encoding: 'utf8' });
  clearInterval(sample);
  const r = parseWrk(out);
  // A peer that answers errors fast must not look fast: only good responses count.
  return { ...r, rps: r.rps * (r.total > 0 ? (r.total - Math.min(r.non2xx, r.total)) / r.total : 1), rss };
}

/** A /proc/PID/status memory figure in MiB (VmRSS now, VmHWM the peak since start), NaN if unknown. */
function memory(child: ChildProcess | null, field: 'VmRSS' | 'VmHWM'): number {
  if (!child?.pid) return NaN;
  try {
    // taskset execs the program, so the pid is the proxy's own.
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
  } catch {
    return NaN;
  }
}

const rows: Array<{ name: string; small: Result; large: Result; rss: number; peak: number }> = [];
start('nginx', ['-c', backendConf, '-g', 'daemon off;'], null);
try {
  for (const port of BACKENDS) await waitForPort(port);
  for (const peer of peers) {
    process.stderr.write(`${peer.name}…\n`);
    const child = peer.start();
    await waitForPort(peer.port);
    await wrk(peer.port, '/small', 2); // warm-up: JIT, connection pools
    const small = await wrk(peer.port, '/small', duration, child);
    await wrk(peer.port, '/large', 1);
    const large = await wrk(peer.port, '/large', duration, child);
    const peak = memory(child, 'VmHWM');
    if (child) await stop(child);
    rows.push({ name: peer.name, small, large, rss: Math.max(small.rss, large.rss), peak });
  }
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}

const nginx = rows.find((r) => r.name.startsWith('nginx'));
const ratio = (x: number, base: number | undefined) => (base ? `${(x / base).toFixed(2)}×` : '');
const f = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(x < 10 ? 2 : 0));
process.stdout.write([
  `wrk -t1 -c${connections} -d${duration}s on core 0, proxy on core 1, 3 backends (nginx), round robin; Node ${process.version}`,
  '',
  '| peer | small req/s | vs nginx | p50 ms | p99 ms | 256 KiB req/s | vs nginx | p50 ms | p99 ms | RSS under load MiB | peak RSS MiB | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.name} | ${f(r.small.rps)} | ${ratio(r.small.rps, nginx?.small.rps)} | ${f(r.small.p50)} | ${f(r.small.p99)} | ${f(r.large.rps)} | ${ratio(r.large.rps, nginx?.large.rps)} | ${f(r.large.p50)} | ${f(r.large.p99)} | ${f(r.rss)} | ${f(r.peak)} | ${r.small.errors + r.large.errors} |`),
  '',
].join('\n'));
