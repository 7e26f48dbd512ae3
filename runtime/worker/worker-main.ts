import { parentPort, workerData } from 'node:worker_threads';
import { loadPlan } from '../../compiler/load-plan.ts';
import { ZoneRegistry } from '../limits.ts';
import { Metrics, MetricsLayout, MetricsStore } from '../observe/metrics.ts';
import { ProxyRuntime, type PreparedLoad } from '../server.ts';
import { AttachedPeerStorage } from './peer-storage.ts';
import type { FromWorker, ToWorker, WorkerData } from './protocol.ts';
import { SharedZones } from './shared-limits.ts';

// One worker thread under `workers N`: a ProxyRuntime that listens with
// SO_REUSEPORT beside the other workers, runs no health checks (the main thread
// does, into the shared PeerSets), and serves the Plans the supervisor sends it,
// in two phases (prepare, commit) so a reload is atomic across workers.

const data = workerData as WorkerData;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

const peers = new AttachedPeerStorage();
const zones = new SharedZones();
/**
 * Made at the first Plan: the metric slots must be the main thread's, so a worker
 * (re)started late takes the main thread's layout, then assigns new slots as the
 * main thread does, Plan by Plan.
 */
let rt: ProxyRuntime | null = null;

function runtime(layout: ReturnType<MetricsLayout['toJSON']>): ProxyRuntime {
  rt ??= new ProxyRuntime({
    log: (level, message, fields) => post({ type: 'log', level, message, fields }),
    healthChecks: false,
    reusePort: true,
    peers,
    zones: new ZoneRegistry((_keys, name) => zones.attach(name)),
    metrics: new Metrics(MetricsLayout.fromJSON(layout), new MetricsStore(data.metrics)),
    exposeGeneration: data.exposeGeneration,
    exposeWorker: data.exposeWorker ? String(data.index) : undefined,
  });
  return rt;
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
      post({ type: 'committed', seq: m.seq, addresses: [...(rt?.addresses() ?? [])] });
      return;
    case 'abort':
      if (prepared?.seq === m.seq) { prepared.load.abort(); prepared = null; }
      return;
    case 'stop':
      // process.exit in a worker ends this thread only; the supervisor sees the exit.
      void (rt?.close(m.graceMs) ?? Promise.resolve()).then(() => process.exit(0));
      return;
    case 'crash':
      if (data.testHooks) setImmediate(() => { throw new Error('crash requested by a test'); });
      return;
  }
});
