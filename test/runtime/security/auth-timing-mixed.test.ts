import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { passwordChecks, passwordHashes, scryptHash } from '../../../runtime/filters/auth.ts';
import { authorization, basic, usersFile } from '../../helpers/auth.ts';
import { startProxy, until, type TestProxy } from '../../helpers/proxy.ts';

// Basic auth costs every user the same hashes (spec/security.md § Basic
// authentication), also when the file mixes scrypt parameters: a real user
// whose scrypt is cheaper (r=7 beside r=8) once cost their own hash and the
// dummy, an unknown user the dummy alone, 1.9x apart when hashes run one at a
// time (a 2-core machine). And a hash still waiting when its client has gone is
// skipped: abandoned guesses once delayed a valid login by all their hashes.

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A proxy whose /private/ asks for basic auth, checked against the users file `users`. */
const privateProxy = (users: string) => startProxy((port) => `
  server {
    listen 127.0.0.1:${port};
    location /private/ { auth_basic "staff"; auth_basic_user_file ${users}; return 200 "in"; }
  }`);

describe('basic auth timing with users of different scrypt parameters', { timeout: 60_000 }, () => {
  let p: TestProxy;
  const users = usersFile([
    `carol:${scryptHash('s3cret', randomBytes(16), 16384, 8)}`,
    `dave:${scryptHash('s3cret', randomBytes(16), 16384, 7)}`,
  ]);

  before(async () => { p = await privateProxy(users); });
  after(async () => { await p?.close(); });

  test('every user, known or not, costs the same hashes', async () => {
    for (const user of ['carol', 'dave', 'mallory']) {
      const before = passwordHashes();
      assert.equal((await p.get('/private/', basic(user, 'wrong'))).status, 401);
      assert.equal(passwordHashes() - before, 2, `${user}: one hash of each kind in the file`);
    }
  });

  test('a wrong password for a real user with a cheaper hash takes what an unknown user takes', async () => {
    const users = ['carol', 'dave', 'mallory'];
    const times: number[][] = users.map(() => []);
    for (let i = 0; i < 12; i++) {
      for (let u = 0; u < users.length; u++) {
        const t0 = performance.now();
        assert.equal((await p.get('/private/', basic(users[u], `wrong-${i}`))).status, 401);
        if (i >= 2) times[u].push(performance.now() - t0);
      }
    }
    const [slowest, cheaper, unknown] = times.map(median);
    const say = `carol (r=8) ${slowest.toFixed(1)} ms, dave (r=7) ${cheaper.toFixed(1)} ms, unknown ${unknown.toFixed(1)} ms`;
    for (const t of [slowest, cheaper]) assert.ok(t / unknown < 1.4 && unknown / t < 1.4, say);
  });
});

describe('basic auth: hashes of clients that have gone', { timeout: 60_000 }, () => {
  let p: TestProxy;
  const users = usersFile([`carol:${scryptHash('s3cret', randomBytes(16))}`]);

  before(async () => { p = await privateProxy(users); });
  after(async () => { await p?.close(); });

  test('are skipped when their turn comes: they do not delay a valid login', async () => {
    const t0 = performance.now();
    assert.equal((await p.get('/private/', basic('mallory', 'first'))).status, 401);
    const one = performance.now() - t0;

    const abandoned = 40;
    const checksBefore = passwordChecks();
    const hashesBefore = passwordHashes();
    const sockets: Socket[] = [];
    for (let i = 0; i < abandoned; i++) {
      const s = connect(p.port, '127.0.0.1');
      s.on('error', () => {});
      s.write(`GET /private/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization('mallory', `guess-${i}`)}\r\n\r\n`);
      sockets.push(s);
    }
    await until(() => passwordChecks() - checksBefore === abandoned, 5000, 'every guess being checked');
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 20)); // the proxy sees the connections close

    const t1 = performance.now();
    assert.equal((await p.get('/private/', basic('carol', 's3cret'))).status, 200);
    const login = performance.now() - t1;
    const hashed = passwordHashes() - hashesBefore - 1;
    assert.ok(hashed < abandoned / 4, `${hashed} of ${abandoned} abandoned guesses were hashed`);
    assert.ok(login < one * abandoned / 4, `a valid login took ${login.toFixed(0)} ms behind ${abandoned} abandoned guesses (one hash: ${one.toFixed(0)} ms)`);
  });
});
