import type { Context, DirectiveSpec } from './directive.ts';
import { accessDirectives } from './directives/access.ts';
import { cacheDirectives } from './directives/cache.ts';
import { compressionDirectives } from './directives/compression.ts';
import { limitDirectives } from './directives/limits.ts';
import { observeDirectives } from './directives/observe.ts';
import { proxyDirectives } from './directives/proxy.ts';
import { securityDirectives } from './directives/security.ts';
import { serverDirectives } from './directives/server.ts';
import { tlsDirectives } from './directives/tls.ts';
import { upstreamDirectives, upstreamTlsDirectives } from './directives/upstream.ts';
import { workerDirectives } from './directives/workers.ts';

// The directive table: every directive lbconf knows, in reference order.

export const DIRECTIVES: readonly DirectiveSpec[] = [...serverDirectives, ...tlsDirectives, ...upstreamDirectives, ...upstreamTlsDirectives, ...proxyDirectives, ...accessDirectives, ...securityDirectives, ...limitDirectives, ...cacheDirectives, ...observeDirectives, ...compressionDirectives, ...workerDirectives];

const byName = new Map<string, DirectiveSpec[]>();
for (const spec of DIRECTIVES) {
  const list = byName.get(spec.name) ?? [];
  list.push(spec);
  byName.set(spec.name, list);
}

/** Every spec with this name (`server` has two: the virtual server and the upstream server). */
export function specsNamed(name: string): DirectiveSpec[] | undefined {
  return byName.get(name);
}

export function specFor(name: string, context: Context): DirectiveSpec | undefined {
  return byName.get(name)?.find((s) => s.contexts.includes(context));
}

export function directiveNames(): Iterable<string> {
  return byName.keys();
}

/** nginx directives a user may reach for, with what to do in lbconf instead. */
export const NOT_IN_LBCONF: Record<string, string> = {
  http: 'lbconf has no `http` block: write `server` and `upstream` blocks at the top level',
  events: 'lbconf has no `events` block: remove it',
  worker_processes: 'lbconf serves with threads, not processes: write `workers N;` or `workers auto;`',
  root: 'lbconf is a proxy and serves no files: use `proxy_pass` or `return`',
  index: 'lbconf is a proxy and serves no files: use `proxy_pass` or `return`',
  try_files: 'lbconf is a proxy and serves no files: use `proxy_pass` or `return`',
  fastcgi_pass: 'lbconf speaks HTTP to upstreams: use `proxy_pass`',
  uwsgi_pass: 'lbconf speaks HTTP to upstreams: use `proxy_pass`',
  if: 'lbconf has no `if`: route with `location` blocks instead',
};
