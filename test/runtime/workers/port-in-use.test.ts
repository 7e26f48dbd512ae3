import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lbconf, startRun, stopRun } from '../../helpers/cli.ts';
import { freePort } from '../../helpers/proxy.ts';

// Workers listen with SO_REUSEPORT: a second lbconf on the same port must not
// share it and split the traffic, but fail as nginx does (issue 15 item 7).

test('a second lbconf with workers on a port another lbconf serves fails with "address in use"', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-port-'));
  const port = await freePort();
  const file = join(dir, 'site.lbconf');
  writeFileSync(file, `workers 2;\nserver {\n    listen 127.0.0.1:${port};\n    location / {\n        return 200 "first";\n    }\n}\n`);
  const first = await startRun(file, 'serving with 2 worker threads');
  try {
    const second = await lbconf('run', '--no-watch', file);
    assert.equal(second.status, 1);
    assert.match(second.stderr, /cannot start: .*EADDRINUSE.*another process listens there/);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), 'first', 'the first one still serves');
  } finally {
    await stopRun(first);
    rmSync(dir, { recursive: true, force: true });
  }
});
