import type { ServerResponse } from 'node:http';
import type { RequestContext } from '../../core/context.ts';
import { sendError } from '../../core/errors.ts';
import { upstreamRequestHeaders } from '../../core/headers.ts';
import { parseCacheControl, type CacheControl } from './cache-control.ts';
import type { CacheEntry } from './entry.ts';
import { CacheFetch } from './fetch.ts';
import { respond } from './respond.ts';
import type { RouteCache } from './route.ts';
import type { PurgeElsewhere } from './zones.ts';
import { decideStatus, type CacheStatus } from './status.ts';
import type { CacheLock } from './store.ts';
import { UpstreamHeaders } from './upstream-headers.ts';

// One request to a location with `proxy_cache` (RFC 9111 §4): look the key up;
// answer a fresh entry (HIT), or a stale one when allowed (STALE, or UPDATING
// with a background revalidation for stale-while-revalidate); otherwise go
// upstream, conditionally when there is something to revalidate (EXPIRED /
// REVALIDATED), one request per key at a time (proxy_cache_lock). Unsafe
// methods pass through and invalidate; the purge method removes a key.

/** Methods that change nothing: passed through, no invalidation. */
const SAFE = new Set(['OPTIONS', 'TRACE']);

export function serveCached(ctx: RequestContext, res: ServerResponse, rc: RouteCache): void {
  const method = ctx.req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') {
    lookup(ctx, res, rc, true);
    return;
  }
  if (rc.purge !== null && method === rc.purge.method) {
    purge(ctx, res, rc);
    return;
  }
  if (SAFE.has(method)) {
    rc.route.pass(ctx, res);
    return;
  }
  fetch(ctx, res, rc, { key: '', status: 'MISS', stale: null, store: false, lock: null, staleIfError: -1, invalidate: true, sent: null });
}

function any(conditions: RouteCache['bypass'], ctx: RequestContext): boolean {
  if (conditions === null) return false;
  for (const c of conditions) {
    const v = c(ctx);
    if (v !== '' && v !== '0') return true;
  }
  return false;
}

function lookup(ctx: RequestContext, res: ServerResponse, rc: RouteCache, mayWait: boolean): void {
  const head = ctx.req.method === 'HEAD';
  const key = rc.key(ctx);
  const cc = parseCacheControl(ctx.req.headers['cache-control']);
  const sie = cc.staleIfError >= 0 ? cc.staleIfError * 1000 : -1;
  // What the fetch would send: the variants are chosen by these values, as the origin saw them.
  const sent = new UpstreamHeaders(ctx, rc);
  if (any(rc.bypass, ctx)) {
    if (head) { plain(ctx, res, rc, 'BYPASS'); return; }
    fetch(ctx, res, rc, { key, status: 'BYPASS', stale: null, store: true, lock: null, staleIfError: -1, invalidate: false, sent });
    return;
  }
  let e = rc.store.find(key, sent);
  // §3.5: a response stored for one request with Authorization serves another only when the origin allowed it.
  if (e !== null && ctx.req.headers.authorization !== undefined && !e.authorizationOk) e = null;
  const now = Date.now();
  if (e !== null) {
    const age = e.age(now);
    const fresh = e.lifetime - age;
    const usable = !cc.noCache && !e.noCache;
    if (usable && fresh > 0 && acceptable(cc, age, fresh)) { respond(ctx, res, rc, e, 'HIT', now); return; }
    if (usable && fresh <= 0 && !e.mustRevalidate) {
      const staleness = -fresh;
      // §4.2.4: the client accepts staleness (max-stale), within its max-age.
      if (cc.maxStale >= 0 && staleness <= cc.maxStale * 1000 && (cc.maxAge < 0 || age <= cc.maxAge * 1000)) { respond(ctx, res, rc, e, 'STALE', now); return; }
      // RFC 5861 §3: serve it and revalidate in the background.
      if (e.staleWhileRevalidate >= 0 && staleness <= e.staleWhileRevalidate) {
        respond(ctx, res, rc, e, 'UPDATING', now);
        if (!e.updating && !rc.store.locks.has(key)) background(ctx, rc, key, e, sent);
        return;
      }
    }
    if (cc.onlyIfCached) { gatewayTimeout(ctx, res, rc, 'EXPIRED'); return; }
    if (head) { plain(ctx, res, rc, 'EXPIRED'); return; }
    collapse(ctx, res, rc, key, 'EXPIRED', e, sie, mayWait, sent);
    return;
  }
  // §5.2.1.7: only-if-cached with nothing stored is a 504.
  if (cc.onlyIfCached) { gatewayTimeout(ctx, res, rc, 'MISS'); return; }
  if (head) { plain(ctx, res, rc, 'MISS'); return; }
  collapse(ctx, res, rc, key, 'MISS', null, sie, mayWait, sent);
}

/** The request's max-age and min-fresh (§5.2.1.1, §5.2.1.3) on a fresh entry. */
function acceptable(cc: Readonly<CacheControl>, age: number, fresh: number): boolean {
  return (cc.maxAge < 0 || age <= cc.maxAge * 1000) && (cc.minFresh < 0 || fresh >= cc.minFresh * 1000);
}

/** proxy_cache_lock: the first request for a key fetches; the others wait for it, then look again. */
function collapse(ctx: RequestContext, res: ServerResponse, rc: RouteCache, key: string, status: CacheStatus, stale: CacheEntry | null, sie: number, mayWait: boolean, sent: UpstreamHeaders): void {
  let lock: CacheLock | null = null;
  if (rc.lock && mayWait) {
    const held = rc.store.locks.get(key);
    if (held !== undefined) { wait(ctx, res, rc, held); return; }
    lock = { waiters: [] };
    rc.store.locks.set(key, lock);
  }
  fetch(ctx, res, rc, { key, status, stale, store: true, lock, staleIfError: sie, invalidate: false, sent });
}

interface Waiter {
  ctx: RequestContext;
  res: ServerResponse;
  rc: RouteCache;
  done: boolean;
  timer: NodeJS.Timeout | null;
}

function wake(w: Waiter): void {
  if (w.done) return;
  w.done = true;
  if (w.timer !== null) clearTimeout(w.timer);
  // The client may have gone while it waited.
  // (An HTTP/2 response has no destroyed: its stream does.)
  if (w.res.destroyed || w.res.writableEnded || (w.res as unknown as { stream?: { destroyed: boolean } }).stream?.destroyed === true) return;
  lookup(w.ctx, w.res, w.rc, false);
}

function wait(ctx: RequestContext, res: ServerResponse, rc: RouteCache, lock: CacheLock): void {
  const w: Waiter = { ctx, res, rc, done: false, timer: null };
  w.timer = setTimeout(wake, rc.lockTimeout, w);
  lock.waiters.push(() => wake(w));
}

/**
 * Goes upstream through an Exchange whose sink stores the response. A GET
 * sends `o.sent`, the list its variant is recorded by, with the validators of a
 * revalidation; an unsafe method is passed on as the proxy would.
 */
function fetch(ctx: RequestContext, res: ServerResponse | null, rc: RouteCache, o: ConstructorParameters<typeof CacheFetch>[3]): void {
  let headers: string[] | null;
  if (o.sent === null) {
    ctx.proxyHost = rc.route.proxyHost;
    headers = upstreamRequestHeaders(ctx, rc.route.headers);
  } else {
    headers = o.sent.list();
    const stale = o.stale;
    // null: a proxy_set_header value cannot be sent; the Exchange finds the same and answers 400.
    if (headers !== null && stale !== null && (stale.etag !== null || stale.lastModified !== null)) {
      headers = headers.slice();
      if (stale.etag !== null) headers.push('if-none-match', stale.etag);
      if (stale.lastModified !== null) headers.push('if-modified-since', stale.lastModified);
    }
  }
  const sink = new CacheFetch(ctx, res, rc, o);
  rc.route.fetch(ctx, sink, headers);
}

/** stale-while-revalidate: a conditional fetch with no client, that updates or replaces the entry. */
function background(ctx: RequestContext, rc: RouteCache, key: string, e: CacheEntry, sent: UpstreamHeaders): void {
  e.updating = true;
  const lock: CacheLock = { waiters: [] };
  rc.store.locks.set(key, lock);
  fetch(ctx, null, rc, { key, status: 'EXPIRED', stale: e, store: true, lock, staleIfError: -1, invalidate: false, sent });
}

/** Straight to the upstream, nothing stored (HEAD with nothing to serve it), with the cache status said. */
function plain(ctx: RequestContext, res: ServerResponse, rc: RouteCache, status: CacheStatus): void {
  // The upstream's status is not known yet: no fwd-status.
  const value = decideStatus(ctx, rc, status, 0, false, 0);
  if (value !== null) res.setHeader(rc.statusHeader, value);
  rc.route.pass(ctx, res);
}

/** only-if-cached with nothing usable stored (RFC 9111 §5.2.1.7): 504, with the status the lookup came to (MISS or EXPIRED). */
function gatewayTimeout(ctx: RequestContext, res: ServerResponse, rc: RouteCache, status: CacheStatus): void {
  ctx.req.resume();
  const value = decideStatus(ctx, rc, status, 0, false, -1);
  sendError(res, 504, rc.route.pages, value === null ? undefined : { [rc.statusHeader]: value });
}

/** The purge method: from an allowed address, removes every variant of the request's key (under workers, from every worker's zone). */
function purge(ctx: RequestContext, res: ServerResponse, rc: RouteCache): void {
  ctx.req.resume();
  if (!rc.purge!.from.allows(ctx.remoteAddr)) { sendError(res, 403, rc.route.pages); return; }
  const key = rc.key(ctx);
  const removed = rc.store.purge(key);
  const others = rc.zones.others;
  if (others === null) { purged(res, rc, removed, null); return; }
  void others.purge(rc.store.name, key).then((o) => purged(res, rc, removed + o.purged, o));
}

/** 200 with the count, 404 when nothing was stored; 504 when a worker did not answer (its zone may still hold the key). */
function purged(res: ServerResponse, rc: RouteCache, removed: number, others: PurgeElsewhere | null): void {
  const late = others === null ? 0 : others.workers - others.answered;
  if (late === 0 && removed === 0) { sendError(res, 404, rc.route.pages); return; }
  const text = late === 0 ? `purged ${removed} ${removed === 1 ? 'entry' : 'entries'}\n`
    : `purged ${removed} ${removed === 1 ? 'entry' : 'entries'}, but ${late} of ${others!.workers + 1} workers did not answer in time and may still hold the key: purge again\n`;
  const body = Buffer.from(text);
  res.writeHead(late === 0 ? 200 : 504, ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length)]);
  res.end(body);
}
