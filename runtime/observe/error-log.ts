import type Pino from 'pino';
import type { ErrorLogIR } from '../../compiler/ir.ts';
import { lazy } from '../core/lazy.ts';

const pino = lazy<typeof Pino>('pino');

// lbconf's own log: listeners, reloads, health changes, errors. Without
// `error_log` it is text lines on stderr; with it, JSON lines (pino) to a file
// or stderr, filtered by level. The config's `error_log` is applied on every
// load, so a reload can move the log or change its level.

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFn = (level: Level, message: string, fields?: Record<string, unknown>) => void;

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class ErrorLog {
  /** A stable function to hand to the runtime and the reloader: it writes wherever the log is now. */
  readonly log: LogFn = (level, message, fields) => this.write(level, message, fields);
  private logger: Pino.Logger | null = null;
  private dest: ReturnType<typeof Pino.destination> | null = null;
  private key = '';
  private min: Level = 'info';
  private readonly text: (line: string) => void;

  /** `text` writes the default text lines (stderr unless a test says otherwise). */
  constructor(text: (line: string) => void = (line) => process.stderr.write(line)) {
    this.text = text;
  }

  /** Applies a config's `error_log` (undefined: text on stderr at info). */
  apply(ir: ErrorLogIR | undefined): void {
    const key = ir ? `${ir.target}|${ir.level}` : '';
    if (key === this.key) return;
    this.key = key;
    const old = this.dest;
    this.min = ir?.level ?? 'info';
    if (!ir) {
      this.logger = null;
      this.dest = null;
    } else {
      this.dest = pino().destination({ dest: ir.target === 'stderr' ? 2 : ir.target, sync: false, mkdir: true });
      this.dest.on('error', (err: Error) => this.text(`${new Date().toISOString()} error error_log ${ir.target}: ${err.message}\n`));
      this.logger = pino()({ level: ir.level, base: { pid: process.pid }, timestamp: pino().stdTimeFunctions.isoTime }, this.dest);
    }
    if (old) endDestination(old);
  }

  write(level: Level, message: string, fields?: Record<string, unknown>): void {
    if (this.logger) {
      if (fields) this.logger[level](fields, message);
      else this.logger[level](message);
      return;
    }
    if (RANK[level] < RANK[this.min]) return;
    this.text(`${new Date().toISOString()} ${level} ${message}${fields ? ' ' + JSON.stringify(fields) : ''}\n`);
  }

  /** Writes what is buffered (at shutdown). */
  async close(): Promise<void> {
    const dest = this.dest;
    this.logger = null;
    this.dest = null;
    this.key = '';
    if (dest) await endDestination(dest);
  }
}

function endDestination(dest: ReturnType<typeof Pino.destination>): Promise<void> {
  return new Promise((resolve) => {
    const end = () => {
      dest.once('close', () => resolve());
      dest.once('error', () => resolve());
      // stderr stays open for everyone else: flush it, never close it.
      if ((dest as unknown as { fd: number }).fd === 2) { dest.flush(() => resolve()); return; }
      dest.end();
    };
    if ((dest as unknown as { fd: number }).fd >= 0) end();
    else dest.once('ready', end);
  });
}
