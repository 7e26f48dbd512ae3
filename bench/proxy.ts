// bench/proxy: requests per second, p50/p99 latency and peak RSS of lbconf and
// its peers, measured in one run with wrk on loopback: three backends (one
// nginx process serving three ports), round robin, small (10 B) and large
// (256 KiB) responses. wrk runs on core 0, the proxy under test on core 1.
//
//   node bench/proxy.ts [--duration 10] [--connections 50] [--only lbconf,nginx]
//
// Needs nginx, haproxy and wrk: apt-get install nginx-light haproxy wrk
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' }, only: { type: 'string' } } });
const duration = Number(values.duration);
const connections = Number(values.connections);

for (const tool of ['nginx', 'haproxy', 'wrk', 'taskset']) {
  try { execFileSync('which', [tool], { stdio: 'ignore' }); } catch {
    process.stderr.write(`bench/proxy needs ${tool}: apt-get install nginx-light haproxy wrk\n`);
    process.exit(2);
  }
}

// lbconf runs from its bundle: build it from the current sources first.
execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/build.ts', import.meta.url))], { stdio: 'ignore' });

const dir = mkdtempSync(join(tmpdir(), 'lbconf-bench-proxy-'));
const BACKENDS = [19101, 19102, 19103];
const PROXY = 19100;
writeFileSync(join(dir, 'large'), Buffer.alloc(256 * 1024, 'x'));
// nginx's workers may run as another user (www-data when started as root): let them read it.
chmodSync(dir, 0o755);
chmodSync(join(dir, 'large'), 0o644);
const children: ChildProcess[] = [];

function start(cmd: string, args: string[], core: number | null): ChildProcess {
  const child = core === null ? spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn('taskset', ['-c', String(core), cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  child.on('exit', (code) => { if (code && code !== 0 && !child.killed) process.stderr.write(`${cmd} exited ${code}: ${err}\n`); });
  children.push(child);
  return child;
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port} after 10 s`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

function nginxConf(name: string, body: string): string {
  const path = join(dir, `${name}.conf`);
  writeFileSync(path, `worker_processes 1;\npid ${join(dir, name + '.pid')};\nerror_log ${join(dir, name + '.err')} crit;\nevents { worker_connections 4096; }\nhttp {\n access_log off;\n keepalive_requests 100000;\n${body}\n}\n`);
  return path;
}

// Backends: one nginx worker on three ports, `/small` 10 bytes, `/large` 256 KiB.
mkdirSync(join(dir, 'proxy_temp'));
const backendConf = nginxConf('backends', BACKENDS.map((p) => ` server { listen 127.0.0.1:${p}; location /small { return 200 "hello 1234"; } location /large { root ${dir}; try_files /large =404; } }`).join('\n'));

type Peer = { name: string; start: () => ChildProcess | null; port: number };

const upstreams = BACKENDS.map((p) => `127.0.0.1:${p}`);
const peers: Peer[] = [
  { name: 'direct to one backend', port: BACKENDS[0], start: () => null },
  {
    name: 'nginx, 1 worker, keepalive', port: PROXY, start: () => start('nginx', ['-c', nginxConf('nginx', ` upstream b { ${upstreams.map((u) => `server ${u};`).join(' ')} keepalive 64; }\n server { listen 127.0.0.1:${PROXY}; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_temp_path ${join(dir, 'proxy_temp')}; } }`), '-g', 'daemon off;'], 1),
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
  {
    name: 'lbconf', port: PROXY, start: () => {
      const conf = join(dir, 'bench.lbconf');
      writeFileSync(conf, `upstream b {\n${upstreams.map((u) => `    server ${u};`).join('\n')}\n    keepalive 64;\n}\nserver {\n    listen 127.0.0.1:${PROXY};\n    location / {\n        proxy_pass http://b;\n    }\n}\n`);
      // The bundle users run (npm's bin), not the .ts sources (Node's type stripping costs memory of
      // its own), with the Node flags of its shebang, as running it does; this Node, not the PATH's.
      const launcher = fileURLToPath(new URL('../dist/lbconf.js', import.meta.url));
      const flags = readFileSync(launcher, 'utf8').split('\n')[0].split(/\s+/).filter((a) => a.startsWith('--'));
      return start(process.execPath, [...flags, launcher, 'run', '--no-watch', conf], 1);
    },
  },
].filter((p) => !values.only || values.only.split(',').some((o) => p.name.toLowerCase().startsWith(o.toLowerCase())));

interface Result { rps: number; p50: number; p99: number; errors: number; rss: number }

function toMs(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text)!;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

const run = promisify(execFile);

/** Runs wrk; meanwhile samples the proxy's resident memory (the most it held under this load). */
async function wrk(port: number, path: string, seconds: number, child: ChildProcess | null = null): Promise<Result> {
  let rss = 0;
  const sample = setInterval(() => { rss = Math.max(rss, memory(child, 'VmRSS')); }, 100);
  const { stdout: out } = await run('taskset', ['-c', '0', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}${path}`], { encoding: 'utf8' });
  clearInterval(sample);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
  const p50 = toMs(/^\s+50%\s+(\S+)/m.exec(out)![1]);
  const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(out)![1]);
  const total = Number(/(\d+) requests in/.exec(out)![1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  // A peer that answers errors fast must not look fast: only good responses count.
  return { rps: rps * (total > 0 ? (total - Math.min(non2xx, total)) / total : 1), p50, p99, errors, rss };
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
const backend = start('nginx', ['-c', backendConf, '-g', 'daemon off;'], null);
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
  for (const c of children) await stop(c);
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
