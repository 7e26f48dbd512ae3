import { createHash, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import type { RequestContext } from './context.ts';

// The real client address behind trusted proxies (set_real_ip_from,
// real_ip_header, real_ip_recursive) and basic authentication (auth_basic,
// auth_basic_user_file). Both are built once per route when a Plan loads.

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

export class RealIp {
  private readonly trusted: Trusted;
  private readonly header: string;
  private readonly recursive: boolean;

  constructor(from: readonly string[], header: string, recursive: boolean) {
    this.trusted = new Trusted(from);
    this.header = header;
    this.recursive = recursive;
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

// Basic authentication. The user file holds `name:hash` lines; `#` starts a
// comment. Hashes:
//   {SHA}base64(sha1(password))                       (htpasswd -s)
//   {SSHA}base64(sha1(password + salt) + salt)        (salted, as LDAP writes it)
//   $scrypt$N=16384,r=8,p=1$base64(salt)$base64(key)  (scrypt, 64-byte key by default)
// Every comparison is constant-time; an unknown user is checked against a dummy
// hash, so that timing does not tell which users exist.

type Verifier = (password: Buffer) => boolean;

export class UserFileError extends Error {}

function sha1(data: Buffer): Buffer {
  return createHash('sha1').update(data).digest();
}

function verifier(hash: string): Verifier | null {
  if (hash.startsWith('{SHA}')) {
    const want = Buffer.from(hash.slice(5), 'base64');
    if (want.length !== 20) return null;
    return (pw) => timingSafeEqual(sha1(pw), want);
  }
  if (hash.startsWith('{SSHA}')) {
    const raw = Buffer.from(hash.slice(6), 'base64');
    if (raw.length <= 20) return null;
    const want = raw.subarray(0, 20);
    const salt = raw.subarray(20);
    return (pw) => timingSafeEqual(sha1(Buffer.concat([pw, salt])), want);
  }
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash);
  if (m) {
    const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const salt = Buffer.from(m[4], 'base64');
    const want = Buffer.from(m[5], 'base64');
    if (want.length < 16 || (N & (N - 1)) !== 0 || N < 2) return null;
    const maxmem = 256 * N * r + 1024 * 1024;
    return (pw) => timingSafeEqual(scryptSync(pw, salt, want.length, { N, r, p, maxmem }), want);
  }
  return null;
}

/** A `$scrypt$` hash of a password for the user file (see spec/security.md). */
export function scryptHash(password: string, salt: Buffer, N = 16384, r = 8, p = 1): string {
  const key = scryptSync(password, salt, 64, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return `$scrypt$N=${N},r=${r},p=${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

const DUMMY = verifier(`{SHA}${sha1(Buffer.from('lbconf')).toString('base64')}`)!;

export class BasicAuth {
  readonly challenge: string;
  private readonly users = new Map<string, Verifier>();
  /** Authorization headers (by SHA-256) already verified: scrypt is slow on purpose, and a browser sends the same header each time. */
  private readonly verified = new Map<string, true>();

  /** Reads the user file; throws UserFileError when it cannot be read or a line is not understood. */
  constructor(realm: string, file: string) {
    this.challenge = `Basic realm="${realm}", charset="UTF-8"`;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UserFileError(`cannot read auth_basic_user_file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    text.split(/\r?\n/).forEach((line, i) => {
      const l = line.trim();
      if (l === '' || l.startsWith('#')) return;
      const colon = l.indexOf(':');
      const v = colon > 0 ? verifier(l.slice(colon + 1).split(':')[0]) : null;
      // The line's number, never its content: it holds a hash.
      if (v === null) throw new UserFileError(`${file}:${i + 1}: not \`name:{SHA}…\`, \`name:{SSHA}…\` or \`name:$scrypt$…\``);
      this.users.set(l.slice(0, colon), v);
    });
  }

  /** Whether the Authorization header holds a known user with the right password. */
  check(header: string | undefined): boolean {
    if (header === undefined || header.length < 7 || header.slice(0, 6).toLowerCase() !== 'basic ') return false;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64');
    const colon = decoded.indexOf(58);
    if (colon < 0) return false;
    const user = decoded.subarray(0, colon).toString('utf8');
    const password = decoded.subarray(colon + 1);
    const v = this.users.get(user);
    if (v === undefined) { DUMMY(password); return false; }
    const seen = createHash('sha256').update(header).digest('base64');
    if (this.verified.has(seen)) return true;
    if (!v(password)) return false;
    if (this.verified.size >= 1024) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(seen, true);
    return true;
  }
}
