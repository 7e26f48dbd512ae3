import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { checkText } from '../../compiler/check.ts';
import { compilePlan } from '../../compiler/plan.ts';
import { hasErrors } from '../../lang/diagnostic.ts';
import { ProxyRuntime, type RuntimeOptions } from '../../runtime/control/runtime.ts';

// The proxy under test, on real loopback sockets: a config → a running
// ProxyRuntime on a free port, an undici Agent of its own (closed with it), and
// small clients: `get` (undici), `raw` (a bare socket, for requests that undici
// or the WHATWG URL parser would normalize or refuse).

/** A free TCP port on 127.0.0.1: bind port 0, read it, let it go. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', () => resolve()); });
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Compiles a config, throwing with its diagnostics when it has errors. */
export function compile(source: string) {
  const c = checkText(source, 'test.lbconf');
  if (hasErrors(c.diagnostics)) {
    throw new Error(`config has errors:\n${c.diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.message}`).join('\n')}\n${source}`);
  }
  return compilePlan(c).plan;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface LogLine { level: string; message: string }

/** Options of one request: undici's, plus another dispatcher than the proxy's own agent. */
export type RequestOptions = Partial<Omit<Dispatcher.RequestOptions, 'origin' | 'path'>> & { dispatcher?: Dispatcher };

export class TestProxy {
  readonly rt: ProxyRuntime;
  readonly port: number;
  readonly origin: string;
  readonly agent: Agent;
  readonly logs: LogLine[] = [];
  private readonly waiters: { re: RegExp; resolve: (l: LogLine) => void; timer: NodeJS.Timeout }[] = [];
  source: string;

  constructor(port: number, source: string, options: RuntimeOptions & { connections?: number } = {}) {
    this.port = port;
    this.source = source;
    this.origin = `http://127.0.0.1:${port}`;
    this.rt = new ProxyRuntime({
      ...options,
      log: (level, message) => {
        const line = { level, message };
        this.logs.push(line);
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i];
          if (w.re.test(message)) { clearTimeout(w.timer); w.resolve(line); this.waiters.splice(i, 1); }
        }
      },
    });
    this.agent = new Agent({ connections: options.connections ?? 64, keepAliveTimeout: 10_000 });
  }

  /** Resolves at the next log line matching `re`; rejects after `timeoutMs`. */
  waitLog(re: RegExp, timeoutMs = 5000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.findIndex((w) => w.timer === timer), 1);
        reject(new Error(`no log line matching ${re} within ${timeoutMs} ms; got:\n${this.logs.map((l) => l.message).join('\n')}`));
      }, timeoutMs);
      this.waiters.push({ re, resolve, timer });
    });
  }

  /** Resolves when the runtime logs that `address` (host:port) became healthy or unhealthy. */
  waitHealth(address: string, healthy: boolean, timeoutMs = 5000): Promise<LogLine> {
    const escaped = address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return this.waitLog(new RegExp(`/${escaped} is ${healthy ? 'healthy again' : 'unhealthy'}`), timeoutMs);
  }

  async get(path: string, options: RequestOptions = {}): Promise<Reply> {
    const res = await request(this.origin + path, { dispatcher: this.agent, ...options });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body };
  }

  /** The x-backend of a GET, or `status N` when it failed. */
  async who(path = '/', options: RequestOptions = {}): Promise<string> {
    const r = await this.get(path, options);
    return r.status === 200 ? String(r.headers['x-backend']) : `status ${r.status}`;
  }

  /** `n` GETs, `parallel` at a time; counts by x-backend (or `status N`). */
  async count(n: number, path = '/', parallel = 1, options: (k: number) => RequestOptions = () => ({})): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const k = next++;
        const who = await this.who(path, options(k));
        counts[who] = (counts[who] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    return counts;
  }

  async load(source: string): Promise<void> {
    this.source = source;
    await this.rt.load(compile(source));
  }

  async close(): Promise<void> {
    await this.rt.close(1000);
    await this.agent.destroy();
  }
}

/**
 * Starts a proxy for `config(port)`, where `port` is a free port the config
 * should `listen` on (the compiler refuses port 0).
 */
export async function startProxy(config: (port: number) => string, options: RuntimeOptions & { connections?: number } = {}): Promise<TestProxy> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const source = config(port);
    const p = new TestProxy(port, source, options);
    try {
      await p.rt.load(compile(source));
      return p;
    } catch (err) {
      await p.close();
      // Someone took the port between freePort() and listen(): try another.
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
      throw err;
    }
  }
}

/** `upstream NAME { server A; … }` for these addresses, with extra text per server and in the block. */
export function upstream(name: string, addresses: string[], block = '', perServer: (i: number) => string = () => ''): string {
  return `upstream ${name} { ${block} ${addresses.map((a, i) => `server ${a} ${perServer(i)};`).join(' ')} }`;
}

/**
 * Sends `data` on a fresh socket and resolves with everything the server sent
 * until it closed the connection (or `timeoutMs` passed, then the socket is destroyed).
 */
export async function raw(port: number, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  try {
    await once(socket, 'connect');
    socket.write(data);
    await once(socket, 'close');
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString('latin1');
}

/** The status of a raw HTTP/1.1 GET of `target` (sent as is, with Connection: close). */
export async function rawStatus(port: number, target: string, extra = ''): Promise<number> {
  const text = await raw(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${extra}\r\n`);
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return m ? Number(m[1]) : -1;
}

/** A TCP server that answers each connection with `onConnection` (for upstreams that misbehave below HTTP). */
export async function rawBackend(onConnection: (socket: Socket) => void): Promise<{ server: Server; address: string; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server, address, sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `cond` every few ms until it holds; rejects after `timeoutMs`. For state with no event to wait on. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `promise`, or a rejection naming `what` after `ms`: every wait in a test is bounded, so a hang fails fast and cleans up. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
