// RFC 3261 17.1.1.1 and Table 4: the transaction layer's timer values.
export const T1 = 500;
export const T2 = 4_000;
export const T4 = 5_000;
export const TIMER_F = 64 * T1;
export const TIMER_J = 64 * T1;
export const TIMER_K = T4;

/** The only way proto code sees time: injected, so tests drive it with a fake clock. */
export interface TimerHost {
  set(ms: number, fire: () => void): TimerHandle;
  clear(handle: TimerHandle): void;
}
export type TimerHandle = { readonly id: number } | object;
