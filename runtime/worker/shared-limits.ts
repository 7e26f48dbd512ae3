import type { LimitStore } from '../core/limit-store.ts';

// limit_req and limit_conn state shared by every worker: a fixed-size hash table
// in one SharedArrayBuffer per zone, with the same algorithm as MemoryLimitStore.
//
// The table is set-associative: a key hashes to one bucket of WAYS slots, and one
// lock per bucket (an Int32 taken with Atomics.compareExchange) guards the bucket's
// slots, so an update is a few loads and stores under a lock nobody holds for long.
// A new key takes a free slot of its bucket or evicts the bucket's least recently
// used idle key (nginx evicts the zone's least recently used key; here the choice is
// among WAYS keys, which is close when buckets are many). A key is identified by a
// 64-bit hash of its text (two independent 32-bit hashes): two keys of one zone
// would have to collide on both to share a bucket entry, odds of about n²/2⁶⁵.

const WAYS = 8;
/** Int32 fields per slot: hash a, hash b (both 0: empty), requests in flight (limit_conn). */
const I32_PER_SLOT = 3;
/** Float64 fields per slot: excess, last (ms), used (ms, for LRU). */
const F64_PER_SLOT = 3;
/** Spins before a bucket lock is taken as abandoned (its holder died in a section a few stores long). */
/** How long a bucket lock may be held before its holder is taken for dead. */
const TAKEOVER_MS = 100;

function layout(buckets: number): { f64: number; locks: number; i32: number; bytes: number } {
  const slots = buckets * WAYS;
  const f64 = 0;
  const locks = 8 * F64_PER_SLOT * slots;
  const i32 = locks + 4 * buckets;
  return { f64, locks, i32, bytes: i32 + 4 * I32_PER_SLOT * slots };
}

/** Buckets for `keys` keys: a power of two, at least keys / WAYS (so the table holds `keys` keys or more). */
function bucketsFor(keys: number): number {
  let b = 1;
  while (b * WAYS < keys) b <<= 1;
  return b;
}

/** Two 32-bit hashes of a short string (FNV-1a and a multiply-rotate variant), never both 0. No allocation. */
function hashA(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h | 0;
}

function hashB(key: string): number {
  let h = 0x9e3779b9 ^ key.length;
  for (let i = 0; i < key.length; i++) {
    h = Math.imul(h ^ key.charCodeAt(i), 0x85ebca6b);
    h = (h << 13) | (h >>> 19);
  }
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 13)) | 1; // odd: a used slot never reads as empty
}

export class SharedLimitStore implements LimitStore {
  readonly buffer: SharedArrayBuffer;
  private readonly buckets: number;
  private readonly f: Float64Array;
  private readonly locks: Int32Array;
  private readonly h: Int32Array;

  /** A table for about `keys` keys; pass `buffer` (from bytesFor) to attach to another thread's. */
  constructor(keys: number, buffer?: SharedArrayBuffer) {
    this.buckets = buffer ? SharedLimitStore.bucketsIn(buffer) : bucketsFor(Math.max(1, keys));
    const l = layout(this.buckets);
    this.buffer = buffer ?? new SharedArrayBuffer(l.bytes);
    this.f = new Float64Array(this.buffer, l.f64, F64_PER_SLOT * this.buckets * WAYS);
    this.locks = new Int32Array(this.buffer, l.locks, this.buckets);
    this.h = new Int32Array(this.buffer, l.i32, I32_PER_SLOT * this.buckets * WAYS);
  }

  /** The bucket count a buffer was made for (its size determines it). */
  private static bucketsIn(buffer: SharedArrayBuffer): number {
    let b = 1;
    while (layout(b).bytes < buffer.byteLength) b <<= 1;
    if (layout(b).bytes !== buffer.byteLength) throw new Error('not a shared limit table');
    return b;
  }

  get size(): number {
    let n = 0;
    for (let s = 0; s < this.buckets * WAYS; s++) if (this.h[s * I32_PER_SLOT] !== 0 || this.h[s * I32_PER_SLOT + 1] !== 0) n++;
    return n;
  }

  /** A spinlock per bucket; a holder that keeps it for TAKEOVER_MS is taken for dead (a terminated worker) and the lock taken over. */
  private lock(b: number): void {
    let deadline = 0;
    for (let spins = 1; Atomics.compareExchange(this.locks, b, 0, 1) !== 0; spins++) {
      if ((spins & 1023) !== 0) continue;
      const now = Date.now();
      if (deadline === 0) deadline = now + TAKEOVER_MS;
      else if (now >= deadline) return;
    }
  }

  private unlock(b: number): void {
    Atomics.store(this.locks, b, 0);
  }

  /** The slot of (a, b) in bucket `bucket`, or -1. Caller holds the lock. */
  private find(bucket: number, a: number, b: number): number {
    const h = this.h;
    for (let w = 0; w < WAYS; w++) {
      const s = bucket * WAYS + w;
      if (h[s * I32_PER_SLOT] === a && h[s * I32_PER_SLOT + 1] === b) return s;
    }
    return -1;
  }

  /**
   * A slot for a new key: a free one, else the least recently used with nothing in
   * flight (`evict`), else -1 (every slot has requests in flight: the zone is full).
   */
  private claim(bucket: number, a: number, b: number, now: number, evict: boolean): number {
    const h = this.h;
    let victim = -1;
    let oldest = Infinity;
    for (let w = 0; w < WAYS; w++) {
      const s = bucket * WAYS + w;
      const i = s * I32_PER_SLOT;
      if (h[i] === 0 && h[i + 1] === 0) { victim = s; break; }
      if (evict && h[i + 2] === 0 && this.f[s * F64_PER_SLOT + 2] < oldest) { oldest = this.f[s * F64_PER_SLOT + 2]; victim = s; }
    }
    if (victim < 0) return -1;
    const i = victim * I32_PER_SLOT;
    h[i] = a;
    h[i + 1] = b;
    h[i + 2] = 0;
    const j = victim * F64_PER_SLOT;
    this.f[j] = 0;
    this.f[j + 1] = now;
    this.f[j + 2] = now;
    return victim;
  }

  take(key: string, rate: number, burst: number, now: number): number {
    const a = hashA(key);
    const b = hashB(key);
    const bucket = (a >>> 0) & (this.buckets - 1);
    this.lock(bucket);
    let result: number;
    const s = this.find(bucket, a, b);
    if (s < 0) {
      // A key not seen (or evicted): its first request goes through, as in nginx.
      this.claim(bucket, a, b, now, true);
      result = 0;
    } else {
      const j = s * F64_PER_SLOT;
      // nginx: excess = previous excess + this request − what drained since; never below 0.
      const excess = Math.max(0, this.f[j] + 1 - (rate * Math.max(0, now - this.f[j + 1])) / 1000);
      if (excess > burst + 1e-9) {
        result = -1 - Math.ceil(((excess - burst) * 1000) / rate);
      } else {
        this.f[j] = excess;
        this.f[j + 1] = now;
        this.f[j + 2] = now;
        result = excess;
      }
    }
    this.unlock(bucket);
    return result;
  }

  acquire(key: string, max: number): boolean {
    const a = hashA(key);
    const b = hashB(key);
    const bucket = (a >>> 0) & (this.buckets - 1);
    this.lock(bucket);
    let s = this.find(bucket, a, b);
    // Keys with requests in flight are never evicted: a full bucket refuses new keys, as nginx's full zone does.
    if (s < 0) s = this.claim(bucket, a, b, Date.now(), true);
    let ok = false;
    if (s >= 0) {
      const i = s * I32_PER_SLOT + 2;
      if (this.h[i] < max) { this.h[i]++; ok = true; }
    }
    this.unlock(bucket);
    return ok;
  }

  release(key: string): void {
    const a = hashA(key);
    const b = hashB(key);
    const bucket = (a >>> 0) & (this.buckets - 1);
    this.lock(bucket);
    const s = this.find(bucket, a, b);
    if (s >= 0) {
      const i = s * I32_PER_SLOT;
      // A key with nothing in flight has no state worth keeping.
      if (this.h[i + 2] <= 1) { this.h[i] = 0; this.h[i + 1] = 0; this.h[i + 2] = 0; } else this.h[i + 2]--;
    }
    this.unlock(bucket);
  }
}

/**
 * The zones' tables by name. The main thread creates them (its ZoneRegistry's factory)
 * and sends `buffers()` with each Plan; a worker's factory attaches to those.
 */
export class SharedZones {
  private readonly tables = new Map<string, SharedArrayBuffer>();

  /** Main thread: a new table for zone `name`. */
  create(name: string, keys: number): SharedLimitStore {
    const store = new SharedLimitStore(keys);
    this.tables.set(name, store.buffer);
    return store;
  }

  /** A worker: the tables of the Plan being prepared. */
  use(buffers: ReadonlyArray<readonly [string, SharedArrayBuffer]>): void {
    this.tables.clear();
    for (const [name, buffer] of buffers) this.tables.set(name, buffer);
  }

  /** A worker: the table the main thread made for zone `name`. */
  attach(name: string): SharedLimitStore {
    const buffer = this.tables.get(name);
    if (!buffer) throw new Error(`worker: no shared state for zone ${name}`);
    return new SharedLimitStore(0, buffer);
  }

  buffers(): [string, SharedArrayBuffer][] {
    return [...this.tables];
  }
}
