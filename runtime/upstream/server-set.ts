import type { UpstreamIR } from '../../compiler/ir.ts';
import { createBalancer, PeerSet, serverSpecs, Sticky, type Balancer, type PickRequest, type TriedSet } from './balancers/index.ts';
import type { Source } from './discovery/source.ts';
import { StaticSource } from './discovery/static.ts';
import { ServerOverrides } from './overrides.ts';
import { RetryBudget } from './retry-budget.ts';

// One upstream's servers, with no HTTP in sight: their live state (PeerSet),
// the balancer over them, the sticky codec, the retry budget and the admin
// API's overrides, and the one select() every caller uses (proxied requests,
// upgrades, and L4 later). State is carried over from the previous Plan's set
// by server identity (`upstream/host:port`). The HTTP face of an upstream
// (pools, TLS, the hash key read from the request, the Set-Cookie text) is
// http/upstream.ts.

/**
 * Where an upstream's PeerSet lives. Workers share one SharedArrayBuffer per upstream:
 * the main thread makes it (`fresh`: initialize it and carry state over from the
 * previous set), the workers attach to it (not fresh: the state is already there).
 */
export interface PeerStorage {
  attach(upstream: string, bytes: number): { buffer: SharedArrayBuffer; fresh: boolean };
  /** The worker attaching (it keeps a ledger of its requests in flight), or undefined on the main thread. */
  readonly worker?: number;
}

export class ServerSet {
  readonly name: string;
  readonly ir: UpstreamIR;
  /** Its servers' addresses, in order. */
  readonly addresses: readonly string[];
  readonly peers: PeerSet;
  readonly balancer: Balancer;
  readonly sticky: Sticky | null;
  readonly budget = new RetryBudget();
  /** Drain, disable and weight set through the admin API (runtime state, lost on restart). */
  readonly overrides: ServerOverrides;
  private readonly freeTried: TriedSet[] = [];

  /** Where its servers come from (discovery/): the config's list unless told otherwise. */
  readonly source: Source;

  constructor(ir: UpstreamIR, previous?: ServerSet, storage?: PeerStorage, source: Source = new StaticSource(ir.servers)) {
    this.name = ir.name;
    this.ir = ir;
    this.source = source;
    const servers = source.servers();
    this.addresses = servers.map((s) => s.address);
    const slot = storage?.attach(ir.name, PeerSet.byteLength(servers.length));
    this.peers = new PeerSet(serverSpecs(ir.name, servers), slot?.buffer, slot?.fresh ?? true);
    if (storage?.worker !== undefined) this.peers.worker = storage.worker;
    if (previous && (slot?.fresh ?? true)) this.peers.adopt(previous.peers);
    this.overrides = new ServerOverrides(this.peers, servers, previous?.overrides);
    this.balancer = createBalancer(ir.method, this.peers);
    this.sticky = ir.sticky ? new Sticky(this.peers, { cookie: ir.sticky.cookie, secret: ir.sticky.secret }) : null;
  }

  /**
   * The server for one try of a request: by the sticky value the client sent
   * (when the upstream is sticky and that server may take it), else by the
   * balancer; never one in `tried`. -1 when none may.
   */
  select(request: PickRequest, stickyValue: string, tried: TriedSet): number {
    const i = this.pick(request, stickyValue, tried);
    // Nothing to try, and nothing tried yet: if passive checks took every server out, they are tried again (nginx).
    if (i >= 0 || tried.size > 0 || !this.peers.revive(request.now)) return i;
    return this.pick(request, stickyValue, tried);
  }

  private pick(request: PickRequest, stickyValue: string, tried: TriedSet): number {
    return this.sticky !== null ? this.sticky.pick(stickyValue, this.balancer, request, tried) : this.balancer.pick(request, tried);
  }

  /** The sticky value that pins the client to server `i`, or null when what it sent already does (or the upstream is not sticky). */
  pin(i: number, stickyValue: string): string | null {
    if (this.sticky === null) return null;
    const value = this.sticky.encode(i);
    return value === stickyValue ? null : value;
  }

  /** A cleared TriedSet for one request's failover, from a small free list (two typed arrays are not made per request). */
  borrowTried(): TriedSet {
    return this.freeTried.pop() ?? this.peers.newTried();
  }

  /** Gives a TriedSet back when its request is done. */
  returnTried(tried: TriedSet): void {
    tried.clear();
    if (this.freeTried.length < 256) this.freeTried.push(tried);
  }
}
