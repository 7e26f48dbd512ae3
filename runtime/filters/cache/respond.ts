import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { RequestContext } from '../../core/context.ts';
import { cutShort, sendError } from '../../core/errors.ts';
import { addResponseHeaders } from '../../core/headers.ts';
import type { CacheEntry } from './entry.ts';
import { ageHeader } from './freshness.ts';
import { parseRange, sliceChunks } from './range.ts';
import type { RouteCache } from './route.ts';
import { decideStatus, type CacheStatus } from './status.ts';

// Answers a request from a stored entry, without the upstream: the stored
// headers with `Age` and the cache status, then the client's own conditionals
// (304), its Range (206 or 416), HEAD (headers only), or the whole body.

/** Sets `name` to `value` in a flat header list, replacing every earlier value. */
export function setHeader(headers: string[], name: string, value: string): void {
  let found = false;
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i] !== name) continue;
    if (found) headers.splice(i, 2);
    else { headers[i + 1] = value; found = true; }
  }
  if (!found) headers.push(name, value);
}

export function removeHeader(headers: string[], name: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i] === name) headers.splice(i, 2);
}

/** Weak comparison of entity tags (RFC 9110 §8.8.3.2). */
function weakTag(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/**
 * The client's If-None-Match / If-Modified-Since against a response's
 * validators (RFC 9110 §13.2.2): true when the answer is 304.
 */
export function notModified(req: IncomingHttpHeaders, etag: string | null, lastModified: string | null): boolean {
  const inm = req['if-none-match'];
  if (inm !== undefined) {
    if (etag === null) return false;
    if (inm.trim() === '*') return true;
    const tag = weakTag(etag);
    return inm.split(',').some((t) => weakTag(t.trim()) === tag);
  }
  const ims = req['if-modified-since'];
  if (ims === undefined || lastModified === null) return false;
  const since = Date.parse(ims);
  const modified = Date.parse(lastModified);
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
}

/** If-Range (RFC 9110 §13.1.5): the Range applies only when the validator is current, a strong ETag or the exact Last-Modified. */
function rangeStillApplies(ifRange: string | undefined, e: CacheEntry): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return !v.startsWith('W/') && e.etag !== null && !e.etag.startsWith('W/') && e.etag === v;
  return e.lastModified !== null && e.lastModified === v;
}

/** The headers a 304 carries: those of the 200, without the ones describing its body. */
function notModifiedHeaders(headers: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i];
    if (n === 'content-length' || n === 'content-range' || n === 'transfer-encoding') continue;
    out.push(n, headers[i + 1]);
  }
  return out;
}

/** Counts the cache status and adds its header to a flat list (no header with `proxy_cache_status_header off`). */
export function addStatus(ctx: RequestContext, headers: string[], rc: RouteCache, status: CacheStatus, ttl: number, stored: boolean, fwdStatus: number): void {
  const value = decideStatus(ctx, rc, status, ttl, stored, fwdStatus);
  if (value !== null) headers.push(rc.statusHeader, value);
}

/** Answers from `e`. */
export function respond(ctx: RequestContext, res: ServerResponse, rc: RouteCache, e: CacheEntry, status: CacheStatus, now: number): void {
  // A GET or HEAD body, if a client sent one, is not needed.
  ctx.req.resume();
  const req = ctx.req.headers;
  const age = e.age(now);
  const headers = e.headers.slice();
  setHeader(headers, 'age', ageHeader(age));
  const bodyless = e.status === 204 || e.status === 304 || (e.status >= 100 && e.status < 200);
  if (!bodyless) setHeader(headers, 'content-length', String(e.size));
  addStatus(ctx, headers, rc, status, Math.round((e.lifetime - age) / 1000), false, e.status);
  // A value made from the request that a header cannot carry: 400, as on the proxied path.
  if (!addResponseHeaders(headers, rc.route.addHeaders, e.status, ctx)) { sendError(res, 400, rc.route.pages); return; }
  const head = ctx.req.method === 'HEAD';
  if (e.status === 200 && notModified(req, e.etag, e.lastModified)) {
    const h = notModifiedHeaders(headers);
    rc.compression?.notModified(ctx, h);
    res.writeHead(304, h);
    res.end();
    return;
  }
  if (e.status === 200 && !head && req.range !== undefined && rangeStillApplies(req['if-range'] as string | undefined, e)) {
    const range = parseRange(req.range, e.size);
    if (range === 'unsatisfiable') {
      removeHeader(headers, 'content-length');
      headers.push('content-range', `bytes */${e.size}`, 'content-length', '0');
      res.writeHead(416, headers);
      res.end();
      return;
    }
    if (range !== null) {
      const [start, end] = range;
      setHeader(headers, 'content-length', String(end - start + 1));
      headers.push('content-range', `bytes ${start}-${end}/${e.size}`);
      res.writeHead(206, headers);
      const parts = sliceChunks(e.chunks, start, end);
      for (let i = 0; i < parts.length; i++) { ctx.bytesSent += parts[i].length; res.write(parts[i]); }
      res.end();
      return;
    }
  }
  // Compression on the way out (the entry holds the body as the origin sent it): the same single entry point as the proxy's.
  const zip = rc.compression === null ? null : rc.compression.wrap(ctx, e.status, headers, false);
  res.writeHead(e.status, e.statusMessage || undefined, headers);
  if (head || bodyless) { res.end(); return; }
  if (zip !== null) {
    zip.on('error', () => cutShort(res));
    zip.on('data', (chunk: Buffer) => { ctx.bytesSent += chunk.length; });
    res.once('close', () => zip.destroy());
    zip.pipe(res);
    for (let i = 0; i < e.chunks.length; i++) zip.write(e.chunks[i]);
    zip.end();
    return;
  }
  // The chunks are shared, not copied: the socket queues references to them.
  const chunks = e.chunks;
  for (let i = 0; i < chunks.length; i++) res.write(chunks[i]);
  ctx.bytesSent += e.size;
  res.end();
}
