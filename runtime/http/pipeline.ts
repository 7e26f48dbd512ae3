import type { RequestContext } from '../core/context.ts';
import type { AccessRules } from '../core/access-rules.ts';
import type { HeaderRule } from '../core/headers.ts';
import { Access } from '../filters/access.ts';
import { AddAlways } from '../filters/add-header.ts';
import type { BasicAuth } from '../filters/auth.ts';
import { BodySize } from '../filters/body-size.ts';
import { clientGone, type Ending, type HeaderTarget, type Refusal, type RequestFilter } from '../filters/filter.ts';
import { LimitConn, LimitReq, type RouteLimits } from '../filters/limits.ts';
import type { RealIp } from '../filters/real-ip.ts';

// The pipeline: the one place where the order of a request's features lives,
// for requests and upgrades alike. A route's filters are built when its Plan
// loads, in this order (nginx's phases: the real address first; limits before
// access and auth, so that refused and unauthorized requests count too):
//
//   real_ip → add_header … always → client_max_body_size → limit_req →
//   limit_conn → allow/deny → auth_basic (auth_basic_limit) → the handler
//
// (proxy, cached or not; return). Per request: one loop over an array, no
// closure or allocation unless a filter waits (a promise, and its continuation).

/** What a route has for each feature (null: not configured there). */
export interface RouteFeatures {
  realIp: RealIp | null;
  addAlways: readonly HeaderRule[] | null;
  maxBodySize: number;
  limits: RouteLimits | null;
  access: AccessRules | null;
  auth: BasicAuth | null;
}

/** A route's filters, in the pipeline's order. */
export function buildFilters(f: RouteFeatures): RequestFilter[] {
  const out: RequestFilter[] = [];
  if (f.realIp !== null) out.push(f.realIp);
  if (f.addAlways !== null) out.push(new AddAlways(f.addAlways));
  if (f.maxBodySize > 0) out.push(new BodySize(f.maxBodySize));
  if (f.limits !== null && f.limits.hasRate) out.push(new LimitReq(f.limits));
  if (f.limits !== null && f.limits.hasConn) out.push(new LimitConn(f.limits));
  if (f.access !== null) out.push(new Access(f.access));
  if (f.auth !== null) out.push(f.auth);
  return out;
}

/** Who a request's passage through the pipeline reports to: the HTTP path, or the upgrade path. `T` is what it answers on. */
export interface PipelineHost<T> {
  /** Every filter let it through: the handler's turn. */
  passed(ctx: RequestContext, target: T): void;
  refused(ctx: RequestContext, target: T, refusal: Refusal): void;
  fault(err: unknown, target: T): void;
}

function isPromise(v: Refusal | null | Promise<Refusal | null>): v is Promise<Refusal | null> {
  return v !== null && typeof (v as Promise<unknown>).then === 'function';
}

/**
 * Runs `filters` from `from` on a request. `res` is where add_header may go
 * (null for an upgrade), `ending` what the request ends with, `target` what
 * the host answers on.
 */
export function runFilters<T>(host: PipelineHost<T>, filters: readonly RequestFilter[], from: number, ctx: RequestContext, res: HeaderTarget | null, ending: Ending, target: T): void {
  for (let i = from; i < filters.length; i++) {
    const v = filters[i].request(ctx, res, ending);
    if (v === null) continue;
    if (isPromise(v)) {
      v.then((r) => {
        // The client may have gone while the filter waited.
        if (clientGone(ctx, ending)) return;
        if (r !== null) host.refused(ctx, target, r);
        else runFilters(host, filters, i + 1, ctx, res, ending, target);
      }).catch((err: unknown) => host.fault(err, target));
      return;
    }
    host.refused(ctx, target, v);
    return;
  }
  host.passed(ctx, target);
}
