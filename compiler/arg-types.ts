import { dirname, resolve } from 'node:path';
import type { ArgType } from './directive.ts';
import { parseTemplate, type Template } from './variables.ts';
import {
  isHeaderName, isHostname, isIPv4, isIPv6, parseCidr, parseDuration, parseHostPort, parseInteger, parseNumber,
  parsePort, parseSize, parseStatus, type Cidr, type HostPort, type Parsed,
} from './values.ts';

// The argument types the directive table uses. Range limits live in the IR's JSON
// Schema, so that ajv reports them against the argument that produced the value.

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });

export const duration: ArgType<number> = { name: 'duration', parse: parseDuration };
export const size: ArgType<number> = { name: 'size', parse: parseSize };
export const integer: ArgType<number> = { name: 'number', parse: parseInteger };
export const number: ArgType<number> = { name: 'number', parse: parseNumber };
export const port: ArgType<number> = { name: 'port', parse: parsePort };
export const status: ArgType<number> = { name: 'status', parse: parseStatus };
export const cidr: ArgType<Cidr> = { name: 'address', parse: parseCidr };
export const text: ArgType<string> = { name: 'text', parse: (v) => ok(v) };
/** A file path, resolved against the directory of the config file that names it (an include's own directory). */
export const file: ArgType<string> = { name: 'file', parse: (v, arg) => ok(resolve(dirname(arg.span.file), v)) };
export const template: ArgType<Template> = { name: 'text', parse: parseTemplate };

export const name: ArgType<string> = {
  name: 'name',
  parse: (v) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(v) ? ok(v) : { ok: false, message: `\`${v}\` is not a valid name: use letters, digits, \`_\`, \`-\` and \`.\`, starting with a letter` }),
};

export const headerName: ArgType<string> = {
  name: 'header',
  parse: (v) => (isHeaderName(v) ? ok(v) : { ok: false, message: `\`${v}\` is not a valid header name` }),
};

export const onOff: ArgType<boolean> = {
  name: 'on|off',
  parse: (v) => (v === 'on' ? ok(true) : v === 'off' ? ok(false) : { ok: false, message: `expected \`on\` or \`off\`, not \`${v}\`` }),
};

export function oneOf<T extends string>(...choices: T[]): ArgType<T> {
  return {
    name: choices.join('|'),
    parse: (v) => ((choices as string[]).includes(v) ? ok(v as T) : { ok: false, message: `expected one of ${choices.map((c) => `\`${c}\``).join(', ')}, not \`${v}\`` }),
  };
}

/** `host:port` of an upstream server; the port defaults to 80 as in nginx. */
export const serverAddress: ArgType<HostPort & { port: number }> = {
  name: 'address',
  parse: (v) => {
    if (v.startsWith('unix:')) return { ok: false, message: 'unix sockets are not supported yet: use host:port' };
    if (v.includes('://')) return { ok: false, message: `write the server as host:port, without a scheme: \`${v.replace(/^[a-z]+:\/\//, '')}\`` };
    const r = parseHostPort(v);
    if (!r.ok) return r;
    if (r.value.host === '*') return { ok: false, message: '`*` is not a server address' };
    return ok({ host: r.value.host, port: r.value.port ?? 80 });
  },
};

/** `80`, `127.0.0.1:8080`, `[::1]:80`, `*:80`, or an address alone (port 80). */
export const listenAddress: ArgType<{ address: string; port: number }> = {
  name: 'address',
  parse: (v) => {
    if (/^\d+$/.test(v)) {
      const p = parsePort(v);
      return p.ok ? ok({ address: '*', port: p.value }) : p;
    }
    const r = parseHostPort(v);
    if (!r.ok) return r;
    const host = r.value.host;
    if (host !== '*' && !isIPv4(host) && !isIPv6(host) && host !== 'localhost') {
      return { ok: false, message: `listen on an IP address, \`*\` or \`localhost\`, not the host name \`${host}\`` };
    }
    return ok({ address: host === 'localhost' ? '127.0.0.1' : host, port: r.value.port ?? 80 });
  },
};

/** A server name: exact, `*.example.com`, `www.example.*`, `~regex`, `_` or empty. */
export const serverName: ArgType<string> = {
  name: 'name',
  parse: (v) => {
    if (v.startsWith('~') || v === '' || v === '_') return ok(v);
    const plain = v.startsWith('*.') ? v.slice(2) : v.endsWith('.*') ? v.slice(0, -2) : v.startsWith('.') ? v.slice(1) : v;
    if (isHostname(plain) || isIPv4(plain)) return ok(v.toLowerCase());
    return { ok: false, message: `\`${v}\` is not a valid server name: use a host name, *.example.com, www.example.*, or ~regex` };
  },
};

/** `200`, `200-399`. */
export const statusRange: ArgType<[number, number]> = {
  name: 'status',
  parse: (v) => {
    const [from, to, extra] = v.split('-');
    if (extra !== undefined) return { ok: false, message: `\`${v}\` is not a status or a range like 200-399` };
    const a = parseStatus(from);
    if (!a.ok) return a;
    if (to === undefined) return ok([a.value, a.value]);
    const b = parseStatus(to);
    if (!b.ok) return b;
    if (b.value < a.value) return { ok: false, message: `the range \`${v}\` is empty: write the lower status first` };
    return ok([a.value, b.value]);
  },
};

export { type Cidr };
