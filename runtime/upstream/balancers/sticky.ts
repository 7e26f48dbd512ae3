// Sticky cookies (a helper next to the method, not a method).
//
// The cookie value names a server by its identity, never its index, so it survives reloads
// that reorder servers and means the same on every instance that shares the secret:
//
//   value = token "." sig
//   token = base64url(HMAC-SHA256(secret, "lbconf-sticky-id\0" + id))[0..16)   (96 bits)
//   sig   = base64url(HMAC-SHA256(secret, "lbconf-sticky-sig\0" + token))[0..22) (128 bits)
//
// The token is keyed too, so a cookie does not reveal server addresses. Both are computed
// once per server at construction; decoding is a map lookup plus a constant-time compare of
// the signature (crypto.timingSafeEqual). Anything else — malformed, tampered, signed with
// another secret, naming a server no longer configured — decodes to -1, and the caller picks
// with the upstream's method and re-pins.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { PEER_DRAINING, type Balancer, type PeerSet, type PickRequest, type TriedSet } from './balancer.ts';

const TOKEN_CHARS = 16;
const SIG_CHARS = 22;

function mac(secret: string | Buffer, data: string): string {
  return createHmac('sha256', secret).update(data).digest('base64url');
}

export interface StickyOptions {
  /** The cookie name (`sticky cookie NAME`). */
  readonly cookie: string;
  /** The signing key (`secret=`), the same on every instance. */
  readonly secret: string | Buffer;
}

export class Sticky {
  readonly cookie: string;
  readonly peers: PeerSet;
  /** Cookie value per server index. */
  private readonly values: readonly string[];
  private readonly sigs: readonly Buffer[];
  private readonly byToken: Map<string, number>;

  constructor(peers: PeerSet, options: StickyOptions) {
    const secret = options.secret;
    if (secret.length === 0) throw new Error('sticky: the secret must not be empty');
    this.cookie = options.cookie;
    this.peers = peers;
    const values: string[] = [];
    const sigs: Buffer[] = [];
    this.byToken = new Map();
    for (let i = 0; i < peers.n; i++) {
      const token = mac(secret, `lbconf-sticky-id\0${peers.ids[i]}`).slice(0, TOKEN_CHARS);
      const sig = mac(secret, `lbconf-sticky-sig\0${token}`).slice(0, SIG_CHARS);
      values.push(`${token}.${sig}`);
      sigs.push(Buffer.from(sig, 'latin1'));
      this.byToken.set(token, i);
    }
    this.values = values;
    this.sigs = sigs;
  }

  /** The cookie value that pins to server `index`. */
  encode(index: number): string {
    const v = this.values[index];
    if (v === undefined) throw new RangeError(`sticky: no server ${index}`);
    return v;
  }

  /** The server index a cookie value names, or -1 if it is not a valid value for this upstream. */
  decode(value: string | undefined | null): number {
    if (!value || value.length !== TOKEN_CHARS + 1 + SIG_CHARS || value.charCodeAt(TOKEN_CHARS) !== 0x2e) return -1;
    const i = this.byToken.get(value.slice(0, TOKEN_CHARS));
    if (i === undefined) return -1;
    const given = Buffer.from(value.slice(TOKEN_CHARS + 1), 'latin1');
    const want = this.sigs[i];
    if (given.length !== want.length || !timingSafeEqual(given, want)) return -1;
    return i;
  }

  /**
   * The pinned server if the cookie names one that can take this request, else the method's
   * pick (a pin to a backup holds only while no primary can serve). The caller sets the cookie (encode) when the result differs from decode(value).
   */
  pick(value: string | undefined | null, balancer: Balancer, request: PickRequest, tried: TriedSet): number {
    const i = this.decode(value);
    // A server an operator drains keeps the clients pinned to it (nginx's drain), and takes no others.
    if (i >= 0 && this.peers.state[i] === PEER_DRAINING && !tried.has(i)) return i;
    if (i < 0 || !this.peers.eligible(i, request.now, tried)) return balancer.pick(request, tried);
    if (this.peers.backup[i] === 0) return i;
    // Pinned to a backup: stay only while no primary can serve.
    const j = balancer.pick(request, tried);
    return j >= 0 && this.peers.backup[j] === 0 ? j : i;
  }
}
