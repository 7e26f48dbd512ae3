import { parentPort, workerData } from 'node:worker_threads';
import { loadPlan } from '../../compiler/load-plan.ts';
import type { PurgeElsewhere } from '../filters/cache/zones.ts';
import { ZoneRegistry } from '../filters/limits.ts';
import { Metrics, MetricsLayout, MetricsStore } from '../observe/metrics.ts';
import { ProxyRuntime, type PreparedLoad } from '../control/runtime.ts';
import { AttachedPeerStorage } from './peer-storage.ts';
import type { FromWorker, ToWorker, WorkerData } from './protocol.ts';
import { SharedZones } from './shared-limits.ts';
import { ZONE_USE_INTERVAL_MS, ZoneUse } from './zone-use.ts';

// One worker thread under `workers N`: a ProxyRuntime that listens with
// SO_REUSEPORT beside the other workers, runs no health checks (the main thread
// does, into the shared PeerSets), and serves the Plans the supervisor sends it,
// in two phases (prepare, commit) so a reload is atomic across workers.

const data = workerData as WorkerData;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

const peers = new AttachedPeerStorage(data.index);
const zones = new SharedZones();
/**
 * Made at the first Plan: the metric slots must be the main thread's, so a worker
 * (re)started late takes the main thread's layout, then assigns new slots as the
 * main thread does, Plan by Plan.
 */
let rt: ProxyRuntime | null = null;
let zoneUse: ZoneUse | null = null;

function runtime(layout: ReturnType<MetricsLayout['toJSON']>): ProxyRuntime {
  if (rt !== null) return rt;
  rt = new ProxyRuntime({
    log: (level, message, fields) => post({ type: 'log', level, message, fields }),
    healthChecks: false,
    reusePort: true,
    peers,
    zones: new ZoneRegistry((_keys, name) => zones.attach(name)),
    metrics: new Metrics(MetricsLayout.fromJSON(layout), new MetricsStore(data.metrics)),
    exposeGeneration: data.exposeGeneration,
    exposeWorker: data.exposeWorker ? String(data.index) : undefined,
  });
  rt.cacheZones.others = { purge: purgeElsewhere, invalidate: invalidateElsewhere };
  const use = new ZoneUse(rt.cacheZones, rt.metrics);
  zoneUse = use;
  setInterval(() => use.publish(), ZONE_USE_INTERVAL_MS).unref();
  return rt;
}

/**
 * This worker's purges (the purge method) waiting for the other workers, by id.
 * The main thread always answers, within its PURGE_TIMEOUT_MS per worker.
 */
const forwarded = new Map<number, (r: PurgeElsewhere) => void>();
let forwardId = 0;

function purgeElsewhere(zone: string, key: string): Promise<PurgeElsewhere> {
  zoneUse?.publish(); // this worker's own purge is done
  const id = ++forwardId;
  return new Promise((resolve) => {
    forwarded.set(id, resolve);
    post({ type: 'purge-all', id, zone, key });
  });
}

function invalidateElsewhere(zone: string, uris: readonly string[]): void {
  post({ type: 'invalidate', zone, uris });
}

let prepared: { seq: number; load: PreparedLoad } | null = null;

async function prepare(m: Extract<ToWorker, { type: 'prepare' }>): Promise<void> {
  try {
    peers.use(m.peers);
    zones.use(m.zones);
    const load = await runtime(m.layout).prepare(loadPlan(m.source), m.id);
    prepared = { seq: m.seq, load };
    post({ type: 'prepared', seq: m.seq, ok: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    post({ type: 'prepared', seq: m.seq, ok: false, error: e.message, code: e.code });
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'prepare':
      void prepare(m);
      return;
    case 'commit':
      if (prepared?.seq === m.seq) { prepared.load.commit(); prepared = null; }
      zoneUse?.publish(); // a reload may have resized or dropped zones
      post({ type: 'committed', seq: m.seq, addresses: [...(rt?.addresses() ?? [])] });
      return;
    case 'abort':
      if (prepared?.seq === m.seq) { prepared.load.abort(); prepared = null; }
      return;
    case 'stop':
      // process.exit in a worker ends this thread only; the supervisor sees the exit.
      void (rt?.close(m.graceMs) ?? Promise.resolve()).then(() => process.exit(0));
      return;
    case 'purge': {
      const purged = rt === null ? -1 : rt.cacheZones.remove(m.zone, m.what);
      zoneUse?.publish();
      post({ type: 'purged', seq: m.seq, purged });
      return;
    }
    case 'invalidate': {
      // Canonical already (the sending worker's effectiveUri), as stores record them.
      const store = rt?.cacheZones.store(m.zone);
      if (store !== undefined) for (const uri of m.uris) store.invalidate(uri);
      return;
    }
    case 'purged-all': {
      const done = forwarded.get(m.id);
      forwarded.delete(m.id);
      done?.({ purged: m.purged, workers: m.workers, answered: m.answered });
      return;
    }
    case 'ping':
      post({ type: 'pong', seq: m.seq });
      return;
    case 'crash':
      if (data.testHooks) setImmediate(() => { throw new Error('crash requested by a test'); });
      return;
    case 'stall':
      // Blocks this thread without spinning a core, as a long synchronous task would.
      if (data.testHooks) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms);
      return;
  }
});
