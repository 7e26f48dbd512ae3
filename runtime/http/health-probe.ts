import type { HealthCheckIR } from '../../compiler/ir.ts';
import { fetchOnce } from '../transport/http1/fetch.ts';
import { Http1Pool } from '../transport/http1/pool.ts';
import type { Probe } from '../upstream/health/checker.ts';
import type { UpstreamRuntime } from './upstream.ts';

// The HTTP health probe: `method uri` on a server, its status within `status=`
// and its body matching `body=`.

// `body=` patterns compiled once per config, not on every check.
const patterns = new WeakMap<HealthCheckIR, RegExp>();
function bodyPattern(hc: HealthCheckIR): RegExp {
  let re = patterns.get(hc);
  if (!re) { re = new RegExp(hc.body ?? ''); patterns.set(hc, re); }
  return re;
}

export class HttpProbe implements Probe<UpstreamRuntime> {
  /**
   * Checks use connections of their own, not the proxy's pools: a server at
   * `max_conns` would queue a check behind its requests, and the checks of
   * that server would wait with them. One kept-alive connection per server
   * (and TLS settings), by identity.
   */
  private readonly pools = new Map<string, Http1Pool>();

  /** null when the server passed, else why it failed. */
  async check(up: UpstreamRuntime, index: number, hc: HealthCheckIR): Promise<string | null> {
    const id = up.peers.ids[index];
    const key = `${id}|${up.scheme}|${up.tlsKey}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Http1Pool(`${up.scheme}://${up.addresses[index]}`, { connections: 1, connectTimeout: hc.timeout, keepAliveTimeout: Math.max(hc.interval * 2, 4000), tls: up.tls ?? undefined });
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

  close(): void {
    for (const pool of this.pools.values()) void pool.destroy();
    this.pools.clear();
  }
}
