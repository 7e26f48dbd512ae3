// A retry budget, as Envoy's: retries may add at most `ratio` of recent
// traffic (plus a small floor), so a failing fleet is not stampeded by retries.
// Two 5-second buckets approximate "the last 10 seconds" with no timers.

const BUCKET_MS = 5000;

export class RetryBudget {
  readonly ratio: number;
  readonly floor: number;
  private bucketStart = 0;
  private requestsNow = 0;
  private requestsBefore = 0;
  private retriesNow = 0;
  private retriesBefore = 0;

  constructor(ratio = 0.2, floor = 3) {
    this.ratio = ratio;
    this.floor = floor;
  }

  private roll(now: number): void {
    if (now - this.bucketStart < BUCKET_MS) return;
    const skipped = now - this.bucketStart >= 2 * BUCKET_MS;
    this.requestsBefore = skipped ? 0 : this.requestsNow;
    this.retriesBefore = skipped ? 0 : this.retriesNow;
    this.requestsNow = 0;
    this.retriesNow = 0;
    this.bucketStart = now;
  }

  onRequest(now: number): void {
    this.roll(now);
    this.requestsNow++;
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(now: number): boolean {
    this.roll(now);
    const recentRequests = this.requestsNow + this.requestsBefore;
    const recentRetries = this.retriesNow + this.retriesBefore;
    if (recentRetries >= Math.max(this.floor, this.ratio * recentRequests)) return false;
    this.retriesNow++;
    return true;
  }
}
