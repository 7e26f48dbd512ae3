import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

// `lbconf fmt` as a user runs it: a real child process on real files.

const main = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lbconf-fmt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function lbconf(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const messy = 'upstream app {server 10.0.0.1:80;   # primary\n\n\n  server 10.0.0.2:80;}\nserver { listen 80; location / { proxy_pass http://app; } }\n';
const tidy = 'upstream app {\n    server 10.0.0.1:80; # primary\n\n    server 10.0.0.2:80;\n}\nserver {\n    listen 80;\n    location / {\n        proxy_pass http://app;\n    }\n}\n';

test('fmt prints the canonical layout and leaves the file alone', () => {
  const file = join(dir, 'print.lbconf');
  writeFileSync(file, messy);
  const r = lbconf('fmt', file);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, tidy);
  assert.equal(readFileSync(file, 'utf8'), messy);
});

test('fmt --check lists unformatted files and exits 1; 0 once formatted', () => {
  const file = join(dir, 'check.lbconf');
  writeFileSync(file, messy);
  const r = lbconf('fmt', '--check', file);
  assert.equal(r.status, 1);
  assert.equal(r.stdout.trim(), file);
  writeFileSync(file, tidy);
  assert.equal(lbconf('fmt', '--check', file).status, 0);
});

test('fmt --write rewrites in place', () => {
  const file = join(dir, 'write.lbconf');
  writeFileSync(file, messy);
  assert.equal(lbconf('fmt', '--write', file).status, 0);
  assert.equal(readFileSync(file, 'utf8'), tidy);
});

test('fmt refuses a file with syntax errors, and one missing a `;` before the next directive', () => {
  const broken = join(dir, 'broken.lbconf');
  writeFileSync(broken, 'server {\n    listen 80;\n');
  const r = lbconf('fmt', '--write', broken);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /broken\.lbconf:1:8: error unclosed-block/);
  assert.equal(readFileSync(broken, 'utf8'), 'server {\n    listen 80;\n');
  const joined = join(dir, 'joined.lbconf');
  writeFileSync(joined, 'server {\n    listen 80\n    server_name a.example;\n}\n');
  const j = lbconf('fmt', joined);
  assert.equal(j.status, 1);
  assert.match(j.stderr, /joined\.lbconf:2:14: error missing-semicolon/);
  assert.equal(j.stdout, '');
});

test('fmt usage errors exit 2 without a stack trace', () => {
  for (const args of [['fmt'], ['fmt', '--write', '--check', 'x'], ['fmt', '--nope', 'x'], ['fmt', join(dir, 'missing.lbconf')]]) {
    const r = lbconf(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('fmt --help describes the options', () => {
  const r = lbconf('fmt', '--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--write/);
  assert.match(r.stdout, /--check/);
});
