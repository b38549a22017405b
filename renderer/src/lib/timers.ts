// Time as the renderer's small state machines (idle, typing) see it: injected, so tests move it by hand.
export interface Timers {
  now(): number;
  set(ms: number, fire: () => void): unknown;
  clear(handle: unknown): void;
}

export const browserTimers: Timers = {
  now: () => Date.now(),
  set: (ms, fire) => setTimeout(fire, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
