// CRC-32 (the zlib/IEEE polynomial nginx's ngx_crc32 uses), fed JavaScript strings as UTF-8
// without allocating, plus the weighted bucket lookup the hash methods share.

const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

// The running CRC is kept as a signed int32 (a Smi-friendly value V8 never boxes); only
// crc32Final turns it into the unsigned result.
export const CRC32_INIT = -1;

export function crc32Byte(crc: number, byte: number): number {
  return TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
}

/** Feed the UTF-8 encoding of `s` (lone surrogates as U+FFFD, like TextEncoder). */
export function crc32String(crc: number, s: string): number {
  for (let k = 0; k < s.length; k++) {
    let c = s.charCodeAt(k);
    if (c < 0x80) {
      crc = TABLE[(crc ^ c) & 0xff] ^ (crc >>> 8);
      continue;
    }
    if (c < 0x800) {
      crc = crc32Byte(crc, 0xc0 | (c >> 6));
      crc = crc32Byte(crc, 0x80 | (c & 0x3f));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = k + 1 < s.length ? s.charCodeAt(k + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        k++;
        crc = crc32Byte(crc, 0xf0 | (cp >> 18));
        crc = crc32Byte(crc, 0x80 | ((cp >> 12) & 0x3f));
        crc = crc32Byte(crc, 0x80 | ((cp >> 6) & 0x3f));
        crc = crc32Byte(crc, 0x80 | (cp & 0x3f));
        continue;
      }
      c = 0xfffd;
    }
    crc = crc32Byte(crc, 0xe0 | (c >> 12));
    crc = crc32Byte(crc, 0x80 | ((c >> 6) & 0x3f));
    crc = crc32Byte(crc, 0x80 | (c & 0x3f));
  }
  return crc;
}

/** Feed the decimal digits of a non-negative integer (nginx's `%ui`). */
export function crc32Decimal(crc: number, value: number): number {
  let div = 1;
  while (div * 10 <= value) div *= 10;
  for (; div >= 1; div /= 10) crc = crc32Byte(crc, 0x30 + (Math.floor(value / div) % 10));
  return crc;
}

/** Feed a 32-bit value as 4 little-endian bytes. */
export function crc32Uint32LE(crc: number, v: number): number {
  crc = crc32Byte(crc, v & 0xff);
  crc = crc32Byte(crc, (v >>> 8) & 0xff);
  crc = crc32Byte(crc, (v >>> 16) & 0xff);
  return crc32Byte(crc, (v >>> 24) & 0xff);
}

export function crc32Final(crc: number): number {
  return ~crc >>> 0;
}

/** CRC-32 of a string's UTF-8 bytes. */
export function crc32(s: string): number {
  return crc32Final(crc32String(CRC32_INIT, s));
}

/**
 * Cumulative weights of the given servers: bucket k covers [prefix[k-1], prefix[k]).
 * Hash methods use the configured weights of every primary, down or not, so a server
 * going down moves only its own keys (as nginx's total_weight does).
 */
export function prefixWeights(weight: Float64Array, members: Int32Array): Float64Array {
  const prefix = new Float64Array(members.length);
  let sum = 0;
  for (let k = 0; k < members.length; k++) {
    sum += weight[members[k]];
    prefix[k] = sum;
  }
  return prefix;
}

/** The first k with prefix[k] > w (w in [0, total)): O(log n). */
export function bucketOf(prefix: Float64Array, w: number): number {
  let lo = 0;
  let hi = prefix.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (prefix[mid] > w) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
