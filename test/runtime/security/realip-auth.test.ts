import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BasicAuth, scryptHash } from '../../../runtime/filters/auth.ts';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';

// The real client address behind trusted proxies, and basic authentication
// (spec/security.md).

describe('real client address', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  before(async () => {
    b = await new Backend('b').listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        location /untrusted/ { proxy_pass http://app; }
        location /xff/ { set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For; proxy_set_header X-Remote $remote_addr; proxy_pass http://app; }
        location /recursive/ { set_real_ip_from 127.0.0.0/8; set_real_ip_from 10.0.0.0/8; real_ip_header X-Forwarded-For; real_ip_recursive on; proxy_set_header X-Remote $remote_addr; proxy_pass http://app; }
        location /realip/ { set_real_ip_from 127.0.0.1; proxy_set_header X-Remote $remote_addr; proxy_pass http://app; }
        location /deny/ { set_real_ip_from 127.0.0.1; real_ip_header X-Real-IP; deny 203.0.113.0/24; return 200 "allowed $remote_addr"; }
        location /other/ { set_real_ip_from 10.0.0.1; real_ip_header X-Real-IP; return 200 "$remote_addr"; }
      }`);
  });
  after(async () => {
    await p?.close();
    await stopAll([b]);
  });

  const echo = async (path: string, headers: Record<string, string>) => JSON.parse((await p.get(path, { headers })).body).headers;

  test('from an untrusted peer, X-Forwarded-For is replaced by the peer address', async () => {
    const h = await echo('/untrusted/', { 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6' });
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
  });

  test('from a trusted peer, the last X-Forwarded-For address is the client; the chain is kept and extended with the peer', async () => {
    const h = await echo('/xff/', { 'x-forwarded-for': '6.6.6.6, 198.51.100.7' });
    assert.equal(h['x-remote'], '198.51.100.7');
    assert.equal(h['x-forwarded-for'], '6.6.6.6, 198.51.100.7, 127.0.0.1');
  });

  test('real_ip_recursive on skips trusted proxies from the right', async () => {
    const h = await echo('/recursive/', { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.1.2.3' });
    assert.equal(h['x-remote'], '198.51.100.7');
    const all = await echo('/recursive/', { 'x-forwarded-for': '10.0.0.9, 10.1.2.3' });
    assert.equal(all['x-remote'], '10.0.0.9', 'all trusted: the leftmost');
    const garbage = await echo('/recursive/', { 'x-forwarded-for': 'not-an-address' });
    assert.equal(garbage['x-remote'], '127.0.0.1', 'no address: the peer');
  });

  test('X-Real-IP (the default header) sets $remote_addr; allow/deny see it', async () => {
    const h = await echo('/realip/', { 'x-real-ip': '198.51.100.9' });
    assert.equal(h['x-remote'], '198.51.100.9');
    assert.equal(h['x-forwarded-for'], '198.51.100.9, 127.0.0.1');
    assert.equal((await p.get('/deny/', { headers: { 'x-real-ip': '203.0.113.5' } })).status, 403);
    assert.equal((await p.get('/deny/', { headers: { 'x-real-ip': '198.51.100.9' } })).body, 'allowed 198.51.100.9');
  });

  test('a peer not in set_real_ip_from is not believed', async () => {
    assert.equal((await p.get('/other/', { headers: { 'x-real-ip': '198.51.100.9' } })).body, '127.0.0.1');
  });
});

describe('basic authentication', { timeout: 30_000 }, () => {
  let p: TestProxy;
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-auth-'));
  const sha = (s: string) => createHash('sha1').update(s).digest('base64');
  const salt = randomBytes(8);
  const ssha = (pw: string) => Buffer.concat([createHash('sha1').update(pw).update(salt).digest(), salt]).toString('base64');
  writeFileSync(join(dir, 'users'), [
    '# staff',
    `alice:{SHA}${sha('wonderland')}`,
    `bob:{SSHA}${ssha('builder')}`,
    `carol:${scryptHash('s3cret', randomBytes(16), 1024)}`,
    '',
  ].join('\n'));

  before(async () => {
    p = await startProxy((port) => `
      server {
        listen 127.0.0.1:${port};
        auth_basic "staff only";
        auth_basic_user_file ${join(dir, 'users')};
        location / { return 200 "in"; }
        location /public/ { auth_basic off; return 200 "public"; }
      }`);
  });
  after(async () => { await p?.close(); });

  const basic = (user: string, pw: string) => ({ headers: { authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` } });

  test('no or wrong credentials: 401 with WWW-Authenticate', async () => {
    for (const options of [{}, basic('alice', 'nope'), basic('mallory', 'wonderland'), { headers: { authorization: 'Bearer x' } }, { headers: { authorization: 'Basic !!!' } }]) {
      const r = await p.get('/', options);
      assert.equal(r.status, 401);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="staff only", charset="UTF-8"');
    }
  });

  test('{SHA}, {SSHA} and $scrypt$ users get in; auth_basic off opens a location', async () => {
    assert.equal((await p.get('/', basic('alice', 'wonderland'))).body, 'in');
    assert.equal((await p.get('/', basic('bob', 'builder'))).body, 'in');
    assert.equal((await p.get('/', basic('carol', 's3cret'))).body, 'in');
    assert.equal((await p.get('/', basic('carol', 's3cret'))).body, 'in', 'again, from the cache of verified headers');
    assert.equal((await p.get('/', basic('carol', 'S3cret'))).status, 401);
    assert.equal((await p.get('/public/')).body, 'public');
  });

  test('a user file with a line lbconf cannot read fails the load, without printing the line', () => {
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'dave:$apr1$abc$def\n');
    assert.throws(() => new BasicAuth('x', bad), (err: Error) => /bad:1/.test(err.message) && !err.message.includes('apr1'));
    assert.throws(() => new BasicAuth('x', join(dir, 'missing')), /cannot read auth_basic_user_file/);
  });
});
