import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkText } from '../../../compiler/check.ts';
import { parseCacheControl } from '../../../runtime/filters/cache/cache-control.ts';
import { CacheEntry, CHUNK_OVERHEAD, chunkBytes, ENTRY_OVERHEAD, STRING_OVERHEAD, stringBytes } from '../../../runtime/filters/cache/entry.ts';
import { currentAge, freshnessLifetime, HEURISTIC_CAP, initialAge } from '../../../runtime/filters/cache/freshness.ts';
import { parseRange, sliceChunks } from '../../../runtime/filters/cache/range.ts';
import { CacheStore } from '../../../runtime/filters/cache/store.ts';

// The arithmetic and parsing under the cache: Cache-Control, freshness and
// age (RFC 9111 §4.2), Range, the byte-bounded LRU, and the directives' checks.

describe('Cache-Control parsing', () => {
  it('reads directives case-insensitively, with token or quoted values', () => {
    const cc = parseCacheControl('Max-Age=60, s-maxage="120", no-cache="set-cookie, x", PUBLIC, max-stale');
    assert.equal(cc.maxAge, 60);
    assert.equal(cc.sMaxAge, 120);
    assert.equal(cc.noCache, true);
    assert.equal(cc.public, true);
    assert.equal(cc.maxStale, Infinity);
    assert.equal(parseCacheControl(['max-age=5', 'must-revalidate']).mustRevalidate, true);
  });
  it('ignores a malformed delta-seconds', () => {
    assert.equal(parseCacheControl('max-age=abc').maxAge, -1);
    assert.equal(parseCacheControl('max-age=-1').maxAge, -1);
    assert.equal(parseCacheControl('max-age=99999999999').maxAge, 2 ** 31);
  });
});

describe('freshness arithmetic', () => {
  const none = parseCacheControl(undefined);
  it('the lifetime: s-maxage, max-age, Expires − Date, configured, heuristic, in that order', () => {
    const date = Date.parse('2025-01-01T00:00:00Z');
    const f = (cc: string, extra: Partial<Parameters<typeof freshnessLifetime>[0]> = {}) =>
      freshnessLifetime({ status: 200, cc: parseCacheControl(cc), date, expires: null, lastModified: null, ...extra }, [{ codes: [200], ttl: 5000 }]);
    assert.deepEqual(f('max-age=10, s-maxage=20'), { lifetime: 20_000, source: 's-maxage' });
    assert.deepEqual(f('max-age=10', { expires: new Date(date + 99_000).toUTCString() }), { lifetime: 10_000, source: 'max-age' });
    assert.deepEqual(f('', { expires: new Date(date + 99_000).toUTCString() }), { lifetime: 99_000, source: 'expires' });
    assert.deepEqual(f('', { expires: '0' }), { lifetime: 0, source: 'expires' });
    assert.deepEqual(f('', { lastModified: new Date(date - 1000_000).toUTCString() }), { lifetime: 5000, source: 'configured' });
  });
  it('the heuristic is 10% of Date − Last-Modified, never more than the cap, never negative', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 ** 11 }), (sinceModified) => {
      const date = 1_700_000_000_000;
      const lm = new Date(Math.floor((date - sinceModified) / 1000) * 1000).toUTCString();
      const { lifetime, source } = freshnessLifetime({ status: 200, cc: none, date, expires: null, lastModified: lm }, []);
      assert.ok(lifetime >= 0 && lifetime <= HEURISTIC_CAP);
      if (source === 'heuristic') assert.ok(Math.abs(lifetime - Math.min(HEURISTIC_CAP, (date - Date.parse(lm)) * 0.1)) <= 1);
    }));
  });
  it('the age (§4.2.3) is never below the Age header, the apparent age, or the time stored', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 10 ** 6 }), fc.integer({ min: 0, max: 10 ** 5 }), fc.integer({ min: -(10 ** 6), max: 10 ** 6 }), fc.integer({ min: 0, max: 10 ** 5 }), fc.integer({ min: 0, max: 10 ** 6 }),
      (age, delay, skew, request, resident) => {
        const requestTime = 1_700_000_000_000 + request;
        const responseTime = requestTime + delay;
        const date = responseTime + skew;
        const initial = initialAge({ requestTime, responseTime, date, age });
        assert.ok(initial >= age * 1000);
        assert.ok(initial >= responseTime - date);
        assert.ok(initial >= 0);
        assert.equal(currentAge(initial, responseTime, responseTime + resident), initial + resident);
      },
    ));
  });
});

describe('Range', () => {
  it('one range, suffixes, open ends; unsatisfiable; others ignored', () => {
    assert.deepEqual(parseRange('bytes=0-4', 10), [0, 4]);
    assert.deepEqual(parseRange('bytes=5-', 10), [5, 9]);
    assert.deepEqual(parseRange('bytes=-3', 10), [7, 9]);
    assert.deepEqual(parseRange('bytes=8-100', 10), [8, 9]);
    assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,3-4', 10), null);
    assert.equal(parseRange('items=0-1', 10), null);
    assert.equal(parseRange('bytes=5-2', 10), null);
  });
  it('slices stored chunks exactly', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 10 }), fc.nat(), fc.nat(), (parts, a, b) => {
      const chunks = parts.map((p) => Buffer.from(p));
      const whole = Buffer.concat(chunks);
      const start = a % whole.length;
      const end = start + (b % (whole.length - start));
      assert.deepEqual(Buffer.concat(sliceChunks(chunks, start, end)), whole.subarray(start, end + 1));
    }));
  });
});

describe('the store', () => {
  /** A request that sends none of the headers a Vary names. */
  const NO_VARY = { value: () => '' };
  it('never holds more than its limit, evicting the least recently used', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(30), fc.nat(3000), fc.boolean())), (ops) => {
      const store = new CacheStore('t', 8192, 4096);
      for (const [k, size, read] of ops) {
        if (read) { store.find(`k${k}`, NO_VARY); continue; }
        const e = new CacheEntry(`k${k}`, `http://x/k${k}`, [], []);
        const cost = e.fixedBytes() + size;
        if (size > store.maxObject || !store.reserve(cost)) continue;
        e.bytes = cost;
        e.size = size;
        e.complete = true;
        store.insert(e);
        assert.ok(store.bytes <= store.limit);
      }
      assert.ok(store.highWater <= store.limit);
    }));
  });
  it('storing through begin, append, commit and abandon: the bytes held are those of the entries, and invalidation finds every key of a URI', () => {
    // Keys k0..k11 over URIs u0..u3 (a key like `$uri$cookie_lang` stores several keys for one URI), bodies in chunks.
    const op = fc.oneof(
      fc.record({ put: fc.nat(11), chunks: fc.array(fc.nat(300), { maxLength: 4 }), give: fc.boolean() }),
      fc.record({ invalidate: fc.nat(3) }),
      fc.record({ purge: fc.nat(11) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const store = new CacheStore('t', 16 * 1024, 1024);
      const uriOf = (k: number) => `http://x/u${k % 4}`;
      for (const o of ops) {
        if ('put' in o) {
          const e = new CacheEntry(`k${o.put}`, uriOf(o.put), [], []);
          e.describe(200, 'OK', ['cache-control', 'max-age=60'], 0, 0, []);
          if (!store.begin(e)) continue;
          let kept = true;
          for (const n of o.chunks) if (!store.append(e, Buffer.alloc(n, 1))) { kept = false; break; }
          if (!kept || o.give) { store.abandon(e); continue; }
          store.commit(e);
          assert.equal(e.bytes, e.cost(), 'what was reserved is what it costs');
          assert.ok(store.find(`k${o.put}`, NO_VARY) === e);
        } else if ('invalidate' in o) {
          store.invalidate(`http://x/u${o.invalidate}`);
          for (let k = o.invalidate; k < 12; k += 4) assert.equal(store.find(`k${k}`, NO_VARY), null, `k${k} invalidated with its URI`);
        } else {
          store.purge(`k${o.purge}`);
          assert.equal(store.find(`k${o.purge}`, NO_VARY), null);
        }
        let held = 0;
        for (let k = 0; k < 12; k++) held += store.find(`k${k}`, NO_VARY)?.bytes ?? 0;
        assert.equal(store.bytes, held, 'nothing reserved is left behind');
        assert.ok(store.bytes <= store.limit);
      }
    }));
  });
  it('max_object bounds the body; an entry is counted with its strings, chunks and overhead', () => {
    const store = new CacheStore('t', 64 * 1024, 100);
    const e = new CacheEntry('https example.test /a', 'https://example.test/a', ['accept-encoding'], ['gzip']);
    e.describe(200, 'OK', ['content-type', 'text/plain', 'etag', '"v1"'], 0, 0, []);
    assert.equal(e.fixedBytes(), ENTRY_OVERHEAD + 8 * STRING_OVERHEAD + 21 + 22 + 'content-typetext/plainetag"v1"'.length + 'accept-encodinggzip'.length);
    assert.ok(store.begin(e), 'its headers and key do not count against max_object');
    assert.ok(store.append(e, Buffer.alloc(60)));
    assert.ok(store.append(e, Buffer.alloc(40)));
    assert.equal(store.append(e, Buffer.alloc(1)), false, 'the 101st byte of body');
    assert.equal(e.bytes, e.fixedBytes() + 100 + 2 * 240);
    assert.equal(chunkBytes(65), 65 + CHUNK_OVERHEAD);
    // A value that is not Latin-1 is two bytes a character.
    assert.equal(stringBytes('ü'), STRING_OVERHEAD + 1);
    assert.equal(stringBytes('€'), STRING_OVERHEAD + 2);
  });
  it('keeps the most recently used', () => {
    const store = new CacheStore('t', 3 * 400, 400);
    const put = (k: string) => { const e = new CacheEntry(k, k, [], []); e.bytes = 400; store.reserve(400); e.complete = true; store.insert(e); };
    put('a'); put('b'); put('c');
    store.find('a', NO_VARY);
    put('d');
    assert.ok(store.find('a', NO_VARY) !== null);
    assert.equal(store.find('b', NO_VARY), null);
  });
});

describe('cache directives', () => {
  const errors = (src: string) => checkText(src, 't.lbconf').diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}`);
  it('an undeclared zone, a bad size, a duplicate zone, a bad status header and purge method are reported where written', () => {
    assert.deepEqual(errors('proxy_cache_zone z size=1m;\nserver { listen 80; location / { proxy_cache y; proxy_pass http://127.0.0.1:1; } }'), ['2:46 unknown-cache-zone']);
    assert.deepEqual(errors('proxy_cache_zone z size=1m max_object=2m;'), ['1:28 invalid-value']);
    assert.deepEqual(errors('proxy_cache_zone z size=1m;\nproxy_cache_zone z size=2m;'), ['2:18 duplicate-zone']);
    assert.deepEqual(errors('proxy_cache_status_header X-Cache;'), ['1:27 bad-argument']);
    assert.deepEqual(errors('proxy_cache_purge 127.0.0.1 method=BAN;'), ['1:29 bad-argument']);
    assert.deepEqual(errors('server { listen 80; proxy_cache_valid 200 abc; }'), ['1:43 bad-argument']);
  });
  it('settings inherit down to locations, and the zone size is copied into each use', () => {
    const { ir } = checkText('proxy_cache_zone z size=1m;\nproxy_cache z;\nproxy_cache_valid 5m;\nserver { listen 80; location / { proxy_cache_lock off; proxy_pass http://127.0.0.1:1; } }', 't.lbconf');
    const s = ir.servers[0].locations[0].settings;
    assert.deepEqual(s.cache, { name: 'z', size: 1024 * 1024, maxObject: 128 * 1024 });
    assert.equal(s.cacheLock, false);
    assert.deepEqual(s.cacheValid, [{ codes: [200, 301, 302], ttl: 300_000 }]);
  });
});
