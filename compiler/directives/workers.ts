import * as t from '../arg-types.ts';
import type { ArgType, DirectiveSpec } from '../directive.ts';
import { parseInteger } from '../values.ts';

// Process-level settings of `lbconf run`: how many event loops serve (`workers`)
// and how long a graceful stop may take (`worker_shutdown_timeout`, nginx's name).
// See spec/workers.md.

export const MAX_WORKERS = 256;

/** `auto` (one per core) or a whole number from 1 to MAX_WORKERS (checked here: the schema's anyOf would report twice). */
const workerCount: ArgType<number | 'auto'> = {
  name: 'number|auto',
  parse: (v) => {
    if (v === 'auto') return { ok: true, value: 'auto' };
    const n = parseInteger(v);
    if (n.ok && (n.value < 1 || n.value > MAX_WORKERS)) return { ok: false, message: `\`workers\` takes 1 to ${MAX_WORKERS} or \`auto\` (got ${n.value})` };
    return n;
  },
};

const workers: DirectiveSpec = {
  name: 'workers',
  contexts: ['main'],
  args: { positional: [{ name: 'count', type: workerCount }] },
  repeatable: false,
  default: 'workers 1;',
  summary: 'How many event loops serve traffic. `1` serves on the main thread. More run as worker threads, each listening on every listener with `SO_REUSEPORT` so the kernel spreads connections; in-flight counts, health, passive failures, latency scores and `limit_req`/`limit_conn` state are shared between them, so balancing and limits are exact across workers. `auto` is one per core (`os.availableParallelism()`). A change takes effect when lbconf restarts.',
  example: 'workers auto;',
  lower(cx, args) {
    const count = args.get<number | 'auto'>('count');
    if (count === undefined) return;
    cx.ir.workers = count;
    cx.at('/workers', args.span('count'), 'the worker count');
  },
};

const shutdownTimeout: DirectiveSpec = {
  name: 'worker_shutdown_timeout',
  contexts: ['main'],
  args: { positional: [{ name: 'timeout', type: t.duration }] },
  repeatable: false,
  default: 'worker_shutdown_timeout 10s;',
  summary: 'How long a graceful stop (`SIGTERM`, `SIGINT`) lets requests in flight finish: listeners close at once, then lbconf waits for the requests in flight, at most this long, closes the upstream connections and exits 0. `lbconf run --grace SECONDS` overrides it. A second signal, or `SIGQUIT`, exits at once.',
  example: 'worker_shutdown_timeout 30s;',
  lower(cx, args) {
    const timeout = args.get<number>('timeout');
    if (timeout === undefined) return;
    cx.ir.workerShutdownTimeout = timeout;
    cx.at('/workerShutdownTimeout', args.span('timeout'), 'the timeout');
  },
};

export const workerDirectives: DirectiveSpec[] = [workers, shutdownTimeout];
