import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Http1Listener, type Http1Handler } from '../../runtime/transport/http1/listener.ts';

// lbconf's own HTTP/1.1 listener alone on 127.0.0.1, in front of a Node
// server of the test's (what a request is handed to), for the tests of
// runtime/transport/http1/.

export interface ListenerRig {
  listener: Http1Listener;
  port: number;
  /** Client connections accepted and not yet closed. */
  sockets: Set<Socket>;
  /** Closes the listener and destroys what is still connected. */
  close(): Promise<void>;
}

/**
 * Starts the listener with `handler`; what it hands off goes to a Node server
 * answering with `fallback` (`requireHostHeader`, as lbconf's), whose refusals
 * go to `clientError`.
 */
export async function startListener(
  handler: Http1Handler,
  fallback: (req: IncomingMessage, res: ServerResponse) => void,
  clientError: (err: Error & { code?: string }, socket: Socket) => void,
): Promise<ListenerRig> {
  const node = createServer({ requireHostHeader: true }, fallback);
  node.on('clientError', clientError);
  const sockets = new Set<Socket>();
  const listener = new Http1Listener({
    fallback: node,
    handler,
    limits: { maxHeaderSize: 16384, maxUri: 8192, maxHeaders: 100 },
    onConnection: (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); },
  });
  await listener.listen({ port: 0, host: '127.0.0.1' });
  return {
    listener, sockets,
    port: (listener.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { listener.close(resolve); for (const s of sockets) s.destroy(); }),
  };
}
