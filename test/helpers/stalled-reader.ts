import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { until, within } from './proxy.ts';

const MB = 1024 * 1024;

/** A raw client that has stopped reading a response (see stalledReader). */
export class StalledReader {
  readonly socket: Socket;
  /** Bytes read so far, headers included. */
  got = 0;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Reads the rest of the response, until the server closes the connection (at most `ms`). */
  async finish(ms: number): Promise<void> {
    const closed = once(this.socket, 'close');
    this.socket.resume();
    await within(closed, ms, 'the rest of the response');
  }
}

/**
 * The start of a backpressure test: sends `head` (a whole request) on a raw
 * socket, reads about a megabyte of the response, stops reading, and waits
 * until the origin's byte count (`sent()`) stops moving, i.e. until every
 * buffer between the origin and this client is full.
 */
export async function stalledReader(port: number, head: string, sent: () => number, stallMs: number, what: string): Promise<StalledReader> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(head);
  const reader = new StalledReader(socket);
  let paused = false;
  socket.on('data', (c: Buffer) => {
    reader.got += c.length;
    if (reader.got > MB && !paused) { paused = true; socket.pause(); }
  });
  await until(() => socket.isPaused(), 5000, 'the first megabyte');
  let last = -1;
  await until(() => {
    const stalled = sent() === last;
    last = sent();
    return stalled;
  }, stallMs, what);
  return reader;
}
