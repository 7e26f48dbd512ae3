import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Plan } from '../../compiler/plan.ts';
import { LeastBusy } from '../upstream/balancers/index.ts';
import type { CacheZones, PurgeTarget } from '../filters/cache/zones.ts';
import type { UpstreamRuntime } from '../http/upstream.ts';
import type { WorkersPurge } from '../worker/supervisor.ts';
import { serverState } from '../upstream/server-state.ts';
import type { ReloadHistory, ReloadRecord } from '../observe/history.ts';
import {
  ATTEMPT_CLASSES, CACHE_HIT, CACHE_REVALIDATED, CACHE_STALE, CACHE_STATUSES, CACHE_UPDATING, L_ACCEPTED, L_OPEN, LISTENER_STRIDE, P_BUCKET, P_CLASS, PEER_STRIDE,
  U_BYTES, U_ENTRIES, ZONE_STRIDE, ZONE_USE_STRIDE, type Metrics, type MetricsStore,
} from '../observe/metrics.ts';
import { quantile } from '../observe/quantile.ts';

// GET /status: everything the status page shows, as JSON. Rates, error rates
// and latency quantiles are over the last WINDOW_MS, from snapshots of the
// counters the Sampler takes every second.

/** What the admin API reads from the process that owns the config. */
export interface AdminTarget {
  readonly generation: number;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly plan: Plan | null;
  readonly metrics: Metrics;
  /** The HTTP cache's stores (absent: no cache). */
  readonly cacheZones?: CacheZones;
  /** Worker threads serving (absent or 0: this thread serves, and its cache stores are the ones in use). */
  readonly workers?: number;
  /** Under workers: removes from every worker's own zones (runtime/worker/supervisor.ts). */
  readonly purgeWorkers?: ((zone: string, what: PurgeTarget) => Promise<WorkersPurge>) | null;
  addresses(): Map<string, { address: string; port: number }>;
}

export interface ReloaderView {
  readonly file: string;
  readonly status: { ok: boolean; reloads: number; failures: number; lastSuccessAt: number; hash: string };
}

export const WINDOW_MS = 10_000;
const FAILED = ATTEMPT_CLASSES.indexOf('failed');
const C5XX = ATTEMPT_CLASSES.indexOf('5xx');

/** Snapshots of the upstream servers' counters, once a second, for rates over the last WINDOW_MS. */
export class Sampler {
  private readonly metrics: Metrics;
  private readonly snaps: Array<{ at: number; peers: Float64Array }> = [];

  constructor(metrics: Metrics) {
    this.metrics = metrics;
  }

  sample(now = Date.now()): void {
    const used = this.metrics.layout.peers.length * PEER_STRIDE;
    this.snaps.push({ at: now, peers: this.metrics.sum().peers.slice(0, used) });
    while (this.snaps.length > 2 && now - this.snaps[1].at >= WINDOW_MS) this.snaps.shift();
  }

  /** Requests per second, the share that failed (5xx or no response), and p50/p99 in ms, of one server over the window. */
  window(slot: number): { rps: number; errorRate: number; p50: number | null; p99: number | null } {
    const none = { rps: 0, errorRate: 0, p50: null, p99: null };
    if (slot < 0 || this.snaps.length < 2) return none;
    const a = this.snaps[0];
    const b = this.snaps[this.snaps.length - 1];
    const base = slot * PEER_STRIDE;
    const at = (s: { peers: Float64Array }, k: number) => (base + k < s.peers.length ? s.peers[base + k] : 0);
    let requests = 0;
    for (let k = 0; k < ATTEMPT_CLASSES.length; k++) requests += at(b, P_CLASS + k) - at(a, P_CLASS + k);
    const failed = at(b, P_CLASS + FAILED) - at(a, P_CLASS + FAILED) + at(b, P_CLASS + C5XX) - at(a, P_CLASS + C5XX);
    const delta = new Float64Array(PEER_STRIDE - P_BUCKET);
    for (let k = 0; k < delta.length; k++) delta[k] = at(b, P_BUCKET + k) - at(a, P_BUCKET + k);
    const seconds = (b.at - a.at) / 1000;
    const ms = (q: number) => { const v = quantile(q, delta); return v === null ? null : Math.round(v * 1e5) / 100; };
    return { rps: seconds > 0 ? requests / seconds : 0, errorRate: requests > 0 ? failed / requests : 0, p50: ms(0.5), p99: ms(0.99) };
  }
}

interface CertInfo { file: string; subject: string; names: string[]; validFrom: string; validTo: string; daysLeft: number; error?: string }

const certCache = new Map<string, { mtimeMs: number; info: CertInfo }>();

/** A certificate file's names and expiry (read again only when the file changes). */
export function certificateInfo(file: string, now = Date.now()): CertInfo {
  try {
    const mtimeMs = statSync(file).mtimeMs;
    let cached = certCache.get(file);
    if (!cached || cached.mtimeMs !== mtimeMs) {
      const x = new X509Certificate(readFileSync(file));
      const names = (x.subjectAltName ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:') || n.startsWith('IP Address:')).map((n) => n.replace(/^(DNS|IP Address):/, ''));
      cached = { mtimeMs, info: { file, subject: x.subject.replace(/\n/g, ', '), names, validFrom: new Date(x.validFrom).toISOString(), validTo: new Date(x.validTo).toISOString(), daysLeft: 0 } };
      certCache.set(file, cached);
    }
    return { ...cached.info, daysLeft: Math.floor((Date.parse(cached.info.validTo) - now) / 86_400_000) };
  } catch (err) {
    return { file, subject: '', names: [], validFrom: '', validTo: '', daysLeft: 0, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

export type CacheCounts = Record<(typeof CACHE_STATUSES)[number], number>;

export interface CacheZoneStatus {
  zone: string;
  /** `size=` and `max_object=`, bytes. */
  size: number;
  maxObject: number;
  /** What the zone holds now; under `workers N`, summed over the workers' own zones (null for a zone past the 64 counted apart). */
  bytes: number | null;
  entries: number | null;
  /** Under `workers N`: what each worker's zone holds, by worker index (as each last wrote it, at most a second ago). */
  perWorker?: Array<{ bytes: number; entries: number }>;
  /** Requests by cache status, since start (summed over workers). */
  requests: CacheCounts;
  /** The share of requests answered from the zone (hit, stale, updating, revalidated); null before any. */
  hitRatio: number | null;
}

/** The cache zones of the running config, with what they hold and their counters. */
export function cacheZonesStatus(target: AdminTarget, counts = target.metrics.sum()): CacheZoneStatus[] {
  const zones = target.cacheZones;
  if (zones === undefined) return [];
  const perWorker = (target.workers ?? 0) > 0;
  const workers = perWorker ? target.metrics.stores.filter((s) => s !== target.metrics.store) : [];
  return zones.names().map((name) => {
    const store = zones.store(name)!;
    const slot = target.metrics.layout.zones.indexOf(name);
    const use = (s: MetricsStore, k: number) => (slot < 0 ? null : s.zoneUse[slot * ZONE_USE_STRIDE + k]);
    const n = (k: number) => (slot < 0 ? 0 : counts.zones[slot * ZONE_STRIDE + k]);
    const requests = Object.fromEntries(CACHE_STATUSES.map((c, k) => [c, n(k)])) as CacheCounts;
    let total = 0;
    for (let k = 0; k < CACHE_STATUSES.length; k++) total += n(k);
    const served = n(CACHE_HIT) + n(CACHE_STALE) + n(CACHE_UPDATING) + n(CACHE_REVALIDATED);
    const status: CacheZoneStatus = {
      zone: name, size: store.limit, maxObject: store.maxObject,
      bytes: perWorker ? use(counts, U_BYTES) : store.bytes, entries: perWorker ? use(counts, U_ENTRIES) : store.entries,
      requests, hitRatio: total > 0 ? Math.round((served / total) * 10_000) / 10_000 : null,
    };
    if (perWorker && slot >= 0) status.perWorker = workers.map((s) => ({ bytes: use(s, U_BYTES)!, entries: use(s, U_ENTRIES)! }));
    return status;
  });
}

export const RUNTIME_NOTE = 'drain, disable and weight set through the admin API are runtime state: kept across reloads, lost when lbconf restarts';

export function buildStatus(target: AdminTarget, sampler: Sampler, reloader: ReloaderView | null, history: ReloadHistory, startedAt: number) {
  const now = Date.now();
  const layout = target.metrics.layout;
  const counts = target.metrics.sum();
  const upstreams = [...target.upstreams.values()].map((u) => {
    const scores = u.balancer instanceof LeastBusy ? u.balancer.scores(now) : null;
    return {
      name: u.name,
      method: u.balancer.method,
      implicit: u.ir.implicit,
      healthCheck: u.ir.healthCheck ? `${u.ir.healthCheck.method} ${u.ir.healthCheck.uri} every ${u.ir.healthCheck.interval} ms` : null,
      servers: u.ir.servers.map((s, i) => {
        const slot = layout.findPeer(u.name, s.address);
        const o = u.overrides.of(i);
        let total = 0;
        if (slot >= 0) for (let k = 0; k < ATTEMPT_CLASSES.length; k++) total += counts.peers[slot * PEER_STRIDE + P_CLASS + k];
        return {
          address: s.address,
          state: serverState(u, i, now),
          up: u.peers.usable(i, now),
          /** Failed out by passive checks: ms until it is tried again, else 0. */
          backInMs: u.peers.failedOut(i, now) ? Math.max(0, Math.ceil(u.peers.failedUntil(i) - now)) : 0,
          backup: s.backup,
          weight: u.peers.weight[i],
          configWeight: s.weight,
          /** What the admin API changed: shown as runtime state, lost on restart. */
          runtime: o ? { mode: o.mode, weight: o.weight } : null,
          inflight: u.peers.inflight[i],
          fails: u.peers.fails[i],
          requests: total,
          ...sampler.window(slot),
          score: scores ? Math.round(scores[i] * 100) / 100 : null,
        };
      }),
    };
  });
  const plan = target.plan;
  const bound = target.addresses();
  const listeners = (plan?.listeners ?? []).map((l) => {
    const slot = layout.listeners.indexOf(l.key);
    const certs = new Set<string>();
    for (const s of l.servers) for (const c of plan!.servers[s].tls?.certificates ?? []) certs.add(c.cert);
    return {
      key: l.key,
      bound: bound.get(l.key) ?? null,
      ssl: l.ssl,
      servers: l.servers.map((s) => plan!.servers[s].names.join(' ') || '_'),
      connections: { open: slot >= 0 ? counts.listeners[slot * LISTENER_STRIDE + L_OPEN] : 0, accepted: slot >= 0 ? counts.listeners[slot * LISTENER_STRIDE + L_ACCEPTED] : 0 },
      certificates: [...certs].map((file) => certificateInfo(file, now)),
    };
  });
  const reloads: ReloadRecord[] = history.list();
  return {
    version: '0.1.0',
    pid: process.pid,
    now,
    uptimeSeconds: Math.round((now - startedAt) / 1000),
    generation: target.generation,
    config: reloader ? { file: reloader.file, hash: reloader.status.hash, ok: reloader.status.ok, reloads: reloader.status.reloads, failures: reloader.status.failures, lastSuccessAt: reloader.status.lastSuccessAt } : null,
    windowSeconds: WINDOW_MS / 1000,
    runtimeNote: RUNTIME_NOTE,
    upstreams,
    listeners,
    caches: cacheZonesStatus(target, counts),
    reloads,
  };
}

export type Status = ReturnType<typeof buildStatus>;
