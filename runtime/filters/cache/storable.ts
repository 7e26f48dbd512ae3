import type { CacheControl } from './cache-control.ts';
import { HEURISTIC_STATUSES, type LifetimeSource } from './freshness.ts';

// Whether a shared cache may store a response (RFC 9111 §3), for a GET.

export interface StorableInput {
  status: number;
  /** The response's Cache-Control. */
  cc: Readonly<CacheControl>;
  /** The request's Cache-Control. */
  requestCc: Readonly<CacheControl>;
  /** The request carried Authorization. */
  authorization: boolean;
  /** How the response's freshness lifetime was found. */
  source: LifetimeSource;
  /** It carries ETag or Last-Modified: it can be revalidated. */
  validator: boolean;
  /** The Vary header, or null. */
  vary: string | null;
  /** It carries Set-Cookie. */
  setCookie: boolean;
}

/** Statuses never stored: interim ones, partial content (the cache stores whole bodies), and 304 (it updates a stored response instead). */
function finalAndWhole(status: number): boolean {
  return status >= 200 && status !== 206 && status !== 304;
}

export function isStorable(s: StorableInput): boolean {
  if (!finalAndWhole(s.status)) return false;
  if (s.cc.noStore || s.requestCc.noStore) return false;
  // A shared cache stores no private response (§5.2.2.7), qualified or not.
  if (s.cc.private) return false;
  // §3.5: a response to a request with Authorization only when the origin allows shared caching explicitly.
  if (s.authorization && !authorizationAllowed(s.cc)) return false;
  // A variant that depends on more than request headers can never be matched (§4.1).
  if (s.vary !== null && s.vary.split(',').some((v) => v.trim() === '*')) return false;
  // As nginx does: a response that sets a cookie is per-user; storing it would hand one client's cookie to the next.
  if (s.setCookie) return false;
  // §3: explicit freshness, a configured lifetime, or a status a cache may keep by heuristic (then only worth it with
  // a lifetime or a validator to revalidate with).
  if (s.source !== 'none') return true;
  return s.validator && (HEURISTIC_STATUSES.has(s.status) || s.cc.public);
}

/** §3.5: must-revalidate, public or s-maxage let a shared cache store and reuse a response to a request with Authorization. */
export function authorizationAllowed(cc: Readonly<CacheControl>): boolean {
  return cc.mustRevalidate || cc.public || cc.sMaxAge >= 0;
}
