import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { scryptHash } from '../../../runtime/filters/auth.ts';
import { basic, usersFile } from '../../helpers/auth.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';

// Basic authentication does not tell which users exist, and its password
// hashing does not hold up other requests (spec/security.md § Basic
// authentication). Real sockets against the real proxy; the bounds are wide
// (a ratio within 0.5x-2x, a median under 20 ms) so that a busy machine cannot
// make them flake, while the faults they catch are 27x and 190 ms.

const sha = (s: string) => createHash('sha1').update(s).digest('base64');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('basic authentication: timing', { timeout: 60_000 }, () => {
  let p: TestProxy;
  // scrypt with the recommended parameters (N=16384, r=8, p=1: about 25 ms a check),
  // in a file that also has a fast {SHA} user.
  const users = usersFile([
    `alice:{SHA}${sha('wonderland')}`,
    `carol:${scryptHash('s3cret', randomBytes(16))}`,
  ]);

  before(async () => {
    p = await startProxy((port) => `
      server {
        listen 127.0.0.1:${port};
        location /private/ { auth_basic "staff"; auth_basic_user_file ${users}; return 200 "in"; }
        location /public/ { return 200 "public"; }
      }`);
  });
  after(async () => { await p?.close(); });

  /** Mean ms of a 401 for each user, `n` tries each, interleaved so that a slow moment hits both. */
  async function timeWrongPasswords(users: string[], n: number): Promise<number[]> {
    const times: number[][] = users.map(() => []);
    for (let i = 0; i < n + 2; i++) {
      for (let u = 0; u < users.length; u++) {
        const t0 = performance.now();
        const r = await p.get('/private/', basic(users[u], `wrong-${i}`));
        const ms = performance.now() - t0;
        assert.equal(r.status, 401);
        if (i >= 2) times[u].push(ms); // the first two warm up the connection and the code
      }
    }
    return times.map(mean);
  }

  test('a wrong password for a real user costs what an unknown user costs', async () => {
    const [real, unknown, fast] = await timeWrongPasswords(['carol', 'mallory', 'alice'], 10);
    const ratio = real / unknown;
    console.log(`wrong password: scrypt user ${real.toFixed(2)} ms, unknown user ${unknown.toFixed(2)} ms (ratio ${ratio.toFixed(2)}), {SHA} user ${fast.toFixed(2)} ms`);
    assert.ok(ratio > 0.5 && ratio < 2, `a real user's wrong password takes ${real.toFixed(2)} ms, an unknown user's ${unknown.toFixed(2)} ms: the difference tells which users exist`);
    // A cheaper hash in the same file does not stand out either: every check costs the file's slowest.
    const fastRatio = fast / unknown;
    assert.ok(fastRatio > 0.5 && fastRatio < 2, `a {SHA} user's wrong password takes ${fast.toFixed(2)} ms, an unknown user's ${unknown.toFixed(2)} ms`);
    // And the right password still gets in.
    assert.equal((await p.get('/private/', basic('carol', 's3cret'))).body, 'in');
    assert.equal((await p.get('/private/', basic('alice', 'wonderland'))).body, 'in');
  });

  test('password guessing does not hold up other requests: hashing is off the event loop', async () => {
    let stop = false;
    const statuses = new Map<number, number>();
    const guesser = async (g: number) => {
      for (let i = 0; !stop; i++) {
        const r = await p.get('/private/', basic(i % 2 === 0 ? 'carol' : `nobody${g}`, `guess-${g}-${i}`));
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    };
    const guessers = Array.from({ length: 8 }, (_, g) => guesser(g));
    const latencies: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 200)); // the guessers are under way
      const deadline = performance.now() + 15_000;
      while (latencies.length < 40 && performance.now() < deadline) {
        const t0 = performance.now();
        const r = await p.get('/public/');
        latencies.push(performance.now() - t0);
        assert.equal(r.body, 'public');
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      stop = true;
      await Promise.all(guessers);
    }
    const p50 = median(latencies);
    console.log(`/public/ under 8 guessing clients: p50 ${p50.toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms over ${latencies.length} requests; guesses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.deepEqual([...statuses.keys()], [401], 'every guess is refused');
    assert.ok(p50 < 20, `an unauthenticated route's median latency is ${p50.toFixed(2)} ms while clients guess passwords`);
  });
});
