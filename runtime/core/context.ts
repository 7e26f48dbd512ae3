import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hostKey } from '../../compiler/codegen/model.ts';

// What one request knows about itself: the values that `$variables` read.
// One object per request; everything derived is computed on first use only.

export class RequestContext {
  readonly req: IncomingMessage;
  /** `http` or `https`. */
  readonly scheme: string;
  /** The client address, IPv4-mapped IPv6 unwrapped; from `real_ip_header` when the peer is trusted. */
  remoteAddr: string;
  /** The address of the peer that connected (the client, or a proxy in front of lbconf). */
  readonly peerAddr: string;
  /** The peer is a trusted proxy (`set_real_ip_from`): its X-Forwarded-For is kept and extended. */
  trustedPeer = false;
  readonly remotePort: number;
  /** The Host as the client sent it (from the request line in absolute form), port included. */
  readonly rawHost: string;
  /** The normalized path (decoded, `.`/`..` resolved) that routing matched. */
  readonly uri: string;
  /** The query string without `?`, or '' when absent. */
  readonly args: string;
  /** The request target in origin form, as received: `/path?query` (for an absolute-form target, its path and query). */
  readonly requestUri: string;
  readonly serverPort: number;
  /** The first server_name of the server block that matched. */
  serverName = '';
  /** The name the upstream is known by (`proxy_pass http://NAME`), for `$proxy_host`. */
  proxyHost = '';
  // For metrics and the access log (runtime/observe/): set by the runtime, read when the response closes.
  /** performance.now() when the request arrived. */
  startedAt = 0;
  /** The Plan's route index. */
  routeIndex = -1;
  /** Body bytes relayed from the upstream to the client. */
  bytesSent = 0;
  /** The upstream server index of the last try, or -1. */
  peer = -1;
  /** The route the request was given (http/routes.ts's RouteRuntime; core knows no routes). */
  route: unknown = null;
  /** The cache's outcome, an index of CACHE_OUTCOMES (core/cache-outcomes.ts), or -1: counted when the response closes. */
  cacheOutcome = -1;
  private requestIdValue = '';
  private hostValue: string | null = null;
  private cookies: Map<string, string> | null = null;

  constructor(req: IncomingMessage, scheme: string, rawHost: string, uri: string, args: string, requestUri: string) {
    this.req = req;
    this.scheme = scheme;
    const socket = req.socket;
    const addr = socket.remoteAddress ?? '';
    this.remoteAddr = addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
    this.peerAddr = this.remoteAddr;
    this.remotePort = socket.remotePort ?? 0;
    this.serverPort = socket.localPort ?? 0;
    this.rawHost = rawHost;
    this.uri = uri;
    this.args = args;
    this.requestUri = requestUri;
  }

  /** nginx's `$host`: the host without its port, lower case; the server name when the request has none. */
  get host(): string {
    // The same reading of Host that routing uses (hostKey), so `$host` names what was matched.
    if (this.hostValue === null) this.hostValue = hostKey(this.rawHost) || this.serverName;
    return this.hostValue;
  }

  get requestId(): string {
    if (this.requestIdValue === '') this.requestIdValue = randomBytes(16).toString('hex');
    return this.requestIdValue;
  }

  /** `$http_user_agent` reads `user-agent`: the name lower case, `_` for `-`. Repeated headers join with `, `. */
  header(name: string): string {
    const value = this.req.headers[name];
    if (value === undefined) return '';
    return Array.isArray(value) ? value.join(', ') : value;
  }

  cookie(name: string): string {
    if (this.cookies === null) {
      this.cookies = new Map();
      const header = this.req.headers.cookie;
      if (header) {
        for (const part of header.split(';')) {
          const eq = part.indexOf('=');
          if (eq <= 0) continue;
          const key = part.slice(0, eq).trim();
          if (!this.cookies.has(key)) this.cookies.set(key, part.slice(eq + 1).trim());
        }
      }
    }
    return this.cookies.get(name) ?? '';
  }

  /**
   * nginx's `$arg_NAME`: the value of the first `NAME=` in the query (at its
   * start or after `&`), the name matched without regard to case (`lower` is
   * lower case), the value as the client sent it: not decoded.
   */
  arg(lower: string): string {
    const args = this.args;
    const n = lower.length;
    for (let start = 0; start + n < args.length;) {
      const amp = args.indexOf('&', start);
      const end = amp < 0 ? args.length : amp;
      if (end - start > n && args.charCodeAt(start + n) === 61 && args.slice(start, start + n).toLowerCase() === lower) return args.slice(start + n + 1, end);
      if (amp < 0) break;
      start = amp + 1;
    }
    return '';
  }

  /** nginx's `$proxy_add_x_forwarded_for`: the incoming X-Forwarded-For with `$remote_addr` appended. */
  addForwardedFor(): string {
    const incoming = this.header('x-forwarded-for');
    return incoming ? `${incoming}, ${this.remoteAddr}` : this.remoteAddr;
  }

  /**
   * X-Forwarded-For as lbconf sends it upstream: from a trusted peer, its chain
   * plus the peer (or, with no chain, the client address it gave and the peer);
   * from anyone else, the peer's address alone, whatever it sent.
   */
  forwardedFor(): string {
    if (!this.trustedPeer) return this.peerAddr;
    const incoming = this.header('x-forwarded-for');
    if (incoming) return `${incoming}, ${this.peerAddr}`;
    return this.remoteAddr !== this.peerAddr ? `${this.remoteAddr}, ${this.peerAddr}` : this.peerAddr;
  }
}
