import * as t from '../arg-types.ts';
import type { ArgType, DirectiveSpec } from '../directive.ts';
import { isHostname, isIPv4, parseHostPort } from '../values.ts';
import type { Template } from '../variables.ts';
import { settingDirective } from './setting.ts';

// Proxying: `proxy_pass`, headers, timeouts and retries.

export interface ProxyTarget {
  scheme: 'http' | 'https';
  /** The upstream name, or `host:port` when the target is an address. */
  host: string;
  port: number | null;
  uri: string | null;
}

const proxyUrl: ArgType<ProxyTarget> = {
  name: 'url',
  parse: (v) => {
    const m = /^(https?):\/\/([^/?#]+)(\/[^#]*)?$/.exec(v);
    if (!m) {
      if (v.includes('$')) return { ok: false, message: 'variables in `proxy_pass` are not supported: route with locations and upstreams instead' };
      return { ok: false, message: `\`${v}\` is not a proxy URL: write http://UPSTREAM or http://host:port, with an optional /path` };
    }
    const hp = parseHostPort(m[2]);
    if (!hp.ok) return hp;
    if (hp.value.host === '*') return { ok: false, message: '`*` is not an upstream' };
    return { ok: true, value: { scheme: m[1] as 'http' | 'https', host: hp.value.host, port: hp.value.port, uri: m[3] ?? null } };
  },
};

const proxyPass: DirectiveSpec = {
  name: 'proxy_pass',
  contexts: ['location'],
  args: { positional: [{ name: 'url', type: proxyUrl }] },
  repeatable: false,
  summary: 'Proxies the request to an upstream (`http://NAME`) or to one address (`http://10.0.0.1:8080`). With a path after the host, the part of the request path that matched the location is replaced by it, as in nginx. A path with variables or regex captures (`http://b/$1`), which nginx substitutes, is refused with an error until lbconf substitutes them too.',
  example: 'proxy_pass http://app;',
  lower(cx, args, frame) {
    const target = args.get<ProxyTarget>('url')!;
    const isAddress = target.port !== null || isIPv4(target.host) || target.host.includes(':');
    let upstream = target.host;
    if (isAddress) {
      // An address written in place becomes a one-server upstream named after it.
      const port = target.port ?? (target.scheme === 'https' ? 443 : 80);
      const address = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${port}`;
      upstream = address;
      if (!cx.ir.upstreams.some((u) => u.implicit && u.name === address)) {
        cx.ir.upstreams.push({
          name: address, implicit: true, method: { kind: 'round_robin' }, keepalive: 32, keepaliveTimeout: 60_000, sticky: null, healthCheck: null, tls: null,
          servers: [{ address, host: target.host, port, weight: 1, maxFails: 1, failTimeout: 10_000, maxConns: 0, slowStart: 0, backup: false, down: false }],
        });
      }
    } else if (!isHostname(target.host)) {
      cx.diag('error', 'bad-argument', `\`${target.host}\` is not an upstream name`, args.span('url'));
      return;
    }
    // nginx substitutes variables and regex captures in proxy_pass's URI; lbconf does not yet: never send `$1` as text.
    if (target.uri !== null && target.uri.includes('$')) {
      cx.diag('error', 'bad-argument', `\`${target.uri}\`: variables and regex captures (\`$1\`) in proxy_pass are substituted by nginx; lbconf does not do it yet, and would send the text as it is`, args.span('url'),
        'drop the path after the host (the request URI then goes as the client sent it), or give a fixed path, which replaces the part the location matched');
      return;
    }
    frame.location!.proxyPass = { scheme: target.scheme, upstream, uri: target.uri };
    cx.at(`${frame.pointer}/proxyPass/upstream`, args.span('url'), '`proxy_pass`');
  },
};

const proxySetHeader: DirectiveSpec = {
  name: 'proxy_set_header',
  contexts: ['main', 'server', 'location'],
  args: { positional: [{ name: 'header', type: t.headerName }, { name: 'value', type: t.template }] },
  repeatable: true,
  default: 'proxy_set_header Host $proxy_host; (see spec/proxy.md)',
  summary: 'Sets a request header sent to the upstream; an empty value removes the header. As in nginx, a level that sets any header does not inherit the headers set at outer levels.',
  example: 'proxy_set_header X-Request-Id $request_id;',
  lower(cx, args, frame) {
    const list = (frame.settings.setHeaders ??= []);
    cx.at(`${frame.pointer}/settings/setHeaders/${list.length}`, args.directive.span, '`proxy_set_header`');
    list.push({ name: args.get<string>('header')!, value: args.get<Template>('value')! });
  },
};

const addHeader: DirectiveSpec = {
  name: 'add_header',
  contexts: ['main', 'server', 'location'],
  args: { positional: [{ name: 'header', type: t.headerName }, { name: 'value', type: t.template }], flags: { always: 'add it to every response, errors included' } },
  repeatable: true,
  summary: 'Adds a header to responses with status 200, 201, 204, 206, 301, 302, 303, 304, 307 or 308 (with `always`, to every response, lbconf\'s own errors included). As in nginx, a level that adds any header does not inherit those of outer levels. For HSTS: `add_header Strict-Transport-Security "max-age=31536000" always;`.',
  example: 'add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;',
  lower(cx, args, frame) {
    const list = (frame.settings.addHeaders ??= []);
    cx.at(`${frame.pointer}/settings/addHeaders/${list.length}`, args.directive.span, '`add_header`');
    list.push({ name: args.get<string>('header')!, value: args.get<Template>('value')!, always: args.flags.has('always') });
  },
};

function timeout(name: string, key: 'connectTimeout' | 'sendTimeout' | 'readTimeout' | 'headerTimeout' | 'requestTimeout', fallback: string, summary: string): DirectiveSpec {
  return settingDirective(name, key, t.duration, 'timeout', ['main', 'server', 'location'], fallback, summary, `${name} 5s;`);
}

const NEXT_UPSTREAM = ['error', 'timeout', 'invalid_header', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429', 'non_idempotent', 'off'] as const;

const proxyNextUpstream: DirectiveSpec = {
  name: 'proxy_next_upstream',
  contexts: ['main', 'server', 'location'],
  args: { positional: [{ name: 'condition', type: t.oneOf(...NEXT_UPSTREAM), variadic: true }] },
  repeatable: false,
  default: 'proxy_next_upstream error timeout;',
  summary: 'When a request goes to the next server: `error` (connect error or reset before a response), `timeout`, `invalid_header`, `http_NNN` for those statuses, `non_idempotent` to retry POST and other non-idempotent requests too, or `off`.',
  example: 'proxy_next_upstream error timeout http_502 http_503;',
  lower(cx, args, frame) {
    const when = args.get<string[]>('condition')!;
    if (when.includes('off') && when.length > 1) {
      cx.diag('error', 'bad-argument', '`off` cannot be combined with other conditions', args.directive.span, 'write `proxy_next_upstream off;` alone');
      return;
    }
    cx.setting(frame, 'nextUpstream', when.filter((w) => w !== 'off'), args.directive.span, '`proxy_next_upstream`');
  },
};

function nextUpstreamLimit(name: string, key: 'nextUpstreamTries' | 'nextUpstreamTimeout', type: ArgType<number>, summary: string): DirectiveSpec {
  const argName = key === 'nextUpstreamTries' ? 'number' : 'timeout';
  return settingDirective(name, key, type, argName, ['main', 'server', 'location'], '0', summary, `${name} ${argName === 'number' ? '3' : '10s'};`);
}

export const proxyDirectives: DirectiveSpec[] = [
  proxyPass,
  proxySetHeader,
  addHeader,
  timeout('proxy_connect_timeout', 'connectTimeout', '60s', 'How long connecting to a server may take.'),
  timeout('proxy_send_timeout', 'sendTimeout', '60s', 'The longest a server may take none of the request body being sent to it (nginx: between two writes); then 504, or the next server when `proxy_next_upstream` lists `timeout` and the body can be sent again.'),
  timeout('proxy_read_timeout', 'readTimeout', '60s', 'The longest wait for a read of the response from a server, as in nginx: the response head (unless `proxy_header_timeout` is set), and each pause in the body.'),
  timeout('proxy_header_timeout', 'headerTimeout', 'proxy_read_timeout', 'lbconf: how long the server may take to send the response headers (time to first byte). Unset, it is `proxy_read_timeout`, which in nginx covers that wait too; set it to give the head a shorter (or longer) time than the pauses in the body.'),
  timeout('proxy_request_timeout', 'requestTimeout', '0', 'lbconf: the most the whole exchange with the server may take, retries included; 0 is no limit.'),
  proxyNextUpstream,
  nextUpstreamLimit('proxy_next_upstream_tries', 'nextUpstreamTries', t.integer, 'The most servers one request is tried on, the first included; 0 is no limit.'),
  nextUpstreamLimit('proxy_next_upstream_timeout', 'nextUpstreamTimeout', t.duration, 'The most time spent passing one request to the next server; 0 is no limit.'),
];
