// What a relay may still carry: a daily volume (the UTC day) and a bandwidth cap as a token
// bucket that lets bursts of a second through, like the rescue donation's.

/** The bucket holds this much time's worth of traffic: bursts of a second pass. */
const BURST_SECONDS = 1;

export type Admission = 'ok' | 'over-volume' | 'over-bandwidth';

export class RelayBudget {
  readonly total = { up: 0, down: 0 };
  private todayBytes = { up: 0, down: 0 };
  private day = -1;
  /** Token bucket, in bits. */
  private tokens = 0;
  private refilledAt = 0;
  private bitsPerSecond = 0;
  private dailyBytes = 0;

  constructor(private readonly now: () => number) {}

  /** New limits (0: none); a cap switched on starts with a full bucket. */
  setLimits(bitsPerSecond: number, dailyBytes: number): void {
    if (bitsPerSecond > 0 && !(this.bitsPerSecond > 0)) {
      this.tokens = bitsPerSecond * BURST_SECONDS;
      this.refilledAt = this.now();
    }
    this.tokens = Math.min(this.tokens, bitsPerSecond * BURST_SECONDS);
    this.bitsPerSecond = bitsPerSecond;
    this.dailyBytes = dailyBytes;
  }

  /** The daily volume first, then the bucket; a datagram admitted is taken from both. */
  admit(bytes: number): Admission {
    const now = this.now();
    this.rollDay(now);
    if (bytes > this.volumeLeft()) return 'over-volume';
    const rate = this.bitsPerSecond;
    if (rate > 0) {
      this.tokens = Math.min(rate * BURST_SECONDS, this.tokens + ((now - this.refilledAt) / 1000) * rate);
      this.refilledAt = now;
      if (this.tokens < bytes * 8) return 'over-bandwidth';
      this.tokens -= bytes * 8;
    }
    return 'ok';
  }

  /** Counts what was relayed: up is client to peer, down is peer to client. */
  carried(direction: 'up' | 'down', bytes: number): void {
    this.todayBytes[direction] += bytes;
    this.total[direction] += bytes;
  }

  today(): { up: number; down: number } {
    this.rollDay(this.now());
    return { ...this.todayBytes };
  }

  /** What today's volume still lets through, in bytes. */
  volumeLeft(): number {
    this.rollDay(this.now());
    return this.dailyBytes > 0 ? this.dailyBytes - this.todayBytes.up - this.todayBytes.down : Infinity;
  }

  /** "Today" is the UTC day: the volume starts again at midnight UTC. */
  private rollDay(now: number): void {
    const day = Math.floor(now / 86_400_000);
    if (day === this.day) return;
    this.day = day;
    this.todayBytes = { up: 0, down: 0 };
  }
}
