import type { IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from 'node:zlib';
import { request } from 'undici';
import type { Behavior } from '../../helpers/backends.ts';
import type { TestProxy } from '../../helpers/proxy.ts';

// The origin for the compression tests: a node:http server that answers with
// an HTML page (or a slice of it) and whatever response headers the query asks
// for, so each test states the origin's response in its URL.

/** A realistic page: markup, text and numbers that differ line by line (~60 KB). */
export const PAGE = Buffer.from(
  '<!doctype html><html><head><title>Products</title><link rel="stylesheet" href="/s.css"></head><body><table>\n' +
  Array.from({ length: 600 }, (_, i) => `<tr class="row ${i % 2 ? 'odd' : 'even'}"><td>${i}</td><td>Product ${(i * 7919) % 10007}</td><td>${((i * 31) % 997) / 10} EUR</td></tr>\n`).join('') +
  '</table></body></html>\n',
);

/** The request headers the origin saw last. */
export const seen: { headers: IncomingHttpHeaders } = { headers: {} };

const PASSED = ['content-type', 'content-encoding', 'cache-control', 'etag', 'vary', 'expires', 'last-modified'];

/**
 * `?size=N` bytes of PAGE; `?chunked` sends no Content-Length; `?status=N`;
 * `?raw` sends the body as is even with a Content-Encoding; any of PASSED as a
 * query parameter becomes that response header. A `Range: bytes=A-B` gets 206.
 */
export const origin: Behavior = (req, res) => {
  seen.headers = req.headers;
  const q = new URL(req.url!, 'http://x').searchParams;
  const body = PAGE.subarray(0, Number(q.get('size') ?? PAGE.length));
  const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8', 'accept-ranges': 'bytes' };
  for (const name of PASSED) if (q.has(name)) headers[name] = q.get(name)!;
  let status = Number(q.get('status') ?? 200);
  let out = body;
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (range) {
    status = 206;
    out = body.subarray(Number(range[1]), Number(range[2]) + 1);
    headers['content-range'] = `bytes ${range[1]}-${range[2]}/${body.length}`;
  }
  if (!q.has('chunked') && status !== 304) headers['content-length'] = String(out.length);
  res.writeHead(status, headers);
  res.end(status === 304 || req.method === 'HEAD' ? undefined : out);
};

export interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request through the proxy with this Accept-Encoding (none when undefined); the body as received, not decoded. */
export async function fetchRaw(p: TestProxy, path: string, acceptEncoding: string | undefined, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  const res = await request(p.origin + path, {
    dispatcher: p.agent, method: method as 'GET',
    headers: acceptEncoding === undefined ? headers : { 'accept-encoding': acceptEncoding, ...headers },
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Decodes a body by its Content-Encoding. */
export function decode(body: Buffer, encoding: string | string[] | undefined): Buffer {
  switch (encoding) {
    case undefined: return body;
    case 'gzip': return gunzipSync(body);
    case 'br': return brotliDecompressSync(body);
    case 'zstd': return zstdDecompressSync(body);
    default: throw new Error(`unexpected content-encoding ${String(encoding)}`);
  }
}
