import type { TimerHandle, TimerHost } from '../proto/sip/timers.js';

/** Real time for the proto layer. Timers never keep the process alive on their own. */
export const realTimers: TimerHost = {
  set(ms: number, fire: () => void): TimerHandle {
    const t = setTimeout(fire, ms);
    t.unref();
    return t;
  },
  clear(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export const now = (): number => Date.now();
