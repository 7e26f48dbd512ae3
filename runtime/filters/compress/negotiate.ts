// Accept-Encoding (RFC 9110 §12.5.3) → the encoding to answer with. Read in
// one pass over the header's characters, with no strings or arrays made per
// request: the q-values of what lbconf can offer land in a few numbers.

/** Encoding ids; CompressionRuntime.order lists them most preferred first. */
export const ZSTD = 0;
export const BR = 1;
export const GZIP = 2;

export const ENCODING_NAMES = ['zstd', 'br', 'gzip'] as const;

/** Codings other than lbconf's: `identity`, `*`, anything else. */
const IDENTITY = 3;
const STAR = 4;
const OTHER = 5;

/** q-values in thousandths by coding id, -1 when the coding is not listed. Reused by every call (the event loop runs one at a time). */
const q = new Int16Array(5);

/**
 * The encoding to use, or -1 for none. `order` is the server's preference,
 * which breaks ties between codings the client rates equally; the client's
 * q-values come first. A coding is acceptable when listed with q > 0, or
 * covered by `*` with q > 0. When the client lists `identity` with a higher q
 * than any acceptable coding, it prefers the body as it is: -1. No header at
 * all is -1 too (RFC 9110 would allow any coding; clients that can decode say so).
 */
export function negotiate(header: string | undefined, order: readonly number[]): number {
  if (header === undefined) return -1;
  q.fill(-1);
  const n = header.length;
  let i = 0;
  while (i < n) {
    // One element: OWS coding OWS *( ";" OWS param ) OWS, up to the next ",".
    while (i < n && isSpace(header.charCodeAt(i))) i++;
    const start = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    const coding = codingId(header, start, i);
    let value = start === i ? -1 : 1000;
    for (;;) {
      while (i < n && isSpace(header.charCodeAt(i))) i++;
      if (i >= n || header.charCodeAt(i) !== 59 /* ; */) break;
      i++;
      while (i < n && isSpace(header.charCodeAt(i))) i++;
      const c = header.charCodeAt(i) | 0x20;
      if (c === 113 /* q */ && header.charCodeAt(i + 1) === 61 /* = */) {
        const end = skipToken(header, i + 2);
        value = qvalue(header, i + 2, end);
        i = end;
      } else {
        i = skipParam(header, i);
      }
    }
    // Anything else before the comma makes the element unreadable: ignore it.
    if (i < n && header.charCodeAt(i) !== 44 /* , */) {
      value = -1;
      while (i < n && header.charCodeAt(i) !== 44) i++;
    }
    i++;
    if (value >= 0 && coding !== OTHER && value > q[coding]) q[coding] = value;
  }
  let best = -1;
  let bestQ = 0;
  for (let k = 0; k < order.length; k++) {
    const id = order[k];
    const v = q[id] >= 0 ? q[id] : q[STAR];
    if (v > bestQ) { best = id; bestQ = v; }
  }
  if (best >= 0 && q[IDENTITY] > bestQ) return -1;
  return best;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** RFC 9110 tchar. */
function isTchar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 33 || c === 35 || c === 36 || c === 37 || c === 38 || c === 39 || c === 42 || c === 43 || c === 45 || c === 46 || c === 94 || c === 95 || c === 96 || c === 124 || c === 126;
}

function skipToken(s: string, i: number): number {
  while (i < s.length && isTchar(s.charCodeAt(i))) i++;
  return i;
}

/** Skips `name=value` where the value may be a quoted string. */
function skipParam(s: string, i: number): number {
  i = skipToken(s, i);
  if (s.charCodeAt(i) !== 61) return i;
  i++;
  if (s.charCodeAt(i) !== 34 /* " */) return skipToken(s, i);
  for (i++; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) return i + 1;
  }
  return i;
}

/** `0`, `0.5`, `1`, `1.000` → thousandths; -1 when it is not a qvalue. */
function qvalue(s: string, start: number, end: number): number {
  const first = s.charCodeAt(start) - 48;
  if (first !== 0 && first !== 1) return -1;
  if (end === start + 1) return first * 1000;
  if (s.charCodeAt(start + 1) !== 46 || end - start > 5) return -1;
  let v = first * 1000;
  let scale = 100;
  for (let k = start + 2; k < end; k++) {
    const d = s.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return -1;
    v += d * scale;
    scale /= 10;
  }
  return v > 1000 ? -1 : v;
}

function codingId(s: string, start: number, end: number): number {
  const len = end - start;
  if (len === 1 && s.charCodeAt(start) === 42) return STAR;
  if (len === 2 && eq(s, start, 'br')) return BR;
  if (len === 4 && eq(s, start, 'gzip')) return GZIP;
  if (len === 4 && eq(s, start, 'zstd')) return ZSTD;
  // RFC 9110 §8.4.1.3: x-gzip is gzip.
  if (len === 6 && eq(s, start, 'x-gzip')) return GZIP;
  if (len === 8 && eq(s, start, 'identity')) return IDENTITY;
  return OTHER;
}

/** Case-insensitive comparison of s[start…] with a lower-case word. */
function eq(s: string, start: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) {
    if ((s.charCodeAt(start + k) | 0x20) !== word.charCodeAt(k)) return false;
  }
  return true;
}
