import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConfigIR } from '../../compiler/ir.ts';
import type { ConfigFile } from '../../lang/ast.ts';
import type { Diagnostic } from '../../lang/diagnostic.ts';

// A config compiled in a child process (runtime/control/compile-worker.ts), or on this
// thread when the process cannot be started. Either way the answer is plain data.
//
// The compiler (parser, schema validator, code generator) costs tens of MiB that a
// proxy serving traffic has no use for between reloads. A process of its own,
// as nginx's master parses for its workers, gives every byte of it back when it
// exits: a worker thread leaves its V8 pages pooled in this process for 8 s
// after it stops, and the malloc arenas of its threads (about 12 MiB) for good
// (bench/README.md, "proxy"). It is started when a compile is asked for and
// stopped after `idleMs` without one; an editing session's saves find it warm.
// The serving process never loads the compiler unless the child cannot start.

export interface CompileOutcome {
  ok: boolean;
  diagnostics: Diagnostic[];
  files: Pick<ConfigFile, 'file' | 'source'>[];
  ir: ConfigIR | null;
  /** The Plan's source, when ok. */
  source?: string;
  /** Set when the config could not be read or compiled at all. */
  error?: string;
}

/** What runtime/control/compile-worker.ts is asked, and answers. */
export interface CompileRequest { id: number; file: string }
export type CompileAnswer = CompileOutcome & { id: number };

/** Checks and compiles `file` on this thread; what the compile worker runs too. */
export async function compileHere(file: string): Promise<CompileOutcome> {
  try {
    // Loaded on first use only: see above.
    const [{ checkFile }, { planSource }, { hasErrors }] = await Promise.all([import('../../compiler/check.ts'), import('../../compiler/plan.ts'), import('../../lang/diagnostic.ts')]);
    const result = checkFile(file);
    const files = result.files.map((f) => ({ file: f.file, source: f.source }));
    if (hasErrors(result.diagnostics)) return { ok: false, diagnostics: result.diagnostics, files, ir: result.ir };
    return { ok: true, diagnostics: result.diagnostics, files, ir: result.ir, source: planSource(result.ir, result.locs, { file: result.files[0]?.file }) };
  } catch (err) {
    return { ok: false, diagnostics: [], files: [], ir: null, error: (err as Error).message };
  }
}

/** How long an idle compile worker is kept, by default. */
export const COMPILE_IDLE_MS = 60_000;

export class CompilerProcess {
  private readonly useWorker: boolean;
  private readonly idleMs: number;
  private worker: ChildProcess | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, (o: CompileOutcome) => void>();

  constructor(useWorker = true, idleMs = COMPILE_IDLE_MS) {
    this.useWorker = useWorker;
    this.idleMs = idleMs;
  }

  /** The compile worker is running now (for tests and the status page). */
  get running(): boolean {
    return this.worker !== null;
  }

  /** The worker's process id, while it runs (for tests). */
  get pid(): number | undefined {
    return this.worker?.pid;
  }

  private start(): ChildProcess | null {
    if (this.worker) return this.worker;
    // From the sources the worker is a .ts file; from the dist bundle, a .js file beside it.
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    let worker: ChildProcess;
    try {
      // None of this process's Node flags: a serving process's small young generation would only
      // slow the compiler down, and --inspect or --test must not be passed on. 'advanced': the
      // answer is structured-cloned as a worker thread's postMessage would.
      worker = fork(fileURLToPath(new URL(`./compile-worker.${ext}`, import.meta.url)), [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    } catch {
      return null;
    }
    // Spawning failed (no memory, no process slots): the 'error' event follows; compile here.
    if (worker.pid === undefined) { worker.on('error', () => {}); return null; }
    this.idle(worker);
    worker.on('message', (m: CompileAnswer) => {
      const done = this.pending.get(m.id);
      this.pending.delete(m.id);
      done?.({ ok: m.ok, diagnostics: m.diagnostics ?? [], files: m.files ?? [], ir: m.ir ?? null, source: m.source, error: m.error });
    });
    worker.on('error', () => this.stopped(worker));
    worker.on('exit', () => this.stopped(worker));
    this.worker = worker;
    return worker;
  }

  /** An idle worker (its process and its IPC channel) does not keep this process alive; a busy one does. */
  private idle(worker: ChildProcess): void {
    worker.unref();
    worker.channel?.unref();
  }

  /** The worker ended (stopped when idle or closed, or died): what it owed is answered, and the next compile starts a new one. */
  private stopped(worker: ChildProcess): void {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const [id, done] of this.pending) {
      this.pending.delete(id);
      done({ ok: false, diagnostics: [], files: [], ir: null, error: 'the compile worker stopped; try again' });
    }
  }

  /** `idleMs`: how long to keep the worker after this compile (the constructor's by default). */
  compile(file: string, idleMs = this.idleMs): Promise<CompileOutcome> {
    const worker = this.useWorker ? this.start() : null;
    if (!worker) return compileHere(file);
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    const id = this.nextId++;
    return new Promise<CompileOutcome>((resolve) => {
      this.pending.set(id, resolve);
      worker.ref();
      worker.channel?.ref();
      worker.send({ id, file } satisfies CompileRequest);
    }).finally(() => {
      if (this.pending.size > 0 || this.worker !== worker) return;
      this.idle(worker);
      this.idleTimer = setTimeout(() => { this.idleTimer = null; if (this.pending.size === 0) void this.close(); }, idleMs);
      this.idleTimer.unref();
    });
  }

  async close(): Promise<void> {
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    const w = this.worker;
    if (!w) return;
    this.stopped(w);
    if (w.exitCode !== null || w.signalCode !== null) return;
    const exited = new Promise((r) => w.once('exit', r));
    // Waited for: an idle worker is unref'd, and a process must not end with this await unsettled.
    w.ref();
    w.kill();
    await exited;
  }
}
