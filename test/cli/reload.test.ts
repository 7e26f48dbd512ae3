import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { request } from 'undici';
import { lbconf, LBCONF_MAIN } from '../helpers/cli.ts';
import { freePort } from '../helpers/proxy.ts';

// `lbconf reload --pid-file F` against a real `lbconf run --pid-file F`:
// 0 when the new config is serving, 1 (with the diagnostics) when it was
// refused and the old one keeps serving, 2 when nothing runs.

const dir = mkdtempSync(join(tmpdir(), 'lbconf-reload-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('lbconf reload reports a good reload with 0, a refused one with 1 and its diagnostics, and no process with 2', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const file = join(dir, 'site.lbconf');
  const pidFile = join(dir, 'lbconf.pid');
  const site = (text: string) => `server {\n    listen 127.0.0.1:${port};\n    location / {\n        return 200 "${text}";\n    }\n}\n`;
  writeFileSync(file, site('one'));
  const run = spawn(process.execPath, [LBCONF_MAIN, 'run', '--no-watch', '--pid-file', pidFile, file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  run.stderr.on('data', (d) => { log += d; });
  try {
    const deadline = Date.now() + 10_000;
    while (!existsSync(`${pidFile}.status`)) {
      if (Date.now() > deadline) throw new Error(`lbconf run did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const body = async () => (await (await request(`http://127.0.0.1:${port}/`)).body.text());
    assert.equal(await body(), 'one');

    writeFileSync(file, site('two'));
    const ok = await lbconf('reload', '--pid-file', pidFile);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /reloaded: generation 2, config [0-9a-f]{12}/);
    assert.equal(await body(), 'two');

    writeFileSync(file, site('three').replace('return 200', 'retrun 200'));
    const refused = await lbconf('reload', '--pid-file', pidFile);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /reload refused; generation 2 keeps serving/);
    assert.match(refused.stderr, /site\.lbconf:4:9: error unknown-directive/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /);
    assert.equal(await body(), 'two');
  } finally {
    run.kill('SIGTERM');
    await once(run, 'exit');
  }
  assert.equal(existsSync(pidFile), false, 'the pid file is removed at exit');
  const gone = await lbconf('reload', '--pid-file', pidFile);
  assert.equal(gone.status, 2);
  assert.match(gone.stderr, /cannot read .*lbconf\.pid: is lbconf run --pid-file .* running\?/);
  assert.equal(spawnSync(process.execPath, [LBCONF_MAIN, 'reload']).status, 2, 'no --pid-file is a usage error');
});
