import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Backend } from './backends.ts';

// Upgrades (WebSocket) through the proxy: a backend that takes them, and a
// client that asks for one.

/** Makes `b` accept every upgrade (101, Upgrade: websocket) and echo what comes through the tunnel. */
export function echoUpgrades(b: Backend): Backend {
  b.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  return b;
}

export interface UpgradeReply {
  status: number;
  /** The tunnel, on a 101; null when the upgrade was answered otherwise. */
  socket: Socket | null;
  headers: IncomingMessage['headers'];
}

/** Asks 127.0.0.1:`port` to upgrade `path` to websocket (node:http's client). */
export function upgrade(port: number, path: string): Promise<UpgradeReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    req.on('upgrade', (res: IncomingMessage, socket: Socket) => resolve({ status: res.statusCode!, socket, headers: res.headers }));
    req.on('response', (res: IncomingMessage) => { res.resume(); resolve({ status: res.statusCode!, socket: null, headers: res.headers }); });
    req.on('error', reject);
    req.end();
  });
}
