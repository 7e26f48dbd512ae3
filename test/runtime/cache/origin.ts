import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before } from 'node:test';
import { Backend } from '../../helpers/backends.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';

// A real origin for the cache tests: a node:http server whose answer per path
// a test sets, counting the requests each path got and keeping their headers,
// and the lbconf in front of it with one caching location.

export type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

export class Origin {
  readonly backend: Backend;
  readonly handlers = new Map<string, Handler>();
  /** Requests per path (with the query). */
  readonly hits = new Map<string, number>();
  /** The request headers each request carried, in order. */
  readonly seen: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }> = [];
  /** The lbconfs cachingProxy put in front of it, for useOrigin to close. */
  readonly proxies: TestProxy[] = [];

  constructor() {
    this.backend = new Backend('origin', (req, res) => {
      const url = req.url ?? '/';
      const n = (this.hits.get(url) ?? 0) + 1;
      this.hits.set(url, n);
      this.seen.push({ method: req.method ?? '', url, headers: req.headers });
      const path = url.split('?')[0];
      const handler = this.handlers.get(path) ?? this.handlers.get('*');
      if (handler === undefined) { res.writeHead(404); res.end('no handler'); return; }
      handler(req, res, n);
    });
  }

  /** `GET url` requests so far (HEAD and others are counted separately by `count`). */
  count(url: string, method = 'GET'): number {
    return this.seen.filter((s) => s.url === url && s.method === method).length;
  }

  on(path: string, handler: Handler): this {
    this.handlers.set(path, handler);
    return this;
  }

  /** Answers `body #n` with these headers. */
  serve(path: string, headers: Record<string, string> | ((n: number) => Record<string, string>), status = 200): this {
    return this.on(path, (_req, res, n) => {
      const h = typeof headers === 'function' ? headers(n) : headers;
      res.writeHead(status, { 'content-type': 'text/plain', ...h });
      res.end(`body #${n}`);
    });
  }

  /** Answers `body #1` with these headers, then `status` with the body `broken` to every later request. */
  serveThenFail(path: string, headers: Record<string, string>, status: number): this {
    return this.on(path, (_req, res, n) => {
      if (n > 1) { res.writeHead(status); res.end('broken'); return; }
      res.writeHead(200, headers);
      res.end('body #1');
    });
  }

  get address(): string {
    return this.backend.address;
  }

  async start(): Promise<this> {
    await this.backend.listen();
    return this;
  }

  async stop(): Promise<void> {
    if (this.backend.server.listening) await this.backend.kill();
  }
}

/** lbconf with `proxy_cache_zone z` and one location `/` caching through it; `extra` goes in the location, `top` at the top level. */
export async function cachingProxy(origin: Origin, extra = '', top = '', zone = 'size=1m'): Promise<TestProxy> {
  const p = await startProxy((port) => `proxy_cache_zone z ${zone};
${top}
server {
    listen 127.0.0.1:${port};
    location / {
        proxy_cache z;
        ${extra}
        proxy_pass http://${origin.address};
    }
}`);
  origin.proxies.push(p);
  return p;
}

/**
 * For a `describe` block: starts `origin` and runs `setup` (the block's
 * cachingProxy calls, and handlers all its tests share) before its tests;
 * after them, closes the proxies in front of the origin and stops it.
 */
export function useOrigin(origin: Origin, setup: () => Promise<void>): void {
  before(async () => {
    await origin.start();
    await setup();
  });
  after(async () => {
    for (const p of origin.proxies) await p.close();
    await origin.stop();
  });
}

/** An HTTP date `seconds` from now. */
export function httpDate(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toUTCString();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
