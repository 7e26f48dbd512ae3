// Typed argument values. The syntax only knows words and strings; a directive's
// argument types decide what `10m` means (ten megabytes to a size, ten minutes
// to a duration), as nginx does.

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (message: string): Parsed<never> => ({ ok: false, message });

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, K: 1024, m: 1024 ** 2, M: 1024 ** 2, g: 1024 ** 3, G: 1024 ** 3 };

/** `512`, `16k`, `10m`, `1g` → bytes. */
export function parseSize(text: string): Parsed<number> {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text);
  if (!m) return fail(`\`${text}\` is not a size: write bytes or a number with k, m or g, as in 16k or 10m`);
  return ok(Number(m[1]) * SIZE_UNITS[m[2]]);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `500ms`, `5s`, `1m30s`, `1h`; a bare number is seconds, as in nginx → milliseconds. */
export function parseDuration(text: string): Parsed<number> {
  if (/^\d+$/.test(text)) return ok(Number(text) * 1000);
  const re = /(\d+)(ms|s|m|h|d|w)/y;
  let total = 0;
  let at = 0;
  let previous = Infinity;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return fail(`\`${text}\` is not a duration: write a number with ms, s, m, h, d or w, as in 500ms, 30s or 1m30s`);
    // As in nginx, each unit at most once, the larger first: `1m30s`, not `30s1m`.
    const unit = DURATION_UNITS[m[2]];
    if (unit >= previous) return fail(`\`${text}\` is not a duration: write each unit once, the larger first, as in 1h30m or 1m30s`);
    previous = unit;
    total += Number(m[1]) * unit;
    at = re.lastIndex;
  }
  if (text.length === 0) return fail('a duration cannot be empty');
  return ok(total);
}

export function parseInteger(text: string): Parsed<number> {
  if (!/^-?\d+$/.test(text)) return fail(`\`${text}\` is not a whole number`);
  return ok(Number(text));
}

export function parseNumber(text: string): Parsed<number> {
  if (!/^\d+(\.\d+)?$/.test(text)) return fail(`\`${text}\` is not a number`);
  return ok(Number(text));
}

export function parsePort(text: string): Parsed<number> {
  if (!/^\d+$/.test(text)) return fail(`\`${text}\` is not a port number`);
  const port = Number(text);
  if (port < 1 || port > 65535) return fail(`port ${text} is out of range: use 1 to 65535`);
  return ok(port);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

export function isIPv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,62})(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,62}))*\.?$/;

export function isHostname(text: string): boolean {
  return HOSTNAME.test(text);
}

export interface HostPort {
  /** An IPv4 address, an IPv6 address without brackets, a host name, or `*`. */
  host: string;
  port: number | null;
}

/** `host`, `host:port`, `[v6]:port`, `*:port`. */
export function parseHostPort(text: string): Parsed<HostPort> {
  let host = text;
  let portText: string | null = null;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (v6) {
    host = v6[1];
    portText = v6[2] ?? null;
    if (!isIPv6(host)) return fail(`\`${host}\` is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      if (text.indexOf(':') !== colon) return fail(`\`${text}\` looks like an IPv6 address: put it in brackets, as in [${text}]:80`);
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
    if (host !== '*' && !isIPv4(host) && !isHostname(host)) return fail(`\`${host}\` is not a valid host name or address`);
  }
  if (portText === null) return ok({ host, port: null });
  const port = parsePort(portText);
  return port.ok ? ok({ host, port: port.value }) : port;
}

/** One HTTP status code, 100–599. */
export function parseStatus(text: string): Parsed<number> {
  if (!/^\d{3}$/.test(text) || Number(text) < 100 || Number(text) > 599) return fail(`\`${text}\` is not an HTTP status code (100 to 599)`);
  return ok(Number(text));
}

export interface Cidr {
  /** `4` or `6`; `all` matches every address. */
  family: 4 | 6 | 'all';
  address: string;
  prefix: number;
}

/** `all`, `10.0.0.1`, `10.0.0.0/8`, `::1`, `2001:db8::/32`. */
export function parseCidr(text: string): Parsed<Cidr> {
  if (text === 'all') return ok({ family: 'all', address: '', prefix: 0 });
  const [address, prefixText, extra] = text.split('/');
  if (extra !== undefined) return fail(`\`${text}\` is not an address or CIDR range`);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : null;
  if (family === null) return fail(`\`${text}\` is not an IP address or CIDR range: write 10.0.0.0/8, 2001:db8::/32, a single address, or all`);
  const max = family === 4 ? 32 : 128;
  if (prefixText === undefined) return ok({ family, address, prefix: max });
  if (!/^\d+$/.test(prefixText) || Number(prefixText) > max) return fail(`\`/${prefixText}\` is not a valid prefix length for IPv${family} (0 to ${max})`);
  return ok({ family, address, prefix: Number(prefixText) });
}

/** A header name as RFC 9110 allows it (a token). */
export function isHeaderName(text: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(text);
}
