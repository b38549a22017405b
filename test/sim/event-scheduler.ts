// Discrete-event time for the simulator: a TimerHost whose clock jumps from event to event.
// Between events it lets pending promise continuations run, so the real async protocol code
// (proto/overlay) behaves as it would on real timers, only much faster.
//
// Every event fires in its own setImmediate callback: Node drains the whole microtask queue
// between two immediate callbacks, so whatever an event set off (a resolved request, the
// await chain behind it, the timers that chain sets) has finished before the next event is
// chosen. Up to `batch` callbacks are queued at once, and each one picks the earliest event when
// it runs, not when it was queued; they all run in one turn of the event loop, which saves
// the loop's poll step per event without changing which event fires when.
import type { TimerHandle, TimerHost } from '../../native/proto/sip/timers.js';

interface Event {
  at: number;
  order: number;
  fire: () => void;
  cancelled: boolean;
}

export interface EventSchedulerOptions {
  /** Immediates queued at once; 1 gives one event per turn of the event loop (the reference). */
  batch?: number;
}

export class EventScheduler implements TimerHost {
  now = 0;
  private readonly batch: number;
  private order = 0;
  private readonly heap: Event[] = [];
  /** Events fired so far (cancelled ones are not counted). */
  events = 0;

  constructor(options: EventSchedulerOptions = {}) {
    this.batch = Math.max(1, options.batch ?? 256);
  }

  set(ms: number, fire: () => void): TimerHandle {
    const event: Event = { at: this.now + Math.max(0, ms), order: this.order++, fire, cancelled: false };
    this.push(event);
    return event;
  }

  clear(handle: TimerHandle): void {
    (handle as Event).cancelled = true;
  }

  /** Events not yet fired, cancelled ones included. */
  get pending(): number {
    return this.heap.length;
  }

  /** Runs every event due up to now + ms. */
  async runFor(ms: number): Promise<void> {
    await this.runUntil(this.now + ms);
  }

  /** Runs events until `promise` settles (or `limitMs` of simulated time pass), then returns its outcome. */
  async until<T>(promise: Promise<T>, limitMs = 600_000): Promise<T> {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    watched.catch(() => undefined);
    const deadline = this.now + limitMs;
    await settle();
    // Like running one timestamp at a time: once the promise settled, the events left at the
    // current instant still fire, and nothing later does.
    await this.drive(deadline, (nextAt) => done && nextAt > this.now);
    if (!done && this.nextLive()) this.now = deadline;
    return watched;
  }

  async runUntil(until: number): Promise<void> {
    await settle();
    await this.drive(until, () => false);
    this.now = until;
  }

  /** Fires events due by `until`, each after the previous one's microtasks, until `stop` says so. */
  private async drive(until: number, stop: (nextAt: number) => boolean): Promise<void> {
    while (await this.fireBatch(until, stop));
  }

  /** Resolves true if the batch ran out with events still due, false once none are (or `stop`). */
  private fireBatch(until: number, stop: (nextAt: number) => boolean): Promise<boolean> {
    return new Promise((resolve) => {
      let left = this.batch;
      let finished = false;
      const step = () => {
        if (finished) return;
        const next = this.nextLive();
        if (!next || next.at > until || stop(next.at)) {
          finished = true;
          resolve(false);
          return;
        }
        this.pop();
        this.now = next.at;
        this.events++;
        next.fire();
        if (--left === 0) {
          finished = true;
          // Resolve only after this event's microtasks, which run before the next immediate.
          setImmediate(() => resolve(true));
        }
      };
      for (let i = 0; i < this.batch; i++) setImmediate(step);
    });
  }

  private nextLive(): Event | undefined {
    while (this.heap.length && this.heap[0].cancelled) this.pop();
    return this.heap[0];
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: Event, b: Event) => a.at < b.at || (a.at === b.at && a.order < b.order);

/** Lets every queued microtask (and their follow-ups) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
