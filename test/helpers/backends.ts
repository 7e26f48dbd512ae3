import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// Real backends for the runtime tests: node:http servers on 127.0.0.1 with
// ephemeral ports. Each answers with its own name, so tests can count who
// served what, and can be told to misbehave.

export type Behavior = (req: IncomingMessage, res: ServerResponse, backend: Backend) => void;

export const echoName: Behavior = (req, res, backend) => {
  const body = JSON.stringify({ backend: backend.name, method: req.method, url: req.url, headers: req.headers });
  res.writeHead(200, { 'content-type': 'application/json', 'x-backend': backend.name, server: 'backend/1.0', 'x-powered-by': 'node' });
  res.end(body);
};

export class Backend {
  readonly name: string;
  behavior: Behavior;
  readonly server: Server;
  readonly sockets = new Set<Socket>();
  requests = 0;
  inflight = 0;
  port = 0;

  constructor(name: string, behavior: Behavior = echoName) {
    this.name = name;
    this.behavior = behavior;
    this.server = createServer((req, res) => {
      this.requests++;
      this.inflight++;
      res.on('close', () => { this.inflight--; });
      this.behavior(req, res, this);
    });
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => { this.server.off('error', reject); resolve(); });
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Listens again on the same port after kill(), as a restarted process would. */
  async restart(): Promise<this> {
    return this.listen(this.port);
  }

  /** Stops at once: open connections are destroyed, as when a process dies. */
  async kill(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function startBackends(count: number, behavior: Behavior = echoName): Promise<Backend[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => new Backend(`b${i}`, behavior).listen()));
}

export async function stopAll(backends: Backend[]): Promise<void> {
  await Promise.all(backends.map((b) => (b.server.listening ? b.kill() : Promise.resolve())));
}
