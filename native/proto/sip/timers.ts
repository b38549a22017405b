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

/** `work`, or a rejection with `message` once `ms` have passed on the given timers. */
export function withDeadline<T>(work: Promise<T>, ms: number, timers: TimerHost, message = `no answer within ${ms} ms`): Promise<T> {
  let timer: TimerHandle | undefined;
  return Promise.race([work, new Promise<never>((_, reject) => (timer = timers.set(ms, () => reject(new Error(message)))))]).finally(
    () => timer && timers.clear(timer),
  );
}
