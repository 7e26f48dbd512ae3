import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import type { RequestContext } from '../../core/context.ts';
import { cutShort, sendError } from '../../core/errors.ts';
import { addResponseHeaders } from '../../core/headers.ts';
import type { ResponseSink } from '../../core/sink.ts';
import { parseCacheControl } from './cache-control.ts';
import { CacheEntry, cdnCacheControl, header, headerAll, NO_VARY } from './entry.ts';
import { addStatus, notModified, respond } from './respond.ts';
import type { RouteCache } from './route.ts';
import type { CacheStatus } from './status.ts';
import { isStorable } from './storable.ts';
import { canonical, normalizeVary, varyNames, type CacheLock } from './store.ts';
import type { UpstreamHeaders } from './upstream-headers.ts';

// The sink of an Exchange that goes upstream for the cache (runtime/core/sink.ts):
// it passes the response on to the client as it streams (when there is one)
// and stores it at the same time, within the zone's byte limit and
// max_object. A 304 to a revalidation updates the stored entry, which then
// answers the client; an error from upstream may be answered with the stale
// entry (stale-if-error). With no client it is a background revalidation.

/** What sendError reads of a sink's request when no client is attached. */
const NO_CLIENT = { method: 'GET', httpVersionMajor: 1 };

/** Statuses after which a stale entry may answer instead (stale-if-error, RFC 5861 §4). */
function isError(status: number): boolean {
  return status === 500 || status === 502 || status === 503 || status === 504;
}

/** The effective request URI (RFC 9110 §7.1), canonical, by which entries are found for invalidation. */
export function effectiveUri(ctx: RequestContext): string {
  return canonical(ctx.requestUri, `${ctx.scheme}://${ctx.rawHost || ctx.host || 'localhost'}`) ?? `${ctx.scheme}://${ctx.rawHost}${ctx.requestUri}`;
}

export interface FetchOptions {
  key: string;
  /** What the client is told: MISS, EXPIRED or BYPASS. */
  status: CacheStatus;
  /** The stored entry being revalidated (conditional request sent), or null. */
  stale: CacheEntry | null;
  /** The response may be stored. */
  store: boolean;
  /** The collapsing lock this fetch holds, released when it ends. */
  lock: CacheLock | null;
  /** The request's stale-if-error, ms, or -1. */
  staleIfError: number;
  /** An unsafe method: pass the response on and invalidate (RFC 9111 §4.4). */
  invalidate: boolean;
  /** The request headers sent upstream, by which a stored variant is recorded (Vary); null for an unsafe method. */
  sent: UpstreamHeaders | null;
}

export class CacheFetch extends EventEmitter implements ResponseSink {
  readonly req: { readonly method?: string; readonly httpVersionMajor: number };
  headersSent = false;
  destroyed = false;
  writableEnded = false;
  writableFinished = false;
  private client: ServerResponse | null;
  private readonly ctx: RequestContext;
  private readonly rc: RouteCache;
  private readonly o: FetchOptions;
  private readonly requestTime = Date.now();
  /** The response being stored (its bytes reserved: entry.bytes), or null. */
  private entry: CacheEntry | null = null;
  /** The client was answered some other way (from the entry): what comes from upstream is dropped. */
  private dropping = false;
  /** The client gets the body (false after a 304 to its own conditional). */
  private body = true;
  private released = false;
  /** The client's body goes through this compressor (piped to the client), or null. */
  private zip: Transform | null = null;

  constructor(ctx: RequestContext, client: ServerResponse | null, rc: RouteCache, options: FetchOptions) {
    super();
    this.ctx = ctx;
    this.client = client;
    this.rc = rc;
    this.o = options;
    this.req = client === null ? NO_CLIENT : client.req;
    if (client !== null) {
      client.on('drain', () => this.emit('drain'));
      client.once('close', () => this.clientClosed());
    }
  }

  writeHead(status: number, reason?: string | Record<string, string | number>, headers?: string[]): this {
    if (this.headersSent) return this;
    this.headersSent = true;
    if (Array.isArray(headers)) this.upstreamHead(status, typeof reason === 'string' ? reason : '', headers);
    else this.ownError(status, typeof reason === 'object' ? reason : {});
    return this;
  }

  writeEarlyHints(hints: Record<string, string | string[]>): void {
    // Interim responses go to the client and are never stored.
    if (this.client !== null && !this.dropping) this.client.writeEarlyHints(hints);
  }

  writeProcessing(): void {
    if (this.client !== null && !this.dropping) this.client.writeProcessing();
  }

  /** What the client is sent is counted here (compressed or not), not by the Exchange. */
  readonly countsSent = true;

  write(chunk: Buffer): boolean {
    if (this.entry !== null) this.keep(chunk);
    if (this.client === null || !this.body || this.dropping) return true;
    if (this.zip !== null) return this.zip.write(chunk);
    this.ctx.bytesSent += chunk.length;
    return this.client.write(chunk);
  }

  end(chunk?: Buffer): this {
    if (this.writableEnded) return this;
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    this.writableEnded = true;
    const e = this.entry;
    if (e !== null) {
      this.entry = null;
      this.rc.store.commit(e);
    }
    this.release();
    if (this.zip !== null) this.zip.end(); // the pipe ends the client
    else if (this.client !== null && !this.dropping) this.client.end();
    this.writableFinished = true;
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.abandon();
    this.release();
    // A response cut short: the client must see it so (runtime/core/errors.ts).
    if (this.client !== null && !this.dropping) cutShort(this.client);
    return this;
  }

  /** An answer lbconf made itself (502, 504, …): stale-if-error may answer instead; else it goes to the client. */
  private ownError(status: number, headers: Record<string, string | number>): void {
    if (isError(status) && this.serveStale()) return;
    if (this.client === null) { this.dropping = true; return; }
    const flat: string[] = [];
    for (const name in headers) flat.push(name, String(headers[name]));
    if (!this.o.invalidate) addStatus(this.ctx, flat, this.rc, this.o.status, 0, false, status);
    this.client.writeHead(status, flat);
  }

  private upstreamHead(status: number, reason: string, out: string[]): void {
    const now = Date.now();
    if (this.o.invalidate) {
      if (status < 400) this.invalidate(out);
      if (this.client !== null && !this.addHeaders(status, out)) return;
      this.client?.writeHead(status, reason || undefined, out);
      return;
    }
    if (isError(status) && this.serveStale()) return;
    const stale = this.o.stale;
    if (stale !== null && status === 304) {
      this.revalidated(stale, out, now);
      return;
    }
    // A full response supersedes what was stored for this variant.
    if (stale !== null) this.rc.store.remove(stale);
    if (this.o.store) this.begin(status, reason, out, now);
    if (this.client === null) {
      if (this.entry === null) this.stop();
      return;
    }
    // Stored as the origin sent it (begin took its copy); add_header is for this client.
    if (!this.addHeaders(status, out)) return;
    addStatus(this.ctx, out, this.rc, this.o.status, 0, this.entry !== null, status);
    if (status === 200 && notModified(this.ctx.req.headers, header(out, 'etag'), header(out, 'last-modified'))) {
      // The client's own conditional, answered from the response being stored.
      this.body = false;
      const h: string[] = [];
      for (let i = 0; i < out.length; i += 2) if (out[i] !== 'content-length') h.push(out[i], out[i + 1]);
      this.rc.compression?.notModified(this.ctx, h);
      this.client.writeHead(304, h);
      return;
    }
    const req = this.ctx.req.headers;
    // Stored as the origin sent it; compressed for this client on the way out.
    const zip = this.rc.compression === null ? null : this.rc.compression.wrap(this.ctx, status, out, false);
    if (zip !== null) {
      const client = this.client;
      zip.on('drain', () => this.emit('drain'));
      zip.on('error', () => cutShort(client));
      zip.on('data', (chunk: Buffer) => { this.ctx.bytesSent += chunk.length; });
      client.once('close', () => zip.destroy());
      zip.pipe(client);
      this.zip = zip;
    }
    this.client.writeHead(status, reason || undefined, out);
  }

  /** A 304 to a revalidation: update the stored headers (RFC 9111 §3.2, §4.3.4) and answer from the entry. */
  private revalidated(e: CacheEntry, out: string[], now: number): void {
    this.dropping = true;
    const fresh = this.originHeaders(out, 304);
    const merged = e.headers.slice();
    const replaced = new Set<string>();
    for (let i = 0; i < fresh.length; i += 2) {
      const name = fresh[i];
      // Content-Length describes the stored body, not the 304; a Set-Cookie is for this client only.
      if (name === 'content-length' || name === 'set-cookie') continue;
      if (!replaced.has(name)) {
        replaced.add(name);
        for (let j = merged.length - 2; j >= 0; j -= 2) if (merged[j] === name) merged.splice(j, 2);
      }
      merged.push(name, fresh[i + 1]);
    }
    const before = e.bytes;
    e.describe(e.status, e.statusMessage, merged, this.requestTime, now, this.rc.valid);
    const after = e.cost();
    if (e.stored) {
      if (after > before && !this.rc.store.reserve(after - before)) this.rc.store.remove(e);
      else {
        if (after < before) this.rc.store.release(before - after);
        e.bytes = after;
      }
    }
    if (this.client !== null) respond(this.ctx, this.client, this.rc, e, 'REVALIDATED', now);
  }

  /** stale-if-error: answer with the stale entry when it allows (or the request asks) and is not too stale. */
  private serveStale(): boolean {
    const e = this.o.stale;
    if (e === null || e.mustRevalidate || e.noCache) return false;
    const now = Date.now();
    const allowed = Math.max(e.staleIfError, this.o.staleIfError);
    if (allowed < 0 || e.age(now) - e.lifetime > allowed) return false;
    this.dropping = true;
    if (this.client !== null) respond(this.ctx, this.client, this.rc, e, 'STALE', now);
    return true;
  }

  /** Starts storing the response when RFC 9111 §3 and the location allow it. */
  private begin(status: number, reason: string, out: string[], now: number): void {
    const ctx = this.ctx;
    if (ctx.req.method !== 'GET') return;
    const rc = this.rc;
    if (rc.noStore !== null) {
      for (const condition of rc.noStore) {
        const v = condition(ctx);
        if (v !== '' && v !== '0') return;
      }
    }
    const length = header(out, 'content-length');
    if (length !== null && Number(length) > rc.store.maxObject) return;
    const headers = this.originHeaders(out, status);
    const vary = headerAll(headers, 'vary');
    const names = varyNames(vary);
    // The values the origin was sent (runtime/filters/cache/upstream-headers.ts), as the lookup compares them.
    const sent = this.o.sent;
    const e = names.length === 0 ? new CacheEntry(this.o.key, effectiveUri(ctx), NO_VARY, NO_VARY)
      : new CacheEntry(this.o.key, effectiveUri(ctx), names, names.map((n) => normalizeVary(sent?.value(n) ?? '')));
    e.describe(status, reason, headers, this.requestTime, now, rc.valid);
    const storable = isStorable({
      status, cc: cdnCacheControl(headers) ?? parseCacheControl(headerAll(headers, 'cache-control') ?? undefined), requestCc: parseCacheControl(ctx.req.headers['cache-control']),
      authorization: ctx.req.headers.authorization !== undefined, source: e.source, validator: e.etag !== null || e.lastModified !== null,
      vary, setCookie: header(out, 'set-cookie') !== null,
    });
    if (!storable || !rc.store.begin(e)) return;
    this.entry = e;
  }

  /** Adds a chunk to the entry being stored, or gives up storing it (over max_object, or no room). */
  private keep(chunk: Buffer): void {
    if (!this.rc.store.append(this.entry!, chunk)) this.abandon();
  }

  /** Stops storing: the bytes reserved are given back. The client, if any, keeps receiving. */
  private abandon(): void {
    if (this.entry === null) return;
    this.rc.store.abandon(this.entry);
    this.entry = null;
    // With no client left, nothing needs the rest of the response.
    if (this.client === null && !this.writableEnded) this.stop();
  }

  /** The headers as every client may get them: the origin's (the fetch adds no add_header; a sticky Set-Cookie is the client's own). */
  private originHeaders(out: string[], _status: number): string[] {
    return out.slice();
  }

  /** add_header for the client this fetch answers; false (and 400 sent) when a value from the request cannot be carried. */
  private addHeaders(status: number, out: string[]): boolean {
    if (addResponseHeaders(out, this.rc.route.addHeaders, status, this.ctx)) return true;
    const client = this.client!;
    this.client = null;
    if (this.entry === null) this.stop();
    sendError(client, 400, this.rc.route.pages);
    return false;
  }

  /**
   * RFC 9111 §4.4: the target URI, and Location and Content-Location when on the
   * same origin; here at once, and under workers in the other workers' zones too.
   */
  private invalidate(out: string[]): void {
    const store = this.rc.store;
    const target = effectiveUri(this.ctx);
    const uris = [target];
    for (const name of ['location', 'content-location']) {
      const value = header(out, name);
      if (value === null) continue;
      const uri = canonical(value, target);
      if (uri !== null && new URL(uri).origin === new URL(target).origin) uris.push(uri);
    }
    for (const uri of uris) store.invalidate(uri);
    this.rc.zones.others?.invalidate(store.name, uris);
  }

  /** Tells the Exchange to stop, as if a client had gone: after its current call, not inside it. */
  private stop(): void {
    queueMicrotask(() => {
      if (this.writableEnded) return;
      this.emit('close');
      // The Exchange stops without ending its sink: the waiters on this key must not wait for an end that never comes.
      this.release();
    });
  }

  private clientClosed(): void {
    const client = this.client;
    // Not client.writableFinished: when the client resets an HTTP/2 stream, Node ends its writable side.
    if (client === null || this.writableEnded) return;
    this.client = null;
    // While the response is being stored the fetch goes on without the client (as nginx does), for the requests waiting on it.
    if (this.entry === null) { this.stop(); return; }
    // The Exchange may be paused on that client's backpressure: nothing holds it back now.
    this.emit('drain');
  }

  /** Lets the requests waiting on this key go, and marks a background revalidation done. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    if (this.o.stale !== null) this.o.stale.updating = false;
    const lock = this.o.lock;
    if (lock === null) return;
    if (this.rc.store.locks.get(this.o.key) === lock) this.rc.store.locks.delete(this.o.key);
    for (const go of lock.waiters) go();
  }
}
