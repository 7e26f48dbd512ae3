import { METHODS } from 'node:http';
import * as t from '../arg-types.ts';
import type { ArgType, DirectiveSpec } from '../directive.ts';
import type { CacheSettingsIR, CacheValidIR, ConfigIR, LocationIR, ProxySettingsIR } from '../ir.ts';
import { parseCidr } from '../values.ts';
import type { Template } from '../variables.ts';
import { settingDirective } from './setting.ts';

// The HTTP cache (RFC 9111, a shared cache, in memory): the zone declaration,
// and the per-location settings with nginx's names. See spec/cache.md.

const HTTP_CONTEXTS = ['main', 'server', 'location'] as const;

/**
 * The default key: the scheme and the authority (host *and port*, as sent) the
 * client asked for, which lbconf forwards as X-Forwarded-Proto and
 * X-Forwarded-Host, and the request target. nginx's `$scheme$proxy_host$request_uri`
 * names the upstream instead, as nginx forwards no X-Forwarded-Host (spec/cache.md).
 */
export const DEFAULT_CACHE_KEY: Template = [{ var: 'scheme' }, { var: 'authority' }, { var: 'request_uri' }];

/** The defaults of the cache settings (inherit.ts's emptySettings spreads them). */
export function cacheDefaults(): CacheSettingsIR {
  return {
    cache: null,
    cacheKey: DEFAULT_CACHE_KEY,
    cacheLock: true,
    cacheLockTimeout: 5000,
    cacheBypass: [],
    cacheNoStore: [],
    cacheValid: [],
    cachePurge: null,
    cacheStatusHeader: 'x-cache-status',
  };
}

/**
 * `proxy_cache NAME` may come before its `proxy_cache_zone`: once every level is
 * resolved, copy the zone's size into each use, so that a route carries all it
 * needs. A name with no zone is left as written (checks/cache.ts reports it).
 */
export function fillCacheZones(ir: ConfigIR): void {
  const zones = ir.cacheZones ?? [];
  const fill = (s: ProxySettingsIR) => {
    const zone = s.cache === null ? undefined : zones.find((z) => z.name === s.cache!.name);
    if (zone) { s.cache!.size = zone.size; s.cache!.maxObject = zone.maxObject; }
  };
  const walk = (list: LocationIR[]) => { for (const l of list) { fill(l.settings); walk(l.locations); } };
  for (const server of ir.servers) { fill(server.settings); walk(server.locations); }
}

const zoneDirective: DirectiveSpec = {
  name: 'proxy_cache_zone',
  contexts: ['main'],
  args: {
    positional: [{ name: 'name', type: t.name }],
    options: {
      size: { type: t.size, doc: 'the most memory the store holds (bodies, headers and keys together); the least recently used entries make room for new ones' },
      max_object: { type: t.size, doc: 'the largest response stored (default an eighth of `size`); a larger one is passed to the client and not stored' },
    },
  },
  repeatable: true,
  summary: 'lbconf: an in-memory HTTP cache store for `proxy_cache`. nginx declares a disk cache with `proxy_cache_path PATH keys_zone=NAME:SIZE max_size=…`; lbconf keeps everything in memory, so one `size=` bounds keys, headers and bodies together and there is no path. The store survives reloads by name.',
  example: 'proxy_cache_zone static size=64m max_object=1m;',
  lower(cx, args) {
    const name = args.get<string>('name')!;
    const size = args.get<number>('size');
    if (size === undefined) {
      if (!args.directive.args.some((a) => a.value.startsWith('size='))) cx.diag('error', 'missing-argument', '`proxy_cache_zone` needs `size=`', args.directive.span, `write \`proxy_cache_zone ${name} size=64m;\``);
      return;
    }
    const maxObject = args.get<number>('max_object') ?? Math.floor(size / 8);
    if (maxObject > size) {
      cx.diag('error', 'invalid-value', `\`max_object\` (${maxObject} bytes) is larger than the zone (${size} bytes)`, args.span('max_object'), 'make `max_object` at most `size`');
      return;
    }
    const zones = (cx.ir.cacheZones ??= []);
    if (zones.some((z) => z.name === name)) {
      cx.diag('error', 'duplicate-zone', `cache zone \`${name}\` is already defined`, args.span('name'), 'give each zone its own name');
      return;
    }
    cx.at(`/cacheZones/${zones.length}`, args.directive.span, '`proxy_cache_zone`');
    cx.at(`/cacheZones/${zones.length}/size`, args.span('size'), '`size`');
    cx.at(`/cacheZones/${zones.length}/maxObject`, args.span('max_object'), '`max_object`');
    zones.push({ name, size, maxObject });
  },
};

/** A zone name, or `off`. */
const zoneOrOff: ArgType<string | null> = {
  name: 'name|off',
  parse: (v, arg) => (v === 'off' ? { ok: true, value: null } : t.name.parse(v, arg)),
};

const proxyCache: DirectiveSpec = {
  name: 'proxy_cache',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'zone', type: zoneOrOff }] },
  repeatable: false,
  default: 'proxy_cache off;',
  summary: 'Answers GET and HEAD requests from the `proxy_cache_zone` named, as an RFC 9111 shared cache: freshness from `Cache-Control`, `Expires` and `Age`, validation, `Vary`, `stale-while-revalidate` and `stale-if-error`, request collapsing, invalidation by unsafe methods. `off` turns an inherited cache off. See spec/cache.md.',
  example: 'proxy_cache static;',
  lower(cx, args, frame) {
    const zone = args.get<string | null>('zone')!;
    cx.setting(frame, 'cache', zone === null ? null : { name: zone, size: 0, maxObject: 0 }, args.span('zone'), '`proxy_cache`');
  },
};

const proxyCacheKey = settingDirective(
  'proxy_cache_key', 'cacheKey', t.template, 'key', HTTP_CONTEXTS, '$scheme$authority$request_uri',
  'What identifies a cached response: any text with variables. In the key, each variable\'s value is escaped (`\\` and space, with `\\`) and followed by a space unless it ends the key, so that two different requests never share a key by accident: `https example.com:8443 /a?b=1` by default. The default keys on the host *with its port*, as lbconf forwards it in X-Forwarded-Host (nginx\'s default names the upstream: see spec/cache.md). Responses that `Vary` are stored as variants under the same key.',
  'proxy_cache_key $scheme$authority$uri$is_args$args$cookie_lang;',
);

const proxyCacheLock = settingDirective(
  'proxy_cache_lock', 'cacheLock', t.onOff, 'switch', HTTP_CONTEXTS, 'on',
  'Request collapsing: while one request fetches a key that is missing or stale, the others for that key wait for it (up to `proxy_cache_lock_timeout`) and are then answered from the cache. nginx\'s default is `off`; lbconf\'s is `on`, as a cache without it sends a burst of misses for one popular key all to the upstream.',
  'proxy_cache_lock off;',
);

const proxyCacheLockTimeout = settingDirective(
  'proxy_cache_lock_timeout', 'cacheLockTimeout', t.duration, 'timeout', HTTP_CONTEXTS, '5s',
  'How long a request waits for another one fetching the same key; then it goes to the upstream itself.',
  'proxy_cache_lock_timeout 2s;',
);

function conditions(name: 'proxy_cache_bypass' | 'proxy_no_cache', key: 'cacheBypass' | 'cacheNoStore', summary: string, example: string): DirectiveSpec {
  return {
    name, contexts: HTTP_CONTEXTS,
    args: { positional: [{ name: 'string', type: t.template, variadic: true }] },
    repeatable: false, summary, example,
    lower(cx, args, frame) {
      cx.setting(frame, key, args.get<Template[]>('string')!, args.span('string'), `\`${name}\``);
    },
  };
}

/** `200`, `404`, or `any`. */
const codeOrAny: ArgType<number> = {
  name: 'status|any',
  parse: (v, arg) => (v === 'any' ? { ok: true, value: 0 } : t.status.parse(v, arg)),
};

const proxyCacheValid: DirectiveSpec = {
  name: 'proxy_cache_valid',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'code', type: codeOrAny, variadic: true, optional: true }, { name: 'time', type: t.duration }] },
  repeatable: true,
  summary: 'How long responses with these statuses stay fresh when the upstream gives them no freshness of its own (no `Cache-Control: max-age` or `s-maxage`, no `Expires`). Without a code: 200, 301 and 302, as in nginx; `any` for every status. What the upstream says always wins. A level with `proxy_cache_valid` does not inherit the outer level\'s.',
  example: 'proxy_cache_valid 200 301 10m;',
  lower(cx, args, frame) {
    const codes = args.get<number[]>('code') ?? [];
    const list = (frame.settings.cacheValid ??= []);
    if (list.length === 0) cx.at(`${frame.pointer}/settings/cacheValid`, args.directive.span, '`proxy_cache_valid`');
    cx.at(`${frame.pointer}/settings/cacheValid/${list.length}/ttl`, args.span('time'), 'the time');
    const entry: CacheValidIR = { codes: codes.length === 0 ? [200, 301, 302] : codes.includes(0) ? [] : codes, ttl: args.get<number>('time')! };
    list.push(entry);
  },
};

/** An address or CIDR range allowed to purge, `all`, or `off`. */
const purgeSource: ArgType<string> = {
  name: 'address|off',
  parse: (v) => {
    if (v === 'off') return { ok: true, value: 'off' };
    const c = parseCidr(v);
    return c.ok ? { ok: true, value: v } : c;
  },
};

const SAFE_OR_CACHED = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'];

const proxyCachePurge: DirectiveSpec = {
  name: 'proxy_cache_purge',
  contexts: HTTP_CONTEXTS,
  args: {
    positional: [{ name: 'from', type: purgeSource, variadic: true }],
    options: { method: { type: t.name, doc: 'the request method that purges (default `PURGE`; one that HTTP parsers know, such as `PURGE`, `UNLOCK`)' } },
  },
  repeatable: false,
  default: 'proxy_cache_purge off;',
  summary: 'lbconf: clients at these addresses (CIDR ranges, or `all`) may remove a key from the cache with a `PURGE` request for it (the key computed as for a GET): 200 when something was removed, 404 when nothing was stored; anyone else gets 403. nginx keeps this for its paid edition.',
  example: 'proxy_cache_purge 127.0.0.1 10.0.0.0/8;',
  lower(cx, args, frame) {
    const from = args.get<string[]>('from')!;
    if (from.includes('off')) {
      if (from.length > 1) { cx.diag('error', 'bad-argument', '`off` cannot be combined with addresses', args.span('from'), 'write `proxy_cache_purge off;` alone'); return; }
      cx.setting(frame, 'cachePurge', null, args.span('from'), '`proxy_cache_purge`');
      return;
    }
    const method = args.get<string>('method') ?? 'PURGE';
    // Node's HTTP parser refuses methods it does not know (400), so only those can purge.
    if (!METHODS.includes(method) || SAFE_OR_CACHED.includes(method)) {
      cx.diag('error', 'bad-argument', `\`${method}\` cannot be the purge method`, args.span('method'), 'use PURGE, or another method HTTP parsers know that the location does not otherwise use');
      return;
    }
    cx.setting(frame, 'cachePurge', { method, from }, args.directive.span, '`proxy_cache_purge`');
  },
};

const template = {
  type: 'array',
  items: { anyOf: [{ type: 'string' }, { type: 'object', required: ['var'], properties: { var: { type: 'string' } }, additionalProperties: false }] },
} as const;

const zoneSchema = {
  type: 'object', required: ['name', 'size', 'maxObject'], additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1 }, size: { type: 'integer', minimum: 4096, maximum: 2 ** 40 }, maxObject: { type: 'integer', minimum: 0, maximum: 2 ** 40 } },
} as const;

/** The JSON Schema of the cache settings (spread into compiler/schema.ts's settings). */
export const cacheSettingsSchema = {
  // The size is copied from the zone; 0 when the zone is missing (checks/cache.ts reports that).
  cache: { anyOf: [{ type: 'null' }, { ...zoneSchema, properties: { ...zoneSchema.properties, size: { type: 'integer', minimum: 0 } } }] },
  cacheKey: template,
  cacheLock: { type: 'boolean' },
  cacheLockTimeout: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
  cacheBypass: { type: 'array', items: template },
  cacheNoStore: { type: 'array', items: template },
  cacheValid: {
    type: 'array',
    items: { type: 'object', required: ['codes', 'ttl'], additionalProperties: false, properties: { codes: { type: 'array', items: { type: 'integer', minimum: 100, maximum: 599 } }, ttl: { type: 'integer', minimum: 0, maximum: 2_147_483_647 } } },
  },
  cachePurge: {
    anyOf: [
      { type: 'null' },
      { type: 'object', required: ['method', 'from'], additionalProperties: false, properties: { method: { type: 'string', minLength: 1 }, from: { type: 'array', minItems: 1, items: { type: 'string' } } } },
    ],
  },
  cacheStatusHeader: { enum: ['x-cache-status', 'cache-status', ''] },
} as const;

export const CACHE_KEYS = Object.keys(cacheSettingsSchema) as (keyof CacheSettingsIR)[];

/** The JSON Schema of `cacheZones` (the top level of the IR). */
export const cacheZonesSchema = { type: 'array', items: zoneSchema } as const;

const STATUS_HEADERS = { 'x-cache-status': 'x-cache-status', 'cache-status': 'cache-status', off: '' } as const;

const statusHeader: ArgType<string> = {
  name: 'X-Cache-Status|Cache-Status|off',
  parse: (v) => {
    const h = STATUS_HEADERS[v.toLowerCase() as keyof typeof STATUS_HEADERS];
    return h === undefined ? { ok: false, message: `expected \`X-Cache-Status\`, \`Cache-Status\` or \`off\`, not \`${v}\`` } : { ok: true, value: h };
  },
};

const proxyCacheStatusHeader = settingDirective(
  'proxy_cache_status_header', 'cacheStatusHeader', statusHeader, 'header', HTTP_CONTEXTS, 'X-Cache-Status',
  'lbconf: the header that says what the cache did: `X-Cache-Status: HIT` (MISS, EXPIRED, STALE, UPDATING, REVALIDATED, BYPASS: the values of nginx\'s `$upstream_cache_status`), RFC 9211\'s `Cache-Status: lbconf; hit`, or `off`.',
  'proxy_cache_status_header Cache-Status;',
);

export const cacheDirectives: DirectiveSpec[] = [
  zoneDirective,
  proxyCache,
  proxyCacheKey,
  proxyCacheValid,
  proxyCacheLock,
  proxyCacheLockTimeout,
  conditions('proxy_cache_bypass', 'cacheBypass', 'Requests for which any STRING (with variables) is neither empty nor `0` are not answered from the cache; their responses may still be stored.', 'proxy_cache_bypass $cookie_nocache $arg_nocache;'),
  conditions('proxy_no_cache', 'cacheNoStore', 'Responses to requests for which any STRING (with variables) is neither empty nor `0` are not stored.', 'proxy_no_cache $cookie_session;'),
  proxyCachePurge,
  proxyCacheStatusHeader,
];
