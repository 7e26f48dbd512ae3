import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { Backend } from '../../helpers/backends.ts';
import { upstream, type TestProxy } from '../../helpers/proxy.ts';
import { startTlsProxy } from '../../helpers/tls-proxy.ts';
import { decode, origin, PAGE } from './origin.ts';

// Compression over HTTP/2 (TLS with ALPN h2): the same headers, no
// Content-Length, and a body that decodes to the origin's bytes.

let b: Backend;
let p: TestProxy;
let agent: Agent;

before(async () => {
  b = await new Backend('origin', origin).listen();
  p = await startTlsProxy(upstream('app', [b.address]), `
    gzip on;
    location / { proxy_pass http://app; }
  `);
  agent = new Agent({ allowH2: true, connect: { rejectUnauthorized: false, servername: 'a.test' } });
});

after(async () => {
  await agent?.close();
  await p?.close();
  await b?.kill();
});

test('over HTTP/2: each encoding, without Content-Length, decodes to the origin\'s bytes', { timeout: 20_000 }, async () => {
  for (const encoding of ['zstd', 'br', 'gzip']) {
    const res = await request(`https://127.0.0.1:${p.port}/?etag=%22h2%22`, { dispatcher: agent, headers: { 'accept-encoding': encoding } });
    const body = Buffer.from(await res.body.arrayBuffer());
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-encoding'], encoding);
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.headers.etag, 'W/"h2"');
    assert.equal(res.headers.vary, 'Accept-Encoding');
    assert.ok(decode(body, encoding).equals(PAGE), encoding);
  }
});
