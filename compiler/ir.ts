import type { Template } from './variables.ts';

// The config IR: plain JSON, validated by compiler/schema.ts, read by codegen
// and the runtime. Durations are milliseconds; sizes are bytes.

export interface ConfigIR {
  servers: ServerIR[];
  upstreams: UpstreamIR[];
  /** `limit_req_zone` and `limit_conn_zone`, in file order (absent when there are none). */
  limitZones?: LimitZoneIR[];
  /** `workers`: event loops serving traffic, or `auto` (one per core, resolved by `lbconf run`). Absent: 1. */
  workers?: number | 'auto';
  /** `worker_shutdown_timeout` in ms: how long a graceful stop waits for requests in flight. Absent: 10 s. */
  workerShutdownTimeout?: number;
  /** `proxy_cache_zone`: the in-memory HTTP cache stores, in file order (absent when there are none). */
  cacheZones?: CacheZoneIR[];
  /** `admin ADDRESS`: the admin API and status page (absent: none). See spec/operations.md. */
  admin?: AdminIR;
  /** `error_log`: where lbconf's own log goes (absent: text lines on stderr at `info`). */
  errorLog?: ErrorLogIR;
}

/** Where the admin token comes from: an environment variable, a file, or the text itself. */
export type AdminTokenIR = { kind: 'env'; name: string } | { kind: 'file'; path: string } | { kind: 'literal'; value: string };

export interface AdminIR {
  /** An IPv4 or IPv6 address (no brackets). */
  address: string;
  port: number;
  token: AdminTokenIR | null;
}

export interface ErrorLogIR {
  /** An absolute path, or `stderr`. */
  target: string;
  level: 'debug' | 'info' | 'warn' | 'error';
}

/** `access_log`: one line per request, in nginx's combined format or as JSON. */
export interface AccessLogIR {
  /** An absolute path, or `stdout`. */
  target: string;
  format: 'combined' | 'json';
}

/** A shared limit zone: its state is kept by name and survives reloads. */
export interface LimitZoneIR {
  kind: 'req' | 'conn';
  name: string;
  /** What a client is counted by (nginx's key), e.g. `$remote_addr`. */
  key: Template;
  /** The most keys the zone keeps (from the SIZE written, 64 bytes per key as in nginx). */
  keys: number;
  /** For `req` zones: requests per second (`30r/m` is 0.5); 0 for `conn` zones. */
  rate: number;
}

/** One `limit_req` of a location; the zone's definition is copied in when the config is resolved. */
export interface LimitReqIR {
  zone: string;
  burst: number;
  nodelay: boolean;
  /** Filled from the zone. */
  key: Template;
  rate: number;
  keys: number;
}

/** One `limit_conn` of a location. */
export interface LimitConnIR {
  zone: string;
  max: number;
  key: Template;
  keys: number;
}

/** One `error_page`: lbconf's own body for these statuses. */
export interface ErrorPageIR {
  codes: number[];
  /** The body written in place, or null when it is read from `file`. */
  body: string | null;
  /** An absolute path, read when the config loads. */
  file: string | null;
  /** The Content-Type of the body. */
  type: string;
}

export interface ListenIR {
  /** `*` for every address, else an IPv4 or IPv6 address (no brackets). */
  address: string;
  port: number;
  defaultServer: boolean;
  ssl: boolean;
}

export type LocationMatch = 'exact' | 'prefix' | 'prefix-no-regex' | 'regex' | 'regex-nocase';

export interface ReturnIR {
  status: number;
  /** A body for 2xx/4xx/5xx, or the Location for 301, 302, 303, 307 and 308. */
  text: Template | null;
}

export interface ProxyPassIR {
  scheme: 'http' | 'https';
  /** The upstream's name; for an address written in place, the implicit upstream made for it. */
  upstream: string;
  /** The URI part after the host, when one was written (nginx replaces the matched prefix with it). */
  uri: string | null;
}

export interface AccessRuleIR {
  action: 'allow' | 'deny';
  /** `all`, or an address with an optional `/prefix`. */
  source: string;
}

export type CompressEncoding = 'zstd' | 'br' | 'gzip';

export interface AddHeaderIR {
  name: string;
  value: Template;
  always: boolean;
}

export interface HeaderIR {
  name: string;
  value: Template;
}

/** Settings that a location inherits from its server block and parent locations, as in nginx. */
export interface ProxySettingsIR extends CacheSettingsIR {
  setHeaders: HeaderIR[];
  connectTimeout: number;
  sendTimeout: number;
  readTimeout: number;
  /** proxy_header_timeout; -1 (unset): as readTimeout. */
  headerTimeout: number;
  requestTimeout: number;
  /** When to try the next server: `error`, `timeout`, `invalid_header`, `http_502`, …, `non_idempotent`; empty for `off`. */
  nextUpstream: string[];
  /** The most servers one request is tried on; 0 means no limit. */
  nextUpstreamTries: number;
  /** 0 means no limit. */
  nextUpstreamTimeout: number;
  access: AccessRuleIR[];

  // Response compression (compiler/directives/compression.ts, spec/compression.md).
  /** `gzip on|off`: compression at all, whatever the encoding. */
  gzip: boolean;
  /** Lower-case MIME types (`text/html` is always included at runtime), `type/*`, or `['*']`. */
  gzipTypes: string[];
  /** Bytes, by Content-Length. */
  gzipMinLength: number;
  gzipCompLevel: number;
  /** nginx's conditions for requests with `Via`: `off`, `any`, `expired`, `no-cache`, … */
  gzipProxied: string[];
  gzipVary: boolean;
  /** The encodings offered, most preferred first. */
  compress: CompressEncoding[];
  brotliCompLevel: number;
  zstdCompLevel: number;

  /** `add_header`: response headers lbconf adds, for 2xx and 3xx answers, or every answer with `always`. */
  addHeaders: AddHeaderIR[];
  // Hiding the backends (spec/security.md).
  /** `proxy_hide_header`: response headers not passed to the client, lower case (`Server` and `X-Powered-By` are hidden besides). */
  hideHeaders: string[];
  /** `proxy_pass_header`: default-hidden headers passed after all, lower case. */
  passHeaders: string[];
  /** Send `Server: lbconf` on responses. */
  serverTokens: boolean;
  errorPages: ErrorPageIR[];

  // Request limits.
  /** Bytes; 0 is no limit. */
  clientMaxBodySize: number;
  /** The longest pause between two reads of the request body; 0 is no limit. */
  clientBodyTimeout: number;
  /** send_timeout: the longest the client may read none of the response; 0 is none. */
  sendClientTimeout: number;

  // Listener settings: read from the settings of a listener's default server.
  /** How long a client may take to send the request line and headers. */
  clientHeaderTimeout: number;
  /** Bytes of the request line and headers together (431 beyond). */
  clientMaxHeaderSize: number;
  /** The most header fields in a request (431 beyond). */
  clientMaxHeaders: number;
  /** The longest request target (414 beyond). */
  clientMaxUriLength: number;
  /** Idle time of a client keep-alive connection; 0 closes after each response. */
  keepaliveTimeout: number;
  /** Requests served on one client connection; 0 is no limit. */
  keepaliveRequests: number;
  /** Client connections one listener holds open at once; 0 is no limit. */
  maxConnections: number;
  /** HTTP/2: streams one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  http2MaxConcurrentStreams: number;

  // Rate and connection limits.
  limitReq: LimitReqIR[];
  limitReqStatus: number;
  limitConn: LimitConnIR[];
  limitConnStatus: number;

  // The real client address behind trusted proxies.
  /** Trusted peers (CIDR, `address/prefix`). */
  realIpFrom: string[];
  /** Lower case. */
  realIpHeader: string;
  realIpRecursive: boolean;

  // Basic authentication.
  /** The realm, or null for `auth_basic off`. */
  authBasic: string | null;
  /** An absolute path, read when the config loads. */
  authBasicUserFile: string | null;
  /** `auth_basic_limit`: password checks counted per key of a limit_req_zone (its key, rate and size copied in), or null. */
  authBasicLimit: LimitReqIR | null;

  /** `access_log`, or null for `off` (the default). */
  accessLog: AccessLogIR | null;
}

export interface LocationIR {
  match: LocationMatch;
  /** The path for exact and prefix matches; the pattern for regexes. */
  path: string;
  proxyPass: ProxyPassIR | null;
  return: ReturnIR | null;
  settings: ProxySettingsIR;
  locations: LocationIR[];
}

export interface CertificateIR {
  /** Absolute paths, resolved against the file that names them. */
  cert: string;
  key: string;
}

export interface TlsIR {
  certificates: CertificateIR[];
  protocols: string[];
  ciphers: string;
  /** Offer HTTP/2 by ALPN (upstream traffic stays HTTP/1.1). */
  http2: boolean;
}

export interface ServerIR {
  listen: ListenIR[];
  serverNames: string[];
  /** The TLS settings of a server with a `listen … ssl`, else null. */
  tls: TlsIR | null;
  return: ReturnIR | null;
  settings: ProxySettingsIR;
  locations: LocationIR[];
}

export type BalanceMethodIR =
  | { kind: 'round_robin' }
  | { kind: 'least_conn' }
  | { kind: 'ip_hash' }
  | { kind: 'hash'; key: Template; consistent: boolean; balanceFactor: number | null }
  | { kind: 'random'; two: boolean }
  | { kind: 'least_busy'; decay: number };

export interface UpstreamServerIR {
  /** `host:port`, as written (IPv6 in brackets). With the upstream's name it is the server's identity. */
  address: string;
  host: string;
  port: number;
  weight: number;
  maxFails: number;
  failTimeout: number;
  maxConns: number;
  slowStart: number;
  backup: boolean;
  down: boolean;
}

export interface StickyIR {
  cookie: string;
  secret: string;
  maxAge: number | null;
  path: string;
  domain: string | null;
  httpOnly: boolean;
  secure: boolean;
  sameSite: 'strict' | 'lax' | 'none' | null;
}

export interface HealthCheckIR {
  method: string;
  uri: string;
  interval: number;
  timeout: number;
  rise: number;
  fall: number;
  jitter: number;
  /** Inclusive status ranges, e.g. [[200, 399]]. */
  status: Array<[number, number]>;
  /** A regular expression the body must match, or null. */
  body: string | null;
  initial: 'healthy' | 'unhealthy' | 'checked';
}

/** How lbconf speaks TLS to the servers of an upstream (`proxy_pass https://…`). */
export interface UpstreamTlsIR {
  /** Verify the server's certificate (default true). */
  verify: boolean;
  /** CA certificates (PEM file) to verify with, instead of the system's. */
  trusted: string | null;
  /** The name to send by SNI and verify the certificate against; default the server's host. */
  name: string | null;
  /** A client certificate and key (PEM files) to present. */
  cert: string | null;
  key: string | null;
}

export interface UpstreamIR {
  name: string;
  /** True for the one-server upstream made for a `proxy_pass http://host:port`. */
  implicit: boolean;
  method: BalanceMethodIR;
  servers: UpstreamServerIR[];
  keepalive: number;
  keepaliveTimeout: number;
  sticky: StickyIR | null;
  healthCheck: HealthCheckIR | null;
  tls: UpstreamTlsIR | null;
}

/** A `proxy_cache_zone`: one in-memory cache store, kept by name across reloads (spec/cache.md). */
export interface CacheZoneIR {
  name: string;
  /** The most bytes the store holds: bodies, headers and keys together. */
  size: number;
  /** The largest response stored; a larger one is passed through. */
  maxObject: number;
}

/** `proxy_cache_valid`: a freshness lifetime for responses of these statuses that carry none of their own. */
export interface CacheValidIR {
  /** Empty for `any`. */
  codes: number[];
  ttl: number;
}

/** `proxy_cache_purge`: who may remove an entry, and with what method. */
export interface CachePurgeIR {
  method: string;
  /** CIDR ranges, or `all`. */
  from: string[];
}

/** The cache settings of a location, inherited like the others (spec/cache.md). */
export interface CacheSettingsIR {
  /** `proxy_cache`: the zone (its size copied in when the config is resolved), or null for `off`. */
  cache: CacheZoneIR | null;
  cacheKey: Template;
  cacheLock: boolean;
  cacheLockTimeout: number;
  /** `proxy_cache_bypass`: a request for which any is neither empty nor `0` is not answered from the cache. */
  cacheBypass: Template[];
  /** `proxy_no_cache`: a response for which any is neither empty nor `0` is not stored. */
  cacheNoStore: Template[];
  cacheValid: CacheValidIR[];
  cachePurge: CachePurgeIR | null;
  /** Lower case; '' for `off`. */
  cacheStatusHeader: string;
}
