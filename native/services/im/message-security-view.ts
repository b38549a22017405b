// What node status shows of end-to-end messages (plain types: the renderer imports them).

export interface SealingCounters {
  sealedSent: number;
  sealedReceived: number;
  /** Plain MESSAGEs whose From named a Peerdial user. */
  refusedUnsealed: number;
  /** Sealed MESSAGEs that did not open, verify, or name us and their sender. */
  refusedSealed: number;
}
