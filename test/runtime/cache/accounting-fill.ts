import { DEFAULT_CACHE_KEY } from '../../../compiler/directives/cache.ts';
import type { RequestContext } from '../../../runtime/core/context.ts';
import { CacheEntry, headerAll, NO_VARY } from '../../../runtime/filters/cache/entry.ts';
import { effectiveUri } from '../../../runtime/filters/cache/fetch.ts';
import { compileKey } from '../../../runtime/filters/cache/key.ts';
import { CacheStore, normalizeVary, varyNames } from '../../../runtime/filters/cache/store.ts';

// Run by accounting.test.ts in a child process with --expose-gc: stores N tiny
// responses in a zone of SIZE bytes through the store's own API (begin,
// append, commit: what a fetch calls), made the way the proxy makes them,
// and prints what the zone counts and what the heap grew by.
//
// As on the proxy's path: the key and URI are built from a request by the
// default key and effectiveUri; header values are slices of the response
// head's text, as the upstream client's parser makes them; each body chunk is
// a view into a larger socket buffer; one key in ten varies on
// Accept-Encoding, with two variants.

const [size, count] = process.argv.slice(2).map(Number);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function used(): number {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

const key = compileKey(DEFAULT_CACHE_KEY);
const socketBuffer = Buffer.alloc(64 * 1024, 'x');

function store(zone: CacheStore, i: number, variant: string | null): void {
  const requestUri = `/static/img/icon-${i}.png?v=${i % 7}`;
  const ctx = { scheme: 'https', rawHost: 'www.example.com', host: 'www.example.com', requestUri } as unknown as RequestContext;
  const date = new Date(1_760_000_000_000 + i * 1000).toUTCString();
  const vary = variant === null ? '' : 'vary: Accept-Encoding\r\n';
  const head = `HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncache-control: public, max-age=86400\r\ndate: ${date}\r\netag: "${(i * 2654435761 % 2 ** 32).toString(16)}"\r\n${vary}content-length: 43\r\n\r\n`;
  // name: value lines into an object, each value a slice of the head's text; then a flat list, as clientResponseHeaders makes it.
  const parsed: Record<string, string> = {};
  for (let at = head.indexOf('\r\n') + 2; ;) {
    const eol = head.indexOf('\r\n', at);
    if (eol === at) break;
    const colon = head.indexOf(':', at);
    parsed[head.slice(at, colon).toLowerCase()] = head.slice(colon + 2, eol);
    at = eol + 2;
  }
  const headers: string[] = [];
  for (const name in parsed) headers.push(name, parsed[name]);
  const names = varyNames(headerAll(headers, 'vary'));
  const e = names.length === 0 ? new CacheEntry(key(ctx), effectiveUri(ctx), NO_VARY, NO_VARY) : new CacheEntry(key(ctx), effectiveUri(ctx), names, [normalizeVary(variant!)]);
  e.describe(200, head.slice(13, 15), headers, Date.now(), Date.now(), []);
  if (!zone.begin(e)) return;
  const offset = (i * 43) % (socketBuffer.length - 43);
  if (!zone.append(e, socketBuffer.subarray(offset, offset + 43))) { zone.abandon(e); return; }
  zone.commit(e);
}

function fill(zone: CacheStore, from: number, n: number): void {
  for (let i = from; i < from + n; i++) {
    if (i % 10 === 0) { store(zone, i, 'gzip, br'); store(zone, i, 'identity'); } else store(zone, i, null);
  }
}

// Warm up: the code compiled, the maps of the objects made, then dropped.
const warm = new CacheStore('warm', size, size);
fill(warm, 0, 5000);
warm.clear();

const zone = new CacheStore('z', size, Math.floor(size / 8));
const before = used();
fill(zone, 0, count);
const grown = used() - before;
process.stdout.write(JSON.stringify({ size, bytes: zone.bytes, highWater: zone.highWater, entries: zone.entries, grown }));
// Keep the zone alive until the measure is taken.
if (zone.entries < 0) console.log(zone);
