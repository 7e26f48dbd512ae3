import type { Diagnostic } from '../../lang/diagnostic.ts';

// The recent reloads, for the admin API and the status page: when, why, the
// outcome, what changed or the diagnostics that refused it.

export interface ReloadRecord {
  at: number;
  reason: string;
  ok: boolean;
  generation: number;
  hash: string;
  /** What changed (compiler/diff.ts), for a good reload. */
  changes: string;
  /** `file:line:col: severity code: message`, for a refused one. */
  diagnostics: string[];
  /** Why it failed when there are no diagnostics (unreadable file, a port in use). */
  error: string | null;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.span.file}:${d.span.start.line}:${d.span.start.column}: ${d.severity} ${d.code}: ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`;
}

export class ReloadHistory {
  private readonly records: ReloadRecord[] = [];
  private readonly max: number;

  constructor(max = 20) {
    this.max = max;
  }

  add(record: ReloadRecord): void {
    this.records.push(record);
    if (this.records.length > this.max) this.records.shift();
  }

  /** Newest first. */
  list(): ReloadRecord[] {
    return [...this.records].reverse();
  }
}
