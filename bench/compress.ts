// bench/compress: what response compression costs. (1) CPU time per MB and
// the ratio at each level of gzip, br and zstd, compressing an HTML and a JSON
// corpus with Node's zlib; (2) the effect on a proxy: req/s, bytes on the wire
// and the proxy's own CPU per response through a real `lbconf run` (its own
// process) with compression off and at a few levels, a short bounded loop each.
//
//   node bench/compress.ts [--seconds 2]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { brotliCompressSync, constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { freePort } from './lib.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, 'proxy-only': { type: 'boolean' } } });
const seconds = Number(values.seconds);
const MB = 1024 * 1024;

// A product listing page and an API answer, ~100 KB each: markup or keys that
// repeat, with text and numbers that do not.
const words = 'alpha beta gamma delta steel oak linen wool cotton blue green red large small classic modern vintage eco premium'.split(' ');
const word = (i: number) => words[(i * 2654435761) % words.length];
const html = Buffer.from(
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Catalogue</title><link rel="stylesheet" href="/assets/site.css"></head><body><main class="grid">\n' +
  Array.from({ length: 330 }, (_, i) => `<article class="card" data-id="${100000 + i * 37}"><a href="/p/${i * 7919 % 100003}"><img src="/img/${i}.webp" alt="${word(i)} ${word(i + 3)}" loading="lazy"></a><h2>${word(i + 1)} ${word(i + 5)} ${word(i + 7)}</h2><p class="price">${(i * 131 % 9973) / 100} EUR</p></article>\n`).join('') +
  '</main></body></html>\n',
);
const json = Buffer.from(JSON.stringify(Array.from({ length: 600 }, (_, i) => ({
  id: 100000 + i * 37, sku: `SKU-${(i * 7919) % 100003}`, name: `${word(i)} ${word(i + 5)}`, price: (i * 131 % 9973) / 100,
  stock: (i * 17) % 50, tags: [word(i + 2), word(i + 9)], updated: new Date(1_700_000_000_000 + i * 3_600_000).toISOString(),
}))));

type Codec = { name: string; levels: number[]; compress: (b: Buffer, level: number) => Buffer };
const codecs: Codec[] = [
  { name: 'gzip', levels: [1, 3, 5, 6, 9], compress: (b, level) => gzipSync(b, { level }) },
  { name: 'br', levels: [0, 1, 3, 4, 5, 6, 9, 11], compress: (b, level) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: level, [constants.BROTLI_PARAM_LGWIN]: 19, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } }) },
  { name: 'zstd', levels: [1, 3, 6, 9, 12, 19], compress: (b, level) => zstdCompressSync(b, { params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_windowLog]: 19 } }) },
];

/** CPU ms per MB of input, and the compressed size over the input's: at least 3 runs and 0.25 s of CPU, at most 200 runs. */
function measure(codec: Codec, level: number, input: Buffer): { cpuPerMB: number; ratio: number } {
  let out = 0;
  let runs = 0;
  const start = process.cpuUsage();
  let cpu = 0;
  while (runs < 3 || (cpu < 250_000 && runs < 200)) {
    out = codec.compress(input, level).length;
    runs++;
    const used = process.cpuUsage(start);
    cpu = used.user + used.system;
  }
  return { cpuPerMB: cpu / 1000 / ((input.length * runs) / MB), ratio: out / input.length };
}

const lines: string[] = [];
const print = (line: string) => { lines.push(line); process.stdout.write(`${line}\n`); };

print(`Compression with Node ${process.version}'s zlib, window 512 KB for br and zstd (as lbconf sets it); HTML ${(html.length / 1024).toFixed(0)} KB, JSON ${(json.length / 1024).toFixed(0)} KB`);
print('');
print('| encoding | level | HTML ratio | HTML CPU ms/MB | HTML MB/s | JSON ratio | JSON CPU ms/MB | JSON MB/s |');
print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const codec of values['proxy-only'] ? [] : codecs) {
  for (const level of codec.levels) {
    const h = measure(codec, level, html);
    const j = measure(codec, level, json);
    print(`| ${codec.name} | ${level} | ${(h.ratio * 100).toFixed(1)}% | ${h.cpuPerMB.toFixed(1)} | ${(1000 / h.cpuPerMB).toFixed(0)} | ${(j.ratio * 100).toFixed(1)}% | ${j.cpuPerMB.toFixed(1)} | ${(1000 / j.cpuPerMB).toFixed(0)} |`);
  }
}

// Part 2: through lbconf, in a process of its own.
const origin = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(html.length) });
  res.end(html);
}).listen(0, '127.0.0.1');
await new Promise((r) => origin.once('listening', r));
const originPort = (origin.address() as AddressInfo).port;
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'lbconf-bench-compress-'));
const TICK = 100; // clock ticks per second in /proc/PID/stat (USER_HZ)

/** utime + stime of a process, in ms. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
}

async function throughput(label: string, directives: string, acceptEncoding: string): Promise<void> {
  const file = join(dir, 'bench.lbconf');
  writeFileSync(file, `upstream app {\n    server 127.0.0.1:${originPort};\n    keepalive 32;\n}\nserver {\n    listen 127.0.0.1:${port};\n    ${directives}\n    location / {\n        proxy_pass http://app;\n    }\n}\n`);
  const child = spawn(process.execPath, ['cli/main.ts', 'run', '--no-watch', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const agent = new Agent({ connections: 16 });
  try {
    for (let i = 0; ; i++) {
      try { await (await request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).body.dump(); break; } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const cpu0 = cpuOf(child.pid!);
    const until = Date.now() + seconds * 1000;
    let done = 0;
    let wire = 0;
    let encoding = '';
    let errors = 0;
    const worker = async () => {
      while (Date.now() < until) {
        const res = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent, headers: { 'accept-encoding': acceptEncoding } });
        const bytes = (await res.body.arrayBuffer()).byteLength;
        if (res.statusCode !== 200) { errors++; continue; }
        encoding = String(res.headers['content-encoding'] ?? 'identity');
        wire += bytes;
        done++;
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 16 }, worker));
    const elapsed = (Date.now() - t0) / 1000;
    const cpu = cpuOf(child.pid!) - cpu0;
    print(`| ${label} | ${encoding} | ${(done / elapsed).toFixed(0)} | ${(wire / done / 1024).toFixed(1)} | ${(wire / elapsed / MB).toFixed(1)} | ${((done * html.length) / elapsed / MB).toFixed(1)} | ${(cpu / done).toFixed(2)} | ${errors} |`);
  } finally {
    await agent.close();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}

print('');
print(`Through \`lbconf run\` (own process), 16 clients on one keep-alive pool, the ${(html.length / 1024).toFixed(0)} KB HTML page, ${seconds} s each`);
print('');
print('| config | encoding | req/s | KB per response | MB/s on the wire | MB/s of HTML served | proxy CPU ms per response | errors |');
print('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
await throughput('gzip off', 'gzip off;', 'gzip, br, zstd');
await throughput('gzip_comp_level 1 (default)', 'gzip on;\n    compress gzip;', 'gzip');
await throughput('gzip_comp_level 6', 'gzip on;\n    compress gzip;\n    gzip_comp_level 6;', 'gzip');
await throughput('brotli_comp_level 4 (default)', 'gzip on;', 'br');
await throughput('brotli_comp_level 11', 'gzip on;\n    brotli_comp_level 11;', 'br');
await throughput('zstd_comp_level 3 (default)', 'gzip on;', 'zstd');
await throughput('zstd_comp_level 9', 'gzip on;\n    zstd_comp_level 9;', 'zstd');

origin.close();
rmSync(dir, { recursive: true, force: true });
