import type { AdminIR } from '../../compiler/ir.ts';
import type { PurgeTarget } from '../filters/cache/zones.ts';
import type { ProxyRuntime } from './runtime.ts';
import type { Supervisor } from '../worker/supervisor.ts';
import { AdminServer, AdminTokenError, resolveToken, startAdmin, type AdminReloader } from './admin.ts';
import { ErrorLog } from '../observe/error-log.ts';
import { ReloadHistory, type ReloadRecord } from '../observe/history.ts';
import type { AdminTarget } from './status.ts';

// What `lbconf run` operates with, beside serving: the error log, the reload
// history, and the admin API, each following the config as it is reloaded
// (`error_log` and `admin` take effect on a reload, not only at start).

/** The process that serves: a ProxyRuntime, or the worker Launcher (its `runtime` holds the live state). */
export interface Served {
  addresses(): Map<string, { address: string; port: number }>;
  readonly runtime?: ProxyRuntime;
  /** Worker threads serving (the Launcher's; 0 or absent: this thread serves). */
  readonly workers?: number;
  /** The Launcher's, under workers: it reaches the workers' own cache zones. */
  readonly supervisor?: Pick<Supervisor, 'purge'> | null;
}

/** What the admin API reads and drives in the process that serves (the Launcher's runtime under workers). */
export function adminTarget(served: Served): AdminTarget {
  const rt = (served.runtime ?? served) as ProxyRuntime;
  return {
    get generation() { return rt.generation; },
    get upstreams() { return rt.upstreams; },
    get plan() { return rt.plan; },
    get metrics() { return rt.metrics; },
    get cacheZones() { return rt.cacheZones; },
    get workers() { return served.workers ?? 0; },
    get purgeWorkers() { const s = served.supervisor; return s ? (zone: string, what: PurgeTarget) => s.purge(zone, what) : null; },
    addresses: () => served.addresses(),
  };
}

export class Operations {
  readonly errorLog: ErrorLog;
  readonly history = new ReloadHistory();
  private admin: AdminServer | null = null;
  private adminKey = '';
  private served: Served | null = null;
  private reloader: AdminReloader | null = null;
  private readonly startedAt = Date.now();

  constructor(errorLog = new ErrorLog()) {
    this.errorLog = errorLog;
  }

  /** For ReloaderOptions.onReload: records the reload and applies the new config's `error_log` and `admin`. */
  readonly onReload = (record: ReloadRecord): void => {
    this.history.add(record);
    if (record.ok && record.reason !== 'start' && this.served) void this.apply(false).catch(() => {});
  };

  /** After the first load: applies `error_log` and starts the admin API. Throws when the admin API cannot start. */
  async start(served: Served, reloader: AdminReloader): Promise<void> {
    this.served = served;
    this.reloader = reloader;
    await this.apply(true);
  }

  private target(): AdminTarget {
    return adminTarget(this.served!);
  }

  private async apply(first: boolean): Promise<void> {
    const ir = this.reloader?.config ?? null;
    this.errorLog.apply(ir?.errorLog);
    const admin: AdminIR | null = ir?.admin ?? null;
    const key = admin ? JSON.stringify(admin) : '';
    if (key === this.adminKey) return;
    const log = this.errorLog.log;
    try {
      const token = admin ? resolveToken(admin.token) : null;
      const next = admin ? await startAdmin({ target: this.target(), reloader: this.reloader, history: this.history, address: admin.address, port: admin.port, token, log, startedAt: this.startedAt }) : null;
      await this.admin?.close();
      this.admin = next;
      this.adminKey = key;
      if (next) log('info', `admin API and status page on ${next.url}/${token ? ' (token required)' : ''}`, { event: 'admin', url: next.url });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const where = admin ? `${admin.address}:${admin.port}` : '';
      const why = err instanceof AdminTokenError ? e.message
        : e.code === 'EADDRINUSE' ? `cannot listen on ${where}: another process listens there; pick another port in \`admin\``
        : e.code === 'EADDRNOTAVAIL' ? `cannot listen on ${where}: no such address on this machine`
        : `cannot start on ${where}: ${e.message}`;
      if (first) throw new Error(`admin API: ${why}`);
      log('error', `admin API: ${why}; ${this.admin ? `it stays on ${this.admin.url}` : 'it is not running'}`);
    }
  }

  /** The admin API's address, once started. */
  get adminUrl(): string | null {
    return this.admin?.url ?? null;
  }

  async close(): Promise<void> {
    await this.admin?.close();
    this.admin = null;
    await this.errorLog.close();
  }
}
