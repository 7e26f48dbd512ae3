import type { FSWatcher } from 'chokidar';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { describeDiff, diffConfigs } from '../../compiler/diff.ts';
import type { ConfigIR } from '../../compiler/ir.ts';
import { loadPlan, type Plan } from '../../compiler/load-plan.ts';
import type { Diagnostic } from '../../lang/diagnostic.ts';
import { COMPILE_IDLE_MS, CompilerProcess, type CompileOutcome } from './compiler-process.ts';
import { formatDiagnostic, type ReloadRecord } from '../observe/history.ts';
import { lazy } from '../core/lazy.ts';

const chokidar = lazy<typeof import('chokidar')>('chokidar');

/** What a Reloader feeds: a ProxyRuntime, or runtime/worker/launcher.ts's Launcher (which also needs the source, for workers). */
export interface ReloadTarget {
  readonly generation: number;
  load(plan: Plan, outcome: CompileOutcome): Promise<void>;
}

// Hot reload: watch the config and every file it includes; on a change
// (debounced) check and compile it, and swap the new Plan in only if it is
// valid. A broken config never replaces a good one: the old Plan keeps
// serving, the diagnostics go to the log, and the failure shows in `status`.

export interface ReloadStatus {
  generation: number;
  /** sha256 of the config files' text, first 12 hex digits. */
  hash: string;
  /** False after a failed reload, until the next good one. */
  ok: boolean;
  reloads: number;
  failures: number;
  lastSuccessAt: number;
  lastAttemptAt: number;
  /** The diagnostics of the last failed attempt. */
  lastDiagnostics: Diagnostic[];
  lastChange: string;
}

export interface ReloadResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  /** Milliseconds spent checking + compiling, and swapping. */
  compileMs: number;
  swapMs: number;
  changes: string;
  /** Why it failed, when it did. */
  error?: string;
}

export interface ReloaderOptions {
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Called with a failed reload's diagnostics and the files they point into, to print them as `lbconf check` does. */
  report: (result: Pick<CompileOutcome, 'diagnostics' | 'files'>) => void;
  debounceMs?: number;
  watch?: boolean;
  /** Compile in a child process, so a reload does not stall requests and the compiler never lives in this one (default true). */
  compileProcess?: boolean;
  /** Told of the first load and of every reload, good or refused (the admin API's history). */
  onReload?: (record: ReloadRecord) => void;
}

function contentHash(result: Pick<CompileOutcome, 'files'>): string {
  const h = createHash('sha256');
  for (const f of result.files) h.update(f.file).update('\0').update(f.source).update('\0');
  return h.digest('hex').slice(0, 12);
}

export class Reloader {
  readonly file: string;
  readonly status: ReloadStatus = { generation: 0, hash: '', ok: true, reloads: 0, failures: 0, lastSuccessAt: 0, lastAttemptAt: 0, lastDiagnostics: [], lastChange: '' };
  /** Listeners of the config being served: a reload to none is refused. */
  listening = 0;
  private readonly runtime: ReloadTarget;
  private readonly options: ReloaderOptions;
  private current: ConfigIR | null = null;
  private readonly compiler: CompilerProcess;
  private watcher: FSWatcher | null = null;
  private watched = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(file: string, runtime: ReloadTarget, options: ReloaderOptions) {
    this.file = resolve(file);
    this.runtime = runtime;
    this.options = options;
    this.compiler = new CompilerProcess(options.compileProcess !== false);
  }

  /** The first load. Returns the outcome (with its diagnostics); throws when the runtime cannot start (a port in use). */
  async start(): Promise<CompileOutcome> {
    // Without the watcher no save is coming: the worker that compiled the first load stops at once
    // (a reload, by SIGHUP or the admin API, starts it again and keeps it warm for the next one).
    const outcome = await this.compiler.compile(this.file, this.options.watch === false ? 0 : COMPILE_IDLE_MS);
    if (!outcome.ok) return outcome;
    const plan = loadPlan(outcome.source!);
    await this.runtime.load(plan, outcome);
    this.listening = plan.listeners.length;
    this.accept(outcome);
    this.options.onReload?.(this.record('start', { ok: true, diagnostics: outcome.diagnostics, compileMs: 0, swapMs: 0, changes: 'first load' }));
    if (this.options.watch !== false) this.watchFiles(outcome);
    return outcome;
  }

  /** Checks and swaps; serialized, so overlapping triggers run one after another. */
  reload(reason: string): Promise<ReloadResult> {
    const run = this.queue.then(() => this.reloadNow(reason)).then((r) => { this.options.onReload?.(this.record(reason, r)); return r; });
    this.queue = run.catch(() => {});
    return run;
  }

  private async reloadNow(reason: string): Promise<ReloadResult> {
    const t0 = performance.now();
    this.status.lastAttemptAt = Date.now();
    const outcome = await this.compiler.compile(this.file);
    // The entry file itself may be missing for a moment (an editor mid-rename): keep serving.
    if (outcome.error !== undefined) return this.fail([], outcome.error, t0);
    this.watchFiles(outcome);
    if (!outcome.ok) {
      this.options.report(outcome);
      return this.fail(outcome.diagnostics, `${outcome.diagnostics.filter((d) => d.severity === 'error').length} error(s)`, t0);
    }
    let plan;
    try {
      plan = loadPlan(outcome.source!);
    } catch (err) {
      return this.fail([], (err as Error).message.split('\n')[0], t0);
    }
    // A save that would close every port (an empty file, a file half-written, a server block lost) is not applied.
    if (plan.listeners.length === 0 && this.listening > 0) {
      return this.fail([], 'the new config has no server that listens: applying it would close every port; fix the file (or stop lbconf to stop serving)', t0);
    }
    const t1 = performance.now();
    const changes = this.current ? describeDiff(diffConfigs(this.current, outcome.ir!)) : 'first load';
    try {
      await this.runtime.load(plan, outcome);
    } catch (err) {
      return this.fail([], `could not apply: ${(err as Error).message}`, t0);
    }
    this.listening = plan.listeners.length;
    const t2 = performance.now();
    this.accept(outcome);
    this.status.reloads++;
    this.status.lastChange = changes;
    this.options.log('info', `reload (${reason}) ok: generation ${this.status.generation}, config ${this.status.hash}, compile ${(t1 - t0).toFixed(1)} ms, swap ${(t2 - t1).toFixed(1)} ms; ${changes}`);
    return { ok: true, diagnostics: outcome.diagnostics, compileMs: t1 - t0, swapMs: t2 - t1, changes };
  }

  private fail(diagnostics: Diagnostic[], why: string, t0: number): ReloadResult {
    this.status.ok = false;
    this.status.failures++;
    this.status.lastDiagnostics = diagnostics;
    this.options.log('error', `reload failed: ${why}; still serving generation ${this.status.generation} (config ${this.status.hash})`);
    return { ok: false, diagnostics, compileMs: performance.now() - t0, swapMs: 0, changes: '', error: why };
  }

  /** The config being served, as its IR. */
  get config(): ConfigIR | null {
    return this.current;
  }

  private record(reason: string, r: ReloadResult): ReloadRecord {
    return {
      at: Date.now(), reason, ok: r.ok, generation: this.status.generation, hash: this.status.hash, changes: r.changes,
      diagnostics: r.ok ? [] : r.diagnostics.map(formatDiagnostic), error: r.ok ? null : r.error ?? null,
    };
  }

  private accept(result: CompileOutcome): void {
    this.current = result.ir;
    this.status.generation = this.runtime.generation;
    this.status.hash = contentHash(result);
    this.status.ok = true;
    this.status.lastSuccessAt = Date.now();
    this.status.lastDiagnostics = [];
  }

  /** Watches the entry and every file it includes (the set changes as includes do). */
  private watchFiles(result: Pick<CompileOutcome, 'files' | 'ir'>): void {
    if (this.options.watch === false) return;
    // The config files, and the certificates and keys they name: a renewed certificate reloads too.
    const tlsFiles = (result.ir?.servers ?? []).flatMap((srv) => srv.tls?.certificates.flatMap((c) => [c.cert, c.key]) ?? []);
    const files = new Set([this.file, ...result.files.map((f) => resolve(f.file)), ...tlsFiles]);
    if (!this.watcher) {
      // atomic: editors that save by writing a temp file and renaming it over the
      // original (vim, VS Code, JetBrains) are seen as one change, not unlink + add.
      this.watcher = chokidar().watch([...files], { ignoreInitial: true, atomic: 100, awaitWriteFinish: { stabilityThreshold: 30, pollInterval: 10 } });
      this.watcher.on('all', () => this.schedule());
      this.watcher.on('error', (err) => this.options.log('warn', `file watch: ${(err as Error).message}`));
    } else {
      const add = [...files].filter((f) => !this.watched.has(f));
      const remove = [...this.watched].filter((f) => !files.has(f) && f !== this.file);
      if (add.length) this.watcher.add(add);
      if (remove.length) this.watcher.unwatch(remove);
    }
    this.watched = files;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; void this.reload('file changed'); }, this.options.debounceMs ?? 100);
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.watcher?.close();
    this.watcher = null;
    await this.compiler.close();
  }
}
