import type { CacheZones } from '../filters/cache/zones.ts';
import { U_BYTES, U_ENTRIES, ZONE_USE_STRIDE, type Metrics } from '../observe/metrics.ts';

// Under `workers N` each worker's cache zones are its own, out of the main
// thread's sight. The worker writes what they hold (bytes, entries) into its
// metrics buffer, where /status and /metrics sum it over the workers along with
// the counters: a scrape needs no round trip to the workers.

/** How often a worker writes its zones' use (and at once after a purge or a reload): what /status shows is at most this old. */
export const ZONE_USE_INTERVAL_MS = 1000;

export class ZoneUse {
  private readonly zones: CacheZones;
  private readonly metrics: Metrics;
  /** Built whole, then copied in one set(): the main thread never reads a zone as empty while it is rewritten. */
  private readonly scratch: Float64Array;

  constructor(zones: CacheZones, metrics: Metrics) {
    this.zones = zones;
    this.metrics = metrics;
    this.scratch = new Float64Array(metrics.store.zoneUse.length);
  }

  publish(): void {
    const s = this.scratch;
    s.fill(0);
    const slots = this.metrics.layout.zones;
    for (const name of this.zones.names()) {
      // Looked up, never assigned here: a new slot in one worker only would shift the others' numbering.
      const slot = slots.indexOf(name);
      if (slot < 0) continue;
      const store = this.zones.store(name)!;
      s[slot * ZONE_USE_STRIDE + U_BYTES] += store.bytes;
      s[slot * ZONE_USE_STRIDE + U_ENTRIES] += store.entries;
    }
    this.metrics.store.zoneUse.set(s);
  }
}
