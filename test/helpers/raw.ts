import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { TLS_NAME } from './tls-proxy.ts';

// A client on a bare connection that stays open while the test works it:
// bytes written as given (pipelined requests, upgrades, bodies cut short),
// read back as text. For one request and its whole answer, proxy.ts's raw().

/** The status of the first response in `text` (raw HTTP/1.1), or -1. */
export function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? -1);
}

/** A connection to 127.0.0.1 that keeps all the server sent, as latin1 text. */
export class RawClient {
  readonly socket: Socket;
  /** What the server sent so far. */
  text = '';
  /** Resolves when the connection has closed; rejects on a socket error (as events.once does). */
  readonly closed: Promise<void>;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => {});
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => { this.text += c; });
    this.closed = once(socket, 'close').then(() => {});
    this.closed.catch(() => {}); // rejected, and nobody waiting: not an unhandled rejection
  }

  /** Connects over TCP to `port`. */
  static async open(port: number): Promise<RawClient> {
    const c = new RawClient(connect(port, '127.0.0.1'));
    await once(c.socket, 'connect');
    return c;
  }

  /**
   * Connects over TLS to `port` as `servername`, taking any certificate, and
   * offering the protocols `alpn` (HTTP/1.1 alone: not HTTP/2; null: no ALPN).
   */
  static async openTls(port: number, servername = TLS_NAME, alpn: string[] | null = ['http/1.1']): Promise<RawClient> {
    const c = new RawClient(tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false, ALPNProtocols: alpn ?? undefined }));
    await once(c.socket, 'secureConnect');
    return c;
  }

  /** Writes `data` as it is. */
  send(data: string | Buffer): this {
    this.socket.write(data);
    return this;
  }

  /** Waits until the server closes the connection, destroying it after `ms`: all that came. */
  async readToEnd(ms = 5000): Promise<string> {
    const timer = setTimeout(() => this.socket.destroy(), ms);
    try {
      await this.closed;
    } finally {
      clearTimeout(timer);
    }
    return this.text;
  }
}
