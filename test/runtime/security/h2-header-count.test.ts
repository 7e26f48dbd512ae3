import assert from 'node:assert/strict';
import { connect as h2connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { certFiles } from '../../helpers/certs.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';

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
    const c = await certFiles('a.test');
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port} ssl;
        server_name a.test;
        ssl_certificate ${c.cert};
        ssl_certificate_key ${c.key};
        client_max_headers ${LIMIT};
        location / { proxy_pass http://app; }
      }
    `);
    session = h2connect(`https://127.0.0.1:${p.port}`, { rejectUnauthorized: false, servername: 'a.test' });
  });

  after(async () => {
    session.close();
    await p.close();
    await stopAll([b]);
  });

  function h2status(headers: OutgoingHttpHeaders): Promise<number | string> {
    return new Promise((resolve) => {
      const r = session.request({ ':path': '/', ':authority': 'a.test', ...headers });
      r.on('response', (h) => { r.resume(); resolve(Number(h[':status'])); });
      r.on('error', (e) => resolve(String(e)));
      r.end();
    });
  }

  async function h1status(lines: string): Promise<number> {
    const s = tlsConnect({ port: p.port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'a.test', ALPNProtocols: ['http/1.1'] });
    s.on('error', () => {});
    await once(s, 'secureConnect');
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => { text += c; });
    s.write(`GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n${lines}\r\n`);
    await once(s, 'close');
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? -1);
  }

  test('the pseudo-header fields are not counted as header fields', async () => {
    // Host, Connection and 17 more: 19 fields, within the limit.
    const names = Array.from({ length: LIMIT - 3 }, (_, i) => `x-h${i}`);
    assert.equal(await h1status(names.map((n) => `${n}: v\r\n`).join('')), 200, 'HTTP/1.1: served');
    assert.equal(await h2status(Object.fromEntries(names.map((n) => [n, 'v']))), 200, 'HTTP/2, the same fields: served too');
  });

  test('cookie crumbs are one Cookie field, as they are once joined', async () => {
    const crumbs = Array.from({ length: LIMIT - 2 }, (_, i) => `c${i}=v`);
    assert.equal(await h1status(`Cookie: ${crumbs.join('; ')}\r\n`), 200, 'HTTP/1.1: served');
    assert.equal(await h2status({ cookie: crumbs }), 200, 'HTTP/2 with the cookie in crumbs: served too');
  });
});
