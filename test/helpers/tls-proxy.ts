import { certFiles } from './certs.ts';
import { startProxy, type TestProxy } from './proxy.ts';

// The proxy on a TLS listener, with HTTP/2 on (the default: ALPN offers h2
// and http/1.1), for a self-signed certificate of a test name. The clients
// that go with it: h2.ts (node:http2), raw.ts (RawClient.openTls).

/** The name TLS tests serve by default: the server_name, the certificate's name, and the clients' SNI. */
export const TLS_NAME = 'a.test';

/** A certificate and its key, as files: what certFiles gives. */
export interface CertFiles { cert: string; key: string }

/**
 * A `server` block that listens with TLS on 127.0.0.1:`port` as `name`, with
 * `cert`'s files, then has `body` (its directives and locations).
 */
export function tlsServer(port: number, cert: CertFiles, body: string, name = TLS_NAME): string {
  return `
    server {
      listen 127.0.0.1:${port} ssl;
      server_name ${name};
      ssl_certificate ${cert.cert};
      ssl_certificate_key ${cert.key};
      ${body}
    }`;
}

/**
 * Starts a proxy of `http` (what comes before the server: upstreams, zones)
 * and one tlsServer with `body`, for a new self-signed certificate of `name`.
 */
export async function startTlsProxy(http: string, body: string, name = TLS_NAME): Promise<TestProxy> {
  const cert = await certFiles(name);
  return startProxy((port) => `${http}\n${tlsServer(port, cert, body, name)}`);
}
