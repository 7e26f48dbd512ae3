import { serverState } from '../upstream/server-state.ts';
import type { UpstreamRuntime } from '../http/upstream.ts';
import type { CacheZoneStatus } from './status.ts';
import {
  ATTEMPT_CLASSES, BUCKETS, CACHE_STATUSES, L_ACCEPTED, L_OPEN, LATENCY_BUCKETS, LISTENER_STRIDE, P_BUCKET, P_BYTES, P_CLASS, P_RETRIES, P_SUM,
  PEER_STRIDE, R_BUCKET, R_BYTES, R_CACHE, R_CLASS, R_SUM, ROUTE_STRIDE, STATUS_CLASSES, ZONE_STRIDE, type Metrics,
} from '../observe/metrics.ts';

// The Prometheus text exposition format (version 0.0.4), written from the
// counters' arrays and the live state of the upstreams. Metric names and labels
// are listed in spec/operations.md.

/** What a scrape reads besides the counters. */
export interface ScrapeSource {
  metrics: Metrics;
  upstreams: ReadonlyMap<string, UpstreamRuntime>;
  generation: number;
  /** The cache zones' sizes and what they hold now (bytes and entries null under workers: each worker has its own stores). */
  caches?: readonly CacheZoneStatus[];
  reload?: { reloads: number; failures: number; lastSuccessAt: number; hash: string } | null;
  startedAt: number;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(pairs: Record<string, string>): string {
  const parts: string[] = [];
  for (const k in pairs) parts.push(`${k}="${escapeLabel(pairs[k])}"`);
  return parts.join(',');
}

const STATES = ['up', 'failed', 'down', 'unhealthy', 'draining', 'disabled'] as const;

class Writer {
  readonly lines: string[] = [];

  head(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labelText: string, value: number): void {
    this.lines.push(`${name}${labelText ? `{${labelText}}` : ''} ${Number.isFinite(value) ? value : value > 0 ? '+Inf' : '-Inf'}`);
  }

  /** One histogram series from non-cumulative bucket counts at `a[base..base+BUCKETS)`. */
  histogram(name: string, labelText: string, a: Float64Array, base: number, sum: number): void {
    let cumulative = 0;
    const sep = labelText ? ',' : '';
    for (let b = 0; b < BUCKETS; b++) {
      cumulative += a[base + b];
      const le = b < LATENCY_BUCKETS.length ? String(LATENCY_BUCKETS[b]) : '+Inf';
      this.lines.push(`${name}_bucket{${labelText}${sep}le="${le}"} ${cumulative}`);
    }
    this.sample(`${name}_sum`, labelText, sum);
    this.sample(`${name}_count`, labelText, cumulative);
  }

  /** One metric, a sample per slot (a route, a server, a listener): `a[slot * stride + at]`. */
  perSlot(name: string, type: 'counter' | 'gauge', help: string, slotLabels: readonly string[], a: Float64Array, stride: number, at: number): void {
    this.head(name, type, help);
    for (let slot = 0; slot < slotLabels.length; slot++) this.sample(name, slotLabels[slot], a[slot * stride + at]);
  }

  /** One counter, a sample per slot and value of `label`: `values[k]` at `a[slot * stride + at + k]`. */
  perSlotBy(name: string, help: string, slotLabels: readonly string[], label: string, values: readonly string[], a: Float64Array, stride: number, at: number): void {
    this.head(name, 'counter', help);
    for (let slot = 0; slot < slotLabels.length; slot++) {
      for (let k = 0; k < values.length; k++) this.sample(name, `${slotLabels[slot]},${label}="${values[k]}"`, a[slot * stride + at + k]);
    }
  }

  /** One histogram, a series per slot: buckets from `a[slot * stride + bucketAt]`, the sum at `a[slot * stride + sumAt]`. */
  perSlotHistogram(name: string, help: string, slotLabels: readonly string[], a: Float64Array, stride: number, bucketAt: number, sumAt: number): void {
    this.head(name, 'histogram', help);
    for (let slot = 0; slot < slotLabels.length; slot++) this.histogram(name, slotLabels[slot], a, slot * stride + bucketAt, a[slot * stride + sumAt]);
  }
}

export function exposition(src: ScrapeSource): string {
  const m = src.metrics;
  const layout = m.layout;
  const total = m.sum();
  const w = new Writer();
  const r = total.routes;
  const routeLabels = layout.routes.map((l) => labels({ server: l.server, location: l.location, upstream: l.upstream }));

  w.perSlotBy('lbconf_http_requests_total', 'Requests answered, by server block, location, upstream and status class (499: the client left first).', routeLabels, 'code', STATUS_CLASSES, r, ROUTE_STRIDE, R_CLASS);
  w.perSlotHistogram('lbconf_http_request_duration_seconds', 'Time from the request\'s arrival to the end of its response.', routeLabels, r, ROUTE_STRIDE, R_BUCKET, R_SUM);
  w.perSlot('lbconf_http_response_bytes_total', 'counter', 'Response body bytes (for proxied responses, as received from the upstream).', routeLabels, r, ROUTE_STRIDE, R_BYTES);
  w.head('lbconf_cache_requests_total', 'counter', 'Requests to a caching location, by cache status (as X-Cache-Status says it): hit, miss, expired, stale, updating, revalidated, bypass.');
  // Only the locations that cache (or did): the others would give seven zeros each.
  for (const slot of layout.cacheRoutes) CACHE_STATUSES.forEach((c, k) => w.sample('lbconf_cache_requests_total', `${routeLabels[slot]},status="${c}"`, r[slot * ROUTE_STRIDE + R_CACHE + k]));
  const z = total.zones;
  w.perSlotBy('lbconf_cache_zone_requests_total', 'Requests answered through each cache zone, by cache status.', layout.zones.map((name) => labels({ zone: name })), 'status', CACHE_STATUSES, z, ZONE_STRIDE, 0);
  const caches = src.caches ?? [];
  w.head('lbconf_cache_zone_size_bytes', 'gauge', 'The cache zone\'s limit (`size=`).');
  for (const c of caches) w.sample('lbconf_cache_zone_size_bytes', labels({ zone: c.zone }), c.size);
  w.head('lbconf_cache_zone_bytes', 'gauge', 'Bytes the cache zone holds: entries and responses being stored.');
  for (const c of caches) if (c.bytes !== null) w.sample('lbconf_cache_zone_bytes', labels({ zone: c.zone }), c.bytes);
  w.head('lbconf_cache_zone_entries', 'gauge', 'Entries (variants) stored in the cache zone.');
  for (const c of caches) if (c.entries !== null) w.sample('lbconf_cache_zone_entries', labels({ zone: c.zone }), c.entries);

  const p = total.peers;
  const peerLabels = layout.peers.map((l) => labels({ upstream: l.upstream, server: l.server }));
  w.perSlotBy('lbconf_upstream_requests_total', 'Tries on each upstream server, by status class, or `failed` when it gave no response.', peerLabels, 'code', ATTEMPT_CLASSES, p, PEER_STRIDE, P_CLASS);
  w.perSlotHistogram('lbconf_upstream_response_duration_seconds', 'Time of each try on an upstream server, from sending to the end of its response.', peerLabels, p, PEER_STRIDE, P_BUCKET, P_SUM);
  w.perSlot('lbconf_upstream_response_bytes_total', 'counter', 'Response body bytes received from each upstream server and relayed.', peerLabels, p, PEER_STRIDE, P_BYTES);
  w.perSlot('lbconf_upstream_retries_total', 'counter', 'Tries on a server that were retries of a request another server failed (proxy_next_upstream).', peerLabels, p, PEER_STRIDE, P_RETRIES);

  // Live state of the servers the running config has.
  const servers: Array<{ u: UpstreamRuntime; i: number; l: string }> = [];
  for (const u of src.upstreams.values()) for (let i = 0; i < u.peers.n; i++) servers.push({ u, i, l: labels({ upstream: u.name, server: u.ir.servers[i].address }) });
  w.head('lbconf_upstream_server_up', 'gauge', '1 when the server takes new requests (up, not failed out by max_fails), else 0.');
  for (const s of servers) w.sample('lbconf_upstream_server_up', s.l, s.u.peers.usable(s.i, Date.now()) ? 1 : 0);
  w.head('lbconf_upstream_server_state', 'gauge', '1 for the server\'s current state: up, failed (passive checks, until fail_timeout), down (in the config), unhealthy (health check), draining or disabled (admin API).');
  for (const s of servers) {
    const state = serverState(s.u, s.i);
    for (const st of STATES) w.sample('lbconf_upstream_server_state', `${s.l},state="${st}"`, st === state ? 1 : 0);
  }
  w.head('lbconf_upstream_server_in_flight', 'gauge', 'Requests in flight on the server.');
  for (const s of servers) w.sample('lbconf_upstream_server_in_flight', s.l, s.u.peers.inflight[s.i]);
  w.head('lbconf_upstream_server_weight', 'gauge', 'The server\'s weight (the admin API may have changed it).');
  for (const s of servers) w.sample('lbconf_upstream_server_weight', s.l, s.u.peers.weight[s.i]);

  const c = total.listeners;
  const listenerLabels = layout.listeners.map((key) => labels({ listener: key }));
  w.perSlot('lbconf_connections_accepted_total', 'counter', 'Client connections accepted, by listener.', listenerLabels, c, LISTENER_STRIDE, L_ACCEPTED);
  w.perSlot('lbconf_connections_open', 'gauge', 'Client connections open, by listener.', listenerLabels, c, LISTENER_STRIDE, L_OPEN);

  w.head('lbconf_config_generation', 'gauge', 'The generation of the config being served (1 at start, +1 per successful reload).');
  w.sample('lbconf_config_generation', '', src.generation);
  if (src.reload) {
    w.head('lbconf_reloads_total', 'counter', 'Reloads after the first load, by result.');
    w.sample('lbconf_reloads_total', 'result="success"', src.reload.reloads);
    w.sample('lbconf_reloads_total', 'result="failure"', src.reload.failures);
    w.head('lbconf_reload_last_success_timestamp_seconds', 'gauge', 'When the config being served was loaded (Unix time).');
    w.sample('lbconf_reload_last_success_timestamp_seconds', '', src.reload.lastSuccessAt / 1000);
    w.head('lbconf_config_info', 'gauge', 'The hash of the config files being served.');
    w.sample('lbconf_config_info', labels({ hash: src.reload.hash }), 1);
  }
  w.head('lbconf_start_time_seconds', 'gauge', 'When this lbconf started (Unix time).');
  w.sample('lbconf_start_time_seconds', '', src.startedAt / 1000);
  return w.lines.join('\n') + '\n';
}
