// Requests per second from one source (an IP address), so a node routing for its overlay is not
// anyone's free SIP server: a token bucket per source, refilled at `perSecond` up to `burst`.
// Bounded memory: the sources seen longest ago are forgotten first. Time is passed in (ms).

export interface SourceRateLimitOptions {
  perSecond: number;
  burst?: number;
  maxSources?: number;
}

export class SourceRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly burst: number;
  private readonly maxSources: number;

  constructor(private readonly options: SourceRateLimitOptions) {
    this.burst = options.burst ?? 2 * options.perSecond;
    this.maxSources = options.maxSources ?? 10_000;
  }

  /** Takes one request from `source` at `now`: true when it is within the limit. */
  allow(source: string, now: number): boolean {
    let bucket = this.buckets.get(source);
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.options.perSecond);
      bucket.at = now;
      this.buckets.delete(source);
    } else {
      bucket = { tokens: this.burst, at: now };
      if (this.buckets.size >= this.maxSources) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(source, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** How long until `source` has a whole token again (0 when it has one now), ms. */
  waitMs(source: string, now: number): number {
    const bucket = this.buckets.get(source);
    if (!bucket || this.options.perSecond <= 0) return 0;
    const tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.options.perSecond);
    return tokens >= 1 ? 0 : ((1 - tokens) / this.options.perSecond) * 1000;
  }

  /** How many sources are remembered now (at most maxSources). */
  get size(): number {
    return this.buckets.size;
  }
}
