import { BlockList, isIP } from 'node:net';
import type { RequestContext } from '../core/context.ts';
import type { RequestFilter } from './filter.ts';

// The real client address behind trusted proxies (set_real_ip_from,
// real_ip_header, real_ip_recursive), built once per route when a Plan loads.

/** Trusted peers: CIDRs as `address/prefix`, or `all`. */
export class Trusted {
  private readonly list = new BlockList();
  private readonly all: boolean;

  constructor(sources: readonly string[]) {
    this.all = sources.includes('all');
    for (const s of sources) {
      if (s === 'all') continue;
      const [address, prefix] = s.split('/');
      this.list.addSubnet(address, Number(prefix), isIP(address) === 6 ? 'ipv6' : 'ipv4');
    }
  }

  has(address: string): boolean {
    if (this.all) return true;
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** An address as it may appear in a header: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`. */
function cleanAddress(text: string): string {
  let a = text.trim();
  if (a.startsWith('[')) {
    const close = a.indexOf(']');
    a = close > 0 ? a.slice(1, close) : a;
  } else if (a.indexOf(':') > 0 && a.indexOf(':') === a.lastIndexOf(':')) {
    a = a.slice(0, a.indexOf(':')); // IPv4 with a port
  }
  if (a.startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
  return isIP(a) !== 0 ? a : '';
}

export class RealIp implements RequestFilter {
  private readonly trusted: Trusted;
  private readonly header: string;
  private readonly recursive: boolean;

  constructor(from: readonly string[], header: string, recursive: boolean) {
    this.trusted = new Trusted(from);
    this.header = header;
    this.recursive = recursive;
  }

  request(ctx: RequestContext): null {
    this.apply(ctx);
    return null;
  }

  /** When the peer is trusted, believes the header: sets ctx.remoteAddr and marks the peer trusted. */
  apply(ctx: RequestContext): void {
    if (!this.trusted.has(ctx.peerAddr)) return;
    ctx.trustedPeer = true;
    const value = ctx.header(this.header);
    if (value === '') return;
    const parts = value.split(',');
    let chosen = '';
    if (!this.recursive) {
      chosen = cleanAddress(parts[parts.length - 1]);
    } else {
      // From the right, skip the proxies we trust; the first one we do not is the client.
      for (let i = parts.length - 1; i >= 0; i--) {
        const a = cleanAddress(parts[i]);
        if (a === '') break;
        chosen = a;
        if (!this.trusted.has(a)) break;
      }
    }
    if (chosen !== '') ctx.remoteAddr = chosen;
  }
}
