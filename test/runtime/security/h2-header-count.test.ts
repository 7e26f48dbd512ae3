import assert from 'node:assert/strict';
import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { h2session, h2status } from '../../helpers/h2.ts';
import type { TestProxy } from '../../helpers/proxy.ts';
import { RawClient, statusOf } from '../../helpers/raw.ts';
import { startTlsProxy } from '../../helpers/tls-proxy.ts';

// client_max_headers on HTTP/2 (an adversarial review of issue 13: admission,
// false positives). It counts the header fields a client sent, but
// runtime/http/front.ts admission() counted req.rawHeaders, which on HTTP/2 also
// holds the pseudo-header fields (:method, :scheme, :authority, :path) and each
// cookie crumb (RFC 9113 §8.2.3; Firefox splits cookies so): an HTTP/2 request
// got 431 where the same request over HTTP/1.1 was served. HTTP/2 is now
// counted as the HTTP/1.1 request it becomes.

const LIMIT = 20;

describe('client_max_headers on HTTP/2', { timeout: 20_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let session: ClientHttp2Session;

  before(async () => {
    b = await new Backend('b', (_req, res) => { res.end('ok'); }).listen();
    p = await startTlsProxy(`upstream app { server ${b.address}; }`, `
      client_max_headers ${LIMIT};
      location / { proxy_pass http://app; }
    `);
    session = h2session(p.port);
  });

  after(async () => {
    session.close();
    await p.close();
    await stopAll([b]);
  });

  /** A GET of / with `headers` over HTTP/2: its status, or the stream's error. */
  function h2get(headers: OutgoingHttpHeaders): Promise<number | string> {
    return h2status(session, { ':path': '/', ':authority': 'a.test', ...headers }).catch(String);
  }

  /** A GET of / with these header `lines` over HTTP/1.1 on the same listener: its status. */
  async function h1get(lines: string): Promise<number> {
    const c = await RawClient.openTls(p.port);
    c.send(`GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n${lines}\r\n`);
    await c.closed;
    return statusOf(c.text);
  }

  test('the pseudo-header fields are not counted as header fields', async () => {
    // Host, Connection and 17 more: 19 fields, within the limit.
    const names = Array.from({ length: LIMIT - 3 }, (_, i) => `x-h${i}`);
    assert.equal(await h1get(names.map((n) => `${n}: v\r\n`).join('')), 200, 'HTTP/1.1: served');
    assert.equal(await h2get(Object.fromEntries(names.map((n) => [n, 'v']))), 200, 'HTTP/2, the same fields: served too');
  });

  test('cookie crumbs are one Cookie field, as they are once joined', async () => {
    const crumbs = Array.from({ length: LIMIT - 2 }, (_, i) => `c${i}=v`);
    assert.equal(await h1get(`Cookie: ${crumbs.join('; ')}\r\n`), 200, 'HTTP/1.1: served');
    assert.equal(await h2get({ cookie: crumbs }), 200, 'HTTP/2 with the cookie in crumbs: served too');
  });
});
