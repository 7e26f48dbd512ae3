
// One coarse timer for every upstream connection's deadlines (connect, response
// head, body read, idle keep-alive), instead of a timer armed and cleared per
// request. Deadlines are checked every TICK_MS, so a timeout fires up to that
// much late: the resolution of proxy_*_timeout and keepalive_timeout.

export const TICK_MS = 100;

/** What the sweeper visits: a pool, checking its connections' deadlines. */
export interface Swept {
  sweep(now: number): void;
}

const pools = new Set<Swept>();
let timer: NodeJS.Timeout | null = null;

function tick(): void {
  const now = Date.now();
  for (const pool of pools) pool.sweep(now);
}

export function watch(pool: Swept): void {
  pools.add(pool);
  if (timer === null) {
    timer = setInterval(tick, TICK_MS);
    // Deadlines alone never keep a process alive.
    timer.unref();
  }
}

export function unwatch(pool: Swept): void {
  pools.delete(pool);
  if (pools.size === 0 && timer !== null) { clearInterval(timer); timer = null; }
}
