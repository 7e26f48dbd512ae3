import { PEER_DOWN, PEER_DRAINING, PEER_UP, type PeerSet } from './balancers/index.ts';

// What an operator changed at runtime through the admin API: drain, disable,
// weight. Runtime state, not config: it is kept across reloads (for every
// server whose identity stays) and lost when lbconf restarts. Kept by server
// identity beside an upstream's PeerSet, and applied to it through its methods.

export type AdminMode = 'drain' | 'disable';

export interface Override {
  mode: AdminMode | null;
  weight: number | null;
}

export class OverrideError extends Error {
  /** The HTTP status the admin API answers with. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class ServerOverrides {
  private readonly peers: PeerSet;
  private readonly configured: readonly { weight: number; down: boolean }[];
  private readonly byId = new Map<string, Override>();

  /** `previous`: the overrides of the upstream this one replaces in a reload. */
  constructor(peers: PeerSet, configured: readonly { weight: number; down: boolean }[], previous?: ServerOverrides) {
    this.peers = peers;
    this.configured = configured;
    if (!previous) return;
    for (const [id, o] of previous.byId) {
      const i = peers.indexOf(id);
      if (i < 0 || configured[i].down) continue;
      this.byId.set(id, { ...o });
      if (o.mode !== null) this.applyMode(i, o.mode, Date.now());
      if (o.weight !== null) peers.setWeight(i, o.weight);
    }
  }

  /** The override of server `i`, if any. */
  of(i: number): Override | undefined {
    return this.byId.get(this.peers.ids[i]);
  }

  /**
   * drain: no new requests, except from clients a sticky cookie pins there (nginx's drain);
   * those in flight finish. disable: no new requests at all. enable: back in rotation
   * (health checks take it out again if it fails them).
   */
  set(i: number, action: AdminMode | 'enable', now = Date.now()): void {
    if (this.configured[i].down) throw new OverrideError(409, `server ${this.peers.ids[i]} is marked \`down\` in the config: remove \`down\` there and reload`);
    const id = this.peers.ids[i];
    const o = this.byId.get(id) ?? { mode: null, weight: null };
    if (action === 'enable') {
      o.mode = null;
      this.peers.setState(i, PEER_UP, now);
    } else {
      o.mode = action;
      this.applyMode(i, action, now);
    }
    this.store(id, o);
  }

  /** Sets server `i`'s weight; its configured weight clears the override. */
  weight(i: number, weight: number): void {
    if (!Number.isInteger(weight) || weight < 1 || weight > 1000) throw new OverrideError(400, `weight must be a whole number from 1 to 1000 (got ${weight})`);
    const id = this.peers.ids[i];
    const o = this.byId.get(id) ?? { mode: null, weight: null };
    o.weight = weight === this.configured[i].weight ? null : weight;
    this.peers.setWeight(i, weight);
    this.store(id, o);
  }

  private applyMode(i: number, mode: AdminMode, now: number): void {
    this.peers.setState(i, mode === 'drain' ? PEER_DRAINING : PEER_DOWN, now);
  }

  private store(id: string, o: Override): void {
    if (o.mode === null && o.weight === null) this.byId.delete(id);
    else this.byId.set(id, o);
  }
}
