// One 20 ms ticker shared by every media session, so hundreds of calls cost one timer. Ticks are
// scheduled from the start time (tick n is due at start + n * period), never by chaining
// setInterval, so timer lateness does not accumulate into drift. Every listener call records
// how late it ran against its tick's schedule: that lateness is what a packet sent in that call
// is late by.
import { performance } from 'node:perf_hooks';

export interface MediaTick {
  index: number;
  /** When this tick was due, on the clock's time source. */
  scheduledMs: number;
  /** How far behind schedule this listener is being called. */
  lateMs: number;
}

export type TickListener = (tick: MediaTick) => void;

/** The clock's view of time and timers; injectable so tests can drive it by hand. */
export interface ClockTimeSource {
  now(): number;
  setTimer(fire: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export const realClockTime: ClockTimeSource = {
  now: () => performance.now(),
  setTimer(fire, delayMs) {
    const timer = setTimeout(fire, delayMs);
    // Sockets keep a call alive; the ticker alone must not keep a finished process running.
    timer.unref();
    return timer;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface MediaClockOptions {
  periodMs?: number;
  /** A listener call later than this counts as late (default 5 ms, the bar). */
  lateThresholdMs?: number;
  /** Behind by more than this many ticks, the clock skips ahead instead of bursting. */
  maxCatchUpTicks?: number;
  /**
   * Phases within a period (default 1). With 4, the clock fires every 5 ms and each listener
   * runs in its own lane once per period: hundreds of sessions do not all send in one burst,
   * so packets wait behind a quarter of the work, not all of it.
   */
  lanes?: number;
  time?: ClockTimeSource;
}

export interface MediaClockStats {
  ticks: number;
  /** Ticks abandoned because the process was stalled too long to catch up. */
  skippedTicks: number;
  listenerCalls: number;
  lateListenerCalls: number;
  maxLateMs: number;
  listeners: number;
}

interface Registration {
  listener: TickListener;
  order: number;
  lane: number;
}

export class MediaClock {
  readonly periodMs: number;
  readonly lateThresholdMs: number;
  private readonly maxCatchUpTicks: number;
  private readonly time: ClockTimeSource;
  readonly lanes: number;
  private readonly stepMs: number;
  private laneCursor = 0;
  private registrations: Registration[] = [];
  private timer: unknown;
  private startMs = 0;
  private nextIndex = 0;
  private readonly counts = { ticks: 0, skippedTicks: 0, listenerCalls: 0, lateListenerCalls: 0, maxLateMs: 0 };

  constructor(options: MediaClockOptions = {}) {
    this.periodMs = options.periodMs ?? 20;
    this.lateThresholdMs = options.lateThresholdMs ?? 5;
    this.lanes = Math.max(1, Math.floor(options.lanes ?? 1));
    this.stepMs = this.periodMs / this.lanes;
    this.maxCatchUpTicks = (options.maxCatchUpTicks ?? 5) * this.lanes;
    this.time = options.time ?? realClockTime;
  }

  /** Lanes handed out in turn, so sessions spread evenly over the period. */
  nextLane(): number {
    const lane = this.laneCursor;
    this.laneCursor = (this.laneCursor + 1) % this.lanes;
    return lane;
  }

  /**
   * Calls `listener` every tick until the returned function is called. Listeners with a lower
   * `order` run first in each tick (media sessions send first and play out after, so the sends
   * of hundreds of calls are not queued behind the playout of all of them).
   */
  join(listener: TickListener, order = 0, lane = 0): () => void {
    const registration = { listener, order, lane: ((lane % this.lanes) + this.lanes) % this.lanes };
    // Copy on write: a tick in progress keeps iterating its own snapshot.
    this.registrations = [...this.registrations, registration].sort((a, b) => a.order - b.order);
    if (this.timer === undefined) this.start();
    return () => {
      this.registrations = this.registrations.filter((r) => r !== registration);
      if (this.registrations.length === 0) this.stop();
    };
  }

  get stats(): MediaClockStats {
    return { ...this.counts, listeners: this.registrations.length };
  }

  resetStats(): void {
    Object.assign(this.counts, { ticks: 0, skippedTicks: 0, listenerCalls: 0, lateListenerCalls: 0, maxLateMs: 0 });
  }

  now(): number {
    return this.time.now();
  }

  private start(): void {
    this.startMs = this.time.now();
    this.nextIndex = 1;
    this.schedule();
  }

  private stop(): void {
    if (this.timer !== undefined) this.time.clearTimer(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const due = this.startMs + this.nextIndex * this.stepMs;
    // Timers fire at whole milliseconds or later: round up so a tick never runs early.
    const delay = Math.max(0, Math.ceil(due - this.time.now()));
    this.timer = this.time.setTimer(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = undefined;
    let now = this.time.now();
    const behind = Math.floor((now - this.startMs) / this.stepMs) - this.nextIndex;
    if (behind > this.maxCatchUpTicks) {
      // A stall (GC pause, suspended laptop): bursting every missed tick would only flood the peer.
      this.counts.skippedTicks += behind - this.maxCatchUpTicks;
      this.nextIndex += behind - this.maxCatchUpTicks;
    }
    while (this.startMs + this.nextIndex * this.stepMs <= now && this.registrations.length > 0) {
      this.runTick(this.nextIndex, this.startMs + this.nextIndex * this.stepMs);
      this.nextIndex++;
      now = this.time.now();
    }
    if (this.registrations.length > 0) this.schedule();
  }

  /** One step: the listeners of its lane, each told the period's tick index. */
  private runTick(step: number, scheduledMs: number): void {
    this.counts.ticks++;
    const lane = step % this.lanes;
    const index = Math.floor(step / this.lanes);
    for (const { listener, lane: own } of this.registrations) {
      if (own !== lane) continue;
      const lateMs = Math.max(0, this.time.now() - scheduledMs);
      this.counts.listenerCalls++;
      if (lateMs > this.lateThresholdMs) this.counts.lateListenerCalls++;
      if (lateMs > this.counts.maxLateMs) this.counts.maxLateMs = lateMs;
      try {
        listener({ index, scheduledMs, lateMs });
      } catch {
        // One broken session must not silence every other call on the clock.
      }
    }
  }
}
