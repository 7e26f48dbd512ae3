import * as t from '../arg-types.ts';
import type { Args, ArgType, DirectiveSpec } from '../directive.ts';
import type { LimitZoneIR } from '../ir.ts';
import { parseSize } from '../values.ts';
import type { Template } from '../variables.ts';
import { settingDirective } from './setting.ts';

// Request limits (body size, header size and count, target length, client
// timeouts, keep-alive, connections per listener) and rate and connection
// limiting by key (limit_req_zone/limit_req, limit_conn_zone/limit_conn).
// See spec/security.md.

const HTTP_CONTEXTS = ['main', 'server', 'location'] as const;
/** Settings that apply to a listener (before routing, or per connection): read from its default server. */
const LISTENER_CONTEXTS = ['main', 'server'] as const;
const LISTENER_NOTE = ' A listener takes it from its default server (nginx does the same for the settings it needs before it knows the server block).';

/** nginx's zone size → keys: one key's state takes about 64 bytes, about 16,000 keys per megabyte. */
export const BYTES_PER_KEY = 64;

/** Whether `key=` was written (when its value was bad, that is already reported). */
const written = (args: Args, key: string) => args.directive.args.some((a) => a.kind === 'word' && a.value.startsWith(`${key}=`));

/** `zone=NAME:SIZE`. */
const zoneSpec: ArgType<{ name: string; size: number }> = {
  name: 'name:size',
  parse: (v) => {
    const colon = v.lastIndexOf(':');
    if (colon <= 0) return { ok: false, message: `\`${v}\` is not a zone: write NAME:SIZE, as in zone=perip:10m` };
    const name = v.slice(0, colon);
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) return { ok: false, message: `\`${name}\` is not a valid zone name` };
    const size = parseSize(v.slice(colon + 1));
    if (!size.ok) return size;
    return { ok: true, value: { name, size: size.value } };
  },
};

/** `10r/s`, `30r/m` → requests per second. */
const rateSpec: ArgType<number> = {
  name: 'rate',
  parse: (v) => {
    const m = /^(\d+(?:\.\d+)?)r\/(s|m)$/.exec(v);
    if (!m || Number(m[1]) <= 0) return { ok: false, message: `\`${v}\` is not a rate: write requests per second or per minute, as in 10r/s or 30r/m` };
    return { ok: true, value: m[2] === 's' ? Number(m[1]) : Number(m[1]) / 60 };
  },
};

function zoneDirective(kind: 'req' | 'conn'): DirectiveSpec {
  const name = kind === 'req' ? 'limit_req_zone' : 'limit_conn_zone';
  return {
    name,
    contexts: ['main'],
    args: {
      positional: [{ name: 'key', type: t.template }],
      options: {
        zone: { type: zoneSpec, doc: 'the zone\'s name and size; the size bounds the keys kept (about 16,000 per megabyte), the least recently used idle key making room for a new one' },
        ...(kind === 'req' ? { rate: { type: rateSpec, doc: 'the rate allowed per key: `10r/s`, `30r/m`' } } : {}),
      },
    },
    repeatable: true,
    summary: kind === 'req'
      ? 'A zone for `limit_req`: requests are counted per value of KEY (any text with variables; `$remote_addr` for per-client limits) and allowed at `rate=` each. Its state survives reloads by name.'
      : 'A zone for `limit_conn`: requests in flight are counted per value of KEY (any text with variables). Its state survives reloads by name.',
    example: kind === 'req' ? 'limit_req_zone $remote_addr zone=perip:10m rate=10r/s;' : 'limit_conn_zone $remote_addr zone=addr:10m;',
    lower(cx, args) {
      const zone = args.get<{ name: string; size: number }>('zone');
      const rate = args.get<number>('rate');
      if (!zone) {
        if (!written(args, 'zone')) cx.diag('error', 'missing-argument', `\`${name}\` needs \`zone=NAME:SIZE\``, args.directive.span, `write \`${this.example}\``);
        return;
      }
      if (kind === 'req' && rate === undefined) {
        if (!written(args, 'rate')) cx.diag('error', 'missing-argument', '`limit_req_zone` needs `rate=`', args.directive.span, `write \`${this.example}\``);
        return;
      }
      const zones = (cx.ir.limitZones ??= []);
      if (zones.some((z) => z.name === zone.name)) {
        cx.diag('error', 'duplicate-zone', `zone \`${zone.name}\` is already defined`, args.span('zone'), 'give each zone its own name');
        return;
      }
      const ir: LimitZoneIR = { kind, name: zone.name, key: args.get<Template>('key')!, keys: Math.floor(zone.size / BYTES_PER_KEY), rate: rate ?? 0 };
      cx.at(`/limitZones/${zones.length}/keys`, args.span('zone'), 'the zone size');
      cx.at(`/limitZones/${zones.length}`, args.directive.span, `\`${name}\``);
      zones.push(ir);
    },
  };
}

const limitReq: DirectiveSpec = {
  name: 'limit_req',
  contexts: HTTP_CONTEXTS,
  args: {
    positional: [],
    options: {
      zone: { type: t.name, doc: 'a `limit_req_zone`' },
      burst: { type: t.integer, doc: 'how many requests over the rate a key may have waiting (default 0)' },
    },
    flags: { nodelay: 'serve requests within the burst at once instead of spacing them out at the rate' },
  },
  repeatable: true,
  summary: 'Limits the request rate per key of a zone. A request over the rate and the burst gets `limit_req_status` (429) with `Retry-After`. Within the burst, requests wait until the rate allows them (spaced out as nginx does) unless `nodelay`. A level with `limit_req` does not inherit the outer level\'s.',
  example: 'limit_req zone=perip burst=20 nodelay;',
  lower(cx, args, frame) {
    const zone = args.get<string>('zone');
    if (zone === undefined) {
      if (!written(args, 'zone')) cx.diag('error', 'missing-argument', '`limit_req` needs `zone=NAME`', args.directive.span, 'write `limit_req zone=perip burst=20;`');
      return;
    }
    const list = (frame.settings.limitReq ??= []);
    if (list.length === 0) cx.at(`${frame.pointer}/settings/limitReq`, args.directive.span, '`limit_req`');
    cx.at(`${frame.pointer}/settings/limitReq/${list.length}/zone`, args.span('zone'), '`limit_req`');
    cx.at(`${frame.pointer}/settings/limitReq/${list.length}/burst`, args.span('burst'), '`burst`');
    list.push({ zone, burst: args.get<number>('burst') ?? 0, nodelay: args.flags.has('nodelay'), key: [], rate: 0, keys: 0 });
  },
};

const limitConn: DirectiveSpec = {
  name: 'limit_conn',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'zone', type: t.name }, { name: 'number', type: t.integer }] },
  repeatable: true,
  summary: 'The most requests in flight per key of a `limit_conn_zone`; one more gets `limit_conn_status` (429). A level with `limit_conn` does not inherit the outer level\'s.',
  example: 'limit_conn addr 10;',
  lower(cx, args, frame) {
    const list = (frame.settings.limitConn ??= []);
    if (list.length === 0) cx.at(`${frame.pointer}/settings/limitConn`, args.directive.span, '`limit_conn`');
    cx.at(`${frame.pointer}/settings/limitConn/${list.length}/zone`, args.span('zone'), '`limit_conn`');
    cx.at(`${frame.pointer}/settings/limitConn/${list.length}/max`, args.span('number'), 'the number');
    list.push({ zone: args.get<string>('zone')!, max: args.get<number>('number')!, key: [], keys: 0 });
  },
};

export const limitDirectives: DirectiveSpec[] = [
  settingDirective('client_max_body_size', 'clientMaxBodySize', t.size, 'size', HTTP_CONTEXTS, '1m', 'The largest request body; a larger one gets 413 before the upstream sees anything (by `Content-Length`, or by counting a chunked body as it arrives: then the upstream request is aborted). 0 is no limit.', 'client_max_body_size 10m;'),
  settingDirective('send_timeout', 'sendClientTimeout', t.duration, 'timeout', HTTP_CONTEXTS, '60s', 'The longest the client may take none of the response (nginx: between two writes to it); then the connection is closed, logged as "client timed out". Never counted against the server. 0 is no limit.', 'send_timeout 10s;'),
  settingDirective('client_body_timeout', 'clientBodyTimeout', t.duration, 'timeout', HTTP_CONTEXTS, '60s', 'The longest pause between two reads of the request body; then the client gets 408 (if nothing was answered yet) and the connection closes. 0 is no limit.', 'client_body_timeout 10s;'),
  settingDirective('client_header_timeout', 'clientHeaderTimeout', t.duration, 'timeout', LISTENER_CONTEXTS, '60s', `How long a client may take to send the request line and headers; then it gets 408 and the connection closes (checked every second; at least 1s).${LISTENER_NOTE}`, 'client_header_timeout 10s;'),
  settingDirective('client_max_header_size', 'clientMaxHeaderSize', t.size, 'size', LISTENER_CONTEXTS, '16k', `lbconf: the most bytes of the request line and headers together; beyond, 431 (or 414 while the request line is still arriving).${LISTENER_NOTE} Takes effect when the listener opens.`, 'client_max_header_size 32k;'),
  settingDirective('client_max_headers', 'clientMaxHeaders', t.integer, 'number', LISTENER_CONTEXTS, '100', `lbconf: the most header fields in a request; beyond, 431.${LISTENER_NOTE}`, 'client_max_headers 50;'),
  settingDirective('client_max_uri_length', 'clientMaxUriLength', t.size, 'size', LISTENER_CONTEXTS, '8k', `lbconf: the longest request target (path and query); beyond, 414.${LISTENER_NOTE}`, 'client_max_uri_length 4k;'),
  settingDirective('keepalive_timeout', 'keepaliveTimeout', t.duration, 'timeout', LISTENER_CONTEXTS, '75s', `How long an idle client connection stays open between requests; 0 closes it after each response.${LISTENER_NOTE}`, 'keepalive_timeout 30s;'),
  settingDirective('keepalive_requests', 'keepaliveRequests', t.integer, 'number', LISTENER_CONTEXTS, '1000', `The most requests served on one client connection; then it closes. 0 is no limit.${LISTENER_NOTE}`, 'keepalive_requests 100;'),
  settingDirective('max_connections', 'maxConnections', t.integer, 'number', LISTENER_CONTEXTS, '0', `lbconf: the most client connections a listener holds open at once; more are closed as they arrive, unread. 0 is no limit.${LISTENER_NOTE}`, 'max_connections 10000;'),
  zoneDirective('req'),
  limitReq,
  settingDirective('limit_req_status', 'limitReqStatus', t.status, 'code', HTTP_CONTEXTS, '429', 'The status of a request refused by `limit_req` (nginx\'s default is 503; lbconf\'s is 429, with `Retry-After`).', 'limit_req_status 503;'),
  zoneDirective('conn'),
  limitConn,
  settingDirective('limit_conn_status', 'limitConnStatus', t.status, 'code', HTTP_CONTEXTS, '429', 'The status of a request refused by `limit_conn` (nginx\'s default is 503; lbconf\'s is 429).', 'limit_conn_status 503;'),
];
