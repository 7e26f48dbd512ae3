import type { AccessRules } from '../core/access-rules.ts';
import type { RequestContext } from '../core/context.ts';
import type { Refusal, RequestFilter } from './filter.ts';

// allow / deny by client address (after real_ip), as nginx's access module.

const FORBIDDEN: Refusal = { status: 403 };

export class Access implements RequestFilter {
  private readonly rules: AccessRules;

  constructor(rules: AccessRules) {
    this.rules = rules;
  }

  request(ctx: RequestContext): Refusal | null {
    return this.rules.allows(ctx.remoteAddr) ? null : FORBIDDEN;
  }
}
