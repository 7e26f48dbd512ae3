// Values computed from a request (`$uri`, `$arg_x`, `$http_x`…) written into a
// header field: add_header, proxy_set_header, a redirect's Location. A header
// is bytes, one per character (latin1); what cannot be carried is refused for
// that one request (the caller answers 400), never thrown out of the request path.

/**
 * `value` made fit for a header field, or null when it cannot be: CR, LF, NUL
 * or another control character but tab (they would end the field, or split
 * the response). Characters above U+00FF, which one byte cannot hold, are sent
 * as their UTF-8 bytes, as nginx sends what it decoded.
 */
export function fieldValue(value: string): string | null {
  let wide = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20) { if (c !== 9) return null; }
    else if (c === 0x7f) return null;
    else if (c > 0xff) wide = true;
  }
  return wide ? Buffer.from(value, 'utf8').toString('latin1') : value;
}

/** A decoded value (the path) as the bytes it was decoded from: UTF-8, one character a byte. ASCII is returned as is. */
export function utf8Bytes(value: string): string {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'utf8').toString('latin1');
  }
  return value;
}

/** The log line for a request refused so: which header, and who got the 400. */
export function unfitLine(what: string, client: string): string {
  return `${what}: a value from the request cannot be sent in a header (control character); answered 400 to ${client}`;
}
