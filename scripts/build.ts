// Builds the publishable CLI: dist/main.js (the bundle, dependencies left as
// imports) behind dist/lbconf.js, a launcher that refuses old Node versions
// with a clear message instead of an import error.
import { build } from 'esbuild';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';

// Chunk names carry content hashes: start from an empty dist/ so old ones do not pile up.
rmSync('dist', { recursive: true, force: true });

await build({
  // The compile worker and the serving worker are files of their own: runtime/control/compiler-process.ts and
  // runtime/worker/supervisor.ts start them from beside main.js.
  entryPoints: { main: 'cli/main.ts', 'compile-worker': 'runtime/control/compile-worker.ts', 'worker-main': 'runtime/worker/worker-main.ts' },
  outdir: 'dist',
  bundle: true,
  // The CLI imports each command lazily (cli/main.ts): split, so that `lbconf run` does not
  // load the parser or the schema validator (a bundle hoists every package import).
  splitting: true,
  // Chunks sit beside main.js: the worker entries are found relative to the code that starts them.
  chunkNames: '[name]-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node22',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});

// --max-semi-space-size=1: a proxy allocates a Buffer for every read of a body. With V8's
// default young generation (tens of MiB) those are freed late, in cold memory; with a 1 MiB
// semi-space they are freed by frequent, tiny scavenges. Measured on 256 KiB responses: +75%
// throughput and a third less memory, small responses unchanged (bench/README.md, "proxy").
// Running `node dist/lbconf.js` directly skips the shebang: NODE_OPTIONS=--max-semi-space-size=1.
const launcher = `#!/usr/bin/env -S node --max-semi-space-size=1
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write('lbconf needs Node.js 22.22 or newer (Node 24 LTS recommended); this is ' + process.version + '.\\n');
  process.exit(2);
}
await import('./main.js');
`;
writeFileSync('dist/lbconf.js', launcher);
chmodSync('dist/lbconf.js', 0o755);
process.stdout.write('built dist/lbconf.js\n');
