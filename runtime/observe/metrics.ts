import { CACHE_OUTCOMES } from '../core/cache-outcomes.ts';
// Per-request counters and latency histograms, as flat Float64Arrays laid over
// one buffer: an ArrayBuffer in one thread, or one SharedArrayBuffer per
// worker that the main thread sums when Prometheus scrapes. Each buffer has a
// single writer, so the request path does plain increments (no Atomics, no
// locks, no allocation); the reader may see a count a request ahead of its
// histogram, never a torn value on the 64-bit platforms Node runs on.
//
// Why not prom-client: its Counter and Histogram objects keep label maps on the
// heap of the thread that owns them, which is exactly what workers cannot share;
// summing them needs its AggregatorRegistry and a message round trip per scrape.
// The exposition format is a few lines of text per series, so it is written
// straight from these arrays (exposition.ts).
//
// Slots are handed out by a MetricsLayout, keyed by labels, and never reused:
// a reload that keeps a location keeps its counters, so they stay monotonic.

/** Upper bounds of the latency buckets, in seconds (+Inf is the last bucket). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
export const BUCKETS = LATENCY_BUCKETS.length + 1;

/** Status classes of client responses: 1xx … 5xx. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** Outcomes of upstream attempts: the status class, or `failed` (no response: refused, reset, timed out). */
export const ATTEMPT_CLASSES = [...STATUS_CLASSES, 'failed'] as const;

/** Cache outcomes: the cache status header's words (filters/cache/status.ts), lower case, as the `status` label. */
export const CACHE_STATUSES = CACHE_OUTCOMES;
export const CACHE_HIT = 0;
export const CACHE_MISS = 1;
export const CACHE_EXPIRED = 2;
export const CACHE_STALE = 3;
export const CACHE_UPDATING = 4;
export const CACHE_REVALIDATED = 5;
export const CACHE_BYPASS = 6;

// Offsets inside one route slot (a server block + location + upstream).
export const R_CLASS = 0;
export const R_BUCKET = R_CLASS + STATUS_CLASSES.length;
export const R_SUM = R_BUCKET + BUCKETS;
export const R_BYTES = R_SUM + 1;
export const R_CACHE = R_BYTES + 1;
export const ROUTE_STRIDE = R_CACHE + CACHE_STATUSES.length;

// Offsets inside one peer slot (an upstream server).
export const P_CLASS = 0;
export const P_BUCKET = P_CLASS + ATTEMPT_CLASSES.length;
export const P_SUM = P_BUCKET + BUCKETS;
export const P_BYTES = P_SUM + 1;
export const P_RETRIES = P_BYTES + 1;
export const PEER_STRIDE = P_RETRIES + 1;

// Offsets inside one listener slot.
export const L_ACCEPTED = 0;
export const L_OPEN = 1;
export const LISTENER_STRIDE = 2;

// One cache zone slot: its outcomes, as in a route slot (a zone serves several locations).
export const ZONE_STRIDE = CACHE_STATUSES.length;

// What one cache zone holds (gauges, by zone slot): under workers each worker
// writes its own zones' use here (runtime/worker/zone-use.ts), and the sum of the
// stores is what all the workers hold. Unused with one thread (the stores are read).
export const U_BYTES = 0;
export const U_ENTRIES = 1;
export const ZONE_USE_STRIDE = 2;

/** Capacity of one buffer; past it, new labels share the last slot (labelled `other`). */
export const MAX_ROUTES = 1024;
export const MAX_PEERS = 1024;
export const MAX_LISTENERS = 64;
export const MAX_ZONES = 64;

const ROUTE_FLOATS = MAX_ROUTES * ROUTE_STRIDE;
const PEER_FLOATS = MAX_PEERS * PEER_STRIDE;
const LISTENER_FLOATS = MAX_LISTENERS * LISTENER_STRIDE;
const ZONE_FLOATS = MAX_ZONES * ZONE_STRIDE;
const ZONE_USE_FLOATS = MAX_ZONES * ZONE_USE_STRIDE;

/** The bucket a latency (seconds) falls in. */
export function bucketOf(seconds: number): number {
  let b = 0;
  while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]) b++;
  return b;
}

/** One thread's counters. */
export class MetricsStore {
  /** Bytes one store takes: allocate a SharedArrayBuffer of this size per worker. */
  static readonly byteLength = 8 * (ROUTE_FLOATS + PEER_FLOATS + LISTENER_FLOATS + ZONE_FLOATS + ZONE_USE_FLOATS);

  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly routes: Float64Array;
  readonly peers: Float64Array;
  readonly listeners: Float64Array;
  readonly zones: Float64Array;
  /** Cache zone use (U_BYTES, U_ENTRIES by zone slot), written under workers only. */
  readonly zoneUse: Float64Array;

  constructor(buffer: ArrayBuffer | SharedArrayBuffer = new ArrayBuffer(MetricsStore.byteLength)) {
    if (buffer.byteLength < MetricsStore.byteLength) throw new Error(`MetricsStore needs ${MetricsStore.byteLength} bytes, got ${buffer.byteLength}`);
    this.buffer = buffer;
    this.routes = new Float64Array(buffer, 0, ROUTE_FLOATS);
    this.peers = new Float64Array(buffer, 8 * ROUTE_FLOATS, PEER_FLOATS);
    this.listeners = new Float64Array(buffer, 8 * (ROUTE_FLOATS + PEER_FLOATS), LISTENER_FLOATS);
    this.zones = new Float64Array(buffer, 8 * (ROUTE_FLOATS + PEER_FLOATS + LISTENER_FLOATS), ZONE_FLOATS);
    this.zoneUse = new Float64Array(buffer, 8 * (ROUTE_FLOATS + PEER_FLOATS + LISTENER_FLOATS + ZONE_FLOATS), ZONE_USE_FLOATS);
  }

  /** A response went to the client (status 499 when the client left first). */
  request(slot: number, status: number, seconds: number, bytes: number): void {
    const a = this.routes;
    const base = slot * ROUTE_STRIDE;
    const c = (status / 100) | 0;
    a[base + R_CLASS + (c >= 1 && c <= 5 ? c - 1 : 4)]++;
    a[base + R_BUCKET + bucketOf(seconds)]++;
    a[base + R_SUM] += seconds;
    a[base + R_BYTES] += bytes;
  }

  /** One try on an upstream server; `status` 0 when it gave no response. */
  attempt(slot: number, status: number, seconds: number, bytes: number, retry: boolean): void {
    const a = this.peers;
    const base = slot * PEER_STRIDE;
    const c = (status / 100) | 0;
    a[base + P_CLASS + (c >= 1 && c <= 5 ? c - 1 : 5)]++;
    a[base + P_BUCKET + bucketOf(seconds)]++;
    a[base + P_SUM] += seconds;
    a[base + P_BYTES] += bytes;
    if (retry) a[base + P_RETRIES]++;
  }

  /** A cache outcome (CACHE_HIT … CACHE_BYPASS) on a route slot and on its zone's slot. */
  cache(slot: number, zone: number, status: number): void {
    this.routes[slot * ROUTE_STRIDE + R_CACHE + status]++;
    this.zones[zone * ZONE_STRIDE + status]++;
  }

  connectionOpened(slot: number): void {
    const base = slot * LISTENER_STRIDE;
    this.listeners[base + L_ACCEPTED]++;
    this.listeners[base + L_OPEN]++;
  }

  connectionClosed(slot: number): void {
    this.listeners[slot * LISTENER_STRIDE + L_OPEN]--;
  }

  /** The thread that counted into this store is gone: none of its connections is open any more. */
  closeListeners(): void {
    for (let i = L_OPEN; i < this.listeners.length; i += LISTENER_STRIDE) this.listeners[i] = 0;
  }
}

export interface RouteLabels { server: string; location: string; upstream: string }
export interface PeerLabels { upstream: string; server: string }

/**
 * Which slot each label set has. Every thread writing counters must use the same
 * layout: in workers, build it in the main thread and send `toJSON()` to each
 * worker (`MetricsLayout.fromJSON`), or feed every thread the same Plans in the
 * same order (slots are assigned deterministically, in route order).
 */
export class MetricsLayout {
  readonly routes: RouteLabels[] = [];
  readonly peers: PeerLabels[] = [];
  readonly listeners: string[] = [];
  /** Cache zones, by name. */
  readonly zones: string[] = [];
  /** The route slots of locations that cache, in a config loaded on this thread (for the exposition). */
  readonly cacheRoutes = new Set<number>();
  private readonly routeSlots = new Map<string, number>();
  private readonly peerSlots = new Map<string, number>();
  private readonly listenerSlots = new Map<string, number>();
  private readonly zoneSlots = new Map<string, number>();

  routeSlot(labels: RouteLabels): number {
    const key = `${labels.server}\0${labels.location}\0${labels.upstream}`;
    return slotFor(this.routeSlots, this.routes, key, labels, MAX_ROUTES, { server: 'other', location: 'other', upstream: 'other' });
  }

  /** A server by identity: `upstream/host:port`. */
  peerSlot(upstream: string, server: string): number {
    return slotFor(this.peerSlots, this.peers, `${upstream}/${server}`, { upstream, server }, MAX_PEERS, { upstream: 'other', server: 'other' });
  }

  listenerSlot(key: string): number {
    return slotFor(this.listenerSlots, this.listeners, key, key, MAX_LISTENERS, 'other');
  }

  zoneSlot(name: string): number {
    return slotFor(this.zoneSlots, this.zones, name, name, MAX_ZONES, 'other');
  }

  /** The peer slot of a server identity, or -1. */
  findPeer(upstream: string, server: string): number {
    return this.peerSlots.get(`${upstream}/${server}`) ?? -1;
  }

  toJSON(): { routes: RouteLabels[]; peers: PeerLabels[]; listeners: string[]; zones: string[] } {
    return { routes: this.routes, peers: this.peers, listeners: this.listeners, zones: this.zones };
  }

  static fromJSON(data: ReturnType<MetricsLayout['toJSON']>): MetricsLayout {
    const layout = new MetricsLayout();
    for (const r of data.routes) layout.routeSlot(r);
    for (const p of data.peers) layout.peerSlot(p.upstream, p.server);
    for (const l of data.listeners) layout.listenerSlot(l);
    for (const z of data.zones) layout.zoneSlot(z);
    return layout;
  }
}

function slotFor<T>(slots: Map<string, number>, labels: T[], key: string, value: T, max: number, other: T): number {
  const known = slots.get(key);
  if (known !== undefined) return known;
  if (labels.length >= max - 1) {
    if (labels.length === max - 1) labels.push(other);
    slots.set(key, max - 1);
    return max - 1;
  }
  slots.set(key, labels.length);
  labels.push(value);
  return labels.length - 1;
}

/** The counters of one process: its layout, its own store, and (under workers) the stores of the others. */
export class Metrics {
  readonly layout: MetricsLayout;
  /** The store this thread writes. */
  readonly store: MetricsStore;
  /** Every store to sum on a scrape; the workers' buffers are added here. */
  readonly stores: MetricsStore[];

  constructor(layout = new MetricsLayout(), store = new MetricsStore()) {
    this.layout = layout;
    this.store = store;
    this.stores = [store];
  }

  /** Sums every store into one (for a scrape or the status page). */
  sum(): MetricsStore {
    if (this.stores.length === 1) return this.stores[0];
    const total = new MetricsStore();
    for (const s of this.stores) {
      addInto(total.routes, s.routes);
      addInto(total.peers, s.peers);
      addInto(total.listeners, s.listeners);
      addInto(total.zones, s.zones);
      addInto(total.zoneUse, s.zoneUse);
    }
    return total;
  }
}

function addInto(into: Float64Array, from: Float64Array): void {
  for (let i = 0; i < into.length; i++) into[i] += from[i];
}
