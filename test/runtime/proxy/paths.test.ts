import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { raw, rawStatus, startProxy, type TestProxy } from '../../helpers/proxy.ts';

// Path safety on the real listener (spec/proxy.md § One request, spec/routing.md
// § The path): a raw socket sends targets exactly as written, since undici and
// the WHATWG URL parser would normalize `%2e%2e` and `..` before sending.

/** The body of a raw GET (Connection: close), or the status when it is not 200. */
async function served(port: number, target: string): Promise<string> {
  const text = await raw(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
  return status === '200' ? Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1').toString('utf8') : `status ${status}`;
}

describe('path safety through the listener', { timeout: 20_000 }, () => {
  let p: TestProxy;
  before(async () => {
    p = await startProxy((port) => `server {
      listen 127.0.0.1:${port};
      location / { return 200 "root $uri"; }
      location /admin/ { deny all; return 200 "admin"; }
    }`);
  });
  after(async () => { await p?.close(); });

  test('paths that climb above the root get 400', async () => {
    for (const target of ['/%2e%2e/x', '/%2E%2E/x', '/..', '/../x', '/a/../../b', '/a/%2e%2e/%2e%2e/b', '/./../x']) {
      assert.equal(await rawStatus(p.port, target), 400, target);
    }
  });

  test('malformed targets get 400', async () => {
    for (const target of ['admin/', '/%zz', '/%4', '/%00', '/a%0d%0ab', '/%c0%af', '/%ed%a0%80', '*']) {
      assert.equal(await rawStatus(p.port, target), 400, target);
    }
  });

  test('every spelling of /admin/ reaches the /admin/ location (and is denied)', async () => {
    for (const target of ['/admin/', '/%61dmin/', '/%61%64%6d%69%6e/', '//admin/', '/x/../admin/', '/./admin/', '/admin//x', '/admin/./x', '/x/%2e%2e/admin/', '/admin/?a=1', 'http://localhost/admin/']) {
      assert.equal(await rawStatus(p.port, target), 403, target);
    }
  });

  test('an escaped percent is decoded once; an escaped slash is a slash, as nginx reads it (no way around /admin/)', async () => {
    assert.equal(await served(p.port, '/%2561dmin/'), 'root /%61dmin/');
    for (const target of ['/%2fadmin/', '/.%2fadmin/', '/x/..%2fadmin/']) assert.equal(await rawStatus(p.port, target), 403, target);
    assert.equal(await rawStatus(p.port, '/a/..%2f..%2fadmin/'), 400, 'climbs above the root');
  });

  test('encoded traversal in other spellings: overlong UTF-8 is refused, double encoding is decoded once, a backslash is a character', async () => {
    for (const target of ['/%c0%ae%c0%ae/x', '/%e0%80%ae%e0%80%ae/admin/', '/%c0%2e%c0%2e/x', '/x/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/.%2e/x', '/%2e./x']) {
      assert.equal(await rawStatus(p.port, target), 400, target);
    }
    assert.equal(await served(p.port, '/%252e%252e/admin/'), 'root /%2e%2e/admin/');
    assert.equal(await served(p.port, '/x/..%5cadmin/'), 'root /x/..\\admin/');
    assert.equal(await rawStatus(p.port, '/x/..%2f..%2fadmin/'), 400);
  });

  test('the normalized path is what $uri sees', async () => {
    assert.equal(await served(p.port, '/a/./b//c/../d?q=1'), 'root /a/b/d');
    assert.equal(await served(p.port, '/caf%C3%A9'), 'root /café');
  });
});
