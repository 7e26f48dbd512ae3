import { Worker } from 'node:worker_threads';
import type { ConfigIR } from '../compiler/ir.ts';
import type { ConfigFile } from '../lang/ast.ts';
import type { Diagnostic } from '../lang/diagnostic.ts';

// A config compiled on another thread (runtime/compile-worker.ts), or in this
// one when a worker cannot be started. Either way the answer is plain data.
//
// The worker holds the whole compiler (parser, schema validator, esbuild) in
// an isolate of its own, tens of MiB that a proxy serving traffic has no use
// for between reloads. It is started when a compile is asked for and stopped
// after `idleMs` without one; an editing session's saves find it warm. The
// serving thread never loads the compiler unless the worker cannot start.

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

async function compileHere(file: string): Promise<CompileOutcome> {
  try {
    // Loaded on first use only: see above.
    const [{ checkFile }, { planSource }, { hasErrors }] = await Promise.all([import('../compiler/check.ts'), import('../compiler/plan.ts'), import('../lang/diagnostic.ts')]);
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

export class CompilerThread {
  private readonly useWorker: boolean;
  private readonly idleMs: number;
  private worker: Worker | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, (o: CompileOutcome) => void>();

  constructor(useWorker = true, idleMs = COMPILE_IDLE_MS) {
    this.useWorker = useWorker;
    this.idleMs = idleMs;
  }

  /** The worker is running now (for tests and the status page). */
  get running(): boolean {
    return this.worker !== null;
  }

  private start(): Worker | null {
    if (this.worker) return this.worker;
    // From the sources the worker is a .ts file; from the dist bundle, a .js file beside it.
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    try {
      const worker = new Worker(new URL(`./compile-worker.${ext}`, import.meta.url));
      worker.unref();
      worker.on('message', (m: CompileOutcome & { id: number }) => {
        const done = this.pending.get(m.id);
        this.pending.delete(m.id);
        done?.({ ok: m.ok, diagnostics: m.diagnostics ?? [], files: m.files ?? [], ir: m.ir ?? null, source: m.source, error: m.error });
      });
      worker.on('error', () => this.stopped(worker));
      worker.on('exit', () => this.stopped(worker));
      this.worker = worker;
      return worker;
    } catch {
      return null;
    }
  }

  /** The worker ended (stopped when idle, or died): what it owed is answered, and the next compile starts a new one. */
  private stopped(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const [id, done] of this.pending) {
      this.pending.delete(id);
      done({ ok: false, diagnostics: [], files: [], ir: null, error: 'the compile thread stopped; try again' });
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
      worker.postMessage({ id, file });
    }).finally(() => {
      if (this.pending.size > 0 || this.worker !== worker) return;
      worker.unref();
      this.idleTimer = setTimeout(() => { this.idleTimer = null; if (this.pending.size === 0) void this.close(); }, idleMs);
      this.idleTimer.unref();
    });
  }

  async close(): Promise<void> {
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
