// Donation caps for a rescue server: a token bucket that paces upload to the donated rate, and
// a per-UTC-day byte budget. Time is passed in (ms); nothing here reads a clock.

/** Paces bytes to a rate. reserve() never refuses: it books the bytes and says how long to wait before sending them (tokens may go negative), so the long-run rate is exact and any 10 s window is within rate*10 + burst. */
export class TokenBucket {
  private bytesPerSecond = 0;
  private burstBytes = 0;
  /** Tokens at `updatedAt`; below zero it is bytes booked but not yet paid for. */
  private tokens: number;
  private updatedAt: number;

  constructor(options: { bytesPerSecond: number; burstBytes: number; now: number }) {
    this.setLimits(options.bytesPerSecond, options.burstBytes);
    this.tokens = this.burstBytes;
    this.updatedAt = options.now;
  }

  /** Books n bytes at time now (ms); returns the delay in ms before they may be sent (0 when there were tokens). */
  reserve(bytes: number, now: number): number {
    if (!(bytes >= 0)) throw new RangeError('bytes must be a non-negative number');
    this.refill(now);
    this.tokens -= bytes;
    if (this.tokens >= 0) return 0;
    // The debt is paid off at the rate; rounding up keeps a sender from going a fraction early.
    return Math.ceil((-this.tokens / this.bytesPerSecond) * 1000);
  }

  /** Changes the rate (keeps what is booked). */
  setRate(bytesPerSecond: number, burstBytes: number, now: number): void {
    // Settle the time so far at the old rate before the new one applies.
    this.refill(now);
    this.setLimits(bytesPerSecond, burstBytes);
    this.tokens = Math.min(this.tokens, this.burstBytes);
  }

  /** Bytes that could be sent at once now (negative when in debt). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  get rate(): number {
    return this.bytesPerSecond;
  }

  get burst(): number {
    return this.burstBytes;
  }

  private setLimits(bytesPerSecond: number, burstBytes: number): void {
    // A rate of 0 would mean an infinite delay; a paused donation is the caller's state, not a rate.
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new RangeError('bytesPerSecond must be a positive finite number');
    if (!(burstBytes >= 0) || !Number.isFinite(burstBytes)) throw new RangeError('burstBytes must be a non-negative finite number');
    this.bytesPerSecond = bytesPerSecond;
    this.burstBytes = burstBytes;
  }

  private refill(now: number): void {
    // A clock that steps back gives no tokens (and takes none).
    const elapsed = Math.max(0, now - this.updatedAt);
    this.updatedAt = Math.max(this.updatedAt, now);
    this.tokens = Math.min(this.burstBytes, this.tokens + (elapsed * this.bytesPerSecond) / 1000);
  }
}

/** The UTC calendar date of a time, `YYYY-MM-DD`. */
const DAY_MS = 86_400_000;

export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Bytes per UTC day against a cap; the count resets when the UTC date changes. */
export class DailyVolume {
  private capBytes: number;
  private usedBytes: number;
  /** Undefined until the first call with a time: a restored count with no day belongs to that day. */
  private day: string | undefined;
  /** The current day's span in ms (UTC days are whole multiples of 86,400,000 ms in JS time): add() is on every response's path, so the date string is made once a day. */
  private dayStart = NaN;
  private dayEnd = NaN;

  constructor(options: { capBytes: number; used?: number; day?: string }) {
    this.capBytes = options.capBytes;
    this.usedBytes = Math.max(0, options.used ?? 0);
    this.day = options.day;
  }

  add(bytes: number, now: number): void {
    this.roll(now);
    this.usedBytes += Math.max(0, bytes);
  }

  used(now: number): number {
    this.roll(now);
    return this.usedBytes;
  }

  remaining(now: number): number {
    return Math.max(0, this.capBytes - this.used(now));
  }

  exceeded(now: number): boolean {
    return this.used(now) >= this.capBytes;
  }

  setCap(capBytes: number): void {
    this.capBytes = capBytes;
  }

  get cap(): number {
    return this.capBytes;
  }

  /** For persistence: { day: 'YYYY-MM-DD', used } */
  snapshot(now: number): { day: string; used: number } {
    this.roll(now);
    return { day: this.day!, used: this.usedBytes };
  }

  private roll(now: number): void {
    if (now >= this.dayStart && now < this.dayEnd) return;
    this.dayStart = Math.floor(now / DAY_MS) * DAY_MS;
    this.dayEnd = this.dayStart + DAY_MS;
    const today = utcDay(now);
    if (this.day === undefined) {
      this.day = today;
    } else if (this.day !== today) {
      this.day = today;
      this.usedBytes = 0;
    }
  }
}
