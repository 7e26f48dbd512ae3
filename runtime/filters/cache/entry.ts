import { NO_DIRECTIVES, parseCacheControl, type CacheControl } from './cache-control.ts';
import { currentAge, freshnessLifetime, httpDate, initialAge, type ConfiguredLifetime, type LifetimeSource } from './freshness.ts';
import { authorizationAllowed } from './storable.ts';

// One stored response (one variant of a key): status, headers as sent to
// clients, body chunks, and what its freshness is computed from. Entries are
// also the nodes of their store's LRU list (prev/next), so the list costs no
// allocation of its own.

// What an entry costs in memory, counted against its zone's `size=` so that
// a zone of tiny objects holds about `size` bytes too, not several times that
// (spec/cache.md, "The byte bound"). Measured on Node 24 (V8, 64-bit, no
// pointer compression) as the growth of heapUsed + external after a full GC
// per entry, storing 60k tiny responses through the proxy and 100k straight
// into a store (test/runtime/cache/accounting.test.ts holds it within bounds),
// and the growth of RSS per chunk for what V8 does not count:
//
// - ENTRY_OVERHEAD: the CacheEntry object (26 fields, and the boxed numbers of
//   its freshness: about 300 bytes), its header and chunk lists, its slots in
//   the store's key and URI maps and its key's list of variants;
// - STRING_OVERHEAD per string held (the key, the URI, each header name and
//   value, each Vary name and value): V8's string header and alignment and the
//   list slot that holds it (header names are shared by all entries: counting
//   them covers the values' alignment);
// - per stored body chunk, its Buffer and ArrayBuffer objects (about 210
//   bytes) and, for more than 64 bytes, the native backing store and its
//   allocation (about 180 more, outside V8's heap); up to 64 bytes V8 keeps
//   the bytes in its heap.
//
// Text is counted a byte a character, and twice that when it is not Latin-1
// (V8 then keeps two bytes a character). Measured so, a zone counts within a
// few percent of what it holds: 1081 bytes counted for 1057 taken per tiny
// response stored through the proxy; 67.1 MB counted for 72.1 MB taken with
// 100k tiny responses through a 64 MiB zone (the rest: its maps' room after
// evictions).

/** Bytes an entry costs besides its strings and body: the object, its lists, its map slots. */
export const ENTRY_OVERHEAD = 448;

/** Bytes a string costs besides its characters (header, alignment, the slot that holds it). */
export const STRING_OVERHEAD = 24;

/** Bytes a stored body chunk of more than 64 bytes costs besides its data; 240 for one of 64 or fewer. */
export const CHUNK_OVERHEAD = 384;

/** What a stored body chunk of `length` bytes is counted as. */
export function chunkBytes(length: number): number {
  return length + (length <= 64 ? 240 : CHUNK_OVERHEAD);
}

const NOT_LATIN1 = /[^\x00-\xff]/;

/** What a string held by an entry is counted as. */
export function stringBytes(s: string): number {
  return STRING_OVERHEAD + (NOT_LATIN1.test(s) ? 2 * s.length : s.length);
}

/**
 * A string an entry may keep: a copy of its own. A header value parsed out of
 * a message head is a slice of the head's text, and V8 keeps a slice of 13
 * characters or more as a view that holds the whole text alive (a request's
 * head with its cookies, a response's with all its fields): stored for the
 * entry's lifetime, that is memory no count sees.
 */
export function own(s: string): string {
  if (s.length < 13 || NOT_LATIN1.test(s)) return s;
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** A list of the entry's own: own() strings, in an array no longer than it needs (one grown by pushing keeps room to spare). */
function ownAll(list: readonly string[]): string[] {
  return list.map(own);
}

/** The lists of an entry without Vary: one, shared, rather than two empty arrays per entry. */
export const NO_VARY: readonly string[] = Object.freeze([]);

/** The value of the first `name` in a flat, lower-case header list, or null. */
export function header(headers: readonly string[], name: string): string | null {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return null;
}

/**
 * CDN-Cache-Control (RFC 9213), the field a shared cache such as lbconf's is
 * targeted by: its directives when it has a valid, non-empty value, else null
 * (then Cache-Control and Expires are read, as for any cache).
 */
export function cdnCacheControl(headers: readonly string[]): Readonly<CacheControl> | null {
  const value = headerAll(headers, 'cdn-cache-control');
  if (value === null || value.trim() === '') return null;
  const cc = parseCacheControl(value);
  return cc === NO_DIRECTIVES ? null : cc;
}

/** The values of every `name`, joined with `, ` (how Vary and Cache-Control lines combine), or null. */
export function headerAll(headers: readonly string[], name: string): string | null {
  let out: string | null = null;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) out = out === null ? headers[i + 1] : `${out}, ${headers[i + 1]}`;
  return out;
}

/** What a list of strings held by an entry (its headers, its Vary values) is counted as. */
export function headerBytes(headers: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < headers.length; i++) n += stringBytes(headers[i]);
  return n;
}

export class CacheEntry {
  /** The primary key (`proxy_cache_key`). */
  readonly key: string;
  /** The effective request URI (scheme://host/path?query), by which unsafe methods invalidate. */
  readonly uri: string;
  /** The request headers this variant was chosen by (its Vary), lower case, and their values then. */
  readonly varyNames: readonly string[];
  readonly varyValues: readonly string[];
  status = 200;
  statusMessage = '';
  /** Flat [name, value, …], lower-case names, as sent to every client. */
  headers: string[] = [];
  chunks: Buffer[] = [];
  /** Body bytes. */
  size = 0;
  /** Bytes counted against the store (reserved as it is stored): cost(). */
  bytes = 0;
  /** The whole body arrived: the entry may serve. */
  complete = false;
  /** In the store's map and LRU list. */
  stored = false;
  /** A background revalidation (stale-while-revalidate) is under way. */
  updating = false;

  // Freshness, recomputed whenever the headers change (a 304 updates them).
  responseTime = 0;
  initialAge = 0;
  lifetime = 0;
  source: LifetimeSource = 'none';
  /** Stale, it must not be used without revalidation (must-revalidate, proxy-revalidate, s-maxage). */
  mustRevalidate = false;
  /** Every use must be revalidated (no-cache). */
  noCache = false;
  /** stale-while-revalidate and stale-if-error, in ms; -1 when absent. */
  staleWhileRevalidate = -1;
  staleIfError = -1;
  /** May answer a request with Authorization (§3.5). */
  authorizationOk = false;
  etag: string | null = null;
  lastModified: string | null = null;

  prev: CacheEntry | null = null;
  next: CacheEntry | null = null;

  constructor(key: string, uri: string, varyNames: readonly string[], varyValues: readonly string[]) {
    this.key = own(key);
    this.uri = own(uri);
    this.varyNames = varyNames.length === 0 ? varyNames : ownAll(varyNames);
    this.varyValues = varyValues.length === 0 ? varyValues : ownAll(varyValues);
  }

  /** Sets status and headers (a copy of its own is kept) and recomputes freshness: `requestTime` is when the request that got them was sent. */
  describe(status: number, statusMessage: string, received: readonly string[], requestTime: number, responseTime: number, configured: readonly ConfiguredLifetime[]): void {
    this.status = status;
    this.statusMessage = own(statusMessage);
    const headers = ownAll(received);
    this.headers = headers;
    // RFC 9213: a CDN-Cache-Control with a value is lbconf's policy, and Cache-Control and Expires are then not read.
    const targeted = cdnCacheControl(headers);
    const cc = targeted ?? parseCacheControl(headerAll(headers, 'cache-control') ?? undefined);
    const parsedDate = httpDate(header(headers, 'date'));
    const date = Number.isNaN(parsedDate) ? responseTime : parsedDate;
    const ageText = header(headers, 'age');
    const age = ageText !== null && /^\d+$/.test(ageText) ? Number(ageText) : 0;
    this.responseTime = responseTime;
    this.initialAge = initialAge({ requestTime, responseTime, date, age });
    const f = freshnessLifetime({ status, cc, date, expires: targeted !== null ? null : header(headers, 'expires'), lastModified: header(headers, 'last-modified') }, configured);
    this.lifetime = f.lifetime;
    this.source = f.source;
    this.mustRevalidate = cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge >= 0;
    this.noCache = cc.noCache;
    this.staleWhileRevalidate = cc.staleWhileRevalidate >= 0 ? cc.staleWhileRevalidate * 1000 : -1;
    this.staleIfError = cc.staleIfError >= 0 ? cc.staleIfError * 1000 : -1;
    this.authorizationOk = authorizationAllowed(cc);
    this.etag = header(headers, 'etag');
    this.lastModified = header(headers, 'last-modified');
  }

  age(now: number): number {
    return currentAge(this.initialAge, this.responseTime, now);
  }

  /** The bytes this entry costs without its body. */
  fixedBytes(): number {
    return ENTRY_OVERHEAD + stringBytes(this.key) + stringBytes(this.uri) + headerBytes(this.headers) + headerBytes(this.varyNames) + headerBytes(this.varyValues);
  }

  /** The bytes this entry costs, body included. */
  cost(): number {
    let n = this.fixedBytes();
    for (let i = 0; i < this.chunks.length; i++) n += chunkBytes(this.chunks[i].length);
    return n;
  }
}
