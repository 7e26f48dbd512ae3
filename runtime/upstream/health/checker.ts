import { fetchOnce } from '../../transport/http1/fetch.ts';
import { Http1Pool } from '../../transport/http1/pool.ts';
import type { HealthCheckIR } from '../../../compiler/ir.ts';
import { PEER_UNHEALTHY, PEER_UP } from '../balancers/index.ts';
import type { UpstreamRuntime } from '../../http/upstream.ts';

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
  /** False for a server that starts out unhealthy (`initial=unhealthy|checked`) until its first pass, which brings it in. */
  proven: boolean;
}

export type HealthEvent = { id: string; healthy: boolean; reason: string };

// `body=` patterns compiled once per config, not on every check.
const patterns = new WeakMap<HealthCheckIR, RegExp>();
function bodyPattern(hc: HealthCheckIR): RegExp {
  let re = patterns.get(hc);
  if (!re) { re = new RegExp(hc.body ?? ''); patterns.set(hc, re); }
  return re;
}

export class HealthChecker {
  private readonly probes = new Map<string, Probe>();
  private stopped = false;
  /**
   * Checks use connections of their own, not the proxy's pools: a server at
   * `max_conns` would queue a check behind its requests, and the checks of
   * that server would wait with them. One kept-alive connection per server
   * (and TLS settings), by identity.
   */
  private readonly pools = new Map<string, Http1Pool>();
  private readonly onChange: (e: HealthEvent) => void;

  constructor(onChange: (e: HealthEvent) => void = () => {}) {
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
  async watch(upstreams: Iterable<UpstreamRuntime>): Promise<{ commit(): void; discard(): void }> {
    /** Every server of the new upstreams, and whether its upstream has checks. */
    const servers = new Map<string, { up: UpstreamRuntime; index: number; checked: boolean }>();
    const added: Probe[] = [];
    const first: Promise<void>[] = [];
    for (const up of upstreams) {
      const hc = up.ir.healthCheck;
      for (let i = 0; i < up.peers.n; i++) {
        const id = up.peers.ids[i];
        servers.set(id, { up, index: i, checked: hc !== null });
        if (!hc || this.probes.has(id)) continue;
        const probe: Probe = { upstream: up, index: i, passes: 0, fails: 0, timer: null, running: false, proven: hc.initial === 'healthy' };
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
    for (const pool of this.pools.values()) void pool.destroy();
    this.pools.clear();
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

  /** null when the server passed, else why it failed. */
  private async probe(probe: Probe, hc: HealthCheckIR): Promise<string | null> {
    const up = probe.upstream;
    const id = up.peers.ids[probe.index];
    const key = `${id}|${up.scheme}|${up.tlsKey}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Http1Pool(`${up.scheme}://${up.ir.servers[probe.index].address}`, { connections: 1, connectTimeout: hc.timeout, keepAliveTimeout: Math.max(hc.interval * 2, 4000), tls: up.tls ?? undefined });
      this.pools.set(key, pool);
    }
    try {
      const res = await fetchOnce(pool, hc.method, hc.uri, ['host', up.name, 'user-agent', 'lbconf-health-check'], hc.timeout);
      if (!hc.status.some(([lo, hi]) => res.status >= lo && res.status <= hi)) return `status ${res.status}`;
      if (hc.body !== null && !bodyPattern(hc).test(res.body)) return 'body did not match';
      return null;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      return code === 'LBCONF_TIMEOUT' || code.endsWith('_TIMEOUT') ? 'timed out' : code || (err as Error).message;
    }
  }
}
