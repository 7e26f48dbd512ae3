import type { UpstreamServerIR } from '../../../compiler/ir.ts';

// Where an upstream's servers come from: the config (static.ts), and later DNS
// (A/AAAA/SRV, re-resolved) or the admin API. A server set asks its source for
// the servers it has now; a source that changes tells its watchers, and the
// set is rebuilt with its state carried over by server identity.

export interface Source {
  /** The servers now, in a stable order. */
  servers(): readonly UpstreamServerIR[];
  /** Calls `changed` whenever the servers change; returns what stops watching. A static source never calls it. */
  watch(changed: (servers: readonly UpstreamServerIR[]) => void): () => void;
}
