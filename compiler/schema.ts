import { CACHE_KEYS, cacheSettingsSchema, cacheZonesSchema } from './directives/cache.ts';
import { COMPRESSION_KEYS, compressionSchema } from './directives/compression.ts';

// The JSON Schema of the config IR (compiler/ir.ts). Published as
// spec/lbconf-ir.schema.json for editors and tools; lbconf validates every IR
// with it, and the limits here are the ones users see in diagnostics.

const template = {
  type: 'array',
  items: { anyOf: [{ type: 'string' }, { type: 'object', required: ['var'], properties: { var: { type: 'string' } }, additionalProperties: false }] },
} as const;

const duration = { type: 'integer', minimum: 0, maximum: 2_147_483_647 } as const;
const positiveDuration = { type: 'integer', minimum: 1, maximum: 2_147_483_647 } as const;

const headerList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const errorStatus = { type: 'integer', minimum: 400, maximum: 599 } as const;
const limitStatus = { type: 'integer', minimum: 400, maximum: 599 } as const;
const zoneKeys = { type: 'integer', minimum: 1, maximum: 100_000_000 } as const;

const settings = {
  type: 'object',
  required: [
    'setHeaders', 'connectTimeout', 'sendTimeout', 'readTimeout', 'headerTimeout', 'requestTimeout', 'nextUpstream', 'nextUpstreamTries', 'nextUpstreamTimeout', 'access',
    'addHeaders', 'hideHeaders', 'passHeaders', 'serverTokens', 'errorPages', 'clientMaxBodySize', 'clientBodyTimeout', 'sendClientTimeout', 'clientHeaderTimeout', 'clientMaxHeaderSize', 'clientMaxHeaders',
    'clientMaxUriLength', 'keepaliveTimeout', 'keepaliveRequests', 'maxConnections', 'http2MaxConcurrentStreams', 'limitReq', 'limitReqStatus', 'limitConn', 'limitConnStatus',
    'realIpFrom', 'realIpHeader', 'realIpRecursive', 'authBasic', 'authBasicUserFile', 'authBasicLimit', 'accessLog',
    ...COMPRESSION_KEYS,
    ...CACHE_KEYS,
  ],
  additionalProperties: false,
  properties: {
    setHeaders: {
      type: 'array',
      items: { type: 'object', required: ['name', 'value'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 }, value: template } },
    },
    connectTimeout: positiveDuration,
    sendTimeout: positiveDuration,
    readTimeout: positiveDuration,
    headerTimeout: { type: 'integer', minimum: -1, maximum: 2_147_483_647, not: { const: 0 } },
    requestTimeout: duration,
    nextUpstream: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    nextUpstreamTries: { type: 'integer', minimum: 0, maximum: 100 },
    nextUpstreamTimeout: duration,
    access: {
      type: 'array',
      items: { type: 'object', required: ['action', 'source'], additionalProperties: false, properties: { action: { enum: ['allow', 'deny'] }, source: { type: 'string' } } },
    },
    addHeaders: {
      type: 'array',
      items: { type: 'object', required: ['name', 'value', 'always'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 }, value: template, always: { type: 'boolean' } } },
    },
    hideHeaders: headerList,
    passHeaders: headerList,
    serverTokens: { type: 'boolean' },
    errorPages: {
      type: 'array',
      items: {
        type: 'object', required: ['codes', 'body', 'file', 'type'], additionalProperties: false,
        properties: {
          codes: { type: 'array', minItems: 1, items: errorStatus },
          body: { type: ['string', 'null'], maxLength: 1_048_576 },
          file: { type: ['string', 'null'], minLength: 1 },
          type: { type: 'string', minLength: 1 },
        },
      },
    },
    clientMaxBodySize: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    clientBodyTimeout: duration,
    sendClientTimeout: duration,
    clientHeaderTimeout: { type: 'integer', minimum: 1000, maximum: 2_147_483_647 },
    clientMaxHeaderSize: { type: 'integer', minimum: 1024, maximum: 1_048_576 },
    clientMaxHeaders: { type: 'integer', minimum: 1, maximum: 10_000 },
    clientMaxUriLength: { type: 'integer', minimum: 16, maximum: 1_048_576 },
    keepaliveTimeout: duration,
    keepaliveRequests: { type: 'integer', minimum: 0, maximum: 100_000_000 },
    maxConnections: { type: 'integer', minimum: 0, maximum: 10_000_000 },
    http2MaxConcurrentStreams: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
    limitReq: {
      type: 'array',
      items: {
        type: 'object', required: ['zone', 'burst', 'nodelay', 'key', 'rate', 'keys'], additionalProperties: false,
        properties: { zone: { type: 'string', minLength: 1 }, burst: { type: 'integer', minimum: 0, maximum: 1_000_000 }, nodelay: { type: 'boolean' }, key: template, rate: { type: 'number', minimum: 0 }, keys: { type: 'integer', minimum: 0 } },
      },
    },
    limitReqStatus: limitStatus,
    limitConn: {
      type: 'array',
      items: {
        type: 'object', required: ['zone', 'max', 'key', 'keys'], additionalProperties: false,
        properties: { zone: { type: 'string', minLength: 1 }, max: { type: 'integer', minimum: 1, maximum: 1_000_000 }, key: template, keys: { type: 'integer', minimum: 0 } },
      },
    },
    limitConnStatus: limitStatus,
    realIpFrom: { type: 'array', items: { type: 'string' } },
    realIpHeader: { type: 'string', minLength: 1 },
    realIpRecursive: { type: 'boolean' },
    authBasic: { type: ['string', 'null'] },
    authBasicUserFile: { type: ['string', 'null'], minLength: 1 },
    authBasicLimit: {
      type: ['object', 'null'], required: ['zone', 'burst', 'nodelay', 'key', 'rate', 'keys'], additionalProperties: false,
      properties: { zone: { type: 'string', minLength: 1 }, burst: { type: 'integer', minimum: 0, maximum: 1_000_000 }, nodelay: { type: 'boolean' }, key: template, rate: { type: 'number', minimum: 0 }, keys: { type: 'integer', minimum: 0 } },
    },
    ...compressionSchema,
    ...cacheSettingsSchema,
    accessLog: {
      anyOf: [
        { type: 'null' },
        { type: 'object', required: ['target', 'format'], additionalProperties: false, properties: { target: { type: 'string', minLength: 1 }, format: { enum: ['combined', 'json'] } } },
      ],
    },
  },
} as const;

const returnSchema = {
  anyOf: [
    { type: 'null' },
    { type: 'object', required: ['status', 'text'], additionalProperties: false, properties: { status: { type: 'integer', minimum: 100, maximum: 599 }, text: { anyOf: [{ type: 'null' }, template] } } },
  ],
} as const;

export const irSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://lbconf.dev/schema/ir.json',
  title: 'lbconf config IR',
  description: 'The validated, lowered form of a .lbconf file (durations in milliseconds, sizes in bytes).',
  type: 'object',
  required: ['servers', 'upstreams'],
  additionalProperties: false,
  definitions: {
    settings,
    template,
    return: returnSchema,
    location: {
      type: 'object',
      required: ['match', 'path', 'proxyPass', 'return', 'settings', 'locations'],
      additionalProperties: false,
      properties: {
        match: { enum: ['exact', 'prefix', 'prefix-no-regex', 'regex', 'regex-nocase'] },
        path: { type: 'string', minLength: 1, maxLength: 4096 },
        proxyPass: {
          anyOf: [
            { type: 'null' },
            { type: 'object', required: ['scheme', 'upstream', 'uri'], additionalProperties: false, properties: { scheme: { enum: ['http', 'https'] }, upstream: { type: 'string', minLength: 1 }, uri: { type: ['string', 'null'] } } },
          ],
        },
        return: { $ref: '#/definitions/return' },
        settings: { $ref: '#/definitions/settings' },
        locations: { type: 'array', items: { $ref: '#/definitions/location' } },
      },
    },
  },
  properties: {
    admin: {
      type: 'object', required: ['address', 'port', 'token'], additionalProperties: false,
      properties: {
        address: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        token: {
          anyOf: [
            { type: 'null' },
            { type: 'object', required: ['kind', 'name'], additionalProperties: false, properties: { kind: { const: 'env' }, name: { type: 'string', minLength: 1 } } },
            { type: 'object', required: ['kind', 'path'], additionalProperties: false, properties: { kind: { const: 'file' }, path: { type: 'string', minLength: 1 } } },
            { type: 'object', required: ['kind', 'value'], additionalProperties: false, properties: { kind: { const: 'literal' }, value: { type: 'string', minLength: 1 } } },
          ],
        },
      },
    },
    errorLog: {
      type: 'object', required: ['target', 'level'], additionalProperties: false,
      properties: { target: { type: 'string', minLength: 1 }, level: { enum: ['debug', 'info', 'warn', 'error'] } },
    },
    cacheZones: cacheZonesSchema,
    workers: { anyOf: [{ type: 'integer', minimum: 1, maximum: 256 }, { const: 'auto' }] },
    workerShutdownTimeout: duration,
    limitZones: {
      type: 'array',
      items: {
        type: 'object', required: ['kind', 'name', 'key', 'keys', 'rate'], additionalProperties: false,
        properties: {
          kind: { enum: ['req', 'conn'] },
          name: { type: 'string', minLength: 1 },
          key: template,
          keys: zoneKeys,
          rate: { type: 'number', minimum: 0, maximum: 1_000_000 },
        },
      },
    },
    servers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['listen', 'serverNames', 'tls', 'return', 'settings', 'locations'],
        additionalProperties: false,
        properties: {
          listen: {
            type: 'array',
            items: {
              type: 'object', required: ['address', 'port', 'defaultServer', 'ssl'], additionalProperties: false,
              properties: { address: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 }, defaultServer: { type: 'boolean' }, ssl: { type: 'boolean' } },
            },
          },
          serverNames: { type: 'array', items: { type: 'string' } },
          tls: {
            anyOf: [
              { type: 'null' },
              {
                type: 'object',
                required: ['certificates', 'protocols', 'ciphers', 'http2'],
                additionalProperties: false,
                properties: {
                  certificates: {
                    type: 'array',
                    items: { type: 'object', required: ['cert', 'key'], additionalProperties: false, properties: { cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } } },
                  },
                  protocols: { type: 'array', minItems: 1, items: { enum: ['TLSv1.2', 'TLSv1.3'] }, uniqueItems: true },
                  ciphers: { type: 'string', minLength: 1 },
                  http2: { type: 'boolean' },
                },
              },
            ],
          },
          return: { $ref: '#/definitions/return' },
          settings: { $ref: '#/definitions/settings' },
          locations: { type: 'array', items: { $ref: '#/definitions/location' } },
        },
      },
    },
    upstreams: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'implicit', 'method', 'servers', 'keepalive', 'keepaliveTimeout', 'sticky', 'healthCheck', 'tls'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          implicit: { type: 'boolean' },
          method: {
            type: 'object',
            required: ['kind'],
            properties: {
              kind: { enum: ['round_robin', 'least_conn', 'ip_hash', 'hash', 'random', 'least_busy'] },
              key: template,
              consistent: { type: 'boolean' },
              balanceFactor: { anyOf: [{ type: 'null' }, { type: 'number', exclusiveMinimum: 1, maximum: 100 }] },
              two: { type: 'boolean' },
              decay: positiveDuration,
            },
          },
          servers: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              required: ['address', 'host', 'port', 'weight', 'maxFails', 'failTimeout', 'maxConns', 'slowStart', 'backup', 'down'],
              additionalProperties: false,
              properties: {
                address: { type: 'string' },
                host: { type: 'string' },
                port: { type: 'integer', minimum: 1, maximum: 65535 },
                weight: { type: 'integer', minimum: 1, maximum: 1000 },
                maxFails: { type: 'integer', minimum: 0, maximum: 1000 },
                failTimeout: positiveDuration,
                maxConns: { type: 'integer', minimum: 0, maximum: 1_000_000 },
                slowStart: duration,
                backup: { type: 'boolean' },
                down: { type: 'boolean' },
              },
            },
          },
          tls: {
            anyOf: [
              { type: 'null' },
              {
                type: 'object', required: ['verify', 'trusted', 'name', 'cert', 'key'], additionalProperties: false,
                properties: { verify: { type: 'boolean' }, trusted: { type: ['string', 'null'] }, name: { type: ['string', 'null'] }, cert: { type: ['string', 'null'] }, key: { type: ['string', 'null'] } },
              },
            ],
          },
          keepalive: { type: 'integer', minimum: 0, maximum: 100_000 },
          keepaliveTimeout: positiveDuration,
          sticky: {
            anyOf: [
              { type: 'null' },
              {
                type: 'object',
                required: ['cookie', 'secret', 'maxAge', 'path', 'domain', 'httpOnly', 'secure', 'sameSite'],
                additionalProperties: false,
                properties: {
                  cookie: { type: 'string', minLength: 1 },
                  secret: { type: 'string', minLength: 16 },
                  maxAge: { anyOf: [{ type: 'null' }, positiveDuration] },
                  path: { type: 'string', pattern: '^/' },
                  domain: { type: ['string', 'null'] },
                  httpOnly: { type: 'boolean' },
                  secure: { type: 'boolean' },
                  sameSite: { enum: ['strict', 'lax', 'none', null] },
                },
              },
            ],
          },
          healthCheck: {
            anyOf: [
              { type: 'null' },
              {
                type: 'object',
                required: ['method', 'uri', 'interval', 'timeout', 'rise', 'fall', 'jitter', 'status', 'body', 'initial'],
                additionalProperties: false,
                properties: {
                  method: { type: 'string' },
                  uri: { type: 'string', pattern: '^/' },
                  interval: { type: 'integer', minimum: 100, maximum: 86_400_000 },
                  timeout: positiveDuration,
                  rise: { type: 'integer', minimum: 1, maximum: 100 },
                  fall: { type: 'integer', minimum: 1, maximum: 100 },
                  jitter: duration,
                  status: { type: 'array', minItems: 1, items: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'integer' } } },
                  body: { type: ['string', 'null'] },
                  initial: { enum: ['healthy', 'unhealthy', 'checked'] },
                },
              },
            ],
          },
        },
      },
    },
  },
} as const;
