// The HTTP/1.1 grammar pieces that lbconf's parsers and writers check
// (runtime/transport/http1/): one definition each, so the listener, the response
// writer, the upstream client and its parser agree on them.

/** A token (RFC 9110 §5.6.2): a field name or a method. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * A character a field value may not carry: anything but HTAB, visible ASCII
 * and obs-text (RFC 9110 §5.5; Node's checkInvalidHeaderChar and undici's rule).
 * On latin1 text, exactly the control characters but HTAB, a lone CR or LF included.
 */
export const BAD_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** A Content-Length read as a number: digits only, few enough to be exact. */
export const CONTENT_LENGTH = /^\d{1,15}$/;
