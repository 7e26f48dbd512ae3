import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { within, type TestProxy } from '../../helpers/proxy.ts';
import { cachingProxy, Origin, useOrigin } from './origin.ts';

// Bodies stream to the client while they are stored; an object over
// max_object is passed through, not stored; and the store's byte count never
// passes the zone size, whatever the mix of keys, sizes and variants.

const LIMIT = 64 * 1024;
const MAX_OBJECT = 16 * 1024;

describe('cache: streaming, object size and the memory bound', () => {
  const origin = new Origin();
  let p: TestProxy;
  useOrigin(origin, async () => { p = await cachingProxy(origin, '', '', `size=${LIMIT} max_object=${MAX_OBJECT}`); });

  it('the client receives the first chunk before the origin has finished, and the whole body is stored', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => { release = resolve; });
    let ended = false;
    origin.on('/stream', (_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.write('first;');
      void released.then(() => { ended = true; res.end('second'); });
    });
    const res = await request(`${p.origin}/stream`, { dispatcher: p.agent });
    const it = res.body[Symbol.asyncIterator]();
    const first = await within(it.next(), 2000, 'the first chunk');
    assert.equal(String(first.value), 'first;');
    assert.equal(ended, false, 'the origin had not ended');
    release();
    let rest = '';
    for (let r = await it.next(); !r.done; r = await it.next()) rest += String(r.value);
    assert.equal(rest, 'second');
    const hit = await p.get('/stream');
    assert.equal(hit.headers['x-cache-status'], 'HIT');
    assert.equal(hit.body, 'first;second');
  });

  it('over max_object by Content-Length: passed through whole, not stored', async () => {
    const body = 'x'.repeat(MAX_OBJECT + 1);
    origin.on('/big', (_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(body.length) }); res.end(body); });
    assert.equal((await p.get('/big')).body, body);
    const again = await p.get('/big');
    assert.equal(again.body, body);
    assert.equal(again.headers['x-cache-status'], 'MISS');
  });

  it('over max_object while streaming (no Content-Length): passed through whole, storing given up', async () => {
    origin.on('/big-chunked', (_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      for (let i = 0; i < 40; i++) res.write('y'.repeat(1024));
      res.end();
    });
    const before = p.rt.cacheZones.store('z')!.bytes;
    assert.equal((await p.get('/big-chunked')).body.length, 40 * 1024);
    assert.equal((await p.get('/big-chunked')).headers['x-cache-status'], 'MISS');
    assert.ok(p.rt.cacheZones.store('z')!.bytes <= before + 0, 'the bytes reserved were given back');
  });

  it(`the store never holds more than its ${LIMIT} bytes under a mix of keys, sizes and variants`, async () => {
    const store = p.rt.cacheZones.store('z')!;
    origin.on('/mix', (req, res) => {
      const q = new URL(req.url!, 'http://x').searchParams;
      const size = Number(q.get('size'));
      const h: Record<string, string> = { 'cache-control': 'max-age=60' };
      if (q.has('vary')) h.vary = 'Accept-Language';
      res.writeHead(200, h);
      // Chunked, 1 KiB at a time, so storing is decided as it streams.
      for (let at = 0; at < size; at += 1024) res.write('m'.repeat(Math.min(1024, size - at)));
      res.end();
    });
    let seed = 42;
    const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    let peak = 0;
    let next = 0;
    const total = 400;
    const worker = async () => {
      while (next < total) {
        next++;
        const key = random(80);
        const size = random(4) === 0 ? random(MAX_OBJECT * 2) : random(4096);
        const vary = key % 5 === 0 ? '&vary=1' : '';
        const r = await p.get(`/mix?k=${key}&size=${size}${vary}`, { headers: { 'accept-language': ['en', 'fr', 'de'][random(3)] } });
        assert.equal(r.body.length, size);
        peak = Math.max(peak, store.bytes);
        assert.ok(store.bytes <= LIMIT, `store at ${store.bytes} bytes`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.ok(store.highWater <= LIMIT, `high water ${store.highWater}`);
    assert.ok(peak > LIMIT / 2, `the store was used (peak ${peak})`);
    assert.ok(store.entries > 0 && store.entries < 80, `evictions happened (${store.entries} entries)`);
    assert.ok(origin.hits.size > 0);
  });
});
