import type { PickRequest, ServerSpec } from '../../../runtime/upstream/balancers/balancer.ts';
import { PeerSet } from '../../../runtime/upstream/balancers/balancer.ts';

export type Spec = Partial<ServerSpec> & { weight?: number };

/** A PeerSet of servers named a, b, c, … in upstream `up` (ids `up/10.0.0.k:80`). */
export function peerSet(specs: Spec[], upstream = 'up'): PeerSet {
  return new PeerSet(specs.map((s, k) => ({
    id: s.id ?? `${upstream}/10.0.0.${k + 1}:80`,
    weight: s.weight ?? 1,
    backup: s.backup ?? false,
    down: s.down ?? false,
    maxConns: s.maxConns,
    slowStartMs: s.slowStartMs,
    maxFails: s.maxFails,
    failTimeoutMs: s.failTimeoutMs,
  })));
}

export function req(now = 0, key = '', clientAddr = '127.0.0.1'): PickRequest {
  return { now, key, clientAddr };
}

export const NAMES = 'abcdefghijklmnopqrstuvwxyz';

/** Counts per server index of `picks` picks. */
export function tally(n: number, picks: number, pick: (k: number) => number): number[] {
  const c = new Array<number>(n).fill(0);
  for (let k = 0; k < picks; k++) {
    const i = pick(k);
    if (i >= 0) c[i]++;
  }
  return c;
}
