import { chunkBytes, CacheEntry } from './entry.ts';

// One cache zone's store: entries by key (each key a list of Vary variants),
// one LRU list over all of them, and a byte count that never passes the limit.
// Bytes are reserved as a response arrives, before it is kept, so responses
// still being stored count too: whatever the traffic, `bytes <= limit`. What
// an entry is counted as (entry.ts) is what it takes in memory, so the store
// keeps its own lists lean: a key's one variant in a list of one, a URI's one
// key as itself rather than in a Set.

/**
 * What a request presents for the headers a stored response's Vary names
 * (RFC 9111 §4.1): for a lower-case name, the value ('' when none), or null
 * when it cannot say (then no variant is chosen).
 */
export interface VaryValues {
  value(name: string): string | null;
}

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
  /** Effective request URI → the key stored for it, or the keys when there are several (invalidation, §4.4). */
  private readonly uris = new Map<string, string | Set<string>>();
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

  /** The stored variant of `key` whose Vary headers match the request's, most recently used; null when none. */
  find(key: string, request: VaryValues): CacheEntry | null {
    const variants = this.keys.get(key);
    if (variants === undefined) return null;
    for (let i = variants.length - 1; i >= 0; i--) {
      const e = variants[i];
      if (matches(e, request)) {
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

  /**
   * Starts storing an entry whose status and headers are set: reserves what it
   * costs without a body (entry.bytes). false when that finds no room; then
   * nothing is reserved. (max_object bounds the body: append.)
   */
  begin(entry: CacheEntry): boolean {
    const fixed = entry.fixedBytes();
    // More than the whole zone: refused before it evicts anything.
    if (fixed > this.limit || !this.reserve(fixed)) return false;
    entry.bytes = fixed;
    return true;
  }

  /**
   * Adds a chunk of body to an entry being stored, as a copy of its own (the
   * chunk may be a view into a larger socket buffer that storing it would keep
   * alive), with its bytes reserved. false when the body would pass max_object
   * or there is no room: nothing is added, and the caller gives the entry up.
   */
  append(entry: CacheEntry, chunk: Buffer): boolean {
    const cost = chunkBytes(chunk.length);
    if (entry.size + chunk.length > this.maxObject || !this.reserve(cost)) return false;
    const copy = Buffer.allocUnsafeSlow(chunk.length);
    chunk.copy(copy);
    entry.chunks.push(copy);
    entry.size += chunk.length;
    entry.bytes += cost;
    return true;
  }

  /** Gives up storing an entry: the bytes reserved for it are given back. */
  abandon(entry: CacheEntry): void {
    this.release(entry.bytes);
    entry.bytes = 0;
  }

  /** Keeps an entry whose whole body arrived (begin, append): it replaces the stored variant with the same Vary values. */
  commit(entry: CacheEntry): void {
    entry.complete = true;
    // Pushing grew the list with room to spare: keep it at its length.
    if (entry.chunks.length > 0) entry.chunks = entry.chunks.slice();
    this.insert(entry);
  }

  /** Keeps a complete entry whose bytes (entry.bytes) were reserved; it replaces the variant with the same Vary values. */
  insert(entry: CacheEntry): void {
    let variants = this.keys.get(entry.key);
    if (variants !== undefined) {
      for (let i = variants.length - 1; i >= 0; i--) {
        if (sameVariant(variants[i], entry)) this.remove(variants[i]);
      }
    }
    // remove() may have dropped the list when it emptied.
    variants = this.keys.get(entry.key);
    if (variants === undefined) this.keys.set(entry.key, [entry]);
    else variants.push(entry);
    const keys = this.uris.get(entry.uri);
    if (keys === undefined) this.uris.set(entry.uri, entry.key);
    else if (typeof keys === 'string') { if (keys !== entry.key) this.uris.set(entry.uri, new Set([keys, entry.key])); }
    else keys.add(entry.key);
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
        if (keys === entry.key) this.uris.delete(entry.uri);
        else if (typeof keys === 'object') {
          keys.delete(entry.key);
          if (keys.size === 1) this.uris.set(entry.uri, keys.values().next().value!);
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
    if (typeof keys === 'string') return this.purge(keys);
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

function matches(e: CacheEntry, request: VaryValues): boolean {
  const names = e.varyNames;
  for (let i = 0; i < names.length; i++) {
    const v = request.value(names[i]);
    if (v === null || normalizeVary(v) !== e.varyValues[i]) return false;
  }
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

/** `uri` resolved against `base`, in the form entries record their URI (for invalidation and the admin API's purge by URL); null when it is not a URL. */
export function canonical(uri: string, base: string): string | null {
  try {
    const u = new URL(uri, base);
    return `${u.protocol}//${u.host}${u.pathname}${u.search}`;
  } catch {
    return null;
  }
}
