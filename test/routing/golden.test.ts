import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfigForRouting } from '../../cli/route.ts';
import { coverage, parseRouteTests, runRouteTests } from '../../cli/test.ts';

// The conformance corpus: each spec/tests/routing/NAME.lbconf with NAME.routes,
// the requests and the routes they must reach (format: spec/routing.md).

const dir = fileURLToPath(new URL('../../spec/tests/routing/', import.meta.url));
const configs = readdirSync(dir).filter((f) => f.endsWith('.lbconf'));

test('the routing corpus is there', () => {
  assert.ok(configs.length >= 3);
});

for (const name of configs) {
  const config = join(dir, name);
  const routes = config.replace(/\.lbconf$/, '.routes');
  test(`spec/tests/routing/${name}`, () => {
    const printed: string[] = [];
    const loaded = loadConfigForRouting(config, (s) => printed.push(s), false);
    assert.notEqual(typeof loaded, 'number', printed.join('\n'));
    if (typeof loaded === 'number') return;
    const { tests, errors } = parseRouteTests(readFileSync(routes, 'utf8'), routes);
    assert.deepEqual(errors, []);
    assert.ok(tests.length > 0);
    const failures = runRouteTests(loaded, tests).filter((r) => r.failure).map((r) => `${r.test.file}:${r.test.line}: ${r.failure}`);
    assert.deepEqual(failures, []);
    // Every location and server block of a corpus config is reached by some test.
    const c = coverage(loaded, runRouteTests(loaded, tests));
    assert.deepEqual(c.locations.filter((l) => !l.reached).map((l) => `${l.where}: ${l.text}`), []);
    assert.deepEqual(c.servers.filter((s) => !s.reached).map((s) => s.where), []);
  });
}
