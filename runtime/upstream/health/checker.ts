import type { HealthCheckIR } from '../../../compiler/ir.ts';
import { PEER_UNHEALTHY, PEER_UP } from '../balancers/index.ts';
import type { ServerSet } from '../server-set.ts';

// Active health checks: every `interval` (plus up to `jitter`), request `uri`
// on each server of an upstream; `fails` failures in a row take it out of
// rotation, `passes` passes in a row bring it back (with slow start).
// Counters are kept by server identity, so a reload does not reset them.

interface Watch<U extends ServerSet = ServerSet> {
  upstream: U;
  index: number;
  passes: number;
  fails: number;
  timer: NodeJS.Timeout | null;
  running: boolean;
  /** False for a server that starts out unhealthy (`initial=unhealthy|checked`) until its first pass, which brings it in. */
  proven: boolean;
}

export type HealthEvent = { id: string; healthy: boolean; reason: string };

/**
 * How one server is checked: null when it passed, else why it failed. The
 * checker knows no protocol; http/health-probe.ts checks HTTP servers (an L4
 * probe would connect and nothing more).
 */
export interface Probe<U extends ServerSet = ServerSet> {
  check(upstream: U, index: number, hc: HealthCheckIR): Promise<string | null>;
  /** Closes what the probe keeps open (connections), when the checks stop. */
  close(): void;
}

export class HealthChecker<U extends ServerSet = ServerSet> {
  private readonly probes = new Map<string, Watch<U>>();
  private stopped = false;
  private readonly onChange: (e: HealthEvent) => void;

  private readonly prober: Probe<U>;

  constructor(prober: Probe<U>, onChange: (e: HealthEvent) => void = () => {}) {
    this.prober = prober;
    this.onChange = onChange;
  }

  /**
   * Prepares checks for every server of these upstreams: servers not checked yet
   * get a probe at once (with `initial=checked`, this resolves after their first
   * check). Call `commit()` once the Plan these upstreams belong to is swapped
   * in: existing probes then check the new upstream objects, and the probes of
   * servers that left stop. If the load fails, `discard()` stops the new probes
   * and the running Plan's checks go on as they were.
   */
  async watch(upstreams: Iterable<U>): Promise<{ commit(): void; discard(): void }> {
    /** Every server of the new upstreams, and whether its upstream has checks. */
    const servers = new Map<string, { up: U; index: number; checked: boolean }>();
    const added: Watch<U>[] = [];
    const first: Promise<void>[] = [];
    for (const up of upstreams) {
      const hc = up.ir.healthCheck;
      for (let i = 0; i < up.peers.n; i++) {
        const id = up.peers.ids[i];
        servers.set(id, { up, index: i, checked: hc !== null });
        if (!hc || this.probes.has(id)) continue;
        const probe: Watch<U> = { upstream: up, index: i, passes: 0, fails: 0, timer: null, running: false, proven: hc.initial === 'healthy' };
        this.probes.set(id, probe);
        added.push(probe);
        if (hc.initial !== 'healthy') up.peers.setHealthy(i, false, Date.now());
        if (hc.initial === 'checked') first.push(this.check(probe));
        else this.schedule(probe, Math.random() * Math.min(hc.interval, 1000));
      }
    }
    await Promise.all(first);
    const commit = () => {
      const now = Date.now();
      for (const [id, probe] of this.probes) {
        const s = servers.get(id);
        if (s?.checked) {
          // Same server in the new Plan: keep its counters, check the new PeerSet.
          probe.upstream = s.up;
          probe.index = s.index;
          continue;
        }
        if (probe.timer) clearTimeout(probe.timer);
        this.probes.delete(id);
        // Its upstream no longer has checks: nothing would ever bring it back.
        if (s) s.up.peers.setHealthy(s.index, true, now);
      }
    };
    const discard = () => {
      for (const probe of added) {
        if (probe.timer) clearTimeout(probe.timer);
        const id = probe.upstream.peers.ids[probe.index];
        if (this.probes.get(id) === probe) this.probes.delete(id);
      }
    };
    return { commit, discard };
  }

  stop(): void {
    this.stopped = true;
    for (const probe of this.probes.values()) if (probe.timer) clearTimeout(probe.timer);
    this.probes.clear();
    this.prober.close();
  }

  private schedule(probe: Watch<U>, delay: number): void {
    if (this.stopped) return;
    probe.timer = setTimeout(() => { probe.timer = null; void this.check(probe); }, delay);
    probe.timer.unref();
  }

  private async check(probe: Watch<U>): Promise<void> {
    const hc = probe.upstream.ir.healthCheck;
    if (!hc || probe.running) return;
    probe.running = true;
    const result = await this.prober.check(probe.upstream, probe.index, hc);
    probe.running = false;
    if (this.stopped || this.probes.get(probe.upstream.peers.ids[probe.index]) !== probe) return;
    const peers = probe.upstream.peers;
    const now = Date.now();
    if (result === null) {
      probe.passes++;
      probe.fails = 0;
      if (peers.state[probe.index] === PEER_UNHEALTHY && (probe.passes >= hc.rise || !probe.proven)) {
        probe.proven = true;
        peers.setHealthy(probe.index, true, now);
        this.onChange({ id: peers.ids[probe.index], healthy: true, reason: `${probe.passes} checks passed` });
      }
    } else {
      probe.fails++;
      probe.passes = 0;
      if (peers.state[probe.index] === PEER_UP && probe.fails >= hc.fall) {
        peers.setHealthy(probe.index, false, now);
        this.onChange({ id: peers.ids[probe.index], healthy: false, reason: result });
      }
    }
    this.schedule(probe, hc.interval + (hc.jitter > 0 ? Math.random() * hc.jitter : 0));
  }
}
