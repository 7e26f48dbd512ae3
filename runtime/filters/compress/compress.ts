import type { Transform } from 'node:stream';
import { constants, createBrotliCompress, createGzip, createZstdCompress, type BrotliOptions, type ZlibOptions, type ZstdOptions } from 'node:zlib';
import type { ProxySettingsIR } from '../../../compiler/ir.ts';
import { BR, ENCODING_NAMES, GZIP, negotiate } from './negotiate.ts';

// Response compression (spec/compression.md): whether a response is
// compressed, the header edits that go with it, and the zlib stream. What a
// route needs is prepared once per Plan (compressionFor); a response costs one
// scan of its header list and, when compressed, one zlib stream.

/** Statuses compressed, as in nginx. 304 gets the validators and Vary a 200 would have, but no body. */
const COMPRESSIBLE = new Set([200, 403, 404]);

/** Windows of 512 KB for br and zstd (their defaults are 4 MB and 2 MB per stream), as ngx_brotli does. */
const WINDOW_LOG = 19;

/** Types never compressed under `gzip_types *`: already compressed, or streams whose events must not wait in a buffer. */
const INCOMPRESSIBLE = /^(?:image\/(?!svg\+xml$|bmp$|x-ms-bmp$|x-icon$|vnd\.microsoft\.icon$)|audio\/|video\/|font\/woff2?$|application\/(?:zip|gzip|x-gzip|x-bzip2|x-xz|x-7z-compressed|x-rar-compressed|vnd\.rar|zstd|x-zstd|pdf|font-woff|wasm-gz|java-archive|epub\+zip|vnd\.android\.package-archive|.*\+zip)$)/;
const NEVER = 'text/event-stream';

// `gzip_proxied` conditions as bits.
const P_ANY = 1;
const P_EXPIRED = 2;
const P_NO_CACHE = 4;
const P_NO_STORE = 8;
const P_PRIVATE = 16;
const P_NO_LAST_MODIFIED = 32;
const P_NO_ETAG = 64;
const P_AUTH = 128;
const PROXIED_BITS: Record<string, number> = {
  off: 0, any: P_ANY, expired: P_EXPIRED, 'no-cache': P_NO_CACHE, 'no-store': P_NO_STORE, private: P_PRIVATE,
  no_last_modified: P_NO_LAST_MODIFIED, no_etag: P_NO_ETAG, auth: P_AUTH,
};

/** A route's compression settings, prepared when its Plan loads (null when `gzip off`). */
export interface CompressionRuntime {
  /** Encoding ids (negotiate.ts), most preferred first. */
  order: number[];
  minLength: number;
  /** `gzip_proxied` as bits; 0 is `off`. */
  proxied: number;
  vary: boolean;
  allTypes: boolean;
  /** Exact types, and `type/` for each `type/*`. */
  types: ReadonlySet<string>;
  /** Content-Type header value → compressible, for the values seen (bounded). */
  typeCache: Map<string, boolean>;
  gzip: ZlibOptions;
  br: BrotliOptions;
  zstd: ZstdOptions;
}

const TYPE_CACHE_SIZE = 256;

/** The runtime settings of a route, or null when compression is off for it. */
export function compressionFor(s: ProxySettingsIR): CompressionRuntime | null {
  if (!s.gzip) return null;
  const types = new Set<string>(['text/html']);
  for (const t of s.gzipTypes) types.add(t.endsWith('/*') ? t.slice(0, -1) : t);
  let proxied = 0;
  for (const p of s.gzipProxied) proxied |= PROXIED_BITS[p] ?? 0;
  return {
    order: s.compress.map((e) => ENCODING_NAMES.indexOf(e)),
    minLength: s.gzipMinLength,
    proxied,
    vary: s.gzipVary,
    allTypes: s.gzipTypes.includes('*'),
    types,
    typeCache: new Map(),
    gzip: { level: s.gzipCompLevel },
    br: { params: { [constants.BROTLI_PARAM_QUALITY]: s.brotliCompLevel, [constants.BROTLI_PARAM_LGWIN]: WINDOW_LOG, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } },
    zstd: { params: { [constants.ZSTD_c_compressionLevel]: s.zstdCompLevel, [constants.ZSTD_c_windowLog]: WINDOW_LOG } },
  };
}

/**
 * THE entry point for compressing a response on its way to the client: the
 * proxy calls it for upstream responses, the cache for responses it serves.
 *
 * - `settings`: the route's CompressionRuntime (ProxyRoute.compression), or null (returns null at once).
 * - `acceptEncoding`: the request's Accept-Encoding header (undefined when absent).
 * - `requestHasVia`: the request carries `Via` (came through another proxy: `gzip_proxied` decides).
 * - `status`, `method`: of the response and request.
 * - `headers`: the response headers as they will be sent, a flat [name, value, …]
 *   list with lower-case names. Edited in place when the response is compressed:
 *   `content-encoding` added; `content-length` and `accept-ranges` removed; `etag`
 *   weakened (`"x"` → `W/"x"`, RFC 9110 §8.8.3: the bytes differ); `vary` added or
 *   extended with `Accept-Encoding` (`gzip_vary`).
 * - `requestHasAuthorization`: for `gzip_proxied auth`.
 *
 * Returns the zlib Transform to write the body through (its output is the body
 * to send; end it when the body ends; destroy it if the client goes away), or
 * null when the body is to be sent as it is. With null the headers are untouched,
 * except: `Vary: Accept-Encoding` when the response could have been compressed
 * for another client; a HEAD response gets every header its GET would get
 * (Content-Encoding included) but no stream; a 304 gets the validators of the
 * variant the client holds (see notModifiedValidators), never Content-Encoding
 * (a cache that updates its stored response from the 304 must not relabel an
 * identity body).
 */
export function startCompression(
  settings: CompressionRuntime | null, acceptEncoding: string | undefined, requestHasVia: boolean,
  status: number, method: string, headers: string[], requestHasAuthorization = false, ifNoneMatch?: string | string[],
): Transform | null {
  if (settings === null) return null;
  if (status === 304) { notModifiedValidators(settings, ifNoneMatch, headers); return null; }
  if (!COMPRESSIBLE.has(status)) return null;
  let type = -1, length = -1, cacheControl = -1, etag = -1, vary = -1, expires = -1, date = -1, lastModified = -1;
  let varied = false;
  for (let i = 0; i < headers.length; i += 2) {
    switch (headers[i]) {
      case 'content-encoding': if (headers[i + 1] !== '') return null; break;
      case 'content-type': type = i + 1; break;
      case 'content-length': length = i + 1; break;
      case 'cache-control': if (cacheControl < 0) cacheControl = i + 1; if (/no-transform/i.test(headers[i + 1])) return null; break;
      case 'etag': etag = i + 1; break;
      case 'vary': if (vary < 0) vary = i + 1; if (varies(headers[i + 1])) varied = true; break;
      case 'expires': expires = i + 1; break;
      case 'date': date = i + 1; break;
      case 'last-modified': lastModified = i + 1; break;
    }
  }
  if (type < 0 || !typeAllowed(settings, headers[type])) return null;
  const size = length >= 0 ? Number(headers[length]) : -1;
  if (size < settings.minLength && size >= 0) return null;
  // From here the response depends on Accept-Encoding, whether or not this client gets it compressed.
  if (settings.vary && !varied) addVary(headers, vary);
  if (requestHasVia && !proxiedAllowed(settings.proxied, headers, requestHasAuthorization, expires, date, cacheControl, lastModified, etag)) return null;
  const encoding = negotiate(acceptEncoding, settings.order);
  if (encoding < 0) return null;
  if (etag >= 0) {
    const value = headers[etag];
    if (value.charCodeAt(0) === 34 /* " */) headers[etag] = `W/${value}`;
    else if (!value.startsWith('W/')) remove(headers, 'etag'); // not a valid entity tag: nginx drops it too
  }
  remove(headers, 'content-length');
  remove(headers, 'accept-ranges');
  headers.push('content-encoding', ENCODING_NAMES[encoding]);
  if (method === 'HEAD') return null;
  if (encoding === GZIP) return createGzip(settings.gzip);
  if (encoding === BR) return createBrotliCompress(settings.br);
  // Told the size, zstd sizes its tables to it: at level 9, a 60 KB body costs half the CPU (bench/README.md).
  return createZstdCompress(size > 0 && Number.isSafeInteger(size) ? { ...settings.zstd, pledgedSrcSize: size } : settings.zstd);
}

/**
 * A 304 stands for the variant the client holds (RFC 9110 §13.1.2, RFC 9111 §4.3.4). A client
 * holding the compressed variant validated it with the weak tag lbconf gave it (`W/"x"`): its
 * 304 carries that tag and `Vary`, as its 200 did. A client holding the identity body (it sent
 * the strong tag, or no tag) gets the origin's validators unchanged.
 */
export function notModifiedValidators(settings: CompressionRuntime | null, ifNoneMatch: string | string[] | undefined, headers: string[]): void {
  if (settings === null || ifNoneMatch === undefined) return;
  let etag = -1;
  let varied = false;
  let vary = -1;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'etag') etag = i + 1;
    else if (headers[i] === 'vary') { if (vary < 0) vary = i + 1; if (varies(headers[i + 1])) varied = true; }
  }
  if (etag < 0 || headers[etag].charCodeAt(0) !== 34 /* " : a strong tag */) return;
  const weak = `W/${headers[etag]}`;
  if (!(Array.isArray(ifNoneMatch) ? ifNoneMatch.join(',') : ifNoneMatch).includes(weak)) return;
  headers[etag] = weak;
  if (settings.vary && !varied) addVary(headers, vary);
}

/** Adds Accept-Encoding to the Vary header at `vary` (a value index), or a Vary header when there is none (-1). */
function addVary(headers: string[], vary: number): void {
  if (vary >= 0) headers[vary] = `${headers[vary]}, Accept-Encoding`;
  else headers.push('vary', 'Accept-Encoding');
}

/** Whether a Vary value already covers Accept-Encoding (or is `*`). */
function varies(value: string): boolean {
  return value.trim() === '*' || /(?:^|,)\s*accept-encoding\s*(?:,|$)/i.test(value);
}

function typeAllowed(settings: CompressionRuntime, value: string): boolean {
  let ok = settings.typeCache.get(value);
  if (ok === undefined) {
    const semi = value.indexOf(';');
    const mime = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
    const slash = mime.indexOf('/');
    ok = mime !== NEVER && slash > 0 && (
      settings.types.has(mime) || settings.types.has(mime.slice(0, slash + 1)) || (settings.allTypes && !INCOMPRESSIBLE.test(mime)));
    if (settings.typeCache.size >= TYPE_CACHE_SIZE) settings.typeCache.clear();
    settings.typeCache.set(value, ok);
  }
  return ok;
}

/** nginx's `gzip_proxied`, in its order: any, auth, then Expires, Cache-Control, Last-Modified and ETag. */
function proxiedAllowed(p: number, headers: string[], auth: boolean, expires: number, date: number, cacheControl: number, lastModified: number, etag: number): boolean {
  if (p === 0) return false;
  if (p & P_ANY) return true;
  if (auth && (p & P_AUTH) !== 0) return true;
  if (expires >= 0) {
    if (!(p & P_EXPIRED)) return false;
    const at = Date.parse(headers[expires]);
    const now = date >= 0 ? Date.parse(headers[date]) : Date.now();
    return !Number.isNaN(at) && !Number.isNaN(now) && at < now;
  }
  if (cacheControl >= 0) {
    const cc = headers[cacheControl];
    return ((p & P_NO_CACHE) !== 0 && /no-cache/i.test(cc)) || ((p & P_NO_STORE) !== 0 && /no-store/i.test(cc)) || ((p & P_PRIVATE) !== 0 && /private/i.test(cc));
  }
  if ((p & P_NO_LAST_MODIFIED) !== 0 && lastModified >= 0) return false;
  if ((p & P_NO_ETAG) !== 0 && etag >= 0) return false;
  return true;
}

/** Removes every `name` from a flat header list. */
function remove(headers: string[], name: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i] === name) headers.splice(i, 2);
}
