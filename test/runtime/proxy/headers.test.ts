import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { raw, startProxy, upstream, type TestProxy } from '../../helpers/proxy.ts';

// The header pipeline on real sockets (spec/proxy.md § Headers sent upstream).

/** The backend answers with the request headers it got, as [name, value] pairs in order. */
function mirror(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/hop') {
    res.writeHead(200, [
      ['Connection', 'X-Internal, keep-alive'], ['X-Internal', 'secret'], ['Keep-Alive', 'timeout=5, max=7'],
      ['Proxy-Authenticate', 'Basic'], ['X-Public', 'yes'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Content-Type', 'text/plain'],
    ].flat());
    res.end('hop');
    return;
  }
  const pairs: [string, string][] = [[':url', req.url!]];
  for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
  let body = '';
  req.setEncoding('latin1');
  req.on('data', (c: string) => { body += c; });
  req.on('end', () => {
    // The body, if any, as a pseudo-header at the end.
    if (body) pairs.push([':body', body]);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(pairs));
  });
}

function all(pairs: [string, string][], name: string): string[] {
  return pairs.filter(([n]) => n === name).map(([, v]) => v);
}

/** A raw request (so hop-by-hop headers go out as written) → the headers the backend saw. */
async function seen(p: TestProxy, path: string, headers: string): Promise<[string, string][]> {
  const text = await raw(p.port, `GET ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);
  assert.match(text, /^HTTP\/1\.1 200 /, text);
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, '')) as [string, string][];
}

describe('headers', { timeout: 20_000 }, () => {
  let backend: Backend;
  let p: TestProxy;
  before(async () => {
    backend = await new Backend('m', mirror).listen();
    p = await startProxy((port) => `${upstream('app', [backend.address])}
      server {
        listen 127.0.0.1:${port};
        location / { proxy_pass http://app; }
        location /host/ { proxy_set_header Host $host; proxy_pass http://app; }
        location /set/ { proxy_set_header X-Foo ""; proxy_set_header X-Added "v-$arg_v"; proxy_pass http://app; }
        location /api/ { proxy_set_header X-Uri $request_uri; proxy_pass http://app/v2/; }
      }`);
  });
  after(async () => {
    await p?.close();
    await stopAll([backend]);
  });

  test('hop-by-hop request headers are stripped, including those the client names in Connection', async () => {
    const h = await seen(p, '/a', 'Host: example.com\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n'
      + 'Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nHTTP2-Settings: AAA\r\nX-Kept: yes\r\nX-Multi: 1\r\nX-Multi: 2\r\n');
    for (const name of ['x-secret', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'http2-settings', 'transfer-encoding', 'upgrade']) {
      assert.deepEqual(all(h, name), [], name);
    }
    // The upstream connection is the proxy's own: only undici's keep-alive, never the client's tokens.
    for (const v of all(h, 'connection')) assert.doesNotMatch(v, /secret/i);
    assert.deepEqual(all(h, 'x-kept'), ['yes']);
    assert.deepEqual(all(h, 'x-multi'), ['1', '2']);
  });

  test('a client cannot strip X-Forwarded-For (or Host, Via) by naming it in Connection', async () => {
    const h = await seen(p, '/a', 'Host: example.com\r\nConnection: X-Forwarded-For, Via, Host, X-Forwarded-Host\r\nX-Forwarded-For: 6.6.6.6\r\n');
    assert.deepEqual(all(h, 'x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(all(h, 'via'), ['1.1 lbconf']);
    assert.deepEqual(all(h, 'host'), ['app']);
    assert.deepEqual(all(h, 'x-forwarded-host'), ['example.com']);
  });

  test('X-Forwarded-For is replaced, Via appended, X-Forwarded-Proto/Host set, Host is the upstream name', async () => {
    const r = await p.get('/a', { headers: { host: 'shop.example:8080', 'x-forwarded-for': '1.2.3.4, 5.6.7.8', via: '1.0 fred', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil' } });
    const h = JSON.parse(r.body) as [string, string][];
    assert.deepEqual(all(h, 'x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(all(h, 'via'), ['1.0 fred, 1.1 lbconf']);
    assert.deepEqual(all(h, 'x-forwarded-proto'), ['http']);
    assert.deepEqual(all(h, 'x-forwarded-host'), ['shop.example:8080']);
    assert.deepEqual(all(h, 'host'), ['app']);
  });

  test('an absolute-form target goes upstream in origin form; its authority is the host', async () => {
    const h = await seen(p, 'http://shop.example:8080/a/b?x=1', 'Host: ignored.example\r\n');
    assert.deepEqual(all(h, ':url'), ['/a/b?x=1']);
    assert.deepEqual(all(h, 'host'), ['app']);
    assert.deepEqual(all(h, 'x-forwarded-host'), ['shop.example:8080']);
  });

  test('proxy_pass with a URI replaces the matched prefix; $request_uri is the target as received', async () => {
    let h = await seen(p, '/api/a%20b/c?q=1&r=%2F', 'Host: x\r\n');
    assert.deepEqual(all(h, ':url'), ['/v2/a%20b/c?q=1&r=%2F']);
    assert.deepEqual(all(h, 'x-uri'), ['/api/a%20b/c?q=1&r=%2F']);
    h = await seen(p, 'http://x/api/?q', 'Host: x\r\n');
    assert.deepEqual(all(h, ':url'), ['/v2/?q']);
    assert.deepEqual(all(h, 'x-uri'), ['/api/?q']);
  });

  test('proxy_set_header Host $host passes the client host', async () => {
    const r = await p.get('/host/x', { headers: { host: 'Shop.Example:8080' } });
    const h = JSON.parse(r.body) as [string, string][];
    assert.deepEqual(all(h, 'host'), ['shop.example']);
  });

  test('proxy_set_header with an empty value removes the header; others are evaluated', async () => {
    const r = await p.get('/set/x?v=42', { headers: { 'x-foo': 'bar', 'x-added': 'client' } });
    const h = JSON.parse(r.body) as [string, string][];
    assert.deepEqual(all(h, 'x-foo'), []);
    assert.deepEqual(all(h, 'x-added'), ['v-42']);
    // A level that sets headers still gets lbconf's own.
    assert.deepEqual(all(h, 'host'), ['app']);
    assert.deepEqual(all(h, 'x-forwarded-for'), ['127.0.0.1']);
  });

  test('hop-by-hop response headers are stripped, including those the upstream names in Connection', async () => {
    const r = await p.get('/hop');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hop');
    assert.equal(r.headers['x-internal'], undefined);
    assert.equal(r.headers['proxy-authenticate'], undefined);
    assert.doesNotMatch(String(r.headers['keep-alive']), /max=7/);
    assert.equal(r.headers['x-public'], 'yes');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  });

  test('a request body is forwarded with its length; a chunked one is re-framed', async () => {
    const body = 'x'.repeat(1000);
    const sized = JSON.parse((await p.get('/a', { method: 'POST', body })).body) as [string, string][];
    assert.deepEqual(all(sized, 'content-length'), ['1000']);
    assert.deepEqual(all(sized, ':body'), [body]);
    const text = await raw(p.port, 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /\[":body","abc"\]/);
  });

  test('Expect: 100-continue is answered by the proxy and not passed on', async () => {
    const text = await raw(p.port, 'POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
    assert.match(text, /HTTP\/1\.1 200 /, text);
    assert.doesNotMatch(text.slice(text.lastIndexOf('\r\n\r\n')), /"expect"/);
  });

  test('$arg_ goes as the client sent it, not decoded (as nginx): an escaped CR LF cannot split a header', async () => {
    for (const v of ['%0d%0aX-Injected:%201', '%E2%82%AC', '%00']) {
      const r = await p.get(`/set/x?v=${v}`);
      assert.equal(r.status, 200, v);
      const seen = JSON.parse(r.body) as [string, string][];
      assert.deepEqual(all(seen, 'x-added'), [`v-${v}`]);
      assert.deepEqual(all(seen, 'x-injected'), []);
    }
  });
});
