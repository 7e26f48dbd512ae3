import type { RequestContext } from '../../core/context.ts';
import { upstreamRequestHeaders } from '../../core/headers.ts';
import type { RouteCache } from './route.ts';
import type { VaryValues } from './store.ts';

// The request headers a cache fetch sends upstream, made once per request
// when first needed, and the values Vary is evaluated on (RFC 9111 §4.1). A
// stored response varies on what its origin *saw*: for the headers lbconf
// sets or rewrites (Host, X-Forwarded-For/-Proto/-Host, Via, proxy_set_header)
// that is lbconf's value, not the client's, which was dropped or replaced.
// So the lookup compares, and the stored variant records, the values of this
// one list, which is also the list the fetch sends.

/** Request headers the cache sends its own way: validators of its entry, and no client conditionals or ranges (it stores whole responses). */
const CONDITIONAL = new Set(['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range']);

export class UpstreamHeaders implements VaryValues {
  private readonly ctx: RequestContext;
  private readonly rc: RouteCache;
  /** undefined until made; null when a value cannot be sent (the fetch then answers 400). */
  private headers: string[] | null | undefined = undefined;

  constructor(ctx: RequestContext, rc: RouteCache) {
    this.ctx = ctx;
    this.rc = rc;
  }

  /** The flat [name, value, …] list a GET for the cache sends, before the validators of a revalidation; null when it cannot be sent. */
  list(): string[] | null {
    if (this.headers === undefined) {
      this.ctx.proxyHost = this.rc.route.proxyHost;
      const all: string[] | null = upstreamRequestHeaders(this.ctx, this.rc.route.headers);
      this.headers = all === null ? null : withoutConditionals(all);
    }
    return this.headers;
  }

  /**
   * The value sent for a lower-case header name: its fields joined with `, `,
   * '' when none is sent; null when the request cannot be sent at all (no
   * variant is chosen for it).
   */
  value(name: string): string | null {
    const h = this.list();
    if (h === null) return null;
    let out: string | null = null;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i].length !== name.length || h[i].toLowerCase() !== name) continue;
      out = out === null ? h[i + 1] : `${out}, ${h[i + 1]}`;
    }
    return out ?? '';
  }
}

function withoutConditionals(headers: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!CONDITIONAL.has(headers[i].toLowerCase())) out.push(headers[i], headers[i + 1]);
  }
  return out;
}
