import type { LimitConnIR, LimitReqIR } from '../../compiler/ir.ts';
import type { RequestContext } from '../core/context.ts';
import { boundedKey, retryAfterSeconds, type LimitStore } from '../core/limit-store.ts';
import { clientGone, type Ending, type Refusal, type RequestFilter } from './filter.ts';
import { compileTemplate, type Evaluate } from '../core/template.ts';

// Rate limiting (limit_req) and concurrency limiting (limit_conn) by key, with
// nginx's algorithm: a leaky bucket per key whose `excess` drains at `rate`
// requests per second; a request is admitted while the excess it would leave
// is at most `burst`, and (without nodelay) waits excess/rate seconds.
//
// State lives behind LimitStore, one store per zone, kept by zone name across
// reloads (ZoneRegistry). The memory store keeps at most `keys` keys, evicting
// the least recently used idle one; a key longer than 64 characters is kept as
// its SHA-1, so a key's size is bounded too. Under `workers N` every worker uses
// one table in shared memory per zone (runtime/worker/shared-limits.ts). A store
// shared between machines (Redis) would implement the same interface and may
// answer with promises.

interface Bucket {
  excess: number;
  last: number;
}

/** The in-process store: a Map in least-recently-used order, never more than `maxKeys` entries. */
export class MemoryLimitStore implements LimitStore {
  maxKeys: number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly slots = new Map<string, number>();

  constructor(maxKeys: number) {
    this.maxKeys = Math.max(1, maxKeys);
  }

  get size(): number {
    return this.buckets.size + this.slots.size;
  }

  take(key: string, rate: number, burst: number, now: number): number {
    const b = this.buckets.get(key);
    if (b === undefined) {
      // A key not seen (or evicted): its first request goes through, as in nginx.
      while (this.buckets.size >= this.maxKeys) this.evict();
      this.buckets.set(key, { excess: 0, last: now });
      return 0;
    }
    // nginx: excess = previous excess + this request − what drained since; never below 0.
    const excess = Math.max(0, b.excess + 1 - (rate * Math.max(0, now - b.last)) / 1000);
    if (excess > burst + 1e-9) {
      // Refused, the bucket unchanged: in how many ms would the excess be within the burst?
      return -1 - Math.ceil(((excess - burst) * 1000) / rate);
    }
    const left = excess;
    b.excess = left;
    b.last = now;
    // Most recently used goes to the end.
    this.buckets.delete(key);
    this.buckets.set(key, b);
    return left;
  }

  acquire(key: string, max: number): boolean {
    const n = this.slots.get(key);
    if (n === undefined) {
      // Keys with requests in flight are never evicted: a full store refuses new keys, as nginx's full zone does.
      if (this.slots.size >= this.maxKeys) return false;
      this.slots.set(key, 1);
      return true;
    }
    if (n >= max) return false;
    this.slots.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = this.slots.get(key);
    if (n === undefined) return;
    // A key with nothing in flight has no state worth keeping.
    if (n <= 1) this.slots.delete(key);
    else this.slots.set(key, n - 1);
  }

  private evict(): void {
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }
}

/** Zones by name; a reload finds its zones' state here. */
export class ZoneRegistry {
  private readonly zones = new Map<string, { kind: 'req' | 'conn'; store: LimitStore }>();
  private readonly factory: (keys: number, name: string) => LimitStore;

  /** `factory` makes a zone's store (workers share theirs: runtime/worker/shared-limits.ts). */
  constructor(factory: (keys: number, name: string) => LimitStore = (keys) => new MemoryLimitStore(keys)) {
    this.factory = factory;
  }

  store(kind: 'req' | 'conn', name: string, keys: number): LimitStore {
    const z = this.zones.get(name);
    if (z && z.kind === kind) {
      if (z.store instanceof MemoryLimitStore) z.store.maxKeys = Math.max(1, keys);
      return z.store;
    }
    const store = this.factory(keys, name);
    this.zones.set(name, { kind, store });
    return store;
  }

  /** Forgets zones the running config no longer has. */
  retain(names: ReadonlySet<string>): void {
    for (const name of this.zones.keys()) if (!names.has(name)) this.zones.delete(name);
  }
}

interface ReqRule {
  store: LimitStore;
  key: Evaluate;
  rate: number;
  burst: number;
  nodelay: boolean;
}

interface ConnRule {
  store: LimitStore;
  key: Evaluate;
  max: number;
}

/** What admit() decided. */
export const ADMIT = 0;
export const REFUSED_RATE = -1;
export const REFUSED_CONN = -2;

/** The slots one request holds, given back when its response is done. */
export class HeldSlots {
  private readonly stores: LimitStore[] = [];
  private readonly keys: string[] = [];

  constructor() {
    this.release = this.release.bind(this);
  }

  add(store: LimitStore, key: string): void {
    this.stores.push(store);
    this.keys.push(key);
  }

  release(): void {
    for (let i = 0; i < this.stores.length; i++) this.stores[i].release(this.keys[i]);
    this.stores.length = 0;
  }
}

/** The limit_req and limit_conn rules of one route, built once per Plan. */
export class RouteLimits {
  private readonly req: ReqRule[];
  private readonly conn: ConnRule[];
  readonly reqStatus: number;
  readonly connStatus: number;
  /** Seconds for Retry-After after a refusal by rate (set by takeRate). */
  retryAfter = 0;

  constructor(req: readonly LimitReqIR[], conn: readonly LimitConnIR[], reqStatus: number, connStatus: number, zones: ZoneRegistry) {
    this.req = req.map((r) => ({ store: zones.store('req', r.zone, r.keys), key: compileTemplate(r.key), rate: r.rate, burst: r.burst, nodelay: r.nodelay }));
    this.conn = conn.map((c) => ({ store: zones.store('conn', c.zone, c.keys), key: compileTemplate(c.key), max: c.max }));
    this.reqStatus = reqStatus;
    this.connStatus = connStatus;
  }

  get hasRate(): boolean {
    return this.req.length > 0;
  }

  get hasConn(): boolean {
    return this.conn.length > 0;
  }

  /**
   * limit_req: ≥ 0 is the delay in ms before the request may go on (0: at once),
   * < 0 is a refusal, −(seconds for Retry-After). A promise when a store is remote.
   */
  takeRate(ctx: RequestContext, now: number): number | Promise<number> {
    let delay = 0;
    for (let i = 0; i < this.req.length; i++) {
      const r = this.req[i];
      const key = r.key(ctx);
      // nginx: an empty key is not limited.
      if (key === '') continue;
      const got = r.store.take(boundedKey(key), r.rate, r.burst, now);
      if (typeof got !== 'number') return this.takeRateAsync(ctx, now, i, delay, got);
      if (got < 0) return -retryAfterSeconds(got);
      if (!r.nodelay) delay = Math.max(delay, Math.ceil((got * 1000) / r.rate));
    }
    return delay;
  }

  private async takeRateAsync(ctx: RequestContext, now: number, from: number, delay: number, pending: Promise<number>): Promise<number> {
    for (let i = from; i < this.req.length; i++) {
      const r = this.req[i];
      const got = i === from ? await pending : await r.store.take(boundedKey(r.key(ctx)), r.rate, r.burst, now);
      if (got < 0) return -retryAfterSeconds(got);
      if (!r.nodelay) delay = Math.max(delay, Math.ceil((got * 1000) / r.rate));
    }
    return delay;
  }

  /** limit_conn: the slots taken, or null when one was refused (and nothing is held). Sync stores only answer at once. */
  acquire(ctx: RequestContext): HeldSlots | null | Promise<HeldSlots | null> {
    const held = new HeldSlots();
    for (let i = 0; i < this.conn.length; i++) {
      const c = this.conn[i];
      const key = c.key(ctx);
      if (key === '') continue;
      const k = boundedKey(key);
      const got = c.store.acquire(k, c.max);
      if (typeof got !== 'boolean') return this.acquireAsync(ctx, i, held, k, got);
      if (!got) { held.release(); return null; }
      held.add(c.store, k);
    }
    return held;
  }

  private async acquireAsync(ctx: RequestContext, from: number, held: HeldSlots, firstKey: string, pending: Promise<boolean>): Promise<HeldSlots | null> {
    for (let i = from; i < this.conn.length; i++) {
      const c = this.conn[i];
      const k = i === from ? firstKey : boundedKey(c.key(ctx));
      const got = i === from ? await pending : await c.store.acquire(k, c.max);
      if (!got) { held.release(); return null; }
      held.add(c.store, k);
    }
    return held;
  }
}

// The two filters (filters/filter.ts) over a route's limits: limit_req, then
// limit_conn, as nginx orders them (both before access and auth, so that
// refused and unauthorized requests count too).

function wait(ms: number): Promise<null> {
  return new Promise((resolve) => setTimeout(resolve, ms, null));
}

/** limit_req: refused past the burst (with Retry-After), delayed within it (without nodelay). */
export class LimitReq implements RequestFilter {
  private readonly limits: RouteLimits;

  constructor(limits: RouteLimits) {
    this.limits = limits;
  }

  request(ctx: RequestContext): Refusal | null | Promise<Refusal | null> {
    const delay = this.limits.takeRate(ctx, Date.now());
    return typeof delay === 'number' ? this.verdict(delay) : delay.then((d) => this.verdict(d));
  }

  private verdict(delay: number): Refusal | null | Promise<null> {
    if (delay < 0) return { status: this.limits.reqStatus, headers: { 'retry-after': String(-delay) } };
    return delay > 0 ? wait(delay) : null;
  }
}

/** limit_conn: a slot per key held until the response (or the upgrade's tunnel) ends. */
export class LimitConn implements RequestFilter {
  private readonly limits: RouteLimits;
  private readonly refused: Refusal;

  constructor(limits: RouteLimits) {
    this.limits = limits;
    this.refused = { status: limits.connStatus };
  }

  request(ctx: RequestContext, _res: unknown, ending: Ending): Refusal | null | Promise<Refusal | null> {
    const held = this.limits.acquire(ctx);
    if (held !== null && typeof (held as Promise<unknown>).then === 'function') return (held as Promise<HeldSlots | null>).then((h) => this.hold(ctx, h, ending));
    return this.hold(ctx, held as HeldSlots | null, ending);
  }

  private hold(ctx: RequestContext, held: HeldSlots | null, ending: Ending): Refusal | null {
    if (held === null) return this.refused;
    // A client gone while a store answered, or while it waited: its 'close' has passed, so the slots go back now.
    if (clientGone(ctx, ending)) { held.release(); return null; }
    ending.once('close', held.release);
    return null;
  }
}
