// ip_hash, with nginx's semantics: the key is the first three octets of an IPv4 address
// (so a /24 sticks together) or the whole IPv6 address; hash = 89, then for each byte
// hash = (hash × 113 + byte) mod 6271; the server is the weighted bucket hash mod the total
// weight of the primaries (down ones included, so a server going down moves only its own
// clients). If that server cannot take the request, the bytes are hashed again from the
// current value; after 20 tries the pick falls back to round robin (which also serves the
// backups). IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as Node reports IPv4 on a dual-stack
// socket) counts as IPv4. Anything unparseable hashes as 0.0.0 (nginx's pseudo address).

import type { PickRequest, TriedSet } from './balancer.ts';
import { bucketOf } from './hashing.ts';
import { Rehashing } from './rehashing.ts';

const TRIES = 20;

function digit(c: number): number {
  return c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  return c >= 0x61 && c <= 0x66 ? c - 0x61 + 10 : -1;
}

/** Parse dotted-quad s[start, end) into out[off..off+3]. */
function parseV4(s: string, start: number, end: number, out: Uint8Array, off: number): boolean {
  let part = 0;
  let i = start;
  while (part < 4) {
    let v = 0;
    let digits = 0;
    while (i < end) {
      const d = digit(s.charCodeAt(i));
      if (d < 0) break;
      v = v * 10 + d;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || v > 255) return false;
    out[off + part++] = v;
    if (part === 4) return i === end;
    if (i >= end || s.charCodeAt(i) !== 0x2e) return false;
    i++;
  }
  return false;
}

/** Parse an IPv6 address s[0, end) into out[0..15]. */
function parseV6(s: string, end: number, out: Uint8Array): boolean {
  let i = 0;
  let g = 0;
  let gap = -1;
  if (end >= 2 && s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    if (g >= 8) return false;
    let v = 0;
    let j = i;
    while (j < end) {
      const h = hexDigit(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 0x2e) {
      // An embedded IPv4 tail takes the last two groups.
      if (g > 6 || !parseV4(s, i, end, out, 2 * g)) return false;
      g += 2;
      break;
    }
    if (j === i || j - i > 4) return false;
    out[2 * g] = v >> 8;
    out[2 * g + 1] = v & 0xff;
    g++;
    if (j === end) break;
    if (s.charCodeAt(j) !== 0x3a) return false;
    if (j + 1 < end && s.charCodeAt(j + 1) === 0x3a) {
      if (gap >= 0) return false;
      gap = g;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === end) return false;
    }
  }
  if (gap < 0) return g === 8;
  if (g >= 8) return false;
  // Move the groups after `::` to the end and zero the gap.
  const tail = 2 * (g - gap);
  for (let k = tail - 1; k >= 0; k--) out[16 - tail + k] = out[2 * gap + k];
  for (let k = 2 * gap; k < 16 - tail; k++) out[k] = 0;
  return true;
}

/**
 * The bytes ip_hash hashes, written to out (16 bytes): returns 3 (IPv4 /24, or the pseudo
 * address 0.0.0 for anything unparseable) or 16 (IPv6). Allocates nothing.
 */
export function ipHashBytes(addr: string, out: Uint8Array): number {
  let end = addr.indexOf('%');
  if (end < 0) end = addr.length;
  if (addr.indexOf(':') >= 0) {
    if (parseV6(addr, end, out)) {
      let mapped = out[10] === 0xff && out[11] === 0xff;
      for (let k = 0; k < 10 && mapped; k++) if (out[k] !== 0) mapped = false;
      if (!mapped) return 16;
      out[0] = out[12];
      out[1] = out[13];
      out[2] = out[14];
      return 3;
    }
  } else if (parseV4(addr, 0, end, out, 0)) {
    return 3;
  }
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  return 3;
}

export class IpHash extends Rehashing {
  readonly method: string = 'ip_hash';
  private readonly addr = new Uint8Array(16);

  pick(request: PickRequest, tried: TriedSet): number {
    const peers = this.peers;
    const now = request.now;
    if (this.total > 0) {
      const len = ipHashBytes(request.clientAddr, this.addr);
      let hash = 89;
      for (let t = 0; t < TRIES; t++) {
        for (let k = 0; k < len; k++) hash = (hash * 113 + this.addr[k]) % 6271;
        const i = peers.primaries[bucketOf(this.prefix, hash % this.total)];
        if (peers.eligible(i, now, tried)) return i;
      }
    }
    return this.fallback.pick(request, tried);
  }
}
