import type { RequestContext } from '../core/context.ts';
import type { Refusal, RequestFilter } from './filter.ts';

// client_max_body_size by Content-Length, before anything is read or sent
// upstream (a chunked body is counted as it streams, by the proxy).

const TOO_LARGE: Refusal = { status: 413, close: true };

export class BodySize implements RequestFilter {
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  request(ctx: RequestContext): Refusal | null {
    const length = ctx.req.headers['content-length'];
    return length !== undefined && Number(length) > this.max ? TOO_LARGE : null;
  }
}
