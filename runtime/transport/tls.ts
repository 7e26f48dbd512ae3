import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { Plan } from '../../compiler/plan.ts';
import type { TlsIR } from '../../compiler/ir.ts';

// TLS contexts for a Plan: one per server block, chosen by SNI among the server
// blocks of a listener with nginx's name rules, the default server's for
// clients that send no name. Built when a Plan loads (so a reload, or a
// changed certificate file, takes effect for new handshakes) and never per
// connection.

interface ListenerContexts {
  exact: Map<string, SecureContext>;
  /** `*.example.com` and `.example.com` as suffixes (`.example.com`), longest first. */
  suffixes: Array<{ suffix: string; bare: string; context: SecureContext }>;
  /** `www.example.*` as prefixes (`www.example.`), longest first. */
  prefixes: Array<{ prefix: string; context: SecureContext }>;
  fallback: SecureContext;
  fallbackOptions: SecureContextOptions;
  http2: boolean;
}

export class CertificateError extends Error {}

function optionsFor(tls: TlsIR): SecureContextOptions {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new CertificateError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return {
    cert: tls.certificates.map((c) => read(c.cert, 'certificate')),
    key: tls.certificates.map((c) => read(c.key, 'key')),
    minVersion: tls.protocols.includes('TLSv1.2') ? 'TLSv1.2' : 'TLSv1.3',
    maxVersion: tls.protocols.includes('TLSv1.3') ? 'TLSv1.3' : 'TLSv1.2',
    ciphers: tls.ciphers,
    honorCipherOrder: true,
  };
}

function contextFor(options: SecureContextOptions, server: string): SecureContext {
  try {
    return createSecureContext(options);
  } catch (err) {
    throw new CertificateError(`the certificate or key of server block ${server} cannot be used: ${(err as Error).message}`);
  }
}

export class TlsContexts {
  private readonly byListener = new Map<string, ListenerContexts>();

  /** Reads every certificate of the Plan's TLS listeners; throws CertificateError when one is unusable. */
  constructor(plan: Plan) {
    const ir = plan;
    for (const l of plan.listeners) {
      if (!l.ssl) continue;
      const built = new Map<number, { context: SecureContext; options: SecureContextOptions }>();
      const get = (s: number) => {
        let b = built.get(s);
        if (!b) {
          const tls = ir.servers[s].tls;
          if (!tls || tls.certificates.length === 0) throw new CertificateError(`server block ${plan.servers[s].names[0] || '""'} listens with ssl but has no certificate`);
          const options = optionsFor(tls);
          b = { context: contextFor(options, plan.servers[s].names[0] || '""'), options };
          built.set(s, b);
        }
        return b;
      };
      const fallback = get(l.defaultServer);
      const entry: ListenerContexts = { exact: new Map(), suffixes: [], prefixes: [], fallback: fallback.context, fallbackOptions: fallback.options, http2: ir.servers[l.defaultServer].tls?.http2 ?? true };
      for (const s of l.servers) {
        const { context } = get(s);
        for (const name of plan.servers[s].names) {
          const n = name.toLowerCase();
          if (n === '' || n.startsWith('~')) continue;
          if (n.startsWith('*.')) entry.suffixes.push({ suffix: n.slice(1), bare: '', context });
          else if (n.startsWith('.')) entry.suffixes.push({ suffix: n, bare: n.slice(1), context });
          else if (n.endsWith('.*')) entry.prefixes.push({ prefix: n.slice(0, -1), context });
          else if (!entry.exact.has(n)) entry.exact.set(n, context);
        }
      }
      entry.suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
      entry.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
      this.byListener.set(l.key, entry);
    }
  }

  /** The context for a TLS client hello naming `servername` on listener `key`. */
  select(key: string, servername: string): SecureContext | undefined {
    const e = this.byListener.get(key);
    if (!e) return undefined;
    const name = servername.toLowerCase();
    const exact = e.exact.get(name);
    if (exact) return exact;
    for (const s of e.suffixes) if (name.endsWith(s.suffix) || name === s.bare) return s.context;
    for (const p of e.prefixes) if (name.startsWith(p.prefix)) return p.context;
    return e.fallback;
  }

  /** Options of the default server's context: what a client without SNI gets. */
  defaults(key: string): SecureContextOptions | undefined {
    return this.byListener.get(key)?.fallbackOptions;
  }

  http2(key: string): boolean {
    return this.byListener.get(key)?.http2 ?? true;
  }
}
