import type { Http1Pool } from './pool.ts';
import { UpstreamError, type UpstreamController } from './types.ts';

// One whole request on a pool, as a promise: for health checks, which want a
// status and a little of the body, not a stream.

export interface FetchResult {
  status: number;
  /** The body as latin1 text, cut at `maxBody` bytes. */
  body: string;
}

export function fetchOnce(pool: Http1Pool, method: string, path: string, headers: string[], timeoutMs: number, maxBody = 64 * 1024): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let body = '';
    let controller: UpstreamController | null = null;
    const timer = setTimeout(() => controller?.abort(new UpstreamError('LBCONF_TIMEOUT', 'timed out')), timeoutMs);
    timer.unref();
    pool.dispatch({ method, path, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, {
      onRequestStart: (c) => { controller = c; },
      onResponseStart: (_c, s) => { status = s; },
      onResponseData: (_c, chunk) => { if (body.length < maxBody) body += chunk.toString('latin1', 0, Math.min(chunk.length, maxBody - body.length)); },
      onResponseEnd: () => { clearTimeout(timer); resolve({ status, body }); },
      onResponseError: (_c, err) => { clearTimeout(timer); reject(err); },
    });
  });
}
