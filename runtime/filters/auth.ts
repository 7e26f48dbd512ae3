import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { RequestContext } from '../core/context.ts';
import { boundedKey, retryAfterSeconds, type LimitStore } from '../core/limit-store.ts';
import type { Evaluate } from '../core/template.ts';
import { clientGone, type Refusal, type RequestFilter } from './filter.ts';

// Basic authentication. The user file holds `name:hash` lines; `#` starts a
// comment. Hashes:
//   {SHA}base64(sha1(password))                       (htpasswd -s)
//   {SSHA}base64(sha1(password + salt) + salt)        (salted, as LDAP writes it)
//   $scrypt$N=16384,r=8,p=1$base64(salt)$base64(key)  (scrypt, 64-byte key by default)
// Every comparison is constant-time. Every check computes the same hashes: one
// of each kind (form and scrypt parameters) the file holds, the user's own for
// their kind and a dummy of the same kind and parameters for the others (all
// dummies for an unknown user), so that timing does not tell which users exist,
// however many hashes run at once. scrypt runs on libuv's thread pool (a few at
// a time, so that it never takes the whole pool from file, DNS and compression
// work), never on the event loop; a hash still waiting its turn when its client
// has gone is skipped; a header already verified is answered at once.
// auth_basic_limit counts the checks per key in a limit_req zone and refuses
// past it without hashing.

/** A user's hash, ready to check passwords against. */
interface Verifier {
  /** The form and its parameters (`{SHA}`, `{SSHA}`, `scrypt N,r,p`): hashes of one kind cost the same. */
  readonly kind: string;
  /**
   * Whether the password matches: at once for the SHA-1 forms, later (from the
   * thread pool) for scrypt, or false without hashing when `gone` says, as its
   * turn comes, that the client has left.
   */
  check(password: Buffer, gone: () => boolean): boolean | Promise<boolean>;
  /** A hash of the same kind and parameters that no password matches: what the other kinds' users and an unknown user are checked against. */
  twin(): Verifier;
}

export class UserFileError extends Error {}

function sha1(data: Buffer): Buffer {
  return createHash('sha1').update(data).digest();
}

function shaVerifier(want: Buffer): Verifier {
  return { kind: '{SHA}', check: (pw) => timingSafeEqual(sha1(pw), want), twin: () => shaVerifier(randomBytes(20)) };
}

function sshaVerifier(want: Buffer, salt: Buffer): Verifier {
  return {
    kind: '{SSHA}',
    check: (pw) => timingSafeEqual(sha1(Buffer.concat([pw, salt])), want),
    twin: () => sshaVerifier(randomBytes(20), randomBytes(salt.length)),
  };
}

function scryptVerifier(N: number, r: number, p: number, salt: Buffer, want: Buffer): Verifier {
  const options = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return {
    kind: `scrypt ${N},${r},${p}`,
    check: (pw, gone) => scryptOffLoop(pw, salt, want.length, options, gone).then((key) => key !== null && timingSafeEqual(key, want)),
    twin: () => scryptVerifier(N, r, p, randomBytes(salt.length), randomBytes(want.length)),
  };
}

function verifier(hash: string): Verifier | null {
  if (hash.startsWith('{SHA}')) {
    const want = Buffer.from(hash.slice(5), 'base64');
    return want.length === 20 ? shaVerifier(want) : null;
  }
  if (hash.startsWith('{SSHA}')) {
    const raw = Buffer.from(hash.slice(6), 'base64');
    return raw.length > 20 ? sshaVerifier(raw.subarray(0, 20), raw.subarray(20)) : null;
  }
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash);
  if (m) {
    const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const want = Buffer.from(m[5], 'base64');
    if (want.length < 16 || (N & (N - 1)) !== 0 || N < 2 || r < 1 || p < 1) return null;
    return scryptVerifier(N, r, p, Buffer.from(m[4], 'base64'), want);
  }
  return null;
}

/**
 * How many scrypt hashes run at once: half of libuv's thread pool (4 threads
 * unless UV_THREADPOOL_SIZE says otherwise), and one core less than the machine
 * has, so that guessing clients leave threads to file, DNS and compression
 * work and a core to the event loop. The others wait their turn, in order.
 */
const MAX_HASHING = Math.max(1, Math.min(Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2), availableParallelism() - 1));
let hashing = 0;
/** Hashes waiting their turn, in order: `start` runs one, or returns false without hashing when its client has gone. */
const waiting: Array<() => boolean> = [];
let hashes = 0;

/** How many scrypt hashes were computed since the process started (not those skipped): for tests. */
export function passwordHashes(): number {
  return hashes;
}

/** The key, or null when `gone` said, as its turn came, that nobody waits for it any more. */
function scryptOffLoop(password: Buffer, salt: Buffer, length: number, options: ScryptOptions, gone: () => boolean): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const start = () => {
      if (gone()) { resolve(null); return false; }
      hashing++;
      hashes++;
      scrypt(password, salt, length, options, (err, key) => {
        hashing--;
        while (waiting.length > 0 && !waiting.shift()!());
        if (err) reject(err);
        else resolve(key);
      });
      return true;
    };
    if (hashing < MAX_HASHING) start();
    else waiting.push(start);
  });
}

let checks = 0;

/** How many passwords were checked (hashed) since the process started: for tests and metrics. */
export function passwordChecks(): number {
  return checks;
}

/** A `$scrypt$` hash of a password for the user file (see spec/security.md). */
export function scryptHash(password: string, salt: Buffer, N = 16384, r = 8, p = 1): string {
  const key = scryptSync(password, salt, 64, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return `$scrypt$N=${N},r=${r},p=${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** auth_basic_limit: password checks counted per key in a limit_req zone's store. */
export interface AuthLimit {
  store: LimitStore;
  key: Evaluate;
  /** Checks per second. */
  rate: number;
  burst: number;
}

/**
 * What BasicAuth.check decided: AUTHORIZED, UNAUTHORIZED (401 with the
 * challenge), or a number > 0 when auth_basic_limit refused the client (429;
 * the seconds for Retry-After).
 */
export type AuthVerdict = number;
export const AUTHORIZED = 0;
export const UNAUTHORIZED = -1;

export interface AuthRefusal {
  status: number;
  headers: Record<string, string>;
}

export class BasicAuth implements RequestFilter {
  readonly challenge: string;
  private readonly users = new Map<string, Verifier>();
  /** A dummy hash of each kind in the file, in a fixed order: every check computes one hash of each. */
  private readonly dummies = new Map<string, Verifier>();
  private readonly limit: AuthLimit | null;
  private readonly unauthorized: AuthRefusal;
  /** Authorization headers (by SHA-256) already verified: scrypt is slow on purpose, and a browser sends the same header each time. */
  private readonly verified = new Map<string, true>();

  /** Reads the user file; throws UserFileError when it cannot be read or a line is not understood. */
  constructor(realm: string, file: string, limit: AuthLimit | null = null) {
    this.challenge = `Basic realm="${realm}", charset="UTF-8"`;
    this.unauthorized = { status: 401, headers: { 'www-authenticate': this.challenge } };
    this.limit = limit;
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
      if (!this.dummies.has(v.kind)) this.dummies.set(v.kind, v.twin());
    });
  }

  /** As a filter: refused (401, or 429 past auth_basic_limit) unless the request carries a known user and the right password. */
  request(ctx: RequestContext): Refusal | null | Promise<Refusal | null> {
    const verdict = this.check(ctx);
    return typeof verdict === 'number' ? this.refusal(verdict) : verdict.then((v) => this.refusal(v));
  }

  /**
   * Whether the request's Authorization header holds a known user with the
   * right password. A verdict at once when no hashing is needed (no or bad
   * credentials, a header verified before, a SHA-1 file, a client over
   * auth_basic_limit); else a promise of it.
   */
  check(ctx: RequestContext): AuthVerdict | Promise<AuthVerdict> {
    const header = ctx.req.headers.authorization;
    if (header === undefined || header.length < 7 || header.slice(0, 6).toLowerCase() !== 'basic ') return UNAUTHORIZED;
    const seen = createHash('sha256').update(header).digest('base64');
    if (this.verified.has(seen)) return AUTHORIZED;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64');
    const colon = decoded.indexOf(58);
    if (colon < 0) return UNAUTHORIZED;
    const limit = this.limit;
    if (limit !== null) {
      const key = limit.key(ctx);
      // As limit_req: an empty key is not limited.
      if (key !== '') {
        const got = limit.store.take(boundedKey(key), limit.rate, limit.burst, Date.now());
        if (typeof got !== 'number') return got.then((g) => (g < 0 ? retryAfterSeconds(g) : this.verify(ctx, seen, decoded, colon)));
        if (got < 0) return retryAfterSeconds(got);
      }
    }
    return this.verify(ctx, seen, decoded, colon);
  }

  /** The status and headers that refuse a request for this verdict; null when it is AUTHORIZED. */
  refusal(verdict: AuthVerdict): AuthRefusal | null {
    if (verdict === AUTHORIZED) return null;
    return verdict === UNAUTHORIZED ? this.unauthorized : { status: 429, headers: { 'retry-after': String(verdict) } };
  }

  /**
   * Hashes the password once with each kind of hash in the file: against the
   * user's own hash for their kind, against the dummies for the others. Known
   * or not, every user costs the same hashes, started together.
   */
  private verify(ctx: RequestContext, seen: string, decoded: Buffer, colon: number): AuthVerdict | Promise<AuthVerdict> {
    checks++;
    const user = this.users.get(decoded.subarray(0, colon).toString('utf8'));
    const password = decoded.subarray(colon + 1);
    const gone = () => clientGone(ctx);
    const results: Array<boolean | Promise<boolean>> = [];
    let own = -1;
    for (const [kind, dummy] of this.dummies) {
      if (user?.kind === kind) { own = results.length; results.push(user.check(password, gone)); }
      else results.push(dummy.check(password, gone));
    }
    if (results.every((r) => typeof r === 'boolean')) return this.settle(own >= 0 && results[own] === true, seen);
    return Promise.all(results).then((ok) => this.settle(own >= 0 && ok[own], seen));
  }

  private settle(ok: boolean, seen: string): AuthVerdict {
    if (!ok) return UNAUTHORIZED;
    if (this.verified.size >= 1024) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(seen, true);
    return AUTHORIZED;
  }
}
