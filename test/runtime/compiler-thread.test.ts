import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompilerThread } from '../../runtime/compiler-thread.ts';

// The compile worker lives only while compiles are asked for: it starts on the
// first, stays warm through a burst, and is gone after the idle time, so that a
// proxy between reloads does not carry the compiler's memory.

test('the compile worker starts on demand, stops when idle, and starts again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-compiler-thread-'));
  const file = join(dir, 'a.lbconf');
  writeFileSync(file, 'upstream app { server 127.0.0.1:9; }\nserver { listen 127.0.0.1:8080; location / { proxy_pass http://app; } }\n');
  const c = new CompilerThread(true, 300);
  try {
    assert.equal(c.running, false, 'not started before the first compile');
    const first = await c.compile(file);
    assert.equal(first.ok, true, first.error);
    assert.match(first.source!, /function/);
    assert.equal(c.running, true);
    await sleep(100);
    assert.equal((await c.compile(file)).ok, true);
    assert.equal(c.running, true, 'warm within the idle time');
    await sleep(700);
    assert.equal(c.running, false, 'stopped after the idle time');
    writeFileSync(file, 'server { listen 127.0.0.1:8080; locaton / { return 200; } }\n');
    const broken = await c.compile(file);
    assert.equal(broken.ok, false);
    assert.ok(broken.diagnostics.some((d) => d.code === 'unknown-directive'));
    assert.equal(c.running, true, 'started again');
  } finally {
    await c.close();
  }
});
