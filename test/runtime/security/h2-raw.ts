import { connect, type TLSSocket } from 'node:tls';

// A bare HTTP/2 client over TLS (ALPN h2) that writes frames as they are
// given, for what node:http2's client will not do: many HEADERS in one write
// before the server's SETTINGS, HEADERS and RST_STREAM together (CVE-2023-44487,
// "rapid reset"). It answers the server's SETTINGS and PING, and records what
// the server sends back: which streams got response headers or RST_STREAM, and
// GOAWAY.

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

const TYPE = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

/** HTTP/2's CANCEL error code, what browsers send for a request they no longer want. */
export const CANCEL = 0x8;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK string literal, not Huffman-coded (values under 127 bytes). */
function literal(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length >= 127) throw new Error('literal too long for this encoder');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** The HPACK block of `GET https://AUTHORITY PATH`: static-table method and scheme, literal path and authority, without indexing. */
export function requestBlock(authority: string, path: string, method: 'GET' | 'CONNECT' = 'GET'): Buffer {
  if (method === 'CONNECT') return Buffer.concat([Buffer.from([0x02]), literal('CONNECT'), Buffer.from([0x01]), literal(authority)]);
  // 0x82 :method GET, 0x87 :scheme https; 0x04 / 0x01: literal without indexing, name :path / :authority.
  return Buffer.concat([Buffer.from([0x82, 0x87, 0x04]), literal(path), Buffer.from([0x01]), literal(authority)]);
}

/** A complete GET on `stream` (HEADERS with END_STREAM and END_HEADERS). */
export function get(stream: number, authority: string, path: string): Buffer {
  return frame(TYPE.HEADERS, END_STREAM | END_HEADERS, stream, requestBlock(authority, path));
}

export function rst(stream: number, code = CANCEL): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(TYPE.RST_STREAM, 0, stream, payload);
}

export class RawH2 {
  readonly socket: TLSSocket;
  /** Streams the server sent response headers on (the first byte of the block is kept: 0x88 is `:status 200`). */
  readonly responded = new Map<number, number>();
  /** Streams the server reset, with the error code. */
  readonly resets = new Map<number, number>();
  /** The error code of the server's GOAWAY, if one came. */
  goaway: number | null = null;
  closed = false;
  readonly whenClosed: Promise<void>;
  private buffered: Buffer = Buffer.alloc(0);

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => {});
    this.whenClosed = new Promise((resolve) => socket.once('close', () => { this.closed = true; resolve(); }));
  }

  /** Connects, and sends the preface and an empty SETTINGS; `servername` is the TLS SNI and the :authority. */
  static async open(port: number, servername: string): Promise<RawH2> {
    const socket = connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['h2'], rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => { socket.once('secureConnect', () => resolve()); socket.once('error', reject); });
    if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${String(socket.alpnProtocol)}, not h2`);
    const c = new RawH2(socket);
    c.write(Buffer.concat([PREFACE, frame(TYPE.SETTINGS, 0, 0)]));
    return c;
  }

  /** Writes if the connection is still open; false once it is not. */
  write(data: Buffer): boolean {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(data);
    return true;
  }

  close(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 9) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < 9 + length) break;
      const type = this.buffered[3];
      const flags = this.buffered[4];
      const stream = this.buffered.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buffered.subarray(9, 9 + length);
      this.buffered = this.buffered.subarray(9 + length);
      if (type === TYPE.SETTINGS && (flags & ACK) === 0) this.write(frame(TYPE.SETTINGS, ACK, 0));
      else if (type === TYPE.PING && (flags & ACK) === 0) this.write(frame(TYPE.PING, ACK, 0, Buffer.from(payload)));
      else if (type === TYPE.HEADERS && !this.responded.has(stream)) this.responded.set(stream, payload[0] ?? 0);
      else if (type === TYPE.RST_STREAM) this.resets.set(stream, payload.readUInt32BE(0));
      else if (type === TYPE.GOAWAY) this.goaway = payload.readUInt32BE(4);
    }
  }
}
