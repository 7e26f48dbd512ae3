import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { certFiles } from '../../helpers/certs.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { startTlsProxy } from '../../helpers/tls-proxy.ts';

// The security layer on HTTP/2 (TLS with ALPN h2): lbconf's refusals must not
// use HTTP/1-only headers (Connection), and hiding and limits apply as on HTTP/1.1.

let b: Backend;
let p: TestProxy;
let agent: Agent;

before(async () => {
  b = await new Backend('b').listen();
  p = await startTlsProxy(`
    limit_req_zone $remote_addr zone=one:1m rate=1r/s;
    upstream app { server ${b.address}; }
  `, `
    client_max_body_size 1k;
    location / { proxy_pass http://app; }
    location /limited/ { limit_req zone=one; return 200 "ok"; }
  `);
  agent = new Agent({ allowH2: true, connect: { rejectUnauthorized: false, servername: 'a.test' } });
});
after(async () => {
  await agent?.close();
  await p?.close();
  await stopAll([b]);
});

const get = async (path: string, options: Record<string, unknown> = {}) => {
  const res = await request(`https://127.0.0.1:${p.port}${path}`, { dispatcher: agent, ...options });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
};

test('over HTTP/2: hidden headers, 413 by Content-Length and by counting, 429 with Retry-After', { timeout: 20_000 }, async () => {
  const ok = await get('/x');
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.server, undefined);
  assert.equal(ok.headers['x-powered-by'], undefined);
  assert.equal((await get('/x', { method: 'POST', body: Buffer.alloc(2000) })).status, 413);
  async function* chunks() { for (let i = 0; i < 4; i++) yield Buffer.alloc(512); }
  const counted = await get('/x', { method: 'POST', body: chunks() }).catch((err: Error) => ({ status: -1, error: err.message }));
  assert.ok(counted.status === 413 || counted.status === -1, JSON.stringify(counted));
  assert.equal((await get('/limited/')).status, 200);
  const refused = await get('/limited/');
  assert.equal(refused.status, 429);
  assert.equal(refused.headers['retry-after'], '1');
  assert.equal((await get('/x')).status, 200, 'the session still serves');
});

test('an HTTP/2 session that sends nothing is closed after client_header_timeout', { timeout: 20_000 }, async () => {
  const tls = await certFiles('idle.test');
  const p = await startProxy((port) => `server { listen 127.0.0.1:${port} ssl; ssl_certificate ${tls.cert}; ssl_certificate_key ${tls.key}; client_header_timeout 1s; client_body_timeout 1s; return 200 ok; }`);
  try {
    const session = h2connect(`https://127.0.0.1:${p.port}`, { rejectUnauthorized: false });
    const started = Date.now();
    await new Promise<void>((resolve) => session.on('close', () => resolve()));
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 8000, `closed after ${took} ms`);
  } finally {
    await p.close();
  }
});
