import type { Template } from './variables.ts';

// The config IR: plain JSON, validated by compiler/schema.ts, read by codegen
// and the runtime. Durations are milliseconds; sizes are bytes.

export interface ConfigIR {
  servers: ServerIR[];
  upstreams: UpstreamIR[];
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

export interface HeaderIR {
  name: string;
  value: Template;
}

/** Settings that a location inherits from its server block and parent locations, as in nginx. */
export interface ProxySettingsIR {
  setHeaders: HeaderIR[];
  connectTimeout: number;
  sendTimeout: number;
  readTimeout: number;
  headerTimeout: number;
  requestTimeout: number;
  /** When to try the next server: `error`, `timeout`, `invalid_header`, `http_502`, …, `non_idempotent`; empty for `off`. */
  nextUpstream: string[];
  /** The most servers one request is tried on; 0 means no limit. */
  nextUpstreamTries: number;
  /** 0 means no limit. */
  nextUpstreamTimeout: number;
  access: AccessRuleIR[];
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
}
