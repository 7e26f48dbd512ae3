import { BUCKETS, LATENCY_BUCKETS } from './metrics.ts';

// Quantiles from histogram buckets, as Prometheus's histogram_quantile does:
// find the bucket the rank falls in and interpolate linearly inside it. The
// answer is as good as the buckets (metrics.ts): within a bucket's width.

/** The q-quantile (0..1), in seconds, of non-cumulative counts `a[base..base+BUCKETS)`; null when there are none. */
export function quantile(q: number, a: ArrayLike<number>, base = 0): number | null {
  let total = 0;
  for (let b = 0; b < BUCKETS; b++) total += a[base + b];
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let b = 0; b < BUCKETS; b++) {
    const n = a[base + b];
    if (n > 0 && seen + n >= rank) {
      // The +Inf bucket has no upper bound: report the highest finite one, as Prometheus does.
      if (b >= LATENCY_BUCKETS.length) return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1];
      const lo = b === 0 ? 0 : LATENCY_BUCKETS[b - 1];
      const hi = LATENCY_BUCKETS[b];
      return lo + (hi - lo) * ((rank - seen) / n);
    }
    seen += n;
  }
  return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1];
}
