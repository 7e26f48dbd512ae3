import { CacheEntry } from './entry.ts';

// One cache zone's store: entries by key (each key a list of Vary variants),
// one LRU list over all of them, and a byte count that never passes the limit.
// Bytes are reserved as a response arrives, before it is kept, so responses
// still being stored count too: whatever the traffic, `bytes <= limit`.

/** Request collapsing: the requests waiting for one key's fetch. */
export interface CacheLock {
  waiters: Array<() => void>;
}

export class CacheStore {
  readonly name: string;
  limit: number;
  maxObject: number;
  /** Bytes held: stored entries and those being stored. */
  bytes = 0;
  /** The most bytes ever held (for tests and metrics). */
  highWater = 0;
  private readonly keys = new Map<string, CacheEntry[]>();
  /** Effective request URI → the keys stored for it (invalidation, §4.4). */
  private readonly uris = new Map<string, Set<string>>();
  /** Most recently used first. */
  private head: CacheEntry | null = null;
  private tail: CacheEntry | null = null;
  private count = 0;
  readonly locks = new Map<string, CacheLock>();

  constructor(name: string, limit: number, maxObject: number) {
    this.name = name;
    this.limit = limit;
    this.maxObject = maxObject;
  }

  get entries(): number {
    return this.count;
  }

  /** The stored variant of `key` whose Vary headers match the request's (`value(name)`), most recently used; null when none. */
  find(key: string, value: (name: string) => string): CacheEntry | null {
    const variants = this.keys.get(key);
    if (variants === undefined) return null;
    for (let i = variants.length - 1; i >= 0; i--) {
      const e = variants[i];
      if (matches(e, value)) {
        this.touch(e);
        return e;
      }
    }
    return null;
  }

  /** Makes room for `n` more bytes, evicting the least recently used entries; false when even an empty store has no room. */
  reserve(n: number): boolean {
    while (this.bytes + n > this.limit && this.tail !== null) this.remove(this.tail);
    if (this.bytes + n > this.limit) return false;
    this.bytes += n;
    if (this.bytes > this.highWater) this.highWater = this.bytes;
    return true;
  }

  release(n: number): void {
    this.bytes -= n;
  }

  /** Keeps a complete entry whose bytes were reserved; it replaces the variant with the same Vary values. */
  insert(entry: CacheEntry): void {
    let variants = this.keys.get(entry.key);
    if (variants === undefined) {
      variants = [];
      this.keys.set(entry.key, variants);
    }
    for (let i = variants.length - 1; i >= 0; i--) {
      if (sameVariant(variants[i], entry)) this.remove(variants[i]);
    }
    // remove() may have dropped the list when it emptied.
    if (!this.keys.has(entry.key)) this.keys.set(entry.key, variants);
    variants.push(entry);
    let keys = this.uris.get(entry.uri);
    if (keys === undefined) {
      keys = new Set();
      this.uris.set(entry.uri, keys);
    }
    keys.add(entry.key);
    entry.stored = true;
    this.count++;
    this.link(entry);
  }

  /** Drops an entry and gives its bytes back. */
  remove(entry: CacheEntry): void {
    if (!entry.stored) return;
    entry.stored = false;
    this.count--;
    this.unlink(entry);
    this.bytes -= entry.bytes;
    const variants = this.keys.get(entry.key);
    if (variants !== undefined) {
      const i = variants.indexOf(entry);
      if (i >= 0) variants.splice(i, 1);
      if (variants.length === 0) {
        this.keys.delete(entry.key);
        const keys = this.uris.get(entry.uri);
        if (keys !== undefined) {
          keys.delete(entry.key);
          if (keys.size === 0) this.uris.delete(entry.uri);
        }
      }
    }
  }

  /** Removes every variant of `key`; returns how many there were. */
  purge(key: string): number {
    const variants = this.keys.get(key);
    if (variants === undefined) return 0;
    const n = variants.length;
    for (const e of [...variants]) this.remove(e);
    return n;
  }

  /** Removes what is stored for an effective request URI, whatever its key (§4.4). */
  invalidate(uri: string): number {
    const keys = this.uris.get(uri);
    if (keys === undefined) return 0;
    let n = 0;
    for (const key of [...keys]) n += this.purge(key);
    return n;
  }

  /** A reload changed the zone's size: evict down to the new limit. */
  resize(limit: number, maxObject: number): void {
    this.limit = limit;
    this.maxObject = maxObject;
    while (this.bytes > this.limit && this.tail !== null) this.remove(this.tail);
  }

  clear(): void {
    while (this.tail !== null) this.remove(this.tail);
  }

  private touch(e: CacheEntry): void {
    if (this.head === e) return;
    this.unlink(e);
    this.link(e);
  }

  private link(e: CacheEntry): void {
    e.prev = null;
    e.next = this.head;
    if (this.head !== null) this.head.prev = e;
    this.head = e;
    if (this.tail === null) this.tail = e;
  }

  private unlink(e: CacheEntry): void {
    if (e.prev !== null) e.prev.next = e.next;
    else if (this.head === e) this.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else if (this.tail === e) this.tail = e.prev;
    e.prev = null;
    e.next = null;
  }
}

function matches(e: CacheEntry, value: (name: string) => string): boolean {
  const names = e.varyNames;
  for (let i = 0; i < names.length; i++) if (normalizeVary(value(names[i])) !== e.varyValues[i]) return false;
  return true;
}

function sameVariant(a: CacheEntry, b: CacheEntry): boolean {
  if (a.varyNames.length !== b.varyNames.length) return false;
  for (let i = 0; i < a.varyNames.length; i++) if (a.varyNames[i] !== b.varyNames[i] || a.varyValues[i] !== b.varyValues[i]) return false;
  return true;
}

/** §4.1 allows normalizing what does not change the meaning: white space around commas and at the ends. */
export function normalizeVary(value: string): string {
  return value.indexOf(',') < 0 ? value.trim() : value.split(',').map((v) => v.trim()).join(',');
}

/** The header names of a Vary value, lower case, sorted so that the order written does not matter. */
export function varyNames(vary: string | null): string[] {
  if (vary === null) return [];
  const names = new Set<string>();
  for (const part of vary.split(',')) {
    const n = part.trim().toLowerCase();
    if (n !== '') names.add(n);
  }
  return [...names].sort();
}
