import type { CacheControl } from './cache-control.ts';

// Freshness (RFC 9111 §4.2): how long a stored response may be used without
// asking the origin, and how old it is now. Times are milliseconds since the
// epoch; lifetimes and ages are milliseconds.

/** The cap on a heuristic lifetime: 10% of the time since Last-Modified, at most one day (as common caches do). */
export const HEURISTIC_CAP = 86_400_000;
export const HEURISTIC_FRACTION = 0.1;

/** Statuses RFC 9110 §15.1 defines as heuristically cacheable. */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/** `proxy_cache_valid`, as the runtime reads it: codes (empty for any) and a lifetime. */
export interface ConfiguredLifetime {
  codes: readonly number[];
  ttl: number;
}

/** What the freshness lifetime is computed from. */
export interface FreshnessInput {
  status: number;
  cc: Readonly<CacheControl>;
  /** Parsed Date (the response time when absent or invalid). */
  date: number;
  /** The Expires header as sent, or null. */
  expires: string | null;
  /** The Last-Modified header as sent, or null. */
  lastModified: string | null;
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';
const IMF = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850 = /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and
 * asctime forms) → ms since the epoch; NaN when it is not exactly one of them
 * (wrong separators, a one-digit hour, extra spaces, a missing comma, `UTC`,
 * several values): an invalid Expires then means "already expired" (RFC 9111 §5.3).
 */
export function httpDate(value: string | null): number {
  if (value === null) return NaN;
  let day: string, month: string, year: number, h: string, m: string, s: string;
  let r = IMF.exec(value);
  if (r !== null) { [, day, month] = r; year = Number(r[3]); [h, m, s] = [r[4], r[5], r[6]]; }
  else if ((r = RFC850.exec(value)) !== null) {
    [, day, month] = r;
    // Two digits: the year in the past nearest to it that is not more than 50 years in the future (RFC 9110).
    year = 2000 + Number(r[3]);
    if (year > new Date().getUTCFullYear() + 50) year -= 100;
    [h, m, s] = [r[4], r[5], r[6]];
  } else if ((r = ASCTIME.exec(value)) !== null) {
    month = r[1]; day = r[2].trim(); [h, m, s] = [r[3], r[4], r[5]]; year = Number(r[6]);
  } else return NaN;
  const mi = MONTHS.indexOf(month) / 3;
  const t = Date.UTC(year, mi, Number(day), Number(h), Number(m), Number(s));
  const d = new Date(t);
  // No 31 February, no hour 25: the fields must be what they say.
  if (d.getUTCDate() !== Number(day) || d.getUTCHours() !== Number(h) || d.getUTCMinutes() !== Number(m) || d.getUTCSeconds() !== Number(s)) return NaN;
  return t;
}

/** How the lifetime was found, for the spec's ordering and for `Cache-Status`. */
export type LifetimeSource = 's-maxage' | 'max-age' | 'expires' | 'configured' | 'heuristic' | 'none';

/**
 * The freshness lifetime (§4.2.1): s-maxage (a shared cache), max-age, Expires
 * minus Date (an invalid Expires means already expired), then the operator's
 * `proxy_cache_valid`, then the heuristic (§4.2.2) for a response with
 * Last-Modified whose status is heuristically cacheable or that is `public`.
 */
export function freshnessLifetime(f: FreshnessInput, configured: readonly ConfiguredLifetime[]): { lifetime: number; source: LifetimeSource } {
  if (f.cc.sMaxAge >= 0) return { lifetime: f.cc.sMaxAge * 1000, source: 's-maxage' };
  if (f.cc.maxAge >= 0) return { lifetime: f.cc.maxAge * 1000, source: 'max-age' };
  if (f.expires !== null) {
    const expires = httpDate(f.expires);
    return { lifetime: Number.isNaN(expires) ? 0 : Math.max(0, expires - f.date), source: 'expires' };
  }
  for (const c of configured) {
    if (c.codes.length === 0 || c.codes.includes(f.status)) return { lifetime: c.ttl, source: 'configured' };
  }
  if (f.lastModified !== null && (HEURISTIC_STATUSES.has(f.status) || f.cc.public)) {
    const modified = httpDate(f.lastModified);
    if (!Number.isNaN(modified) && modified < f.date) {
      return { lifetime: Math.min(HEURISTIC_CAP, Math.floor((f.date - modified) * HEURISTIC_FRACTION)), source: 'heuristic' };
    }
  }
  return { lifetime: 0, source: 'none' };
}

/** What the age of a stored response is computed from (§4.2.3). */
export interface AgeInput {
  /** When the request that got this response was sent. */
  requestTime: number;
  /** When the response was received. */
  responseTime: number;
  /** The Date header (the response time when absent). */
  date: number;
  /** The Age header, in seconds (0 when absent). */
  age: number;
}

/** The initial age of a response when it was received (§4.2.3's corrected_initial_age). */
export function initialAge(a: AgeInput): number {
  const apparentAge = Math.max(0, a.responseTime - a.date);
  const responseDelay = a.responseTime - a.requestTime;
  const correctedAgeValue = a.age * 1000 + responseDelay;
  return Math.max(apparentAge, correctedAgeValue);
}

/** The current age at `now` (§4.2.3): the initial age plus the time the response has been stored. */
export function currentAge(initial: number, responseTime: number, now: number): number {
  return initial + Math.max(0, now - responseTime);
}

/** The Age header value (§5.1): whole seconds. */
export function ageHeader(ageMs: number): string {
  return String(Math.floor(ageMs / 1000));
}
