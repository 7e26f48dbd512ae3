import { Worker } from 'node:worker_threads';
import type { Plan } from '../../compiler/plan.ts';
import type { PurgeElsewhere, PurgeTarget } from '../filters/cache/zones.ts';
import { MetricsStore } from '../observe/metrics.ts';
import type { ProxyRuntime } from '../control/runtime.ts';
import { PURGE_TIMEOUT_MS, type FromWorker, type Invalidate, type SharedBuffers, type ToWorker, type WorkerData } from './protocol.ts';
import type { SharedZones } from './shared-limits.ts';

// The main thread under `workers N`: starts N worker threads (worker-main.ts),
// sends each Plan to all of them in two phases, and restarts a worker that dies.
//
// A reload is atomic across workers in this sense: every worker prepares the new
// Plan (routes, certificates, new listeners) before any swaps it in; if one
// cannot, none does and the old Plan keeps serving everywhere; the reload is
// reported done only after every worker has swapped. So a request that starts
// after the reload is reported done is served by the new Plan, whichever worker
// takes it. (During the commit round itself, about a millisecond, a worker that
// has swapped and one that has not yet may serve side by side.)

/** The serving workers' young generation (see the launcher's --max-semi-space-size). */
const YOUNG_GENERATION_MB = 3;

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface SupervisorOptions {
  count: number;
  log: Log;
  exposeGeneration?: boolean;
  /** `x-lbconf-worker: INDEX` on responses (tests). */
  exposeWorker?: boolean;
  /** Honour test-only requests (crash()). */
  testHooks?: boolean;
  /** How often each worker is pinged, and how long it has to answer before it is taken for hung and restarted (tests shorten them). */
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
}

/** A worker stuck in a synchronous loop still owns its share of new connections: it is pinged, and restarted when it stops answering. */
const HEARTBEAT_MS = 5_000;
const HEARTBEAT_TIMEOUT_MS = 20_000;

/** A purge over the workers: entries removed, how many workers were asked and answered, and which did not answer in time. */
export interface WorkersPurge extends PurgeElsewhere {
  silent: number[];
}

/** What is sent to a worker for it to serve a generation. */
interface Generation {
  id: number;
  source: string;
  peers: SharedBuffers;
  zones: SharedBuffers;
}

interface Slot {
  index: number;
  worker: Worker | null;
  /** The generation this worker serves (0 while it starts). */
  generation: number;
  startedAt: number;
  /** Restarts in a row that came soon after the previous start: the backoff grows with them. */
  quickRestarts: number;
  restarts: number;
  timer: NodeJS.Timeout | null;
  /** A heartbeat is awaiting its answer. */
  pinging: boolean;
  replies: Map<number, (m: FromWorker | null) => void>;
  /** The slot's request counters, summed by the main thread's Metrics; a restarted worker goes on counting into them. */
  metrics: SharedArrayBuffer;
  store: MetricsStore;
}

/** A worker that cannot answer within this long is taken for hung: it is terminated and restarted. */
const ANSWER_TIMEOUT_MS = 30_000;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 10_000;
/** A worker that ran this long before dying is restarted without delay growth. */
const STABLE_MS = 30_000;

/** A worker could not serve a Plan (a port it could not bind, a certificate it could not read). */
export class WorkerLoadError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

export class Supervisor {
  /** The main thread's runtime: shared state, health checks; no listeners. */
  readonly control: ProxyRuntime;
  private readonly zones: SharedZones;
  private readonly options: SupervisorOptions;
  private readonly slots: Slot[];
  private committed: Generation | null = null;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private bound = new Map<string, { address: string; port: number }>();

  constructor(control: ProxyRuntime, zones: SharedZones, options: SupervisorOptions) {
    this.control = control;
    this.zones = zones;
    this.options = options;
    this.slots = Array.from({ length: options.count }, (_, index): Slot => {
      const metrics = new SharedArrayBuffer(MetricsStore.byteLength);
      return { index, worker: null, generation: 0, startedAt: 0, quickRestarts: 0, restarts: 0, timer: null, pinging: false, replies: new Map(), metrics, store: new MetricsStore(metrics) };
    });
    for (const s of this.slots) control.metrics.stores.push(s.store);
    this.heartbeat = setInterval(() => this.ping(), options.heartbeatMs ?? HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private readonly heartbeat: NodeJS.Timeout;

  /** Pings every serving worker; one that does not answer in time is terminated (and restarted like a crashed one). */
  private ping(): void {
    if (this.stopping) return;
    const timeout = this.options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
    for (const slot of this.slots) {
      if (slot.worker === null || slot.generation === 0 || slot.pinging) continue;
      slot.pinging = true;
      void this.request(slot, { type: 'ping', seq: ++this.seq }, timeout, (worker) => {
        this.options.log('error', `worker ${slot.index} did not answer a heartbeat within ${timeout / 1000} s (a synchronous task blocks it?); terminating it`);
        void worker.terminate();
      }).then(() => { slot.pinging = false; });
    }
  }

  get generation(): number {
    return this.control.generation;
  }

  /** The addresses the workers listen on (as the last worker to commit reported them). */
  addresses(): Map<string, { address: string; port: number }> {
    return new Map(this.bound);
  }

  /** Each worker: its thread id (while running), the generation it serves, and how often it was restarted. */
  status(): { index: number; threadId: number | null; generation: number; restarts: number }[] {
    return this.slots.map((s) => ({ index: s.index, threadId: s.worker?.threadId ?? null, generation: s.generation, restarts: s.restarts }));
  }

  /** Serves `plan` (compiled from `source`) on every worker; resolves once all of them have swapped. */
  load(plan: Plan, source: string): Promise<void> {
    return this.serialize(() => this.loadNow(plan, source));
  }

  /** Test hook: make worker `index` throw from its event loop. */
  crash(index: number): void {
    this.slots[index].worker?.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  /** Test hook: block worker `index` for `ms`. */
  stall(index: number, ms: number): void {
    this.slots[index].worker?.postMessage({ type: 'stall', ms } satisfies ToWorker);
  }

  /**
   * Removes `what` from `zone` on every worker (but `except`), each its own zones,
   * concurrently; a worker that does not answer within PURGE_TIMEOUT_MS is left
   * out of `answered` and named in `silent` (it keeps serving: a slow answer is
   * no sign of a hung worker, as a reload's is). Not queued behind reloads.
   */
  async purge(zone: string, what: PurgeTarget, except = -1): Promise<WorkersPurge> {
    const asked = this.slots.filter((s) => s.index !== except);
    const answers = await Promise.all(asked.map((s) => this.request(s, { type: 'purge', seq: ++this.seq, zone, what }, PURGE_TIMEOUT_MS)));
    let purged = 0;
    const silent: number[] = [];
    answers.forEach((a, i) => {
      if (a?.type === 'purged') purged += Math.max(0, a.purged);
      else silent.push(asked[i].index);
    });
    return { purged, workers: asked.length, answered: asked.length - silent.length, silent };
  }

  /** A worker's purge method removed a key from its zone: the others remove it too, and it is told how that went. */
  private async purgeFor(slot: Slot, worker: Worker, m: Extract<FromWorker, { type: 'purge-all' }>): Promise<void> {
    const { purged, workers, answered } = await this.purge(m.zone, { key: m.key }, slot.index);
    if (slot.worker === worker) worker.postMessage({ type: 'purged-all', id: m.id, purged, workers, answered } satisfies ToWorker);
  }

  /** A worker's unsafe request invalidated URIs in its zone: the others invalidate them too (fire and forget, as the worker asked). */
  private invalidateFor(from: Slot, m: Invalidate): void {
    for (const s of this.slots) if (s !== from) s.worker?.postMessage(m);
  }

  /** Reloads and restarts one at a time, so a restarted worker never misses a commit. */
  private serialize<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f);
    this.queue = run.catch(() => {});
    return run;
  }

  private async loadNow(plan: Plan, source: string): Promise<void> {
    if (this.committed === null) for (const slot of this.slots) this.spawn(slot);
    const prepared = await this.control.prepare(plan);
    const next: Generation = {
      id: this.control.generation + 1,
      source,
      peers: [...prepared.upstreams].map(([name, u]) => [name, u.peers.buffer as SharedArrayBuffer] as const),
      zones: this.zones.buffers(),
    };
    const layout = this.control.metrics.layout.toJSON();
    const live = this.slots.filter((s) => s.worker !== null);
    const seq = ++this.seq;
    const answers = await Promise.all(live.map((s) => this.ask(s, { type: 'prepare', seq, ...next, layout })));
    const failed = answers.find((a) => a?.type === 'prepared' && !a.ok);
    if (this.stopping) {
      // Shutting down while the workers prepared: nothing of this Plan is committed.
      for (const s of live) s.worker?.postMessage({ type: 'abort', seq } satisfies ToWorker);
      prepared.abort();
      throw new WorkerLoadError('lbconf is shutting down', 'ESHUTDOWN');
    }
    if (failed?.type === 'prepared' && !failed.ok) {
      for (const s of live) s.worker?.postMessage({ type: 'abort', seq } satisfies ToWorker);
      prepared.abort();
      throw new WorkerLoadError(failed.error, failed.code);
    }
    prepared.commit();
    // Workers number their listeners' metric slots as they open them, in the Plan's order: so does this thread.
    for (const l of plan.listeners) this.control.metrics.layout.listenerSlot(l.key);
    this.committed = next;
    await Promise.all(live.map(async (s) => {
      const done = await this.ask(s, { type: 'commit', seq });
      if (done?.type !== 'committed') return;
      s.generation = next.id;
      this.bound = new Map(done.addresses); // every worker opens the same listeners
    }));
  }

  private spawn(slot: Slot): void {
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const data: WorkerData = {
      index: slot.index, exposeGeneration: this.options.exposeGeneration === true, exposeWorker: this.options.exposeWorker === true, testHooks: this.options.testHooks === true,
      metrics: slot.metrics,
    };
    // A small young generation, as the launcher gives the main thread (scripts/build.ts): the
    // Buffers of proxied bodies are freed by frequent small scavenges, in cache-warm memory.
    const worker = new Worker(new URL(`./worker-main.${ext}`, import.meta.url), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    slot.worker = worker;
    slot.generation = 0;
    slot.startedAt = Date.now();
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'log') { this.options.log(m.level, `worker ${slot.index}: ${m.message}`, m.fields); return; }
      if (m.type === 'purge-all') { void this.purgeFor(slot, worker, m); return; }
      if (m.type === 'invalidate') { this.invalidateFor(slot, m); return; }
      const reply = slot.replies.get(m.seq);
      slot.replies.delete(m.seq);
      reply?.(m);
    });
    worker.on('error', (err) => this.options.log('error', `worker ${slot.index} failed: ${err.message}`));
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return;
      slot.worker = null;
      slot.generation = 0;
      // Its zones died with it (a restarted worker starts empty): what they held is no longer held.
      slot.store.zoneUse.fill(0);
      // So did its requests in flight and its open connections: they must stop counting.
      for (const u of this.control.upstreams.values()) u.peers.releaseWorker(slot.index);
      slot.store.closeListeners();
      for (const reply of slot.replies.values()) reply(null);
      slot.replies.clear();
      if (this.stopping) return;
      this.restart(slot, code);
    });
  }

  /** Restarts a worker that died, after a backoff that grows while it keeps dying soon after starting. */
  private restart(slot: Slot, code: number): void {
    slot.quickRestarts = Date.now() - slot.startedAt >= STABLE_MS ? 0 : slot.quickRestarts + 1;
    const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, slot.quickRestarts - 1));
    this.options.log('error', `worker ${slot.index} exited (code ${code}); the other workers keep serving; restarting it in ${delay} ms`);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      void this.serialize(() => this.revive(slot));
    }, delay);
  }

  private async revive(slot: Slot): Promise<void> {
    const gen = this.committed;
    if (this.stopping || slot.worker !== null || gen === null) return;
    this.spawn(slot);
    slot.restarts++;
    const seq = ++this.seq;
    const ready = await this.ask(slot, { type: 'prepare', seq, ...gen, layout: this.control.metrics.layout.toJSON() });
    if (ready?.type === 'prepared' && !ready.ok) {
      this.options.log('error', `worker ${slot.index} could not start: ${ready.error}`);
      await (slot.worker as Worker | null)?.terminate(); // its exit schedules the next attempt
      return;
    }
    const done = await this.ask(slot, { type: 'commit', seq });
    if (done?.type !== 'committed') return;
    slot.generation = gen.id;
    this.options.log('info', `worker ${slot.index} restarted; serving generation ${gen.id}`);
  }

  /** Sends `m` and resolves with the answer to its seq; null when the worker died (or hung, and was terminated). */
  private ask(slot: Slot, m: Extract<ToWorker, { seq: number }>): Promise<FromWorker | null> {
    return this.request(slot, m, ANSWER_TIMEOUT_MS, (worker) => {
      this.options.log('error', `worker ${slot.index} did not answer within ${ANSWER_TIMEOUT_MS / 1000} s; terminating it`);
      void worker.terminate();
    });
  }

  /** Sends `m` and resolves with the answer to its seq; null when the worker is not running, dies, or does not answer within `ms` (then `late` runs). */
  private request(slot: Slot, m: Extract<ToWorker, { seq: number }>, ms: number, late?: (worker: Worker) => void): Promise<FromWorker | null> {
    const worker = slot.worker;
    if (!worker) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (!slot.replies.delete(m.seq)) return;
        resolve(null);
        late?.(worker);
      }, ms);
      slot.replies.set(m.seq, (answer) => { clearTimeout(timer); resolve(answer); });
      worker.postMessage(m);
    });
  }

  /**
   * Graceful stop: every worker closes its listeners at once, lets requests in
   * flight finish (up to graceMs), closes its pools and exits; a worker still
   * running a little after that is terminated. Then the main thread's runtime closes.
   */
  async close(graceMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.heartbeat);
    // A reload under way finishes (or aborts, seeing `stopping`) before the workers are told to stop.
    await this.queue;
    const exits: Promise<unknown>[] = [];
    for (const slot of this.slots) {
      if (slot.timer) clearTimeout(slot.timer);
      const w = slot.worker;
      if (!w) continue;
      exits.push(new Promise((resolve) => w.once('exit', resolve)));
      w.postMessage({ type: 'stop', graceMs } satisfies ToWorker);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((resolve) => { timer = setTimeout(resolve, graceMs + 2000); });
    await Promise.race([Promise.all(exits), late]);
    clearTimeout(timer);
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
    await this.control.close(0);
  }
}
