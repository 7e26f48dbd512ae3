import { dirname, resolve } from 'node:path';
import * as t from '../arg-types.ts';
import type { ArgType, DirectiveSpec } from '../directive.ts';
import type { AccessLogIR, AdminTokenIR, ErrorLogIR } from '../ir.ts';
import { isIPv4, isIPv6, parseHostPort, parsePort } from '../values.ts';

// Operating lbconf: the admin API (`admin`), the access log (`access_log`) and
// lbconf's own log (`error_log`). See spec/operations.md.

const ok = <T>(value: T) => ({ ok: true as const, value });

/** `9901` (loopback), `127.0.0.1:9901`, `[::1]:9901`, `*:9901`, `0.0.0.0:9901`. */
const adminAddress: ArgType<{ address: string; port: number }> = {
  name: 'address',
  parse: (v) => {
    // A bare port is loopback: the admin API is never exposed by accident.
    if (/^\d+$/.test(v)) {
      const p = parsePort(v);
      return p.ok ? ok({ address: '127.0.0.1', port: p.value }) : p;
    }
    const r = parseHostPort(v);
    if (!r.ok) return r;
    const host = r.value.host;
    const port = r.value.port;
    if (port === undefined || port === null) return { ok: false, message: `the admin address needs a port: write \`${v}:9901\`` };
    if (host !== '*' && !isIPv4(host) && !isIPv6(host) && host !== 'localhost') {
      return { ok: false, message: `bind the admin API to an IP address, \`*\` or \`localhost\`, not the host name \`${host}\`` };
    }
    return ok({ address: host === 'localhost' ? '127.0.0.1' : host === '*' ? '0.0.0.0' : host, port });
  },
};

/** `env:NAME`, `file:PATH` (relative to the config file), or the token itself. */
const adminToken: ArgType<AdminTokenIR> = {
  name: 'env:NAME|file:PATH|token',
  parse: (v, arg) => {
    if (v.startsWith('env:')) {
      const name = v.slice(4);
      return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? ok({ kind: 'env', name }) : { ok: false, message: `\`${name}\` is not an environment variable name` };
    }
    if (v.startsWith('file:')) {
      const path = v.slice(5);
      return path ? ok({ kind: 'file', path: resolve(dirname(arg.span.file), path) }) : { ok: false, message: 'write the token file after `file:`' };
    }
    if (v.length < 16) return { ok: false, message: `an admin token must be at least 16 characters long (got ${v.length})` };
    return ok({ kind: 'literal', value: v });
  },
};

/** An address only this machine can reach. */
export function isLoopback(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::1';
}

const admin: DirectiveSpec = {
  name: 'admin',
  contexts: ['main'],
  args: {
    positional: [{ name: 'address', type: adminAddress }],
    options: { token: { type: adminToken, doc: 'the bearer token clients must send (`Authorization: Bearer TOKEN`): `env:NAME` reads it from the environment, `file:PATH` from a file, anything else is the token itself (16 characters or more); required unless the address is loopback' } },
  },
  repeatable: false,
  default: 'none: no admin API',
  summary: 'Serves the admin API, the status page and Prometheus metrics on ADDRESS (a bare port is 127.0.0.1). Any address other than loopback needs `token=`. See spec/operations.md.',
  example: 'admin 127.0.0.1:9901;',
  lower(cx, args) {
    const where = args.get<{ address: string; port: number }>('address');
    if (!where) return;
    const token = args.get<AdminTokenIR>('token') ?? null;
    const written = args.directive.args.some((a) => a.value.startsWith('token='));
    if (!isLoopback(where.address) && token === null && !written) {
      cx.diag('error', 'admin-needs-token', `the admin API on ${where.address}:${where.port} is reachable from other machines and has no token`, args.span('address'),
        'add `token=env:LBCONF_ADMIN_TOKEN` (or `token=file:PATH`), or bind it to loopback: `admin 127.0.0.1:' + where.port + ';`');
    }
    cx.ir.admin = { address: where.address, port: where.port, token };
    cx.at('/admin', args.directive.span, '`admin`');
    cx.at('/admin/port', args.span('address'), 'the port');
  },
};

/** `stdout`, `off`, or a file (relative to the config file). */
const accessTarget: ArgType<string> = {
  name: 'path|stdout|off',
  parse: (v, arg) => (v === 'stdout' || v === 'off' ? ok(v) : t.file.parse(v, arg)),
};

const accessLog: DirectiveSpec = {
  name: 'access_log',
  contexts: ['main', 'server', 'location'],
  args: {
    positional: [{ name: 'path', type: accessTarget }, { name: 'format', type: t.oneOf('combined', 'json'), optional: true }],
    options: { format: { type: t.oneOf('combined', 'json'), doc: '`combined` (nginx\'s combined format, the default) or `json` (one object per line)' } },
  },
  repeatable: false,
  default: 'access_log off;',
  summary: 'Logs one line per request to a file or `stdout`, in nginx\'s combined format or as JSON. Lines are buffered and written in the background, never on the request path. Inherited by the blocks inside; `off` turns it off.',
  example: 'access_log /var/log/lbconf/access.log format=json;',
  lower(cx, args, frame) {
    const target = args.get<string>('path');
    if (target === undefined) return;
    const format = args.get<'combined' | 'json'>('format') ?? 'combined';
    const value: AccessLogIR | null = target === 'off' ? null : { target, format };
    cx.setting(frame, 'accessLog', value, args.directive.span, '`access_log`');
  },
};

/** nginx's levels, folded onto the four lbconf logs at. */
const LEVELS: Record<string, ErrorLogIR['level']> = { debug: 'debug', info: 'info', notice: 'info', warn: 'warn', error: 'error', crit: 'error', alert: 'error', emerg: 'error' };

const errorLog: DirectiveSpec = {
  name: 'error_log',
  contexts: ['main'],
  args: {
    positional: [
      { name: 'path', type: { name: 'path|stderr', parse: (v, arg) => (v === 'stderr' ? ok(v) : t.file.parse(v, arg)) } },
      { name: 'level', type: t.oneOf(...Object.keys(LEVELS)), optional: true },
    ],
  },
  repeatable: false,
  default: 'text lines on stderr, level info',
  summary: 'Where lbconf\'s own log goes (reloads, health changes, errors), as JSON lines (pino), and the least severe level written: `debug`, `info`, `warn` or `error` (nginx\'s `notice`, `crit`, `alert` and `emerg` are read as `info` and `error`).',
  example: 'error_log /var/log/lbconf/error.log warn;',
  lower(cx, args) {
    const target = args.get<string>('path');
    if (target === undefined) return;
    cx.ir.errorLog = { target, level: LEVELS[args.get<string>('level') ?? 'info'] };
    cx.at('/errorLog', args.directive.span, '`error_log`');
  },
};

export const observeDirectives: DirectiveSpec[] = [admin, accessLog, errorLog];
