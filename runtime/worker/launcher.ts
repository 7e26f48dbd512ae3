import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import type { ConfigIR } from '../../compiler/ir.ts';
import type { Plan } from '../../compiler/plan.ts';
import type { CompileOutcome } from '../control/compiler-process.ts';
import { ZoneRegistry } from '../filters/limits.ts';
import { ProxyRuntime } from '../control/runtime.ts';
import { SharedPeerStorage } from './peer-storage.ts';
import { SharedZones } from './shared-limits.ts';
import { Supervisor, type SupervisorOptions } from './supervisor.ts';

// What `lbconf run` serves with: the first config's `workers` decides between one
// ProxyRuntime on this thread (workers 1, the default) and a Supervisor of worker
// threads. Either way `runtime` is the ProxyRuntime on this thread that holds the
// live state (upstreams, health, shared counters): the admin endpoint and the logs
// read it here. The Reloader drives load(); close() is the graceful stop.


/** The supervisor's options but the count, which the config decides. */
export type LauncherOptions = Omit<SupervisorOptions, 'count'>;

/** The default of `worker_shutdown_timeout`. */
export const DEFAULT_SHUTDOWN_MS = 10_000;

/** `workers` as a number of threads: absent is 1, `auto` one per core. */
export function workerCount(ir: Pick<ConfigIR, 'workers'> | null): number {
  const w = ir?.workers ?? 1;
  return w === 'auto' ? availableParallelism() : w;
}

export class Launcher {
  private readonly options: LauncherOptions;
  private rt: ProxyRuntime | null = null;
  /** Set under `workers N` with N > 1. */
  supervisor: Supervisor | null = null;
  /** The running config (the last one loaded). */
  ir: ConfigIR | null = null;
  /** Worker threads serving (0: this thread serves). */
  workers = 0;

  constructor(options: LauncherOptions) {
    this.options = options;
  }

  /** The runtime on this thread; exists after the first load. */
  get runtime(): ProxyRuntime {
    if (!this.rt) throw new Error('lbconf: nothing loaded yet');
    return this.rt;
  }

  get generation(): number {
    return this.rt?.generation ?? 0;
  }

  /** How long a graceful stop waits for requests in flight: the running config's `worker_shutdown_timeout`. */
  get shutdownTimeout(): number {
    return this.ir?.workerShutdownTimeout ?? DEFAULT_SHUTDOWN_MS;
  }

  async load(plan: Plan, outcome: Pick<CompileOutcome, 'ir' | 'source'>): Promise<void> {
    if (!this.rt) this.start(workerCount(outcome.ir));
    else if (workerCount(outcome.ir) !== Math.max(1, this.workers)) {
      this.options.log('warn', `workers ${outcome.ir?.workers} takes effect when lbconf restarts; running with ${Math.max(1, this.workers)}`);
    }
    if (this.supervisor) {
      await this.claimPorts(plan);
      await this.supervisor.load(plan, outcome.source!);
    } else {
      await this.rt!.load(plan);
    }
    this.ir = outcome.ir;
  }

  private start(count: number): void {
    const { log, exposeGeneration } = this.options;
    if (count <= 1) {
      this.rt = new ProxyRuntime({ log, exposeGeneration, exposeWorker: this.options.exposeWorker ? 'main' : undefined });
      return;
    }
    const zones = new SharedZones();
    this.rt = new ProxyRuntime({ log, listen: false, peers: new SharedPeerStorage(), zones: new ZoneRegistry((keys, name) => zones.create(name, keys)) });
    this.supervisor = new Supervisor(this.rt, zones, { ...this.options, count });
    this.workers = count;
  }

  /**
   * Workers listen with SO_REUSEPORT, which would let a second lbconf on the
   * same port share it (and split the traffic) where nginx fails with "address
   * in use". Each port this Plan opens anew is first bound without it: a port
   * another process holds (reuseport or not) refuses that bind, and the load
   * fails with EADDRINUSE.
   */
  private async claimPorts(plan: Plan): Promise<void> {
    const open = new Set(this.addresses().keys());
    for (const l of plan.listeners) {
      if (open.has(l.key)) continue;
      await new Promise<void>((resolve, reject) => {
        const probe = createServer();
        probe.once('error', reject);
        probe.listen({ port: l.port, host: l.address === '*' ? undefined : l.address, exclusive: true }, () => probe.close(() => resolve()));
      });
    }
  }

  addresses(): Map<string, { address: string; port: number }> {
    return this.supervisor ? this.supervisor.addresses() : this.rt?.addresses() ?? new Map();
  }

  /** Graceful stop: no new connections, requests in flight finish within graceMs, pools close. */
  async close(graceMs: number): Promise<void> {
    if (this.supervisor) await this.supervisor.close(graceMs);
    else await this.rt?.close(graceMs);
  }
}
