import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

// The runtime's layers (DESIGN.md, "A layout that shows it"; README, "Layout"),
// kept by reading every import of runtime/**/*.ts, type imports included:
// no cycle between files, and each folder imports only the layers below it.
// A failure names the offending edge.

const root = fileURLToPath(new URL('../../', import.meta.url));
const runtime = join(root, 'runtime');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every module a file imports or re-exports: relative paths resolved, packages and node: builtins as written. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)) out.push(m[1]);
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]);
  return out.map((s) => (s.startsWith('.') ? resolve(dirname(file), s) : s));
}

/** The layer of a runtime file: its first folder under runtime/ ('' for a file at the root). */
function layer(file: string): string {
  const rel = relative(runtime, file);
  return rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '';
}

const all = files(runtime);
const graph = new Map(all.map((f) => [f, imports(f)]));
const show = (f: string) => relative(root, f);

/**
 * What each layer may import inside runtime/ (besides itself), and what it may not
 * import from outside. `filters/` may import only its own subfolder of itself.
 */
const MAY: Record<string, string[]> = {
  core: [],
  transport: ['core'],
  upstream: ['core'],
  filters: ['core'],
  observe: ['core'],
  http: ['core', 'transport', 'upstream', 'filters', 'observe'],
  control: ['core', 'transport', 'upstream', 'filters', 'http', 'observe', 'worker'],
  worker: ['core', 'transport', 'upstream', 'filters', 'http', 'observe', 'control'],
};

test('the runtime has only the layers of the plan, and no file at its root', () => {
  for (const f of all) {
    const l = layer(f);
    assert.ok(l in MAY, `${show(f)}: not in a layer (${Object.keys(MAY).join(', ')})`);
  }
});

test('each layer imports only the layers below it', () => {
  const wrong: string[] = [];
  for (const [f, deps] of graph) {
    const from = layer(f);
    for (const d of deps) {
      if (!d.startsWith(runtime + '/')) continue;
      const to = layer(d);
      if (to === from) {
        // A filter is one feature: it may import its own folder, never another filter.
        if (from === 'filters') {
          const a = relative(join(runtime, 'filters'), f).split('/');
          const b = relative(join(runtime, 'filters'), d).split('/');
          const own = (a.length > 1 && b.length > 1 && a[0] === b[0]) || b.length === 1 && b[0] === 'filter.ts';
          if (!own && a[0] !== b[0]) wrong.push(`${show(f)} → ${show(d)}: a filter imports another filter`);
        }
        continue;
      }
      if (!MAY[from]?.includes(to)) wrong.push(`${show(f)} → ${show(d)}: ${from}/ may not import ${to}/`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the upstream layer knows no HTTP', () => {
  const wrong: string[] = [];
  for (const [f, deps] of graph) {
    if (layer(f) !== 'upstream') continue;
    for (const d of deps) if (d === 'node:http' || d === 'node:http2' || d === 'node:https' || d === 'undici') wrong.push(`${show(f)} → ${d}`);
  }
  assert.deepEqual(wrong, []);
});

test('no import cycle between files', () => {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  let cycle: string[] | null = null;
  const visit = (f: string): void => {
    if (cycle !== null) return;
    state.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (!graph.has(d)) continue;
      const s = state.get(d);
      if (s === 1) { cycle = [...stack.slice(stack.indexOf(d)), d]; return; }
      if (s === undefined) visit(d);
      if (cycle !== null) return;
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of all) if (!state.has(f)) visit(f);
  assert.equal(cycle === null ? null : (cycle as string[]).map(show).join(' → '), null);
});
