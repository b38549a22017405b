// What a user sees of strangers (anyone not in their buddy list): their settings for them.
// The control API serves these as they are.

/** Calls from strangers: ring as today, ask (shown without ringing), or reject (603 Decline). */
export type StrangerCalls = 'ring' | 'ask' | 'reject';
export const STRANGER_CALLS: readonly StrangerCalls[] = ['ring', 'ask', 'reject'];

export interface StrangerSettings {
  strangerCalls: StrangerCalls;
  /** Take one message per stranger from the overlay mailbox while offline (off: none). */
  strangerMailbox: boolean;
}

/** Someone the user blocked: nothing they send is taken, their calls are declined, they see no presence. */
export interface BlockedView {
  aor: string;
  displayName?: string;
}
