import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkFile } from '../compiler/check.ts';
import { formatConfig } from '../lang/format.ts';

// Every example is something a user will paste: it must check clean and already
// be in the canonical layout. Files under conf.d/ are fragments, included by others.

const root = fileURLToPath(new URL('../examples/', import.meta.url));

function examples(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'conf.d' ? [] : examples(path);
    return name.endsWith('.lbconf') ? [path] : [];
  });
}

function allLbconf(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? allLbconf(path) : name.endsWith('.lbconf') ? [path] : [];
  });
}

const files = examples(root);

test('there are examples for each balancing method and content routing', () => {
  const names = files.map((f) => f.slice(root.length));
  for (const expected of ['quickstart.lbconf', 'weighted.lbconf', 'least-conn.lbconf', 'ip-hash.lbconf', 'consistent-hash.lbconf', 'random-two.lbconf', 'least-busy.lbconf', 'sticky.lbconf', 'health-checks.lbconf', 'content-routing.lbconf']) {
    assert.ok(names.includes(expected), `examples/${expected} is missing`);
  }
});

for (const file of files) {
  test(`${file.slice(root.length)} checks clean`, () => {
    const { diagnostics } = checkFile(file);
    assert.deepEqual(diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}: ${d.message}`), []);
  });
}

for (const file of allLbconf(root)) {
  test(`${file.slice(root.length)} is fmt-stable`, () => {
    const source = readFileSync(file, 'utf8');
    const { output, diagnostics } = formatConfig(source, file);
    assert.deepEqual(diagnostics, []);
    assert.equal(output, source);
  });
}
