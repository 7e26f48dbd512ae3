import { Worker } from 'node:worker_threads';
import { checkFile } from '../compiler/check.ts';
import type { ConfigIR } from '../compiler/ir.ts';
import { planSource } from '../compiler/plan.ts';
import type { ConfigFile } from '../lang/ast.ts';
import { hasErrors, type Diagnostic } from '../lang/diagnostic.ts';

// A config compiled on another thread (runtime/compile-worker.ts), or in this
// one when a worker cannot be started. Either way the answer is plain data.

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

function compileHere(file: string): CompileOutcome {
  try {
    const result = checkFile(file);
    const files = result.files.map((f) => ({ file: f.file, source: f.source }));
    if (hasErrors(result.diagnostics)) return { ok: false, diagnostics: result.diagnostics, files, ir: result.ir };
    return { ok: true, diagnostics: result.diagnostics, files, ir: result.ir, source: planSource(result.ir, result.locs, { file: result.files[0]?.file }) };
  } catch (err) {
    return { ok: false, diagnostics: [], files: [], ir: null, error: (err as Error).message };
  }
}

export class CompilerThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, (o: CompileOutcome) => void>();

  constructor(useWorker = true) {
    if (!useWorker) return;
    // From the sources the worker is a .ts file; from the dist bundle, a .js file beside it.
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    try {
      this.worker = new Worker(new URL(`./compile-worker.${ext}`, import.meta.url));
      this.worker.unref();
      this.worker.on('message', (m: CompileOutcome & { id: number }) => {
        const done = this.pending.get(m.id);
        this.pending.delete(m.id);
        done?.({ ok: m.ok, diagnostics: m.diagnostics ?? [], files: m.files ?? [], ir: m.ir ?? null, source: m.source, error: m.error });
      });
      this.worker.on('error', () => this.fallBack());
      this.worker.on('exit', () => this.fallBack());
    } catch {
      this.worker = null;
    }
  }

  /** If the worker dies, answer what it owed from this thread and carry on here. */
  private fallBack(): void {
    this.worker = null;
    for (const [id, done] of this.pending) {
      this.pending.delete(id);
      done({ ok: false, diagnostics: [], files: [], ir: null, error: 'the compile thread stopped; try again' });
    }
  }

  compile(file: string): Promise<CompileOutcome> {
    if (!this.worker) return Promise.resolve(compileHere(file));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker!.ref();
      this.worker!.postMessage({ id, file });
    }).finally(() => { if (this.pending.size === 0) this.worker?.unref(); }) as Promise<CompileOutcome>;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
