import type { Span } from '../../lang/ast.ts';
import * as t from '../arg-types.ts';
import type { DirectiveSpec, Frame, LowerContext } from '../directive.ts';
import type { ConfigIR, ServerIR } from '../ir.ts';
import { settingDirective } from './setting.ts';

// TLS termination: certificates, protocols and ciphers, at the top level or in
// a server block (a server's own settings replace the top level's). They apply
// to servers with a `listen … ssl`.

export const DEFAULT_PROTOCOLS = ['TLSv1.2', 'TLSv1.3'];
/** Mozilla's "intermediate" list: forward secrecy and AEAD ciphers only (TLS 1.3 suites are always on). */
export const DEFAULT_CIPHERS = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';

interface Pending {
  certs: { path: string; span: Span }[];
  keys: { path: string; span: Span }[];
  protocols?: string[];
  ciphers?: string;
  http2?: boolean;
}

const pending = new WeakMap<ServerIR | ConfigIR, Pending>();

function at(cx: LowerContext, frame: Frame): Pending {
  const owner = frame.server ?? cx.ir;
  let p = pending.get(owner);
  if (!p) { p = { certs: [], keys: [] }; pending.set(owner, p); }
  return p;
}

const certificate: DirectiveSpec = {
  name: 'ssl_certificate',
  contexts: ['main', 'server'],
  args: { positional: [{ name: 'file', type: t.file }] },
  repeatable: true,
  summary: 'A certificate (PEM, leaf first, then the chain) for the TLS listeners of this server. Give several, each with its `ssl_certificate_key` in the same order, for RSA and ECDSA side by side. Relative paths are relative to the file that names them. Reloaded when the file changes.',
  example: 'ssl_certificate certs/example.com.pem;',
  lower(cx, args, frame) {
    at(cx, frame).certs.push({ path: args.get<string>('file')!, span: args.span('file') });
  },
};

const certificateKey: DirectiveSpec = {
  name: 'ssl_certificate_key',
  contexts: ['main', 'server'],
  args: { positional: [{ name: 'file', type: t.file }] },
  repeatable: true,
  summary: 'The private key (PEM) of the `ssl_certificate` at the same position.',
  example: 'ssl_certificate_key certs/example.com.key;',
  lower(cx, args, frame) {
    at(cx, frame).keys.push({ path: args.get<string>('file')!, span: args.span('file') });
  },
};

const protocols: DirectiveSpec = {
  name: 'ssl_protocols',
  contexts: ['main', 'server'],
  args: { positional: [{ name: 'protocol', type: t.oneOf('TLSv1.2', 'TLSv1.3'), variadic: true }] },
  repeatable: false,
  default: 'ssl_protocols TLSv1.2 TLSv1.3;',
  summary: 'The TLS versions offered. Older versions are not available.',
  example: 'ssl_protocols TLSv1.3;',
  lower(cx, args, frame) {
    at(cx, frame).protocols = args.get<string[]>('protocol');
  },
};

const ciphers: DirectiveSpec = {
  name: 'ssl_ciphers',
  contexts: ['main', 'server'],
  args: { positional: [{ name: 'ciphers', type: t.text }] },
  repeatable: false,
  default: 'Mozilla\'s intermediate list (ECDHE with AES-GCM or ChaCha20-Poly1305)',
  summary: 'The TLS 1.2 cipher list, in OpenSSL\'s format. TLS 1.3 suites are always enabled.',
  example: 'ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384;',
  lower(cx, args, frame) {
    at(cx, frame).ciphers = args.get<string>('ciphers');
  },
};

const http2: DirectiveSpec = {
  name: 'http2',
  contexts: ['main', 'server'],
  args: { positional: [{ name: 'switch', type: t.onOff }] },
  repeatable: false,
  default: 'http2 on;',
  summary: 'Offer HTTP/2 to TLS clients by ALPN, beside HTTP/1.1. Upstream traffic stays HTTP/1.1.',
  example: 'http2 off;',
  lower(cx, args, frame) {
    at(cx, frame).http2 = args.get<boolean>('switch');
  },
};

/** nginx's name, contexts, default and meaning: SETTINGS_MAX_CONCURRENT_STREAMS, a listener setting (read from its default server). */
const http2MaxConcurrentStreams = settingDirective(
  'http2_max_concurrent_streams', 'http2MaxConcurrentStreams', t.integer, 'number', ['main', 'server'], '128',
  'The most HTTP/2 streams (requests) one client connection may have open at once, sent to the client as SETTINGS_MAX_CONCURRENT_STREAMS; streams beyond it are refused (RST_STREAM). So one connection puts at most this many requests upstream at a time. A connection that resets more streams than it completes, by more than twice this number (and at least 128), is closed with GOAWAY (HTTP/2 rapid reset, CVE-2023-44487; see spec/security.md). A listener takes it from its default server; a reload applies it to new connections.',
  'http2_max_concurrent_streams 64;',
);

export const tlsDirectives: DirectiveSpec[] = [certificate, certificateKey, protocols, ciphers, http2, http2MaxConcurrentStreams];

/** After lowering: gives every server with a TLS listener its resolved TLS settings. */
export function resolveTls(ir: ConfigIR, record: (pointer: string, span: Span, label: string) => void, report: (span: Span, message: string, hint: string) => void): void {
  const top = pending.get(ir);
  ir.servers.forEach((server, s) => {
    if (!server.listen.some((l) => l.ssl)) return;
    const own = pending.get(server);
    const source = own && own.certs.length + own.keys.length > 0 ? own : top;
    const certs = source?.certs ?? [];
    const keys = source?.keys ?? [];
    if (certs.length !== keys.length) {
      const extra = certs.length > keys.length ? certs[keys.length] : keys[certs.length];
      report(extra.span, certs.length > keys.length ? '`ssl_certificate` has no `ssl_certificate_key` to go with it' : '`ssl_certificate_key` has no `ssl_certificate` to go with it', 'write each certificate with its key, in the same order');
    }
    const pairs = certs.slice(0, Math.min(certs.length, keys.length)).map((c, i) => ({ cert: c.path, key: keys[i].path }));
    pairs.forEach((_, i) => {
      record(`/servers/${s}/tls/certificates/${i}/cert`, certs[i].span, '`ssl_certificate`');
      record(`/servers/${s}/tls/certificates/${i}/key`, keys[i].span, '`ssl_certificate_key`');
    });
    server.tls = {
      certificates: pairs,
      protocols: own?.protocols ?? top?.protocols ?? DEFAULT_PROTOCOLS,
      ciphers: own?.ciphers ?? top?.ciphers ?? DEFAULT_CIPHERS,
      http2: own?.http2 ?? top?.http2 ?? true,
    };
  });
}
