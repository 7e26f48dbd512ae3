import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { Reloader } from '../../runtime/control/reload.ts';
import { ProxyRuntime } from '../../runtime/control/runtime.ts';
import { lbconf } from '../helpers/cli.ts';
import { freePort } from '../helpers/proxy.ts';

// A save must not take the site down by accident (issue 15 item 6): a reload
// to a config with no listener (an empty file, a half-written one) is refused
// and the running config keeps serving; `run --no-watch` on such a file says
// why it stops; `check` warns.

test('a reload to a config with no listener is refused, with a log line, and the site stays up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-empty-'));
  const file = join(dir, 'site.lbconf');
  const port = await freePort();
  writeFileSync(file, `server { listen 127.0.0.1:${port}; location / { return 200 "up"; } }\n`);
  const runtime = new ProxyRuntime();
  const lines: string[] = [];
  const reloader = new Reloader(file, runtime, { log: (_level, message) => { lines.push(message); }, report: () => {}, watch: false });
  try {
    await reloader.start();
    for (const text of ['', '# nothing here yet\n', 'workers 2;\n']) {
      writeFileSync(file, text);
      const r = await reloader.reload('test');
      assert.equal(r.ok, false, JSON.stringify(text));
      assert.match(r.error ?? '', /no server that listens/);
      const res = await request(`http://127.0.0.1:${port}/`);
      assert.equal(await res.body.text(), 'up');
    }
    assert.ok(lines.some((l) => /reload failed: the new config has no server that listens/.test(l)));
  } finally {
    await reloader.close();
    await runtime.close(0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('run --no-watch on an empty file says there is nothing to serve, and exits 1; check warns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-empty-'));
  const file = join(dir, 'empty.lbconf');
  writeFileSync(file, '');
  try {
    const run = await lbconf('run', '--no-watch', file);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /has no server block that listens: nothing to serve/);
    assert.doesNotMatch(run.stderr, /unsettled top-level await/);
    const check = await lbconf('check', file);
    assert.match(check.stdout + check.stderr, /warning no-listener/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
