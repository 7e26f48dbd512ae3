import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { checkText } from '../../../compiler/check.ts';
import { passwordChecks, scryptHash } from '../../../runtime/filters/auth.ts';
import { authorization, usersFile } from '../../helpers/auth.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';

// auth_basic_limit: password guesses per client, counted in a limit_req_zone
// (spec/security.md § Basic authentication). Past the limit a client gets 429
// and its password is not even hashed; other clients, and a client whose login
// was already verified, are not affected.

const basic = (user: string, pw: string, from: string) => ({
  headers: { authorization: authorization(user, pw), 'x-real-ip': from },
});

describe('auth_basic_limit', { timeout: 30_000 }, () => {
  let p: TestProxy;
  const users = usersFile([`carol:${scryptHash('s3cret', randomBytes(16), 1024)}`, `dave:${scryptHash('d4ve', randomBytes(16), 1024)}`]);

  before(async () => {
    p = await startProxy((port) => `
      limit_req_zone $remote_addr zone=login:1m rate=1r/m;
      server {
        listen 127.0.0.1:${port};
        set_real_ip_from 127.0.0.1;
        auth_basic "staff";
        auth_basic_user_file ${users};
        auth_basic_limit zone=login burst=2;
        location / { return 200 "in"; }
        location /open/ { auth_basic_limit off; return 200 "open"; }
        location /public/ { auth_basic off; return 200 "public"; }
      }`);
  });
  after(async () => { await p?.close(); });

  test('past the burst a client gets 429 with Retry-After, and its password is not hashed', async () => {
    const from = '198.51.100.1';
    // The first guess, and two more in the burst: checked, refused.
    for (let i = 0; i < 3; i++) assert.equal((await p.get('/', basic('carol', `guess${i}`, from))).status, 401);
    const before = passwordChecks();
    for (const [user, pw] of [['carol', 'guess3'], ['mallory', 'x'], ['carol', 's3cret']]) {
      const r = await p.get('/', basic(user, pw, from));
      assert.equal(r.status, 429, `${user}: limited, even with the right password`);
      assert.ok(Number(r.headers['retry-after']) >= 1, 'Retry-After says when to try again');
      assert.equal(r.headers['www-authenticate'], undefined, 'no challenge: the browser should not ask again now');
    }
    assert.equal(passwordChecks(), before, 'no password was hashed for a limited client');
  });

  test('other clients log in as usual', async () => {
    assert.equal((await p.get('/', basic('carol', 's3cret', '198.51.100.2'))).body, 'in');
    assert.equal((await p.get('/', basic('dave', 'wrong', '198.51.100.3'))).status, 401);
    assert.equal((await p.get('/', basic('dave', 'd4ve', '198.51.100.3'))).body, 'in');
  });

  test('a login already verified is not counted, nor locked out by guesses from the same address', async () => {
    const from = '198.51.100.4';
    assert.equal((await p.get('/', basic('dave', 'd4ve', from))).body, 'in');
    for (let i = 0; i < 5; i++) await p.get('/', basic('carol', `guess${i}`, from));
    assert.equal((await p.get('/', basic('carol', 'guess9', from))).status, 429);
    assert.equal((await p.get('/', basic('dave', 'd4ve', from))).body, 'in', 'the verified header is remembered');
  });

  test('requests without credentials are not counted; unknown users count as known ones do', async () => {
    const from = '198.51.100.5';
    for (let i = 0; i < 10; i++) assert.equal((await p.get('/', { headers: { 'x-real-ip': from } })).status, 401);
    for (let i = 0; i < 3; i++) assert.equal((await p.get('/', basic(`nobody${i}`, 'x', from))).status, 401);
    assert.equal((await p.get('/', basic('nobody', 'x', from))).status, 429, 'an unknown user is limited after as many guesses as a known one');
  });

  test('auth_basic_limit off lifts an outer limit; auth_basic off needs no password at all', async () => {
    const from = '198.51.100.6';
    for (let i = 0; i < 6; i++) assert.equal((await p.get('/open/', basic('carol', `guess${i}`, from))).status, 401);
    assert.equal((await p.get('/open/', basic('carol', 's3cret', from))).body, 'open');
    assert.equal((await p.get('/public/', { headers: { 'x-real-ip': from } })).body, 'public');
  });

  // ProxyRuntime.commit() retains the zones that limit_req and limit_conn name; until it also
  // retains those of auth_basic_limit, a zone used only here starts afresh at each reload.
  test('the counts survive a reload', async () => {
    const from = '198.51.100.7';
    for (let i = 0; i < 3; i++) await p.get('/', basic('carol', `guess${i}`, from));
    assert.equal((await p.get('/', basic('carol', 'guess3', from))).status, 429);
    await p.load(p.source);
    assert.equal((await p.get('/', basic('carol', 'guess4', from))).status, 429, 'still limited after the reload');
  });
});

describe('auth_basic_limit diagnostics', () => {
  const errors = (source: string) => checkText(source, 'test.lbconf').diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code}: ${d.message}`);

  test('names a limit_req_zone; without zone= it is an error', () => {
    assert.deepEqual(errors('limit_req_zone $remote_addr zone=login:1m rate=5r/m; server { listen 8080; auth_basic "x"; auth_basic_user_file /dev/null; auth_basic_limit zone=login burst=5; return 200; }'), []);
    assert.match(errors('server { listen 8080; auth_basic_limit zone=nope; return 200; }').join('\n'), /unknown-zone: `auth_basic_limit` names zone `nope`/);
    assert.match(errors('limit_conn_zone $remote_addr zone=c:1m; server { listen 8080; auth_basic_limit zone=c; return 200; }').join('\n'), /unknown-zone/);
    assert.match(errors('server { listen 8080; auth_basic_limit burst=5; return 200; }').join('\n'), /missing-argument/);
  });
});
