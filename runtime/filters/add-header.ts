import type { RequestContext } from '../core/context.ts';
import { unfitLine } from '../core/field-value.ts';
import type { HeaderRule } from '../core/headers.ts';
import type { HeaderTarget, Refusal, RequestFilter } from './filter.ts';

// `add_header … always`: set on every response of the route, lbconf's own
// errors included, before anything else can answer. (Without `always`, the
// headers go on 2xx and 3xx answers: core/headers.ts addResponseHeaders, called
// where those are written.)

export class AddAlways implements RequestFilter {
  private readonly rules: readonly HeaderRule[];

  constructor(rules: readonly HeaderRule[]) {
    this.rules = rules;
  }

  request(ctx: RequestContext, res: HeaderTarget | null): Refusal | null {
    // An upgrade has no response of lbconf's to carry them.
    if (res === null) return null;
    for (let i = 0; i < this.rules.length; i++) {
      const h = this.rules[i];
      const value = h.value(ctx);
      if (value === null) return { status: 400, reason: unfitLine(h.display, ctx.remoteAddr) };
      if (value !== '') res.setHeader(h.display, value);
    }
    return null;
  }
}
