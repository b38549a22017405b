// Idleness in the app: no pointer or keyboard input for `awayAfterMinutes` makes the user idle
// (the engine then sets "away"); the first input after that makes them back. Input only records
// a time, so a stream of pointer moves costs no timer work; the one timer re-arms itself for the
// time still left when it fires early.
import type { Timers } from './timers.js';

export class IdleTracker {
  private thresholdMs = 0;
  private lastInput: number;
  private idle = false;
  private timer: unknown;

  constructor(
    private readonly timers: Timers,
    /** Called once per change: true when the user went idle, false when they are back. */
    private readonly report: (idle: boolean) => void,
  ) {
    this.lastInput = timers.now();
  }

  get isIdle(): boolean {
    return this.idle;
  }

  /** 0 = never idle. */
  setAwayAfterMinutes(minutes: number): void {
    const ms = Math.max(0, minutes) * 60_000;
    if (ms === this.thresholdMs) return;
    this.thresholdMs = ms;
    this.disarm();
    if (ms > 0 && !this.idle) this.arm(Math.max(0, this.lastInput + ms - this.timers.now()));
  }

  /**
   * The engine already counts the user away by idleness (e.g. after a page reload): the next
   * input reports them back.
   */
  assumeIdle(): void {
    if (this.idle) return;
    this.idle = true;
    this.disarm();
  }

  input(): void {
    this.lastInput = this.timers.now();
    if (this.idle) {
      this.idle = false;
      this.report(false);
    }
    if (this.timer === undefined && this.thresholdMs > 0) this.arm(this.thresholdMs);
  }

  stop(): void {
    this.disarm();
  }

  private arm(ms: number): void {
    this.timer = this.timers.set(ms, () => {
      this.timer = undefined;
      const left = this.lastInput + this.thresholdMs - this.timers.now();
      if (left > 0) {
        this.arm(left);
        return;
      }
      this.idle = true;
      this.report(true);
    });
  }

  private disarm(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
  }
}
