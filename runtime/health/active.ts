import { request } from 'undici';
import type { HealthCheckIR } from '../../compiler/ir.ts';
import type { UpstreamRuntime } from '../upstream.ts';

// Active health checks: every `interval` (plus up to `jitter`), request `uri`
// on each server of an upstream; `fails` failures in a row take it out of
// rotation, `passes` passes in a row bring it back (with slow start).
// Counters are kept by server identity, so a reload does not reset them.

interface Probe {
  upstream: UpstreamRuntime;
  index: number;
  passes: number;
  fails: number;
  timer: NodeJS.Timeout | null;
  running: boolean;
}

export type HealthEvent = { id: string; healthy: boolean; reason: string };

export class HealthChecker {
  private readonly probes = new Map<string, Probe>();
  private stopped = false;
  private readonly onChange: (e: HealthEvent) => void;

  constructor(onChange: (e: HealthEvent) => void = () => {}) {
    this.onChange = onChange;
  }

  /**
   * Starts (or keeps) checks for every server of these upstreams and stops the
   * rest. With `initial=checked`, resolves after every server was checked once.
   */
  async watch(upstreams: Iterable<UpstreamRuntime>): Promise<void> {
    const wanted = new Set<string>();
    const first: Promise<void>[] = [];
    for (const up of upstreams) {
      const hc = up.ir.healthCheck;
      if (!hc) continue;
      for (let i = 0; i < up.peers.n; i++) {
        const id = up.peers.ids[i];
        wanted.add(id);
        const existing = this.probes.get(id);
        if (existing) {
          // Same server in a new Plan: keep its counters, check the new PeerSet.
          existing.upstream = up;
          existing.index = i;
          continue;
        }
        const probe: Probe = { upstream: up, index: i, passes: 0, fails: 0, timer: null, running: false };
        this.probes.set(id, probe);
        if (hc.initial !== 'healthy') up.peers.setHealthy(i, false, Date.now());
        if (hc.initial === 'checked') first.push(this.check(probe));
        else this.schedule(probe, Math.random() * Math.min(hc.interval, 1000));
      }
    }
    for (const [id, probe] of this.probes) {
      if (wanted.has(id)) continue;
      if (probe.timer) clearTimeout(probe.timer);
      this.probes.delete(id);
    }
    await Promise.all(first);
  }

  stop(): void {
    this.stopped = true;
    for (const probe of this.probes.values()) if (probe.timer) clearTimeout(probe.timer);
    this.probes.clear();
  }

  private schedule(probe: Probe, delay: number): void {
    if (this.stopped) return;
    probe.timer = setTimeout(() => { probe.timer = null; void this.check(probe); }, delay);
    probe.timer.unref();
  }

  private async check(probe: Probe): Promise<void> {
    const hc = probe.upstream.ir.healthCheck;
    if (!hc || probe.running) return;
    probe.running = true;
    const result = await this.probe(probe, hc);
    probe.running = false;
    if (this.stopped || this.probes.get(probe.upstream.peers.ids[probe.index]) !== probe) return;
    const peers = probe.upstream.peers;
    const now = Date.now();
    if (result === null) {
      probe.passes++;
      probe.fails = 0;
      if (peers.state[probe.index] !== 0 && probe.passes >= hc.rise) {
        peers.setHealthy(probe.index, true, now);
        this.onChange({ id: peers.ids[probe.index], healthy: true, reason: `${probe.passes} checks passed` });
      }
    } else {
      probe.fails++;
      probe.passes = 0;
      if (peers.state[probe.index] === 0 && probe.fails >= hc.fall) {
        peers.setHealthy(probe.index, false, now);
        this.onChange({ id: peers.ids[probe.index], healthy: false, reason: result });
      }
    }
    this.schedule(probe, hc.interval + (hc.jitter > 0 ? Math.random() * hc.jitter : 0));
  }

  /** null when the server passed, else why it failed. */
  private async probe(probe: Probe, hc: HealthCheckIR): Promise<string | null> {
    const up = probe.upstream;
    const server = up.ir.servers[probe.index];
    const signal = AbortSignal.timeout(hc.timeout);
    try {
      const res = await request(`${up.scheme}://${server.address}${hc.uri}`, {
        method: hc.method as 'GET', dispatcher: up.pools[probe.index], signal,
        headers: { 'user-agent': 'lbconf-health-check', host: up.name },
      });
      const body = hc.body === null ? (await res.body.dump(), '') : await res.body.text();
      if (!hc.status.some(([lo, hi]) => res.statusCode >= lo && res.statusCode <= hi)) return `status ${res.statusCode}`;
      if (hc.body !== null && !new RegExp(hc.body).test(body)) return 'body did not match';
      return null;
    } catch (err) {
      return signal.aborted ? 'timed out' : ((err as { code?: string }).code ?? (err as Error).message);
    }
  }
}
