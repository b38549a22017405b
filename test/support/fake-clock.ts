import type { TimerHandle, TimerHost } from '../../native/proto/sip/timers.js';

/** A TimerHost whose time moves only when a test calls advance(). */
export class FakeClock implements TimerHost {
  now = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fire: () => void }>();

  set(ms: number, fire: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + ms, fire });
    return { id };
  }

  clear(handle: TimerHandle): void {
    this.timers.delete((handle as { id: number }).id);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward, firing due timers in order (including ones they set). */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fire: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= until && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fire();
    }
    this.now = until;
  }
}
