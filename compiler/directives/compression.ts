import * as t from '../arg-types.ts';
import type { ArgType, DirectiveSpec } from '../directive.ts';
import type { CompressEncoding, ProxySettingsIR } from '../ir.ts';
import { settingDirective } from './setting.ts';

// Response compression (spec/compression.md): nginx's gzip directives, which
// decide whether a response is compressed, and lbconf's own `compress`,
// `brotli_comp_level` and `zstd_comp_level` for the other encodings. Each one
// is inherited on its own, server → location, like every setting.

const HTTP_CONTEXTS = ['main', 'server', 'location'] as const;

export const ENCODINGS: readonly CompressEncoding[] = ['zstd', 'br', 'gzip'];

/** The defaults, spread into compiler/inherit.ts's emptySettings. */
export function compressionDefaults(): Pick<ProxySettingsIR, CompressionKey> {
  return {
    gzip: false,
    gzipTypes: ['text/html'],
    gzipMinLength: 20,
    gzipCompLevel: 1,
    gzipProxied: ['off'],
    gzipVary: true,
    compress: [...ENCODINGS],
    brotliCompLevel: 4,
    zstdCompLevel: 3,
  };
}

export type CompressionKey = 'gzip' | 'gzipTypes' | 'gzipMinLength' | 'gzipCompLevel' | 'gzipProxied' | 'gzipVary' | 'compress' | 'brotliCompLevel' | 'zstdCompLevel';

/** The settings' JSON Schema, spread into compiler/schema.ts; the level ranges are the ones users see. */
export const compressionSchema = {
  gzip: { type: 'boolean' },
  gzipTypes: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
  gzipMinLength: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  gzipCompLevel: { type: 'integer', minimum: 1, maximum: 9 },
  gzipProxied: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['off', 'expired', 'no-cache', 'no-store', 'private', 'no_last_modified', 'no_etag', 'auth', 'any'] } },
  gzipVary: { type: 'boolean' },
  compress: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['zstd', 'br', 'gzip'] } },
  brotliCompLevel: { type: 'integer', minimum: 0, maximum: 11 },
  zstdCompLevel: { type: 'integer', minimum: 1, maximum: 19 },
} as const;

export const COMPRESSION_KEYS = Object.keys(compressionSchema) as CompressionKey[];

/** `text/html`, `application/*` or `*`. */
const mimeType: ArgType<string> = {
  name: 'mime-type',
  parse: (v) => {
    if (v === '*' || /^[a-z0-9!#$&^_.+-]+\/([a-z0-9!#$&^_.+-]+|\*)$/i.test(v)) return { ok: true, value: v.toLowerCase() };
    return { ok: false, message: `\`${v}\` is not a MIME type: write type/subtype as in application/json, type/* as in text/*, or * for every type` };
  },
};

const encoding: ArgType<CompressEncoding> = {
  name: 'zstd|br|gzip',
  parse: (v) => {
    const e = v.toLowerCase();
    if (e === 'zstd' || e === 'br' || e === 'gzip') return { ok: true, value: e };
    if (e === 'brotli') return { ok: false, message: 'the encoding is called `br` in HTTP: write `br`' };
    if (e === 'deflate' || e === 'compress' || e === 'x-gzip') return { ok: false, message: `\`${v}\` is not offered: lbconf compresses with \`zstd\`, \`br\` and \`gzip\`` };
    return { ok: false, message: `\`${v}\` is not an encoding: expected \`zstd\`, \`br\` or \`gzip\`` };
  },
};

const gzipTypes: DirectiveSpec = {
  name: 'gzip_types',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'mime_type', type: mimeType, variadic: true }] },
  repeatable: false,
  default: 'gzip_types text/html;',
  summary: 'The Content-Types compressed, besides `text/html`, which always is (as in nginx). `*` means every type except those already compressed (images other than SVG, audio, video, fonts, archives) and `text/event-stream`; lbconf also takes `type/*`. Applies to every encoding, not only gzip.',
  example: 'gzip_types text/css application/javascript application/json image/svg+xml;',
  lower(cx, args, frame) {
    const types = [...new Set(args.get<string[]>('mime_type')!)];
    cx.setting(frame, 'gzipTypes', types.includes('*') ? ['*'] : types, args.span('mime_type'), '`gzip_types`');
  },
};

const PROXIED = ['off', 'expired', 'no-cache', 'no-store', 'private', 'no_last_modified', 'no_etag', 'auth', 'any'] as const;

const gzipProxied: DirectiveSpec = {
  name: 'gzip_proxied',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'condition', type: t.oneOf(...PROXIED), variadic: true }] },
  repeatable: false,
  default: 'gzip_proxied off;',
  summary: 'Whether to compress a response to a request that came through another proxy (it carries `Via`), with nginx\'s conditions: `off` never; `any` always; `expired` when `Expires` is in the past; `no-cache`, `no-store`, `private` when `Cache-Control` says so; `no_last_modified`, `no_etag` when the response lacks that header; `auth` when the request has `Authorization`. Requests without `Via` are not affected.',
  example: 'gzip_proxied any;',
  lower(cx, args, frame) {
    const conditions = [...new Set(args.get<string[]>('condition')!)];
    if (conditions.length > 1 && conditions.includes('off')) {
      cx.diag('error', 'bad-argument', '`off` cannot be combined with other conditions', args.span('condition'), 'write `gzip_proxied off;` alone, or list the conditions without `off`');
      return;
    }
    cx.setting(frame, 'gzipProxied', conditions, args.span('condition'), '`gzip_proxied`');
  },
};

const compress: DirectiveSpec = {
  name: 'compress',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'encoding', type: encoding, variadic: true }] },
  repeatable: false,
  default: 'compress zstd br gzip;',
  summary: 'lbconf: the encodings offered when compression is on (`gzip on`), most preferred first. The client\'s `Accept-Encoding` q-values decide; among encodings it rates equally, this order does. `compress gzip;` offers gzip only, as nginx does. Turning compression on is still `gzip on`.',
  example: 'compress br gzip;',
  lower(cx, args, frame) {
    const list = args.get<CompressEncoding[]>('encoding')!;
    const seen = new Set<CompressEncoding>();
    for (const e of list) {
      if (seen.has(e)) {
        cx.diag('error', 'duplicate-argument', `\`${e}\` is listed twice`, args.span('encoding'), 'list each encoding once, most preferred first');
        return;
      }
      seen.add(e);
    }
    cx.setting(frame, 'compress', list, args.span('encoding'), '`compress`');
  },
};

export const compressionDirectives: DirectiveSpec[] = [
  settingDirective('gzip', 'gzip', t.onOff, 'switch', HTTP_CONTEXTS, 'off', 'Turns response compression on or off. The encoding is chosen by the client\'s `Accept-Encoding` among those `compress` offers (zstd, br and gzip by default). Only 200, 403 and 404 responses of a `gzip_types` type are compressed, and never one that is already encoded, smaller than `gzip_min_length`, marked `Cache-Control: no-transform`, or (by default) to a request through another proxy: see spec/compression.md.', 'gzip on;'),
  gzipTypes,
  settingDirective('gzip_min_length', 'gzipMinLength', t.size, 'length', HTTP_CONTEXTS, '20', 'The smallest response compressed, by its `Content-Length`; a response without one (streamed) is compressed whatever its length.', 'gzip_min_length 1k;'),
  settingDirective('gzip_comp_level', 'gzipCompLevel', t.integer, 'level', HTTP_CONTEXTS, '1', 'The gzip level, 1 (fastest) to 9 (smallest). See bench/README.md for what each level costs.', 'gzip_comp_level 5;'),
  gzipProxied,
  settingDirective('gzip_vary', 'gzipVary', t.onOff, 'switch', HTTP_CONTEXTS, 'on', 'Adds `Vary: Accept-Encoding` to every response that compression applies to, compressed or not, so that caches downstream keep the variants apart. On by default in lbconf (nginx\'s default is off); turn it off only when no cache sits between lbconf and the clients.', 'gzip_vary off;'),
  compress,
  settingDirective('brotli_comp_level', 'brotliCompLevel', t.integer, 'level', HTTP_CONTEXTS, '4', 'lbconf: the Brotli (`br`) quality, 0 (fastest) to 11 (smallest). Above 6 it costs much more CPU for little gain on dynamic responses.', 'brotli_comp_level 5;'),
  settingDirective('zstd_comp_level', 'zstdCompLevel', t.integer, 'level', HTTP_CONTEXTS, '3', 'lbconf: the Zstandard (`zstd`) level, 1 (fastest) to 19 (smallest).', 'zstd_comp_level 6;'),
];
