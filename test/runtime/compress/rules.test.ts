import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Backend, type Behavior } from '../../helpers/backends.ts';
import { raw, startProxy, upstream, type TestProxy } from '../../helpers/proxy.ts';
import { decode, fetchRaw, origin, PAGE, seen } from './origin.ts';

// What is compressed and what is not, and the headers that go with it
// (spec/compression.md § What is compressed, § Headers), against a real origin
// through a real lbconf.

const q = (params: Record<string, string>) => `/?${new URLSearchParams(params)}`;

describe('compression: what is compressed, and the headers', { timeout: 30_000 }, () => {
  let b: Backend;
  let pre: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('origin', origin).listen();
    // An origin that compresses by itself.
    const precompressed: Behavior = (_req, res) => {
      const body = gzipSync(PAGE);
      res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip', 'content-length': String(body.length), etag: '"pre"' });
      res.end(body);
    };
    pre = await new Backend('pre', precompressed).listen();
    p = await startProxy((port) => `${upstream('app', [b.address])} ${upstream('pre', [pre.address])}
      server {
        listen 127.0.0.1:${port};
        gzip on;
        gzip_min_length 1000;
        location / { proxy_pass http://app; }
        location /pre/ { proxy_pass http://pre; }
        location /json/ { gzip_types application/json text/*; proxy_pass http://app; }
        location /all/ { gzip_types *; proxy_pass http://app; }
        location /off/ { gzip off; proxy_pass http://app; }
        location /novary/ { gzip_vary off; proxy_pass http://app; }
        location /proxied-any/ { gzip_proxied any; proxy_pass http://app; }
        location /proxied-nocache/ { gzip_proxied no-cache auth; proxy_pass http://app; }
        location /proxied-expired/ { gzip_proxied expired no_etag; proxy_pass http://app; }
      }`);
  });

  after(async () => {
    await p?.close();
    await b?.kill();
    await pre?.kill();
  });

  const compressed = (r: { headers: Record<string, unknown> }) => r.headers['content-encoding'] === 'gzip';

  test('a compressed response: Content-Encoding, no Content-Length or Accept-Ranges, Vary, and the exact bytes', async () => {
    const r = await fetchRaw(p, '/', 'gzip');
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers['accept-ranges'], undefined);
    assert.equal(r.headers.vary, 'Accept-Encoding');
    assert.ok(decode(r.body, 'gzip').equals(PAGE));
  });

  test('the body goes out with chunked framing', async () => {
    const text = await raw(p.port, 'GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n');
    const head = text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
    assert.match(head, /^http\/1\.1 200/);
    assert.match(head, /\r\ntransfer-encoding: chunked(\r\n|$)/);
    assert.doesNotMatch(head, /content-length/);
  });

  test('ETag: a strong one is weakened, a weak one kept; untouched when not compressed', async () => {
    assert.equal((await fetchRaw(p, q({ etag: '"v1"' }), 'gzip')).headers.etag, 'W/"v1"');
    assert.equal((await fetchRaw(p, q({ etag: 'W/"v1"' }), 'gzip')).headers.etag, 'W/"v1"');
    assert.equal((await fetchRaw(p, q({ etag: '"v1"' }), 'identity')).headers.etag, '"v1"');
  });

  test('Vary: added even when this client gets identity, merged with the origin\'s, never twice', async () => {
    assert.equal((await fetchRaw(p, '/', undefined)).headers.vary, 'Accept-Encoding');
    assert.equal((await fetchRaw(p, q({ vary: 'Cookie' }), 'gzip')).headers.vary, 'Cookie, Accept-Encoding');
    assert.equal((await fetchRaw(p, q({ vary: 'accept-encoding, Cookie' }), 'gzip')).headers.vary, 'accept-encoding, Cookie');
    assert.equal((await fetchRaw(p, q({ vary: '*' }), 'gzip')).headers.vary, '*');
    // gzip_vary off: compressed, no Vary.
    const off = await fetchRaw(p, '/novary/', 'gzip');
    assert.ok(compressed(off));
    assert.equal(off.headers.vary, undefined);
  });

  test('skipped: a response the origin already encoded passes through byte for byte', async () => {
    const r = await fetchRaw(p, '/pre/', 'gzip, br, zstd');
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.ok(r.body.equals(gzipSync(PAGE)));
    assert.equal(r.headers['content-length'], String(r.body.length));
    assert.equal(r.headers.etag, '"pre"');
    assert.equal(r.headers.vary, undefined);
  });

  test('skipped: shorter than gzip_min_length by Content-Length; without Content-Length it is compressed', async () => {
    const small = await fetchRaw(p, q({ size: '999' }), 'gzip');
    assert.equal(small.headers['content-encoding'], undefined);
    assert.equal(small.headers['content-length'], '999');
    assert.ok(small.body.equals(PAGE.subarray(0, 999)));
    assert.ok(compressed(await fetchRaw(p, q({ size: '1000' }), 'gzip')));
    const streamed = await fetchRaw(p, q({ size: '10', chunked: '' }), 'gzip');
    assert.ok(compressed(streamed));
    assert.ok(decode(streamed.body, 'gzip').equals(PAGE.subarray(0, 10)));
  });

  test('skipped: a type not in gzip_types (text/html always is; type/* and * work)', async () => {
    const json = q({ 'content-type': 'application/json' });
    assert.ok(!compressed(await fetchRaw(p, json, 'gzip')));
    assert.ok(compressed(await fetchRaw(p, `/json${json}`, 'gzip')));
    assert.ok(compressed(await fetchRaw(p, `/json${q({ 'content-type': 'text/css' })}`, 'gzip')));
    assert.ok(compressed(await fetchRaw(p, `/json/`, 'gzip')), 'text/html is always compressed');
    assert.ok(compressed(await fetchRaw(p, `/json${q({ 'content-type': 'Application/JSON; charset=utf-8' })}`, 'gzip')));
    assert.ok(compressed(await fetchRaw(p, `/all${json}`, 'gzip')));
    // Under `*`, what is compressed already is not compressed again, and event streams are not held in a buffer.
    for (const type of ['image/png', 'video/mp4', 'application/zip', 'font/woff2', 'text/event-stream']) {
      const r = await fetchRaw(p, `/all${q({ 'content-type': type })}`, 'gzip');
      assert.ok(!compressed(r), type);
      assert.equal(r.headers.vary, undefined, type);
    }
    assert.ok(compressed(await fetchRaw(p, `/all${q({ 'content-type': 'image/svg+xml' })}`, 'gzip')));
    assert.ok(!compressed(await fetchRaw(p, `/all${q({ 'content-type': '' })}`, 'gzip')), 'no type: not compressed');
  });

  test('skipped: a Range request (206 is not compressed)', async () => {
    const r = await fetchRaw(p, '/', 'gzip', { range: 'bytes=100-199' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers['content-range'], `bytes 100-199/${PAGE.length}`);
    assert.ok(r.body.equals(PAGE.subarray(100, 200)));
  });

  test('skipped: Cache-Control: no-transform (and no Vary)', async () => {
    const r = await fetchRaw(p, q({ 'cache-control': 'public, No-Transform', etag: '"v"' }), 'gzip');
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers['content-length'], String(PAGE.length));
    assert.equal(r.headers.etag, '"v"');
    assert.equal(r.headers.vary, undefined);
    assert.ok(r.body.equals(PAGE));
  });

  test('statuses: 200, 403 and 404 are compressed, others are not; lbconf\'s own errors are not', async () => {
    assert.ok(compressed(await fetchRaw(p, q({ status: '404' }), 'gzip')));
    assert.ok(compressed(await fetchRaw(p, q({ status: '403' }), 'gzip')));
    assert.ok(!compressed(await fetchRaw(p, q({ status: '500' }), 'gzip')));
    assert.ok(!compressed(await fetchRaw(p, q({ status: '201' }), 'gzip')));
    const down = await startProxy((port) => `server { listen 127.0.0.1:${port}; gzip on; gzip_min_length 0; gzip_types *; location / { proxy_pass http://127.0.0.1:1; } }`);
    try {
      const r = await fetchRaw(down, '/', 'gzip');
      assert.equal(r.status, 502);
      assert.equal(r.headers['content-encoding'], undefined);
    } finally {
      await down.close();
    }
  });

  test('HEAD: the headers a GET would get (Content-Encoding, no Content-Length, weak ETag, Vary), and no body', async () => {
    const r = await fetchRaw(p, q({ etag: '"h"' }), 'gzip', {}, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers.etag, 'W/"h"');
    assert.equal(r.headers.vary, 'Accept-Encoding');
    assert.equal(r.body.length, 0);
    // And the connection is still good for the next request.
    assert.ok(compressed(await fetchRaw(p, '/', 'gzip')));
  });

  test('304: the weak ETag and Vary the 200 would carry, no Content-Encoding, no body', async () => {
    const r = await fetchRaw(p, q({ status: '304', etag: '"n"' }), 'gzip', { 'if-none-match': 'W/"n"' });
    assert.equal(r.status, 304);
    assert.equal(r.headers.etag, 'W/"n"');
    assert.equal(r.headers.vary, 'Accept-Encoding');
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.body.length, 0);
  });

  test('304 to a client holding the identity body (it sent the strong tag): the validators stay as the origin sent them', async () => {
    // An image is never compressed: its client validates with the strong tag, and must get it back.
    const r = await fetchRaw(p, q({ status: '304', etag: '"img1"' }), 'gzip', { 'if-none-match': '"img1"' });
    assert.equal(r.status, 304);
    assert.equal(r.headers.etag, '"img1"');
    assert.equal(r.headers.vary, undefined);
  });

  test('`gzip off` in a location turns off what its server turned on', async () => {
    const r = await fetchRaw(p, '/off/', 'gzip');
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers.vary, undefined);
    assert.ok(r.body.equals(PAGE));
  });

  test('gzip_proxied: a request with Via is not compressed by default; `any` and nginx\'s conditions allow it', async () => {
    const via = { via: '1.1 cdn' };
    const first = await fetchRaw(p, '/', 'gzip', via);
    assert.ok(!compressed(first));
    assert.equal(first.headers.vary, 'Accept-Encoding', 'the response still varies');
    assert.match(String(seen.headers.via), /1\.1 cdn, 1\.1 lbconf/);
    assert.ok(compressed(await fetchRaw(p, '/proxied-any/', 'gzip', via)));
    // no-cache auth: by Cache-Control, or by Authorization.
    assert.ok(compressed(await fetchRaw(p, `/proxied-nocache/${q({ 'cache-control': 'no-cache' })}`, 'gzip', via)));
    assert.ok(!compressed(await fetchRaw(p, `/proxied-nocache/${q({ 'cache-control': 'max-age=60' })}`, 'gzip', via)));
    assert.ok(compressed(await fetchRaw(p, `/proxied-nocache/${q({ 'cache-control': 'max-age=60' })}`, 'gzip', { ...via, authorization: 'Bearer x' })));
    // expired no_etag: an Expires in the past; without Expires and Cache-Control, only without an ETag.
    assert.ok(compressed(await fetchRaw(p, `/proxied-expired/${q({ expires: 'Thu, 01 Jan 1970 00:00:00 GMT' })}`, 'gzip', via)));
    assert.ok(!compressed(await fetchRaw(p, `/proxied-expired/${q({ expires: new Date(Date.now() + 3_600_000).toUTCString() })}`, 'gzip', via)));
    assert.ok(compressed(await fetchRaw(p, '/proxied-expired/', 'gzip', via)));
    assert.ok(!compressed(await fetchRaw(p, `/proxied-expired/${q({ etag: '"e"' })}`, 'gzip', via)));
    // Without Via, gzip_proxied does not matter.
    assert.ok(compressed(await fetchRaw(p, '/', 'gzip')));
  });
});
