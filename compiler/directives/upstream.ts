import type { Span } from '../../lang/ast.ts';
import * as t from '../arg-types.ts';
import type { ArgType, Args, DirectiveSpec, Frame, LowerContext } from '../directive.ts';
import type { BalanceMethodIR, UpstreamIR } from '../ir.ts';
import type { Template } from '../variables.ts';

// Upstream groups, their servers, and the balancing methods.

const upstream: DirectiveSpec = {
  name: 'upstream',
  contexts: ['main'],
  block: 'upstream',
  args: { positional: [{ name: 'name', type: t.name }] },
  repeatable: true,
  summary: 'A named group of servers that `proxy_pass http://NAME` balances over. Round robin unless a method directive says otherwise.',
  example: 'upstream app {\n    least_conn;\n    server 10.0.0.1:8080 weight=2;\n    server 10.0.0.2:8080;\n    server 10.0.0.3:8080 backup;\n}',
  lower(cx, args) {
    const u: UpstreamIR = {
      name: args.get<string>('name') ?? '', implicit: false, method: { kind: 'round_robin' }, servers: [],
      keepalive: 32, keepaliveTimeout: 60_000, sticky: null, healthCheck: null, tls: null,
    };
    const pointer = `/upstreams/${cx.ir.upstreams.length}`;
    cx.ir.upstreams.push(u);
    cx.at(pointer, args.directive.span, '`upstream`');
    cx.at(`${pointer}/name`, args.span('name'), 'the upstream name');
    return { context: 'upstream', server: null, location: null, upstream: u, pointer, settings: {} };
  },
};

const upstreamServer: DirectiveSpec = {
  name: 'server',
  contexts: ['upstream'],
  args: {
    positional: [{ name: 'address', type: t.serverAddress }],
    options: {
      weight: { type: t.integer, doc: 'share of requests relative to the other servers (1 to 1000; default 1)' },
      max_fails: { type: t.integer, doc: 'failures within `fail_timeout` that mark the server down (default 1; 0 turns passive checks off)' },
      fail_timeout: { type: t.duration, doc: 'the window for counting failures, and how long the server then stays down (default 10s)' },
      max_conns: { type: t.integer, doc: 'the most requests in flight to this server at once (default 0, no limit)' },
      slow_start: { type: t.duration, doc: 'when the server comes back, ramp its weight up from zero over this time (default 0)' },
    },
    flags: { backup: 'serve only while every primary server is unavailable', down: 'never send requests to this server' },
  },
  repeatable: true,
  summary: 'A server of the upstream, as `host:port` (port 80 if omitted). Host names are resolved when lbconf starts, not by `lbconf check`.',
  example: 'server 10.0.0.1:8080 weight=3 max_fails=2 fail_timeout=30s;',
  lower(cx, args, frame) {
    const u = frame.upstream!;
    const address = args.get<{ host: string; port: number }>('address');
    if (!address) return;
    const pointer = `${frame.pointer}/servers/${u.servers.length}`;
    const host = address.host;
    u.servers.push({
      address: `${host.includes(':') ? `[${host}]` : host}:${address.port}`, host, port: address.port,
      weight: args.get<number>('weight') ?? 1,
      maxFails: args.get<number>('max_fails') ?? 1,
      failTimeout: args.get<number>('fail_timeout') ?? 10_000,
      maxConns: args.get<number>('max_conns') ?? 0,
      slowStart: args.get<number>('slow_start') ?? 0,
      backup: args.flags.has('backup'),
      down: args.flags.has('down'),
    });
    cx.at(pointer, args.directive.span, 'the server');
    cx.at(`${pointer}/address`, args.span('address'), 'the server address');
    for (const [key, field] of [['weight', 'weight'], ['max_fails', 'maxFails'], ['fail_timeout', 'failTimeout'], ['max_conns', 'maxConns'], ['slow_start', 'slowStart']]) {
      cx.at(`${pointer}/${field}`, args.span(key), `\`${key}\``);
    }
  },
};

// One balancing method per upstream: a second one is a mistake worth naming.
const methodSpans = new WeakMap<UpstreamIR, Span>();

function setMethod(cx: LowerContext, args: Args, frame: Frame, method: BalanceMethodIR): void {
  const u = frame.upstream!;
  const earlier = methodSpans.get(u);
  if (earlier) {
    cx.diag('error', 'conflicting-balancer', `upstream \`${u.name}\` already has a balancing method (line ${earlier.start.line}); \`${args.directive.name}\` would replace it`, args.directive.span, 'keep one balancing method per upstream');
    return;
  }
  methodSpans.set(u, args.directive.span);
  u.method = method;
  cx.at(`${frame.pointer}/method`, args.directive.span, `\`${args.directive.name}\``);
}

function method(name: string, summary: string, example: string, build: (args: Args) => BalanceMethodIR, argsSpec: DirectiveSpec['args'] = { positional: [] }): DirectiveSpec {
  return {
    name, contexts: ['upstream'], args: argsSpec, repeatable: false, summary, example,
    lower(cx, args, frame) {
      setMethod(cx, args, frame, build(args));
      // Each parameter's value sits in the method under its camel-case name (`balance_factor` → balanceFactor).
      for (const key of Object.keys(argsSpec.options ?? {})) {
        const span = args.spans.get(key);
        if (span) cx.at(`${frame.pointer}/method/${key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())}`, span, `\`${key}\``);
      }
    },
  };
}

const leastConn = method('least_conn', 'Send each request to the server with the fewest requests in flight, relative to its weight.', 'least_conn;', () => ({ kind: 'least_conn' }));
const ipHash = method('ip_hash', 'Pin each client address to a server (IPv4 by its first three octets, as nginx does).', 'ip_hash;', () => ({ kind: 'ip_hash' }));
const hash = method(
  'hash', 'Choose the server by a hash of KEY, any text with variables. `consistent` uses a ketama ring, so removing one of N servers moves only about 1/N of the keys; `balance_factor` caps any server at that multiple of the mean load.',
  'hash $cookie_session consistent balance_factor=1.25;',
  (args) => ({ kind: 'hash', key: args.get<Template>('key') ?? [], consistent: args.flags.has('consistent'), balanceFactor: args.get<number>('balance_factor') ?? null }),
  {
    positional: [{ name: 'key', type: t.template }],
    flags: { consistent: 'use a consistent-hash ring' },
    options: { balance_factor: { type: t.number, doc: 'bounded load: no server takes more than this multiple of the mean (above 1, e.g. 1.25)' } },
  },
);
const random = method(
  'random', 'Choose a server at random, by weight. With `two`, pick two at random and use the one with fewer requests in flight.',
  'random two;',
  (args) => ({ kind: 'random', two: args.flags.has('two') }),
  { positional: [], flags: { two: 'power of two choices' } },
);
const leastBusy = method(
  'least_busy', 'lbconf\'s load-aware method: power of two choices on a peak-EWMA score (latency × requests in flight), with a small exploration floor so no healthy server starves. A slow server gets less traffic.',
  'least_busy decay=10s;',
  (args) => ({ kind: 'least_busy', decay: args.get<number>('decay') ?? 10_000 }),
  { positional: [], options: { decay: { type: t.duration, doc: 'how fast old latencies are forgotten (default 10s)' } } },
);

const keepalive: DirectiveSpec = {
  name: 'keepalive',
  contexts: ['upstream'],
  args: { positional: [{ name: 'connections', type: t.integer }] },
  repeatable: false,
  default: 'keepalive 32;',
  summary: 'nginx\'s cap on idle keep-alive connections per server. Accepted for compatibility; lbconf keeps every idle connection open until `keepalive_timeout` and does not yet enforce the count.',
  example: 'keepalive 64;',
  lower(cx, args, frame) {
    frame.upstream!.keepalive = args.get<number>('connections')!;
    cx.at(`${frame.pointer}/keepalive`, args.span('connections'), '`keepalive`');
  },
};

const keepaliveTimeout: DirectiveSpec = {
  name: 'keepalive_timeout',
  contexts: ['upstream'],
  args: { positional: [{ name: 'timeout', type: t.duration }] },
  repeatable: false,
  default: 'keepalive_timeout 60s;',
  summary: 'How long an idle connection to a server stays open.',
  example: 'keepalive_timeout 30s;',
  lower(cx, args, frame) {
    frame.upstream!.keepaliveTimeout = args.get<number>('timeout')!;
    cx.at(`${frame.pointer}/keepaliveTimeout`, args.span('timeout'), '`keepalive_timeout`');
  },
};

const sticky: DirectiveSpec = {
  name: 'sticky',
  contexts: ['upstream'],
  args: {
    positional: [{ name: 'kind', type: t.oneOf('cookie') }, { name: 'name', type: t.name }],
    options: {
      secret: { type: t.text, doc: 'the key that signs the cookie (required; keep it the same on every instance)' },
      expires: { type: t.duration, doc: 'the cookie\'s Max-Age (default: a session cookie)' },
      path: { type: t.text, doc: 'the cookie\'s Path (default /)' },
      domain: { type: t.text, doc: 'the cookie\'s Domain' },
      samesite: { type: t.oneOf('strict', 'lax', 'none'), doc: 'the cookie\'s SameSite' },
    },
    flags: { httponly: 'mark the cookie HttpOnly', secure: 'mark the cookie Secure' },
  },
  repeatable: false,
  summary: 'Sticky sessions: lbconf sets a signed cookie naming the server, and later requests carrying it go to the same server. When that server is down or draining, the upstream\'s method picks another and the cookie is re-pinned.',
  example: 'sticky cookie lb secret=change-me expires=1h httponly secure samesite=lax;',
  lower(cx, args, frame) {
    const secret = args.get<string>('secret');
    if (!secret) {
      cx.diag('error', 'missing-argument', '`sticky` needs `secret=`, the key that signs the cookie', args.directive.span, 'add `secret=` with a long random value, the same on every lbconf instance');
      return;
    }
    frame.upstream!.sticky = {
      cookie: args.get<string>('name')!, secret, maxAge: args.get<number>('expires') ?? null, path: args.get<string>('path') ?? '/',
      domain: args.get<string>('domain') ?? null, httpOnly: args.flags.has('httponly'), secure: args.flags.has('secure'),
      sameSite: args.get<'strict' | 'lax' | 'none'>('samesite') ?? null,
    };
    cx.at(`${frame.pointer}/sticky`, args.directive.span, '`sticky`');
    for (const [key, field] of [['secret', 'secret'], ['expires', 'maxAge'], ['path', 'path'], ['domain', 'domain']]) {
      if (args.spans.has(key)) cx.at(`${frame.pointer}/sticky/${field}`, args.span(key), `\`${key}\``);
    }
  },
};

const statusList: ArgType<Array<[number, number]>> = {
  name: 'status',
  parse: (v, arg) => {
    const ranges: Array<[number, number]> = [];
    for (const part of v.split(',')) {
      const r = t.statusRange.parse(part, arg);
      if (!r.ok) return r;
      ranges.push(r.value);
    }
    return { ok: true, value: ranges };
  },
};

const healthCheck: DirectiveSpec = {
  name: 'health_check',
  contexts: ['upstream'],
  args: {
    positional: [],
    options: {
      uri: { type: t.text, doc: 'the path to request (default /)' },
      method: { type: t.oneOf('GET', 'HEAD', 'OPTIONS'), doc: 'the method (default GET)' },
      interval: { type: t.duration, doc: 'time between checks of one server (default 5s)' },
      timeout: { type: t.duration, doc: 'how long a check may take (default 2s)' },
      passes: { type: t.integer, doc: 'consecutive passes that bring a server back (default 2)' },
      fails: { type: t.integer, doc: 'consecutive failures that take a server out (default 3)' },
      jitter: { type: t.duration, doc: 'random delay added to each interval, so checks do not align (default 0)' },
      status: { type: statusList, doc: 'statuses that pass, as codes and ranges (default 200-399)' },
      body: { type: t.text, doc: 'a regular expression the response body must match' },
      initial: { type: t.oneOf('healthy', 'unhealthy', 'checked'), doc: 'state before the first check: `healthy`, `unhealthy` until a pass, or `checked` (lbconf checks every server before opening its listeners); default healthy' },
    },
  },
  repeatable: false,
  summary: 'Active health checks: lbconf requests `uri` on every server of the upstream and takes failing servers out of rotation until they pass again.',
  example: 'health_check uri=/healthz interval=5s timeout=1s fails=3 passes=2 status=200-299 initial=checked;',
  lower(cx, args, frame) {
    frame.upstream!.healthCheck = {
      method: args.get<string>('method') ?? 'GET',
      uri: args.get<string>('uri') ?? '/',
      interval: args.get<number>('interval') ?? 5000,
      timeout: args.get<number>('timeout') ?? 2000,
      rise: args.get<number>('passes') ?? 2,
      fall: args.get<number>('fails') ?? 3,
      jitter: args.get<number>('jitter') ?? 0,
      status: args.get<Array<[number, number]>>('status') ?? [[200, 399]],
      body: args.get<string>('body') ?? null,
      initial: args.get<'healthy' | 'unhealthy' | 'checked'>('initial') ?? 'healthy',
    };
    const pointer = `${frame.pointer}/healthCheck`;
    cx.at(pointer, args.directive.span, '`health_check`');
    for (const [key, field] of [['uri', 'uri'], ['interval', 'interval'], ['timeout', 'timeout'], ['passes', 'rise'], ['fails', 'fall'], ['jitter', 'jitter'], ['status', 'status'], ['body', 'body']]) {
      if (args.spans.has(key)) cx.at(`${pointer}/${field}`, args.span(key), `\`${key}\``);
    }
  },
};

export const upstreamDirectives: DirectiveSpec[] = [upstream, upstreamServer, leastConn, ipHash, hash, random, leastBusy, keepalive, keepaliveTimeout, sticky, healthCheck];

// TLS to the servers of an upstream. nginx puts these in locations; the
// connections belong to the upstream's servers, so lbconf puts them there.

function upstreamTls(frame: Frame) {
  const u = frame.upstream!;
  return (u.tls ??= { verify: true, trusted: null, name: null, cert: null, key: null });
}

function tlsDirective(name: string, key: 'trusted' | 'cert' | 'key' | 'name', type: ArgType, summary: string, example: string): DirectiveSpec {
  return {
    name, contexts: ['upstream'], args: { positional: [{ name: key === 'name' ? 'name' : 'file', type }] }, repeatable: false, summary, example,
    lower(cx, args, frame) {
      const value = args.get<string>(key === 'name' ? 'name' : 'file')!;
      upstreamTls(frame)[key] = value;
      cx.at(`${frame.pointer}/tls/${key}`, args.directive.span, `\`${name}\``);
    },
  };
}

const proxySslVerify: DirectiveSpec = {
  name: 'proxy_ssl_verify',
  contexts: ['upstream'],
  args: { positional: [{ name: 'switch', type: t.onOff }] },
  repeatable: false,
  default: 'proxy_ssl_verify on;',
  summary: 'Whether the certificates of the upstream\'s servers are verified when `proxy_pass https://…` is used. On by default (nginx has it off): turn it off only for a server you reach over a network you trust.',
  example: 'proxy_ssl_verify off;',
  lower(cx, args, frame) {
    upstreamTls(frame).verify = args.get<boolean>('switch')!;
    cx.at(`${frame.pointer}/tls/verify`, args.directive.span, '`proxy_ssl_verify`');
  },
};

export const upstreamTlsDirectives: DirectiveSpec[] = [
  proxySslVerify,
  tlsDirective('proxy_ssl_trusted_certificate', 'trusted', t.file, 'CA certificates (PEM) to verify the upstream\'s servers with, instead of the system\'s. Relative to the file that names it.', 'proxy_ssl_trusted_certificate certs/internal-ca.pem;'),
  tlsDirective('proxy_ssl_name', 'name', t.text, 'The name sent by SNI and checked against the servers\' certificates; by default each server\'s host as written.', 'proxy_ssl_name api.internal;'),
  tlsDirective('proxy_ssl_certificate', 'cert', t.file, 'A client certificate (PEM) lbconf presents to the upstream\'s servers (mutual TLS), with `proxy_ssl_certificate_key`.', 'proxy_ssl_certificate certs/lbconf-client.pem;'),
  tlsDirective('proxy_ssl_certificate_key', 'key', t.file, 'The key of `proxy_ssl_certificate`.', 'proxy_ssl_certificate_key certs/lbconf-client.key;'),
];
