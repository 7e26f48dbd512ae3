// `Cache-Control` as RFC 9111 §5.2 reads it, for requests and responses alike:
// one pass over the header, directive names case-insensitive, arguments as
// tokens or quoted strings. Seconds are kept as numbers; -1 means absent.

export interface CacheControl {
  maxAge: number;
  sMaxAge: number;
  /** Request: `max-stale` with no value accepts any staleness (Infinity). */
  maxStale: number;
  minFresh: number;
  staleWhileRevalidate: number;
  staleIfError: number;
  noStore: boolean;
  /** `no-cache`, qualified or not (a cache may treat `no-cache="field"` as unqualified, §5.2.2.4). */
  noCache: boolean;
  /** `private`, qualified or not: a shared cache stores neither. */
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  onlyIfCached: boolean;
  noTransform: boolean;
}

export const NO_DIRECTIVES: Readonly<CacheControl> = Object.freeze(empty());

function empty(): CacheControl {
  return {
    maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, staleWhileRevalidate: -1, staleIfError: -1,
    noStore: false, noCache: false, private: false, public: false, mustRevalidate: false, proxyRevalidate: false, onlyIfCached: false, noTransform: false,
  };
}

/** delta-seconds (§1.2.2): digits only; too large a value is 2^31, as the RFC asks. Anything else: -1 (the directive is ignored). */
function seconds(value: string | null): number {
  if (value === null || !/^\d+$/.test(value)) return -1;
  const n = Number(value);
  return n > 2_147_483_648 ? 2_147_483_648 : n;
}

/** The directives of one or more Cache-Control field lines; NO_DIRECTIVES when there are none. */
export function parseCacheControl(header: string | string[] | undefined): Readonly<CacheControl> {
  if (header === undefined || header === '') return NO_DIRECTIVES;
  const text = Array.isArray(header) ? header.join(',') : header;
  const cc = empty();
  // A comma inside a quoted value (`no-cache="a, b"`) splits it, harmlessly: the
  // directive keeps its name, the rest reads as an unknown directive and is ignored.
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    let value: string | null = eq < 0 ? null : part.slice(eq + 1).trim();
    if (value !== null && value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34) value = value.slice(1, -1);
    switch (name) {
      case 'max-age': cc.maxAge = seconds(value); break;
      case 's-maxage': cc.sMaxAge = seconds(value); break;
      case 'max-stale': cc.maxStale = value === null ? Infinity : seconds(value); break;
      case 'min-fresh': cc.minFresh = seconds(value); break;
      case 'stale-while-revalidate': cc.staleWhileRevalidate = seconds(value); break;
      case 'stale-if-error': cc.staleIfError = seconds(value); break;
      case 'no-store': cc.noStore = true; break;
      case 'no-cache': cc.noCache = true; break;
      case 'private': cc.private = true; break;
      case 'public': cc.public = true; break;
      case 'must-revalidate': cc.mustRevalidate = true; break;
      case 'proxy-revalidate': cc.proxyRevalidate = true; break;
      case 'only-if-cached': cc.onlyIfCached = true; break;
      case 'no-transform': cc.noTransform = true; break;
    }
  }
  return cc;
}
