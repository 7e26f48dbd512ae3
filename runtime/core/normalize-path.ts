// The request target → the path that routing matches, as nginx normalizes it
// (ngx_http_parse_complex_uri), so that a rule on /admin cannot be bypassed
// with /%61dmin, //admin or /x/../admin. spec/routing.md § "The path" is the
// normative description; in short:
//
//   - the path ends at the first `?` (the query) or `#`;
//   - percent-escapes are decoded, and the bytes read as UTF-8; an invalid
//     escape (`%4`, `%zz`) or invalid UTF-8 (overlong forms, surrogates,
//     truncated sequences) is refused;
//   - `%2F` too, as nginx decodes it: an encoded slash is a separator for
//     routing, so `location /admin` covers `/%2Fadmin` and `/x/..%2Fadmin`
//     (a backend that decodes `%2F` itself would otherwise serve /admin past a
//     `deny`); the target sent upstream stays as the client wrote it;
//   - control characters (U+0000–U+001F, U+007F), raw or decoded, are refused;
//   - `//` becomes `/`; `.` segments are dropped; `..` removes the segment
//     before it; a `..` that would climb above the root is refused.
//
// Refused means the caller answers 400. HOT PATH: a target with nothing to
// change and no query is returned as is, with no allocation.

/** Why a target was refused, for messages; normalizePath itself returns null. */
export const PathError = {
  notOrigin: 'the target does not start with "/"',
  badEscape: 'a "%" is not followed by two hex digits',
  badUtf8: 'the decoded bytes are not valid UTF-8',
  control: 'the path contains a control character',
  aboveRoot: 'the path climbs above the root with ".."',
} as const;
export type PathErrorText = (typeof PathError)[keyof typeof PathError];

/** The normalized path of a request target (`/a/b?q`), or null when it must be refused with 400. */
export function normalizePath(target: string): string | null {
  const end = scan(target);
  if (end >= 0) return end === target.length ? target : target.slice(0, end);
  if (end === NOT_ORIGIN) return null;
  const r = slow(target);
  return typeof r === 'string' ? r : null;
}

/** Like normalizePath, with the reason for a refusal. */
export function normalizePathDetailed(target: string): { ok: true; path: string } | { ok: false; error: PathErrorText } {
  const end = scan(target);
  if (end >= 0) return { ok: true, path: target.slice(0, end) };
  if (end === NOT_ORIGIN) return { ok: false, error: PathError.notOrigin };
  const r = slow(target);
  return typeof r === 'string' ? { ok: true, path: r } : { ok: false, error: r.error };
}

/** Index of the `?` that starts the query, or -1. */
export function queryStart(target: string): number {
  const q = target.indexOf('?');
  if (q < 0) return -1;
  const hash = target.indexOf('#');
  return hash >= 0 && hash < q ? -1 : q;
}

const NOT_ORIGIN = -2;
const SLOW = -1;

/**
 * The fast path: where the path ends (at `?`, `#` or the end) when it is
 * printable ASCII with no escape, no `//` and no `.` or `..` segment; SLOW
 * when it needs work; NOT_ORIGIN when it does not start with `/`.
 */
function scan(target: string): number {
  const n = target.length;
  if (n === 0 || target.charCodeAt(0) !== 47) return NOT_ORIGIN;
  for (let i = 1; i < n; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 || c === 35) return i; // ? #
    if (c <= 32 || c >= 127 || c === 37) return SLOW; // controls, space, non-ASCII, %
    if (c === 47) { if (target.charCodeAt(i - 1) === 47) return SLOW; continue; }
    if (c === 46 && target.charCodeAt(i - 1) === 47) {
      // A dot right after a slash: `.` or `..` as a whole segment needs work.
      const d = target.charCodeAt(i + 1);
      if (d !== d || d === 47 || d === 63 || d === 35) return SLOW; // the end (NaN), / ? #
      if (d === 46) {
        const e = target.charCodeAt(i + 2);
        if (e !== e || e === 47 || e === 63 || e === 35) return SLOW;
      }
    }
  }
  return n;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function slow(target: string): string | { error: PathErrorText } {
  // 1. Decode escapes into bytes. The target's own characters are ASCII from
  //    the wire (Node's parser refuses raw bytes above 0x7F with 400); a
  //    JavaScript caller's non-ASCII characters count as their UTF-8 bytes.
  const bytes = new Uint8Array(target.length * 3);
  let b = 0;
  for (let i = 0; i < target.length; i++) {
    let c = target.charCodeAt(i);
    if (c === 63 || c === 35) break;
    if (c < 32 || c === 127) return { error: PathError.control };
    if (c === 37) {
      const hi = hexValue(target.charCodeAt(i + 1));
      const lo = hexValue(target.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return { error: PathError.badEscape };
      i += 2;
      const v = hi * 16 + lo;
      if (v < 32 || v === 127) return { error: PathError.control };
      bytes[b++] = v;
      continue;
    }
    if (c < 0x80) { bytes[b++] = c; continue; }
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = target.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return { error: PathError.badUtf8 };
      c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return { error: PathError.badUtf8 };
    }
    if (c < 0x800) { bytes[b++] = 0xc0 | (c >> 6); bytes[b++] = 0x80 | (c & 63); }
    else if (c < 0x10000) { bytes[b++] = 0xe0 | (c >> 12); bytes[b++] = 0x80 | ((c >> 6) & 63); bytes[b++] = 0x80 | (c & 63); }
    else { bytes[b++] = 0xf0 | (c >> 18); bytes[b++] = 0x80 | ((c >> 12) & 63); bytes[b++] = 0x80 | ((c >> 6) & 63); bytes[b++] = 0x80 | (c & 63); }
  }
  let decoded: string;
  try {
    decoded = decoder.decode(bytes.subarray(0, b));
  } catch {
    return { error: PathError.badUtf8 };
  }
  // 2. Merge slashes and resolve dot segments.
  const segments: string[] = [];
  const parts = decoded.split('/');
  // parts[0] is '' (the path starts with '/').
  let trailing = false;
  for (let i = 1; i < parts.length; i++) {
    const s = parts[i];
    const last = i === parts.length - 1;
    if (s === '' || s === '.') { trailing = last; continue; }
    if (s === '..') {
      if (segments.length === 0) return { error: PathError.aboveRoot };
      segments.pop();
      trailing = last;
      continue;
    }
    segments.push(s);
    trailing = false;
  }
  const path = '/' + segments.join('/') + (trailing && segments.length > 0 ? '/' : '');
  return path;
}

/** The name runtime/http/front.ts uses: the same function (it also accepts a path with the query already split off). */
export const normalizeRequestPath = normalizePath;
