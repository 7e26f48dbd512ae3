import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompilerProcess } from '../../runtime/control/compiler-process.ts';

// The compile worker is a child process that lives only while compiles are
// asked for: it starts on the first, stays warm through a burst, and is gone
// after the idle time, so that a proxy never carries the compiler's memory.

test('the compile worker starts on demand, stops when idle, and starts again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-compiler-process-'));
  const file = join(dir, 'a.lbconf');
  writeFileSync(file, 'upstream app { server 127.0.0.1:9; }\nserver { listen 127.0.0.1:8080; location / { proxy_pass http://app; } }\n');
  const c = new CompilerProcess(true, 300);
  try {
    assert.equal(c.running, false, 'not started before the first compile');
    const first = await c.compile(file);
    assert.equal(first.ok, true, first.error);
    assert.match(first.source!, /function/);
    assert.equal(c.running, true);
    const pid = c.pid!;
    assert.ok(pid > 0 && pid !== process.pid, 'compiled in a process of its own');
    await sleep(100);
    assert.equal((await c.compile(file)).ok, true);
    assert.equal(c.running, true, 'warm within the idle time');
    await sleep(700);
    assert.equal(c.running, false, 'stopped after the idle time');
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'its process has exited');
    writeFileSync(file, 'server { listen 127.0.0.1:8080; locaton / { return 200; } }\n');
    const broken = await c.compile(file);
    assert.equal(broken.ok, false);
    assert.ok(broken.diagnostics.some((d) => d.code === 'unknown-directive'));
    assert.equal(c.running, true, 'started again');
  } finally {
    await c.close();
  }
});

test('a compile worker that dies mid-compile answers with an error, and the next compile starts a new one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-compiler-process-'));
  const file = join(dir, 'a.lbconf');
  writeFileSync(file, 'upstream app { server 127.0.0.1:9; }\nserver { listen 127.0.0.1:8080; location / { proxy_pass http://app; } }\n');
  const c = new CompilerProcess(true, 60_000);
  try {
    assert.equal((await c.compile(file)).ok, true);
    const pending = c.compile(file);
    process.kill(c.pid!, 'SIGKILL');
    const lost = await pending;
    assert.equal(lost.ok, false);
    assert.match(lost.error ?? '', /compile worker stopped; try again/);
    assert.equal(c.running, false);
    const again = await c.compile(file);
    assert.equal(again.ok, true, again.error);
    assert.equal(c.running, true);
    // close() answers a compile under way rather than leaving it pending.
    const cut = c.compile(file);
    await c.close();
    assert.match((await cut).error ?? '', /compile worker stopped/);
  } finally {
    await c.close();
  }
  assert.equal(c.running, false, 'close() stops it');
});
