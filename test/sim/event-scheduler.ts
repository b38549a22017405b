// Discrete-event time for the simulator: a TimerHost whose clock jumps from event to event.
// Between events it lets pending promise continuations run, so the real async protocol code
// (proto/overlay) behaves as it would on real timers, only much faster.
import type { TimerHandle, TimerHost } from '../../native/proto/sip/timers.js';

interface Event {
  at: number;
  order: number;
  fire: () => void;
  cancelled: boolean;
}

export class EventScheduler implements TimerHost {
  now = 0;
  private order = 0;
  private readonly heap: Event[] = [];
  events = 0;

  set(ms: number, fire: () => void): TimerHandle {
    const event: Event = { at: this.now + Math.max(0, ms), order: this.order++, fire, cancelled: false };
    this.push(event);
    return event;
  }

  clear(handle: TimerHandle): void {
    (handle as Event).cancelled = true;
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
    while (!done && this.now < deadline) {
      const next = this.heap[0];
      if (!next) break;
      await this.runUntil(Math.min(next.at, deadline));
    }
    return watched;
  }

  async runUntil(until: number): Promise<void> {
    await settle();
    for (;;) {
      const next = this.heap[0];
      if (!next || next.at > until) break;
      this.pop();
      if (next.cancelled) continue;
      this.now = next.at;
      this.events++;
      next.fire();
      // Continuations of promises the event resolved run before the next event.
      await settle();
    }
    this.now = until;
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
