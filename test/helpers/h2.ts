import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { TLS_NAME } from './tls-proxy.ts';

// node:http2's client against the proxy's TLS listener (tls-proxy.ts).

/**
 * A node:http2 session to 127.0.0.1:`port` as `name` (the SNI), taking the
 * proxy's self-signed certificate. Its errors are the caller's: add
 * `.on('error', () => {})` where the test looks at its streams instead.
 */
export function h2session(port: number, name = TLS_NAME): ClientHttp2Session {
  return connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: name });
}

/** The :status of one request on `session` (its body read and dropped); rejects with the stream's error. */
export function h2status(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = session.request(headers);
    r.on('response', (h) => { r.resume(); resolve(Number(h[':status'])); });
    r.on('error', reject);
  });
}
