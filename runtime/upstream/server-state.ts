import { PEER_DOWN, PEER_DRAINING, PEER_UNHEALTHY, PEER_UP, type PeerSet } from './balancers/index.ts';
import type { ServerOverrides } from './overrides.ts';

/**
 * `state` label of a server: its PeerSet state, with the admin API's disable
 * told apart from `down` in the config, and `failed` for one that passive
 * checks (max_fails) took out until its fail_timeout ends.
 */
export function serverState(u: { readonly peers: PeerSet; readonly overrides: ServerOverrides }, i: number, now = Date.now()): 'up' | 'failed' | 'down' | 'unhealthy' | 'draining' | 'disabled' {
  const s = u.peers.state[i];
  if (s === PEER_UP) return u.peers.failedOut(i, now) ? 'failed' : 'up';
  if (s === PEER_UNHEALTHY) return 'unhealthy';
  if (s === PEER_DRAINING) return 'draining';
  if (s === PEER_DOWN && u.overrides.of(i)?.mode === 'disable') return 'disabled';
  return 'down';
}
