import type { PeerStorage } from '../http/upstream.ts';

// Where the upstreams' PeerSets live under `workers N`: one SharedArrayBuffer per
// upstream. The main thread makes a new one whenever an upstream is new or changed
// (a fresh PeerSet, which carries state over from the previous one by server
// identity); an unchanged upstream keeps its buffer across reloads. Workers attach
// to the buffers the main thread sends with each Plan.

/** Main thread: a new, zeroed buffer for each new upstream runtime. */
export class SharedPeerStorage implements PeerStorage {
  attach(_upstream: string, bytes: number): { buffer: SharedArrayBuffer; fresh: boolean } {
    return { buffer: new SharedArrayBuffer(bytes), fresh: true };
  }
}

/** A worker: the buffers of the Plan being prepared, by upstream name. */
export class AttachedPeerStorage implements PeerStorage {
  private buffers = new Map<string, SharedArrayBuffer>();
  readonly worker: number;

  constructor(worker: number) {
    this.worker = worker;
  }

  /** The buffers sent with the next Plan. */
  use(buffers: ReadonlyArray<readonly [string, SharedArrayBuffer]>): void {
    this.buffers = new Map(buffers);
  }

  attach(upstream: string, bytes: number): { buffer: SharedArrayBuffer; fresh: boolean } {
    const buffer = this.buffers.get(upstream);
    // The main thread builds the same upstreams from the same Plan: a miss is a bug, not a config error.
    if (!buffer || buffer.byteLength < bytes) throw new Error(`worker: no shared state for upstream ${upstream}`);
    return { buffer, fresh: false };
  }
}
