// The selection-policy interface and the per-server state every method shares.
//
// A `PeerSet` is one upstream's servers as a struct of typed arrays laid over a single
// buffer, so that moving it into a SharedArrayBuffer (one set per upstream, shared by all
// workers and updated with Atomics) is a change of storage, not of logic. Balancers keep
// only small private scratch (cursors, schedules, trees) next to it.
//
// The hot path is `pick()`: no allocation, no closures, no string work beyond what a hash
// method must do with its key. See spec/balancing.md for the normative semantics.

/** Serving normally. */
export const PEER_UP = 0;
/** `down` in the config: never picked. */
export const PEER_DOWN = 1;
/** Failed its active health check: not picked until it passes again. */
export const PEER_UNHEALTHY = 2;
/** Being removed (reload) or drained by an operator: finishes in-flight requests, takes no new ones. */
export const PEER_DRAINING = 3;
export type PeerState = typeof PEER_UP | typeof PEER_DOWN | typeof PEER_UNHEALTHY | typeof PEER_DRAINING;

/** The smallest share of its weight a server in slow start gets (so it is never starved at t=0). */
export const MIN_RAMP = 0.01;

/** One configured server, as the compiler describes it. */
export interface ServerSpec {
  /** Stable identity across reloads and instances: `upstream/host:port`. */
  readonly id: string;
  /** Relative share, > 0 (nginx `weight=`, integers in the config). */
  readonly weight: number;
  readonly backup: boolean;
  readonly down: boolean;
  /** Most requests in flight at once; 0 or absent: no limit (nginx `max_conns=`). */
  readonly maxConns?: number;
  /** Ramp the weight up linearly over this long after the server comes back; 0: off. */
  readonly slowStartMs?: number;
  /** Failures within `failTimeoutMs` that take the server out; 0 turns passive checks off. Default 1. */
  readonly maxFails?: number;
  /** The failure window, and how long the server then stays out. Default 10 000 ms. */
  readonly failTimeoutMs?: number;
}

/**
 * What a method may need to choose. The proxy fills one object per request (or reuses one);
 * methods read only the fields they need.
 */
export interface PickRequest {
  /** Milliseconds on a clock shared by every caller of this balancer (Date.now() across workers). */
  now: number;
  /** The evaluated `hash KEY` for hash methods; ignored by the others. */
  key: string;
  /** The client address as Node reports it (`1.2.3.4`, `::ffff:1.2.3.4`, `2001:db8::1`) for ip_hash. */
  clientAddr: string;
}

/** A selection policy over one PeerSet. */
export interface Balancer {
  /** The method name, for logs and the admin endpoint. */
  readonly method: string;
  readonly peers: PeerSet;
  /**
   * A server index, or -1 when no server is available. Never a `down`, unhealthy, draining,
   * failed-out or full (`max_conns`) server, never one in `tried`; a backup only when no
   * primary qualifies. Allocates nothing.
   */
  pick(request: PickRequest, tried: TriedSet): number;
  /** The request was sent to `index`. */
  onStart(index: number, now: number): void;
  /** The request on `index` finished after `latencyMs`; `ok` false counts toward `max_fails`. */
  onEnd(index: number, latencyMs: number, ok: boolean, now: number): void;
}

/** Greatest common divisor, for reducing integer weights. */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** A uniform random number in [0, 1). Injected so tests are deterministic. */
export type Rng = () => number;

/** xoshiro128** over a 4-word state; allocation-free per call (state lives in a typed array). */
function xoshiro128(state: Int32Array): Rng {
  return () => {
    const s0 = state[0];
    const s1 = state[1];
    const s2 = state[2] ^ s0;
    const s3 = state[3] ^ s1;
    const m = Math.imul(s1, 5);
    const r = Math.imul((m << 7) | (m >>> 25), 9);
    state[0] = s0 ^ s3;
    state[1] = s1 ^ s2;
    state[2] = s2 ^ (s1 << 9);
    state[3] = (s3 << 11) | (s3 >>> 21);
    return (r >>> 0) / 4294967296;
  };
}

/** A seeded PRNG (xoshiro128**, seeded by splitmix32): deterministic for tests. */
export function seededRng(seed: number): Rng {
  const state = new Int32Array(4);
  let x = seed | 0;
  for (let k = 0; k < 4; k++) {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    state[k] = z ^ (z >>> 16);
  }
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1;
  return xoshiro128(state);
}

/**
 * The default randomness: xoshiro128** seeded from the OS. Not Math.random, which allocates
 * (V8 refills its cache on the heap) and so would break "pick() allocates nothing".
 * Good for spreading load; not for secrets.
 */
export const defaultRng: Rng = (() => {
  const state = new Int32Array(4);
  do globalThis.crypto.getRandomValues(state);
  while ((state[0] | state[1] | state[2] | state[3]) === 0);
  return xoshiro128(state);
})();

/**
 * The servers one request has already been sent to, so failover never repeats a server while
 * another is available. A bitset plus a member list: `has` is O(1), `clear` O(members).
 * Make one per in-flight request (or pool them) with `peers.newTried()`.
 */
export class TriedSet {
  readonly bits: Uint32Array;
  readonly list: Int32Array;
  size: number;

  constructor(capacity: number) {
    this.bits = new Uint32Array(Math.max(1, (capacity + 31) >>> 5));
    this.list = new Int32Array(Math.max(1, capacity));
    this.size = 0;
  }

  has(index: number): boolean {
    return (this.bits[index >>> 5] & (1 << (index & 31))) !== 0;
  }

  add(index: number): void {
    const w = index >>> 5;
    const bit = 1 << (index & 31);
    if ((this.bits[w] & bit) !== 0) return;
    this.bits[w] |= bit;
    this.list[this.size++] = index;
  }

  clear(): void {
    for (let k = 0; k < this.size; k++) this.bits[this.list[k] >>> 5] = 0;
    this.size = 0;
  }
}

const F64_FIELDS = 7; // weight, slowStartMs, failTimeoutMs, upSince, lastFailAt, ewma, ewmaAt
const I32_FIELDS = 4; // inflight, maxConns, maxFails, fails
const U8_FIELDS = 2; // state, backup
const META64 = 1; // nextChangeAt
const META32 = 2; // version, totalInflight
const SEQ_FIELDS = 1; // one seqlock per server, plus one (index n) for meta64

/** Spins before a seqlock is taken as abandoned (its holder died mid-write; the sections are a few stores long). */
/** The most worker threads (the `workers` directive's limit): one in-flight ledger row each. */
export const MAX_WORKERS = 256;

/** How long a seqlock may stay taken before its holder is taken for dead (see lock()). */
const TAKEOVER_MS = 100;

function align8(x: number): number {
  return (x + 7) & ~7;
}

/**
 * One upstream's servers and their live state. Indices are positions in the server list
 * the set was built from; identities (`ids`) are what survives a reload.
 */
export class PeerSet {
  readonly n: number;
  readonly ids: readonly string[];
  readonly buffer: ArrayBuffer | SharedArrayBuffer;

  // Configuration (written once).
  readonly weight: Float64Array;
  readonly slowStartMs: Float64Array;
  readonly failTimeoutMs: Float64Array;
  readonly maxConns: Int32Array;
  readonly maxFails: Int32Array;
  readonly backup: Uint8Array;
  /** Server indices of the primaries and the backups, in config order. */
  readonly primaries: Int32Array;
  readonly backups: Int32Array;

  // Live state.
  /** PEER_UP / PEER_DOWN / PEER_UNHEALTHY / PEER_DRAINING. Change it with setState(). */
  readonly state: Uint8Array;
  readonly inflight: Int32Array;
  /** Failures counted in the current window (passive health, nginx `max_fails`). */
  readonly fails: Int32Array;
  readonly lastFailAt: Float64Array;
  /** When the server last came back up (slow start ramps from here); -Infinity: no ramp. */
  readonly upSince: Float64Array;
  /** Peak-EWMA latency in ms (least_busy); negative: no sample yet. */
  readonly ewma: Float64Array;
  readonly ewmaAt: Float64Array;
  /** [nextChangeAt]: the earliest time a failed-out server comes back. */
  readonly meta64: Float64Array;
  /** [version, totalInflight]. Version bumps whenever availability changes other than by inflight. */
  readonly meta32: Int32Array;
  /**
   * Seqlocks: seq[i] guards server i's Float64 fields and `fails`, seq[n] guards meta64.
   * Atomics cannot operate on Float64Array, and a plain 8-byte float store may tear
   * across threads, so every read-modify-write of those fields (passive failures, EWMA,
   * slow-start time) runs with the lock odd, and hot-path readers retry on a change of the
   * sequence number instead of locking: a read costs two Atomics.load, allocates nothing,
   * and the values keep their Float64 precision (fixed point in Int32 would not hold epoch
   * milliseconds; BigInt64 would allocate per read). Integer fields (inflight, version,
   * totalInflight, state) use Atomics directly. On a plain ArrayBuffer (one thread) the same
   * code runs; the atomics are uncontended.
   */
  readonly seq: Int32Array;
  /** The sequence number this thread set when it took each lock (this object is per thread; the array is not shared). */
  private readonly held: Int32Array;
  /** True when the storage is a SharedArrayBuffer other threads may be updating. */
  readonly shared: boolean;
  /**
   * Requests in flight by worker and server (`worker * n + i`): what a worker that dies
   * was holding, so that the main thread can take it back out of `inflight`.
   */
  private readonly ledger: Int32Array;
  /** The worker this thread is (0…MAX_WORKERS-1), or -1 where no ledger is kept (one thread, the main thread). */
  worker = -1;

  private readonly byId: Map<string, number>;

  /** Bytes needed for n servers (for allocating a SharedArrayBuffer). */
  static byteLength(n: number): number {
    return align8(8 * (F64_FIELDS * n + META64) + 4 * (I32_FIELDS * n + META32 + SEQ_FIELDS * (n + 1) + MAX_WORKERS * n) + U8_FIELDS * n);
  }

  /**
   * @param servers the upstream's servers, in config order.
   * @param buffer optional storage (e.g. a SharedArrayBuffer of `PeerSet.byteLength(n)` bytes).
   * @param initialize false to attach to a buffer another worker already initialized.
   */
  constructor(servers: readonly ServerSpec[], buffer?: ArrayBuffer | SharedArrayBuffer, initialize = true) {
    const n = servers.length;
    this.n = n;
    this.ids = servers.map((s) => s.id);
    this.byId = new Map();
    for (let i = 0; i < n; i++) {
      if (this.byId.has(this.ids[i])) throw new Error(`duplicate server identity ${this.ids[i]}`);
      this.byId.set(this.ids[i], i);
    }
    const bytes = PeerSet.byteLength(n);
    if (buffer && buffer.byteLength < bytes) throw new Error(`PeerSet needs ${bytes} bytes, got ${buffer.byteLength}`);
    this.buffer = buffer ?? new ArrayBuffer(bytes);
    this.shared = typeof SharedArrayBuffer !== 'undefined' && this.buffer instanceof SharedArrayBuffer;
    let off = 0;
    const f64 = (len: number): Float64Array => {
      const a = new Float64Array(this.buffer, off, len);
      off += 8 * len;
      return a;
    };
    const i32 = (len: number): Int32Array => {
      const a = new Int32Array(this.buffer, off, len);
      off += 4 * len;
      return a;
    };
    const u8 = (len: number): Uint8Array => {
      const a = new Uint8Array(this.buffer, off, len);
      off += len;
      return a;
    };
    this.weight = f64(n);
    this.slowStartMs = f64(n);
    this.failTimeoutMs = f64(n);
    this.upSince = f64(n);
    this.lastFailAt = f64(n);
    this.ewma = f64(n);
    this.ewmaAt = f64(n);
    this.meta64 = f64(META64);
    this.inflight = i32(n);
    this.maxConns = i32(n);
    this.maxFails = i32(n);
    this.fails = i32(n);
    this.meta32 = i32(META32);
    this.seq = i32(SEQ_FIELDS * (n + 1));
    this.ledger = i32(MAX_WORKERS * n);
    this.held = new Int32Array(SEQ_FIELDS * (n + 1));
    this.state = u8(n);
    this.backup = u8(n);

    let nb = 0;
    for (const s of servers) if (s.backup) nb++;
    this.primaries = new Int32Array(n - nb);
    this.backups = new Int32Array(nb);
    for (let i = 0, p = 0, b = 0; i < n; i++) {
      if (servers[i].backup) this.backups[b++] = i;
      else this.primaries[p++] = i;
    }

    // Attaching, the creator has written the configuration, and an operator's weight may have
    // replaced the configured one since (setWeight): leave it.
    for (let i = 0; i < n; i++) {
      const s = servers[i];
      if (!(s.weight > 0) || !Number.isFinite(s.weight)) throw new Error(`server ${s.id}: weight must be a positive number`);
      if (!initialize) continue;
      this.weight[i] = s.weight;
      this.slowStartMs[i] = Math.max(0, s.slowStartMs ?? 0);
      this.failTimeoutMs[i] = Math.max(0, s.failTimeoutMs ?? 10_000);
      this.maxConns[i] = Math.max(0, s.maxConns ?? 0);
      // nginx: a group of one server never marks it unavailable (max_fails and fail_timeout are ignored for it).
      this.maxFails[i] = n === 1 ? 0 : Math.max(0, s.maxFails ?? 1);
      this.backup[i] = s.backup ? 1 : 0;
    }
    if (!initialize) return;
    for (let i = 0; i < n; i++) {
      this.state[i] = servers[i].down ? PEER_DOWN : PEER_UP;
      this.inflight[i] = 0;
      this.fails[i] = 0;
      this.lastFailAt[i] = -Infinity;
      this.upSince[i] = -Infinity; // up since the start: no ramp at boot
      this.ewma[i] = -1;
      this.ewmaAt[i] = 0;
    }
    this.meta64[0] = Infinity;
    this.meta32[0] = 0;
    this.meta32[1] = 0;
    this.seq.fill(0);
  }

  /**
   * Takes seqlock `k` (a server index, or n for meta64): the sequence number goes odd.
   * A holder that keeps it odd for TAKEOVER_MS is taken for dead (a worker terminated in
   * the middle of its few stores; a thread merely preempted is back within milliseconds),
   * and the lock is taken over as it is.
   */
  lock(k: number): void {
    const seq = this.seq;
    let deadline = 0;
    for (let spins = 1; ; spins++) {
      const s = Atomics.load(seq, k);
      if ((s & 1) === 0) {
        if (Atomics.compareExchange(seq, k, s, s + 1) === s) { this.held[k] = s + 1; return; }
      } else if ((spins & 1023) === 0) {
        const now = Date.now();
        if (deadline === 0) deadline = now + TAKEOVER_MS;
        else if (now >= deadline) { this.held[k] = s; return; }
      }
    }
  }

  /**
   * Releases seqlock `k`: stores the even number after the one this thread took, rather than
   * adding one, so that even a taken-over lock ends even, and readers are never stuck.
   */
  unlock(k: number): void {
    Atomics.store(this.seq, k, this.held[k] + 1);
  }

  /** A seqlock read: waits out a writer, returns the sequence number to check with readEnd(). */
  readBegin(k: number): number {
    const seq = this.seq;
    let s = Atomics.load(seq, k);
    let deadline = 0;
    for (let spins = 1; (s & 1) !== 0; spins++) {
      if ((spins & 1023) === 0) {
        const now = Date.now();
        if (deadline === 0) deadline = now + TAKEOVER_MS;
        else if (now >= deadline) {
          // A dead writer left it odd: end its section for it, so reads can go on.
          Atomics.compareExchange(seq, k, s, s + 1);
        }
      }
      s = Atomics.load(seq, k);
    }
    return s;
  }

  /** True when nothing was written under seqlock `k` since readBegin returned `s`. */
  readEnd(k: number, s: number): boolean {
    return Atomics.load(this.seq, k) === s;
  }

  /** One Float64 field of server (or meta) `k`, read consistently under its seqlock. */
  private read(field: Float64Array, i: number, k: number): number {
    for (;;) {
      const s = this.readBegin(k);
      const v = field[i];
      if (this.readEnd(k, s)) return v;
    }
  }

  /** Bumps whenever a server's availability changes for a reason other than its inflight count. */
  get version(): number {
    return this.meta32[0];
  }

  /** Requests in flight over all servers. */
  get totalInflight(): number {
    return this.meta32[1];
  }

  /** The index of a server identity, or -1. */
  indexOf(id: string): number {
    return this.byId.get(id) ?? -1;
  }

  /** A TriedSet sized for this set. */
  newTried(): TriedSet {
    return new TriedSet(this.n);
  }

  /** Up, not failed out by passive checks. Ignores max_conns (which changes per request). */
  usable(i: number, now: number): boolean {
    if (this.state[i] !== PEER_UP) return false;
    const mf = this.maxFails[i];
    return mf === 0 || this.fails[i] < mf || now - this.read(this.lastFailAt, i, i) >= this.failTimeoutMs[i];
  }

  /** usable() and below max_conns: may take a new request now. */
  available(i: number, now: number): boolean {
    const mc = this.maxConns[i];
    return (mc === 0 || this.inflight[i] < mc) && this.usable(i, now);
  }

  /** available() and not already tried by this request. */
  eligible(i: number, now: number, tried: TriedSet): boolean {
    return !tried.has(i) && this.available(i, now);
  }

  /**
   * When passive checks have taken out every server a request could use, they
   * are tried again rather than refused for fail_timeout, as nginx does: their
   * failure counts are cleared (a server that fails again is out again). True
   * when a server came back this way. Servers down, drained or failing active
   * health checks stay out.
   */
  revive(now: number): boolean {
    let revived = false;
    for (let i = 0; i < this.n; i++) {
      const mf = this.maxFails[i];
      if (this.state[i] !== PEER_UP || mf === 0 || this.fails[i] < mf) continue;
      this.lock(i);
      if (this.fails[i] >= mf && now - this.lastFailAt[i] < this.failTimeoutMs[i]) {
        Atomics.store(this.fails, i, 0);
        revived = true;
      }
      this.unlock(i);
    }
    if (revived) Atomics.add(this.meta32, 0, 1);
    return revived;
  }

  /** Up, but taken out by passive checks until `failedUntil(i)`. */
  failedOut(i: number, now: number): boolean {
    return this.state[i] === PEER_UP && !this.usable(i, now);
  }

  /** When a server failed out by passive checks comes back (ms since the epoch). */
  failedUntil(i: number): number {
    return this.read(this.lastFailAt, i, i) + this.failTimeoutMs[i];
  }

  /** The slow-start factor in [MIN_RAMP, 1]: 1 unless the server came back less than slowStartMs ago. */
  rampFraction(i: number, now: number): number {
    const ss = this.slowStartMs[i];
    if (ss <= 0) return 1;
    const elapsed = now - this.read(this.upSince, i, i);
    if (elapsed >= ss) return 1;
    const f = elapsed / ss;
    return f > MIN_RAMP ? f : MIN_RAMP;
  }

  /** The configured weight scaled by slow start. */
  effectiveWeight(i: number, now: number): number {
    return this.weight[i] * this.rampFraction(i, now);
  }

  /** True while the server is ramping up (slow start). */
  ramping(i: number, now: number): boolean {
    const ss = this.slowStartMs[i];
    return ss > 0 && now - this.read(this.upSince, i, i) < ss;
  }

  /**
   * Set a server's state (health checks, drain, admin). A server that becomes UP starts its
   * slow-start ramp at `now`. A configured `down` server stays down.
   */
  setState(i: number, state: PeerState, now: number): void {
    this.lock(i);
    const prev = this.state[i];
    if (prev !== state) {
      Atomics.store(this.state, i, state);
      if (state === PEER_UP) {
        this.upSince[i] = now;
        Atomics.store(this.fails, i, 0);
      }
    }
    this.unlock(i);
    if (prev !== state) Atomics.add(this.meta32, 0, 1);
  }

  /** Health-check verdict: UP or UNHEALTHY (a `down` or draining server is left as it is). */
  setHealthy(i: number, healthy: boolean, now: number): void {
    const s = this.state[i];
    if (s === PEER_DOWN || s === PEER_DRAINING) return;
    this.setState(i, healthy ? PEER_UP : PEER_UNHEALTHY, now);
  }

  /** An operator's weight for server i (admin API): balancers rebuild on the version bump. */
  setWeight(i: number, weight: number): void {
    if (!(weight > 0) || !Number.isFinite(weight)) throw new RangeError(`weight must be a positive number (got ${weight})`);
    this.lock(i);
    this.weight[i] = weight;
    this.unlock(i);
    Atomics.add(this.meta32, 0, 1);
  }

  /** A request was sent to server i. */
  start(i: number): void {
    Atomics.add(this.inflight, i, 1);
    Atomics.add(this.meta32, 1, 1);
    if (this.worker >= 0) Atomics.add(this.ledger, this.worker * this.n + i, 1);
  }

  /**
   * A worker died: its requests in flight will never end, so they stop counting (else a
   * server at max_conns would stay full, and least_conn would shun it, until a restart).
   */
  releaseWorker(worker: number): void {
    for (let i = 0; i < this.n; i++) {
      const held = Atomics.exchange(this.ledger, worker * this.n + i, 0);
      if (held <= 0) continue;
      for (;;) {
        const v = Atomics.load(this.inflight, i);
        const left = Math.max(0, v - held);
        if (Atomics.compareExchange(this.inflight, i, v, left) === v) { Atomics.sub(this.meta32, 1, v - left); break; }
      }
    }
  }

  /**
   * A request on server i finished. Failures follow nginx `max_fails`/`fail_timeout`: `maxFails`
   * failures within `failTimeoutMs` take the server out for `failTimeoutMs`; after that one
   * request probes it, and a success brings it back (starting its slow-start ramp).
   */
  end(i: number, ok: boolean, now: number): void {
    if (Atomics.sub(this.inflight, i, 1) > 0) {
      Atomics.sub(this.meta32, 1, 1);
      if (this.worker >= 0) Atomics.sub(this.ledger, this.worker * this.n + i, 1);
    } else {
      Atomics.add(this.inflight, i, 1); // was already 0: never below
    }
    const mf = this.maxFails[i];
    if (mf === 0) return;
    // The common case, a success with no failures counted, takes no lock.
    if (ok && Atomics.load(this.fails, i) === 0) return;
    this.lock(i);
    let changed = false;
    let back = Infinity;
    if (ok) {
      if (this.fails[i] >= mf) {
        this.upSince[i] = now;
        changed = true;
      }
      Atomics.store(this.fails, i, 0);
    } else {
      const ft = this.failTimeoutMs[i];
      // Failures older than the window are forgotten, unless the server is already out.
      let f = this.fails[i];
      if (f < mf && now - this.lastFailAt[i] >= ft) f = 0;
      f++;
      this.lastFailAt[i] = now;
      Atomics.store(this.fails, i, f);
      if (f >= mf) {
        changed = true;
        back = now + ft;
      }
    }
    this.unlock(i);
    if (!changed) return;
    Atomics.add(this.meta32, 0, 1);
    if (back < Infinity) this.soonest(back);
  }

  /** Lowers nextChangeAt to `at` if it is later. */
  private soonest(at: number): void {
    const k = this.n;
    this.lock(k);
    if (at < this.meta64[0]) this.meta64[0] = at;
    this.unlock(k);
  }

  /**
   * Bump the version when a failed-out server's time is up, so balancers that cache the
   * available set rebuild it. O(1) unless something is due.
   */
  sync(now: number): void {
    if (now < this.read(this.meta64, 0, this.n)) return;
    // Scanned under the meta lock, so a failure recorded meanwhile (end() lowers nextChangeAt
    // under the same lock, after counting) is never overwritten by a later time.
    const k = this.n;
    this.lock(k);
    let next = Infinity;
    for (let i = 0; i < this.n; i++) {
      const mf = this.maxFails[i];
      if (mf === 0 || this.fails[i] < mf) continue;
      const back = this.read(this.lastFailAt, i, i) + this.failTimeoutMs[i];
      if (back > now && back < next) next = back;
    }
    this.meta64[0] = next;
    this.unlock(k);
    Atomics.add(this.meta32, 0, 1);
  }

  /**
   * Carry live state over a reload from the previous set, by identity: health, passive
   * failures, slow-start ramp and latency. Not in-flight counts: requests in flight finish on
   * (and report to) the balancer they started on.
   */
  adopt(prev: PeerSet): void {
    for (let i = 0; i < this.n; i++) {
      const j = prev.indexOf(this.ids[i]);
      if (j < 0) continue;
      if (this.state[i] !== PEER_DOWN) {
        const s = prev.state[j];
        this.state[i] = s === PEER_UNHEALTHY ? PEER_UNHEALTHY : PEER_UP;
      }
      // `prev` may be shared and still serving: copy one consistent snapshot of the server.
      for (;;) {
        const s = prev.readBegin(j);
        this.fails[i] = prev.fails[j];
        this.lastFailAt[i] = prev.lastFailAt[j];
        this.upSince[i] = prev.upSince[j];
        this.ewma[i] = prev.ewma[j];
        this.ewmaAt[i] = prev.ewmaAt[j];
        if (prev.readEnd(j, s)) break;
      }
      const back = this.lastFailAt[i] + this.failTimeoutMs[i];
      if (this.maxFails[i] > 0 && this.fails[i] >= this.maxFails[i] && back < this.meta64[0]) this.meta64[0] = back;
    }
    this.meta32[0]++;
  }
}

/** Shared by the methods: counting in onStart/onEnd goes to the PeerSet. */
export abstract class BaseBalancer implements Balancer {
  abstract readonly method: string;
  readonly peers: PeerSet;

  constructor(peers: PeerSet) {
    this.peers = peers;
  }

  abstract pick(request: PickRequest, tried: TriedSet): number;

  onStart(index: number, _now: number): void {
    this.peers.start(index);
  }

  onEnd(index: number, _latencyMs: number, ok: boolean, now: number): void {
    this.peers.end(index, ok, now);
  }
}

/** The server specs of a compiled upstream (compiler IR shape), with `upstream/address` identities. */
export function serverSpecs(
  upstream: string,
  servers: readonly {
    readonly address: string; readonly weight: number; readonly backup: boolean; readonly down: boolean;
    readonly maxConns?: number; readonly slowStart?: number; readonly maxFails?: number; readonly failTimeout?: number;
  }[],
): ServerSpec[] {
  return servers.map((s) => ({
    id: `${upstream}/${s.address}`, weight: s.weight, backup: s.backup, down: s.down,
    maxConns: s.maxConns, slowStartMs: s.slowStart, maxFails: s.maxFails, failTimeoutMs: s.failTimeout,
  }));
}
