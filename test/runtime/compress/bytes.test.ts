import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Backend } from '../../helpers/backends.ts';
import { startProxy, upstream } from '../../helpers/proxy.ts';

// The access log's $body_bytes_sent (and the bytes metric) count what the
// client was sent: with compression, the compressed body, not the origin's.

test('a compressed response is counted by its compressed size', async () => {
  const page = '<html>' + 'lbconf compresses this line. '.repeat(400) + '</html>';
  const b = await new Backend('o', (_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(page); }).listen();
  const log = join(mkdtempSync(join(tmpdir(), 'lbconf-bytes-')), 'access.log');
  const p = await startProxy((port) => `${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; access_log ${log} format=json; location / { gzip on; proxy_pass http://app; } }`);
  let wire = 0;
  try {
    const body = await new Promise<Buffer>((resolve, reject) => {
      request({ port: p.port, host: '127.0.0.1', path: '/', headers: { 'accept-encoding': 'gzip' } }, (res) => {
        assert.equal(res.headers['content-encoding'], 'gzip');
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve(Buffer.concat(parts)));
      }).on('error', reject).end();
    });
    wire = body.length;
    assert.equal(gunzipSync(body).toString(), page);
    assert.ok(wire < page.length / 4, `compressed to ${wire} bytes`);
  } finally {
    await p.close();
    await b.kill();
  }
  const entry = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!) as { body_bytes_sent: number };
  assert.equal(entry.body_bytes_sent, wire);
});

test('through the cache too: a compressed miss and a compressed hit are counted by what the client got', async () => {
  const page = '<html>' + 'lbconf caches, then compresses this line. '.repeat(300) + '</html>';
  const b = await new Backend('o', (_req, res) => { res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'max-age=60' }); res.end(page); }).listen();
  const log = join(mkdtempSync(join(tmpdir(), 'lbconf-bytes-')), 'access.log');
  const p = await startProxy((port) => `proxy_cache_zone z size=1m; ${upstream('app', [b.address])} server { listen 127.0.0.1:${port}; access_log ${log} format=json; location / { proxy_cache z; gzip on; proxy_pass http://app; } }`);
  const wire: number[] = [];
  try {
    for (const expected of ['MISS', 'HIT']) {
      const body = await new Promise<Buffer>((resolve, reject) => {
        request({ port: p.port, host: '127.0.0.1', path: '/page', headers: { 'accept-encoding': 'gzip' } }, (res) => {
          assert.equal(res.headers['x-cache-status'], expected);
          assert.equal(res.headers['content-encoding'], 'gzip');
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve(Buffer.concat(parts)));
        }).on('error', reject).end();
      });
      assert.equal(gunzipSync(body).toString(), page);
      wire.push(body.length);
    }
  } finally {
    await p.close();
    await b.kill();
  }
  const entries = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { body_bytes_sent: number });
  assert.deepEqual(entries.map((e) => e.body_bytes_sent), wire);
});
