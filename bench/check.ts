// bench/check: how long `lbconf check` takes on a generated 10,000-line config,
// stage by stage, beside `nginx -t` on the same config when nginx is installed.
//
//   node bench/check.ts [--lines 10000] [--runs 15]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkText } from '../compiler/check.ts';
import { lower } from '../compiler/lower.ts';
import { loadConfigText } from '../lang/include.ts';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '10000' }, runs: { type: 'string', default: '15' } } });
const targetLines = Number(values.lines);
const runs = Number(values.runs);

/** A realistic config: upstreams of a few servers, servers with a mix of location kinds. Returns [lbconf, nginx] text. */
export function generateConfig(lines: number): [string, string] {
  const out: string[] = [];
  let u = 0;
  while (out.length < lines) {
    out.push(`upstream pool${u} {`, '    least_conn;', `    server 10.${u >> 8 & 255}.${u & 255}.1:8080 weight=2 max_fails=3 fail_timeout=30s;`, `    server 10.${u >> 8 & 255}.${u & 255}.2:8080;`, '    keepalive 16;', '}', '');
    out.push('server {', `    listen ${8000 + (u % 50)};`, `    server_name app${u}.example.com *.app${u}.example.org;`, '    proxy_connect_timeout 2s;', '');
    for (let l = 0; l < 8; l++) {
      const kind = l % 4;
      if (kind === 0) out.push(`    location = /exact/${u}/${l} {`, `        return 200 "ok ${l}";`, '    }');
      else if (kind === 1) out.push(`    location /api/v${l}/${u}/ {`, `        proxy_pass http://pool${u};`, '        proxy_set_header X-Request-Id $request_id;', '    }');
      else if (kind === 2) out.push(`    location ~* ^/img${u}_${l}/.+\\.(png|jpg)$ {`, `        proxy_pass http://pool${u};`, '    }');
      else out.push(`    location ^~ /static/${u}/${l}/ {`, `        proxy_pass http://pool${u};`, '        allow 10.0.0.0/8;', '        deny all;', '    }');
    }
    out.push('}', '');
    u++;
  }
  const lbconf = out.join('\n');
  const nginx = `events {}\nhttp {\n${lbconf.replace(/^(\s*)(least_conn|keepalive \d+);/gm, '$1$2;').replace(/\$request_id/g, '$request_id')}\n}\n`;
  return [lbconf, nginx];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

const [text, nginxText] = generateConfig(targetLines);
const lineCount = text.split('\n').length;
const file = '/bench/generated.lbconf';

// Warm up the JIT, as a long-running `lbconf run` reload would be.
for (let i = 0; i < 3; i++) checkText(text, file);

const parse: number[] = [];
const lowering: number[] = [];
const full: number[] = [];
for (let i = 0; i < runs; i++) {
  let loaded = loadConfigText(text, file);
  parse.push(time(() => { loaded = loadConfigText(text, file); }));
  lowering.push(time(() => lower(loaded.directives)));
  let diagnostics = 0;
  full.push(time(() => { diagnostics = checkText(text, file).diagnostics.length; }));
  if (diagnostics !== 0) throw new Error(`the generated config should check clean, got ${diagnostics} diagnostics`);
}

// A cold CLI run: a new process, as in CI.
const dir = mkdtempSync(join(tmpdir(), 'lbconf-bench-'));
const lbconfPath = join(dir, 'generated.lbconf');
writeFileSync(lbconfPath, text);
// The published CLI is the esbuild bundle; build it so the figure is what users get.
execFileSync(process.execPath, [new URL('../scripts/build.ts', import.meta.url).pathname], { stdio: 'ignore' });
const cli: number[] = [];
for (let i = 0; i < 5; i++) cli.push(time(() => execFileSync(process.execPath, [new URL('../dist/lbconf.js', import.meta.url).pathname, 'check', lbconfPath], { stdio: 'ignore' })));

let nginxRow = '| `nginx -t`, cold process | not installed (apt-get install nginx-light) | |';
try {
  execFileSync('nginx', ['-v'], { stdio: 'ignore' });
  const nginxPath = join(dir, 'nginx.conf');
  writeFileSync(nginxPath, nginxText.replace('events {}', `pid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')};\nevents {}`));
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push(time(() => execFileSync('nginx', ['-t', '-q', '-p', dir, '-c', nginxPath], { stdio: 'ignore' })));
  nginxRow = `| \`nginx -t\`, cold process | ${median(times).toFixed(1)} ms | ${(lineCount / median(times) * 1000 / 1e6).toFixed(2)} M lines/s |`;
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') nginxRow = `| \`nginx -t\` | failed: ${(err as Error).message.split('\n')[0]} | |`;
}
rmSync(dir, { recursive: true, force: true });

const row = (name: string, xs: number[]) => `| ${name} | ${median(xs).toFixed(1)} ms | ${(lineCount / median(xs) * 1000 / 1e6).toFixed(2)} M lines/s |`;
process.stdout.write([
  `lbconf check on a generated config of ${lineCount} lines (${runs} runs, median; Node ${process.version})`,
  '',
  '| stage | time | rate |',
  '| --- | --- | --- |',
  row('lex + parse + CST→AST (warm)', parse),
  row('lower to IR (warm)', lowering),
  row('full check: parse, lower, schema, semantic checks (warm)', full),
  row('`lbconf check` (dist bundle), cold process', cli),
  nginxRow,
  '',
].join('\n'));
