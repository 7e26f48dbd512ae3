import { parseCacheControl } from './cache-control.ts';
import { currentAge, freshnessLifetime, httpDate, initialAge, type ConfiguredLifetime, type LifetimeSource } from './freshness.ts';
import { authorizationAllowed } from './storable.ts';

// One stored response (one variant of a key): status, headers as sent to
// clients, body chunks, and what its freshness is computed from. Entries are
// also the nodes of their store's LRU list (prev/next), so the list costs no
// allocation of its own.

/** What an entry costs besides its body and header text: the object, its arrays, the map slots. */
export const ENTRY_OVERHEAD = 256;

/** The value of the first `name` in a flat, lower-case header list, or null. */
export function header(headers: readonly string[], name: string): string | null {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return null;
}

/** The values of every `name`, joined with `, ` (how Vary and Cache-Control lines combine), or null. */
export function headerAll(headers: readonly string[], name: string): string | null {
  let out: string | null = null;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) out = out === null ? headers[i + 1] : `${out}, ${headers[i + 1]}`;
  return out;
}

export function headerBytes(headers: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < headers.length; i++) n += headers[i].length + 2;
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
  /** Bytes counted against the store: body, header text, keys and ENTRY_OVERHEAD. */
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
    this.key = key;
    this.uri = uri;
    this.varyNames = varyNames;
    this.varyValues = varyValues;
  }

  /** Sets status and headers and recomputes freshness: `requestTime` is when the request that got them was sent. */
  describe(status: number, statusMessage: string, headers: string[], requestTime: number, responseTime: number, configured: readonly ConfiguredLifetime[]): void {
    this.status = status;
    this.statusMessage = statusMessage;
    this.headers = headers;
    const cc = parseCacheControl(headerAll(headers, 'cache-control') ?? undefined);
    const parsedDate = httpDate(header(headers, 'date'));
    const date = Number.isNaN(parsedDate) ? responseTime : parsedDate;
    const ageText = header(headers, 'age');
    const age = ageText !== null && /^\d+$/.test(ageText) ? Number(ageText) : 0;
    this.responseTime = responseTime;
    this.initialAge = initialAge({ requestTime, responseTime, date, age });
    const f = freshnessLifetime({ status, cc, date, expires: header(headers, 'expires'), lastModified: header(headers, 'last-modified') }, configured);
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
    return ENTRY_OVERHEAD + this.key.length + this.uri.length + headerBytes(this.headers) + headerBytes(this.varyNames as string[]) + headerBytes(this.varyValues as string[]);
  }
}
