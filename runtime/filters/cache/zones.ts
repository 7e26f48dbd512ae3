import type { CacheZoneIR } from '../../../compiler/ir.ts';
import { CacheStore, canonical } from './store.ts';

// The cache stores by zone name. They live outside any Plan: a reload keeps a
// zone's entries (resized if its size changed); a zone no config uses is dropped.

/** What a purge removes: every variant stored under a key, or everything stored for an absolute URL. */
export type PurgeTarget = { key: string } | { url: string };

/** How a purge went on the other workers: entries removed, and how many of them answered in time. */
export interface PurgeElsewhere {
  purged: number;
  workers: number;
  answered: number;
}

/** The other workers' zones, reached through the main thread. */
export interface OtherWorkers {
  /** The purge method: removes every variant of `key`; resolves with how that went. */
  purge(zone: string, key: string): Promise<PurgeElsewhere>;
  /** An unsafe method (RFC 9111 §4.4): removes what is stored for these effective request URIs; no answer is waited for. */
  invalidate(zone: string, uris: readonly string[]): void;
}

export class CacheZones {
  private readonly stores = new Map<string, CacheStore>();
  /**
   * Under `workers N`, each worker's zones are its own: what the purge method or
   * an unsafe method removes from this worker's store is then removed from the
   * other workers' too. Null with one thread.
   */
  others: OtherWorkers | null = null;

  /** The store of a zone, made on first use. */
  get(zone: CacheZoneIR): CacheStore {
    let store = this.stores.get(zone.name);
    if (store === undefined) {
      store = new CacheStore(zone.name, zone.size, zone.maxObject);
      this.stores.set(zone.name, store);
    } else if (store.limit !== zone.size || store.maxObject !== zone.maxObject) {
      store.resize(zone.size, zone.maxObject);
    }
    return store;
  }

  /** The store named, if a loaded config uses it. */
  store(name: string): CacheStore | undefined {
    return this.stores.get(name);
  }

  names(): string[] {
    return [...this.stores.keys()];
  }

  /** Removes every variant stored under `key` in `zone` (for the admin API); how many were removed, or -1 when no such zone. */
  purge(zone: string, key: string): number {
    const store = this.stores.get(zone);
    return store === undefined ? -1 : store.purge(key);
  }

  /** Removes what is stored for an absolute URL in `zone`, whatever the keys (for the admin API); how many, or -1 when no such zone. */
  invalidate(zone: string, url: string): number {
    const store = this.stores.get(zone);
    if (store === undefined) return -1;
    const uri = canonical(url, 'http://localhost');
    return uri === null ? 0 : store.invalidate(uri);
  }

  /** `purge` or `invalidate`, as `what` says. */
  remove(zone: string, what: PurgeTarget): number {
    return 'key' in what ? this.purge(zone, what.key) : this.invalidate(zone, what.url);
  }

  /** Drops the zones no longer used after a reload. */
  retain(names: ReadonlySet<string>): void {
    for (const [name, store] of this.stores) {
      if (names.has(name)) continue;
      store.clear();
      this.stores.delete(name);
    }
  }
}
